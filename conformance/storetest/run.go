package storetest

import (
	"context"
	"encoding/base64"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authenik8/authenik8-go/core"
)

// Run checks the session semantics on fresh stores from h: rotation and
// reuse detection, logout, revocation, listing, expiry, the bound on
// sessions per user, revocations reaching peers, and failing closed when
// cut off from the backend.
func Run(t *testing.T, h Harness) {
	if h.NewStore == nil {
		t.Fatal("storetest: Harness.NewStore is required")
	}
	tests := []struct {
		name string
		fn   func(*testing.T, Harness)
	}{
		{"StoreContract", testStoreContract},
		{"IssueVerifyRefresh", testIssueVerifyRefresh},
		{"RefreshKeepsRolesAndClaims", testRefreshKeepsRolesAndClaims},
		{"UserLoaderAppliesRoleChange", testUserLoader},
		{"ReloadUserAppliesRoleChange", testReloadUser},
		{"ReplayWithinGraceIsConflict", testReplayWithinGrace},
		{"ReplayAfterGraceRevokesSession", testReplayAfterGrace},
		{"OlderGenerationRevokesAtOnce", testOlderGeneration},
		{"ForgedRefreshTokenChangesNothing", testForgedRefreshToken},
		{"LogoutRevokesAtOnce", testLogout},
		{"LogoutRefreshToken", testLogoutRefreshToken},
		{"LogoutWithSupersededTokenIsReuse", testLogoutSuperseded},
		{"LogoutAllRevokesEverySession", testLogoutAll},
		{"RevokeOtherSessionsKeepsOne", testRevokeOtherSessions},
		{"ReloadUserDisabledAndVerified", testReloadDisabledAndVerified},
		{"RevokeSessionOwnerOrAdmin", testRevokeSession},
		{"SessionsList", testSessionsList},
		{"SessionsPerUserBounded", testSessionsPerUser},
		{"IdleExpiry", testIdleExpiry},
		{"AbsoluteExpiry", testAbsoluteExpiry},
		{"RevocationReachesPeer", testRevocationReachesPeer},
		{"PartitionFailsClosed", testPartition},
		{"Limiter", testLimiter},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, h) })
	}
}

// testStoreContract drives the Store methods directly, outcome by outcome.
func testStoreContract(t *testing.T, h Harness) {
	s := h.NewStore(t)
	c := ctx(t)
	if err := s.Ping(c); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	u := newUser()
	sid := core.NewSessionID(u.ID)
	created, err := s.CreateSession(c, core.NewSession{
		ID: sid, UserID: u.ID, Data: []byte(`{"r":["a"]}`), UserAgent: "ua", IP: "10.0.0.1",
		TokenHash: "h0", IdleTTL: time.Hour, AbsoluteTTL: 2 * time.Hour,
	})
	if err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	if created.ID != sid || created.UserID != u.ID || string(created.Data) != `{"r":["a"]}` || created.UserAgent != "ua" || created.IP != "10.0.0.1" {
		t.Fatalf("CreateSession returned %+v", created)
	}
	if d := created.ExpiresAt.Sub(created.CreatedAt); d < time.Hour-time.Second || d > time.Hour+time.Second {
		t.Fatalf("ExpiresAt - CreatedAt = %v, want the idle TTL (1h)", d)
	}
	for range 3 { // what a list says is what was stored, every time
		list, err := s.ListSessions(c, u.ID)
		if err != nil || len(list) != 1 || !list[0].ExpiresAt.Equal(created.ExpiresAt) || !list[0].CreatedAt.Equal(created.CreatedAt) {
			t.Fatalf("ListSessions: %+v, %v; want the created session's times", list, err)
		}
	}
	rot := func(gen uint32, hash, next string, data []byte, grace time.Duration) core.RotateResult {
		t.Helper()
		r, err := s.Rotate(c, core.Rotation{UserID: u.ID, SessionID: sid, Generation: gen, TokenHash: hash, NewHash: next, Data: data, IdleTTL: time.Hour, Grace: grace})
		if err != nil {
			t.Fatalf("Rotate: %v", err)
		}
		return r
	}
	alive := func(uid string) bool {
		t.Helper()
		ok, err := s.SessionAlive(c, uid, sid)
		if err != nil {
			t.Fatalf("SessionAlive: %v", err)
		}
		return ok
	}
	if !alive(u.ID) {
		t.Fatal("new session is not alive")
	}
	if alive("someone-else") {
		t.Fatal("session is alive under another user id")
	}
	for _, tc := range []struct {
		name string
		gen  uint32
		hash string
	}{{"wrong hash", 0, "nope"}, {"future generation", 1, "h0"}, {"far generation", 7, "h0"}} {
		if r := rot(tc.gen, tc.hash, "x", nil, time.Minute); r.Outcome != core.Invalid {
			t.Fatalf("Rotate with %s: outcome %v, want Invalid", tc.name, r.Outcome)
		}
	}
	r, err := s.Rotate(c, core.Rotation{UserID: "someone-else", SessionID: sid, TokenHash: "h0", NewHash: "x", IdleTTL: time.Hour})
	if err != nil || r.Outcome != core.Invalid {
		t.Fatalf("Rotate under another user id: %v, %v; want Invalid", r.Outcome, err)
	}
	r = rot(0, "h0", "h1", nil, time.Minute)
	if r.Outcome != core.Rotated || string(r.Session.Data) != `{"r":["a"]}` || r.Session.ID != sid || !r.Session.CreatedAt.Equal(created.CreatedAt) {
		t.Fatalf("Rotate of the current token: %+v", r)
	}
	if r.Session.LastUsedAt.Before(created.LastUsedAt) {
		t.Fatalf("LastUsedAt went backwards: %v then %v", created.LastUsedAt, r.Session.LastUsedAt)
	}
	if r = rot(0, "h0", "x", nil, time.Minute); r.Outcome != core.Conflict {
		t.Fatalf("Rotate of the just-replaced token within the grace: %v, want Conflict", r.Outcome)
	}
	if r = rot(1, "h1", "h2", []byte(`{"r":["b"]}`), time.Minute); r.Outcome != core.Rotated || string(r.Session.Data) != `{"r":["b"]}` {
		t.Fatalf("Rotate replacing data: %+v", r)
	}
	if r = rot(0, "h0", "x", nil, time.Minute); r.Outcome != core.Reused {
		t.Fatalf("Rotate of generation 0 after two rotations: %v, want Reused", r.Outcome)
	}
	if alive(u.ID) {
		t.Fatal("session alive after reuse")
	}
	if r = rot(2, "h2", "h3", nil, time.Minute); r.Outcome != core.Invalid {
		t.Fatalf("Rotate of the newest token after reuse: %v, want Invalid", r.Outcome)
	}
	if found, err := s.RevokeSession(c, u.ID, sid); err != nil || found {
		t.Fatalf("RevokeSession of a deleted session: %v, %v; want false, nil", found, err)
	}
	if n, err := s.RevokeUser(c, newUser().ID); err != nil || n != 0 {
		t.Fatalf("RevokeUser of a user without sessions: %d, %v", n, err)
	}
	if list, err := s.ListSessions(c, u.ID); err != nil || len(list) != 0 {
		t.Fatalf("ListSessions after reuse: %v, %v", list, err)
	}
}

func testIssueVerifyRefresh(t *testing.T, h Harness) {
	a := NewAuth(t, h.NewStore(t), nil)
	u := newUser("user")
	p0 := login(t, a, u)
	if p0.TokenType != "Bearer" || p0.ExpiresIn != int64(core.DefaultAccessTTL/time.Second) {
		t.Fatalf("token response: type %q, expires_in %d", p0.TokenType, p0.ExpiresIn)
	}
	if want := int64(core.DefaultIdleTTL / time.Second); p0.RefreshExpiresIn < want-5 || p0.RefreshExpiresIn > want {
		t.Fatalf("refresh_expires_in = %d, want about %d", p0.RefreshExpiresIn, want)
	}
	c := verify(t, a, p0.AccessToken)
	if c.Subject != u.ID || c.SessionID != p0.SessionID || !slices.Equal(c.Roles, []string{"user"}) {
		t.Fatalf("claims %+v", c)
	}
	if uid, ok := core.SessionUser(c.SessionID); !ok || uid != u.ID {
		t.Fatalf("session id %q does not name its user", c.SessionID)
	}
	p1 := refresh(t, a, p0.RefreshToken)
	if p1.RefreshToken == p0.RefreshToken || p1.AccessToken == p0.AccessToken {
		t.Fatal("refresh returned the same tokens")
	}
	if c1 := verify(t, a, p1.AccessToken); c1.SessionID != c.SessionID || c1.TokenID == c.TokenID {
		t.Fatalf("refreshed claims %+v", c1)
	}
	verify(t, a, p0.AccessToken) // access tokens of a live session stay valid
	p2 := refresh(t, a, p1.RefreshToken)
	verify(t, a, p2.AccessToken)
}

func testRefreshKeepsRolesAndClaims(t *testing.T, h Harness) {
	a := NewAuth(t, h.NewStore(t), nil)
	u := newUser("user", "editor")
	u.Claims = map[string]any{"tenant": "acme", "plan": float64(3), "flags": []any{"a", "b"}}
	p := login(t, a, u)
	for range 3 {
		p = refresh(t, a, p.RefreshToken)
	}
	c := verify(t, a, p.AccessToken)
	if !slices.Equal(c.Roles, u.Roles) || !reflect.DeepEqual(c.Extra, u.Claims) {
		t.Fatalf("after refreshes: roles %v claims %v; want %v %v", c.Roles, c.Extra, u.Roles, u.Claims)
	}
}

func testUserLoader(t *testing.T, h Harness) {
	u := newUser("user")
	var current atomic.Pointer[core.User]
	current.Store(&u)
	a := NewAuth(t, h.NewStore(t), func(c *core.Config) {
		c.UserLoader = func(_ context.Context, id string) (core.User, error) {
			if v := current.Load(); v != nil && v.ID == id {
				return *v, nil
			}
			return core.User{}, core.ErrUserNotFound
		}
	})
	p := login(t, a, u)
	promoted := u
	promoted.Roles = []string{"user", "admin"}
	promoted.Claims = map[string]any{"tier": "gold"}
	current.Store(&promoted)
	if c := verify(t, a, p.AccessToken); c.IsAdmin() {
		t.Fatal("role change visible before any refresh")
	}
	p = refresh(t, a, p.RefreshToken)
	c := verify(t, a, p.AccessToken)
	if !c.IsAdmin() || c.Extra["tier"] != "gold" {
		t.Fatalf("after refresh: roles %v claims %v; want the loader's", c.Roles, c.Extra)
	}
	current.Store(nil) // the user is deleted
	wantRefreshFails(t, a, p.RefreshToken, core.ErrInvalidRefreshToken)
	wantRevoked(t, a, p.AccessToken)
}

// testReloadUser: with Config.ReloadUser, a refresh reads roles from the
// user store (inside the rotation when the store holds the users), and a
// session whose user is gone ends at its next refresh.
func testReloadUser(t *testing.T, h Harness) {
	if h.NewUsers == nil {
		t.Skip("the harness has no user store")
	}
	s := h.NewStore(t)
	users := h.NewUsers(t, s)
	a := NewAuth(t, s, func(c *core.Config) {
		c.Users = users
		c.ReloadUser = true
	})
	c := ctx(t)
	u, err := users.Register(c, newUser().ID+"@example.com", "a password", []string{"user"})
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	p := login(t, a, u)
	if err := users.SetRoles(c, u.ID, []string{"user", "admin"}); err != nil {
		t.Fatalf("SetRoles: %v", err)
	}
	if verify(t, a, p.AccessToken).IsAdmin() {
		t.Fatal("role change visible before any refresh")
	}
	p = refresh(t, a, p.RefreshToken)
	if c := verify(t, a, p.AccessToken); !c.IsAdmin() || c.Subject != u.ID {
		t.Fatalf("after refresh: %+v; want the new roles", c)
	}
	p = refresh(t, a, p.RefreshToken)
	if !verify(t, a, p.AccessToken).IsAdmin() {
		t.Fatal("the reloaded roles did not carry over to the next refresh")
	}

	ghost := login(t, a, newUser("admin")) // a session whose user the user store does not hold
	verify(t, a, ghost.AccessToken)
	wantRefreshFails(t, a, ghost.RefreshToken, core.ErrInvalidRefreshToken)
	wantRevoked(t, a, ghost.AccessToken)
	verify(t, a, p.AccessToken)
}

func testReplayWithinGrace(t *testing.T, h Harness) {
	var reuse atomic.Int32
	a := NewAuth(t, h.NewStore(t), func(c *core.Config) {
		c.ReuseGrace = time.Minute
		c.Hooks.OnReuseDetected = func(context.Context, core.Event) { reuse.Add(1) }
	})
	p0 := login(t, a, newUser())
	p1 := refresh(t, a, p0.RefreshToken)
	for range 3 {
		wantRefreshFails(t, a, p0.RefreshToken, core.ErrRefreshConflict)
	}
	verify(t, a, p1.AccessToken)
	verify(t, a, p0.AccessToken)
	p2 := refresh(t, a, p1.RefreshToken)
	verify(t, a, p2.AccessToken)
	if n := reuse.Load(); n != 0 {
		t.Fatalf("OnReuseDetected fired %d times within the grace", n)
	}
}

func testReplayAfterGrace(t *testing.T, h Harness) {
	var reused []core.Event
	a := NewAuth(t, h.NewStore(t), func(c *core.Config) {
		c.ReuseGrace = 150 * time.Millisecond
		c.Hooks.OnReuseDetected = func(_ context.Context, e core.Event) { reused = append(reused, e) }
	})
	p0 := login(t, a, newUser())
	p1 := refresh(t, a, p0.RefreshToken)
	verify(t, a, p1.AccessToken)
	time.Sleep(300 * time.Millisecond)
	wantRefreshFails(t, a, p0.RefreshToken, core.ErrRefreshTokenReused)
	wantRefreshFails(t, a, p1.RefreshToken, core.ErrInvalidRefreshToken)
	wantRevoked(t, a, p1.AccessToken)
	wantRevoked(t, a, p0.AccessToken)
	if len(reused) != 1 || reused[0].SessionID != p0.SessionID {
		t.Fatalf("OnReuseDetected events %+v, want one for %s", reused, p0.SessionID)
	}
}

func testOlderGeneration(t *testing.T, h Harness) {
	a := NewAuth(t, h.NewStore(t), func(c *core.Config) { c.ReuseGrace = time.Minute })
	p0 := login(t, a, newUser())
	p1 := refresh(t, a, p0.RefreshToken)
	p2 := refresh(t, a, p1.RefreshToken)
	wantRefreshFails(t, a, p0.RefreshToken, core.ErrRefreshTokenReused)
	wantRefreshFails(t, a, p2.RefreshToken, core.ErrInvalidRefreshToken)
	wantRevoked(t, a, p2.AccessToken)
}

func testForgedRefreshToken(t *testing.T, h Harness) {
	a := NewAuth(t, h.NewStore(t), func(c *core.Config) { c.ReuseGrace = 0 })
	victim := login(t, a, newUser())
	attacker := login(t, a, newUser())
	raw, err := base64.RawURLEncoding.DecodeString(victim.RefreshToken)
	if err != nil {
		t.Fatalf("refresh token is not base64url: %v", err)
	}
	var forged []string
	// Every single-bit change of the victim's genuine token: its session id,
	// generation, randomness and MAC.
	for i := range raw {
		b := slices.Clone(raw)
		b[i] ^= 0x01
		forged = append(forged, base64.RawURLEncoding.EncodeToString(b))
	}
	// A stranger who knows the victim's session id.
	sid := []byte(victim.SessionID)
	for _, f := range [][]byte{
		append(append([]byte{1, 0, 0, 0, 0}, make([]byte, 32)...), append(sid, make([]byte, 32)...)...),
		append(append([]byte{1, 0, 0, 0, 1}, make([]byte, 32)...), append(sid, make([]byte, 32)...)...),
		sid,
	} {
		forged = append(forged, base64.RawURLEncoding.EncodeToString(f))
	}
	forged = append(forged, victim.SessionID, attacker.AccessToken, victim.AccessToken,
		victim.RefreshToken[:len(victim.RefreshToken)-2], victim.RefreshToken+"AA", "", "not a token", string(make([]byte, 9000)))
	for i, f := range forged {
		if _, err := a.Refresh(ctx(t), f); !errors.Is(err, core.ErrInvalidRefreshToken) {
			t.Fatalf("forged token %d: got %v, want invalid_refresh_token", i, err)
		}
		if err := a.LogoutRefreshToken(ctx(t), f); !errors.Is(err, core.ErrInvalidRefreshToken) {
			t.Fatalf("logout with forged token %d: got %v, want invalid_refresh_token", i, err)
		}
	}
	verify(t, a, victim.AccessToken)
	next := refresh(t, a, victim.RefreshToken)
	verify(t, a, next.AccessToken)
}

func testLogout(t *testing.T, h Harness) {
	var events []core.Event
	a := NewAuth(t, h.NewStore(t), func(c *core.Config) {
		c.Hooks.OnLogout = func(_ context.Context, e core.Event) { events = append(events, e) }
	})
	p := login(t, a, newUser())
	verify(t, a, p.AccessToken) // the session's state is now cached, where a store caches
	other := login(t, a, newUser())
	if err := a.Logout(ctx(t), p.SessionID); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	wantRevoked(t, a, p.AccessToken)
	wantRefreshFails(t, a, p.RefreshToken, core.ErrInvalidRefreshToken)
	verify(t, a, other.AccessToken)
	if err := a.Logout(ctx(t), p.SessionID); err != nil {
		t.Fatalf("second Logout: %v", err)
	}
	if len(events) != 2 || events[0].SessionID != p.SessionID {
		t.Fatalf("OnLogout events %+v", events)
	}
}

// testLogoutRefreshToken: the current refresh token, or the one just
// replaced within the grace (a second tab), ends its session; a token whose
// session has ended changes nothing.
func testLogoutRefreshToken(t *testing.T, h Harness) {
	var logouts, reuses atomic.Int32
	a := NewAuth(t, h.NewStore(t), func(c *core.Config) {
		c.ReuseGrace = time.Minute
		c.Hooks.OnLogout = func(context.Context, core.Event) { logouts.Add(1) }
		c.Hooks.OnReuseDetected = func(context.Context, core.Event) { reuses.Add(1) }
	})
	u := newUser()
	p := login(t, a, u)
	bystander := login(t, a, u)
	verify(t, a, p.AccessToken)
	if err := a.LogoutRefreshToken(ctx(t), p.RefreshToken); err != nil {
		t.Fatalf("LogoutRefreshToken: %v", err)
	}
	wantRevoked(t, a, p.AccessToken)
	wantRefreshFails(t, a, p.RefreshToken, core.ErrInvalidRefreshToken)
	wantErr(t, "LogoutRefreshToken of an ended session", a.LogoutRefreshToken(ctx(t), p.RefreshToken), core.ErrInvalidRefreshToken)

	q0 := login(t, a, u)
	q1 := refresh(t, a, q0.RefreshToken)
	verify(t, a, q1.AccessToken)
	if err := a.LogoutRefreshToken(ctx(t), q0.RefreshToken); err != nil {
		t.Fatalf("LogoutRefreshToken with the token just replaced, within the grace: %v", err)
	}
	wantRevoked(t, a, q1.AccessToken)
	wantRefreshFails(t, a, q1.RefreshToken, core.ErrInvalidRefreshToken)

	verify(t, a, bystander.AccessToken)
	if l, r := logouts.Load(), reuses.Load(); l != 2 || r != 0 {
		t.Fatalf("OnLogout fired %d times, OnReuseDetected %d; want 2 and 0", l, r)
	}
}

// testLogoutSuperseded: logging out with a superseded refresh token is
// reuse, as a refresh with it would be: the session is revoked, the hook
// fires, refresh_token_reused.
func testLogoutSuperseded(t *testing.T, h Harness) {
	var logouts atomic.Int32
	var reused []core.Event
	a := NewAuth(t, h.NewStore(t), func(c *core.Config) {
		c.ReuseGrace = 150 * time.Millisecond
		c.Hooks.OnLogout = func(context.Context, core.Event) { logouts.Add(1) }
		c.Hooks.OnReuseDetected = func(_ context.Context, e core.Event) { reused = append(reused, e) }
	})
	// An older generation.
	p0 := login(t, a, newUser())
	p1 := refresh(t, a, p0.RefreshToken)
	p2 := refresh(t, a, p1.RefreshToken)
	verify(t, a, p2.AccessToken)
	wantErr(t, "LogoutRefreshToken with an older generation", a.LogoutRefreshToken(ctx(t), p0.RefreshToken), core.ErrRefreshTokenReused)
	wantRevoked(t, a, p2.AccessToken)
	wantRefreshFails(t, a, p2.RefreshToken, core.ErrInvalidRefreshToken)
	// The token just replaced, once the grace has passed.
	q0 := login(t, a, newUser())
	q1 := refresh(t, a, q0.RefreshToken)
	verify(t, a, q1.AccessToken)
	time.Sleep(300 * time.Millisecond)
	wantErr(t, "LogoutRefreshToken with the replaced token after the grace", a.LogoutRefreshToken(ctx(t), q0.RefreshToken), core.ErrRefreshTokenReused)
	wantRevoked(t, a, q1.AccessToken)
	wantRefreshFails(t, a, q1.RefreshToken, core.ErrInvalidRefreshToken)
	if len(reused) != 2 || reused[0].SessionID != p0.SessionID || reused[1].SessionID != q0.SessionID || logouts.Load() != 0 {
		t.Fatalf("OnReuseDetected events %+v, OnLogout %d; want one per session, no logout", reused, logouts.Load())
	}
}

func testLogoutAll(t *testing.T, h Harness) {
	a := NewAuth(t, h.NewStore(t), nil)
	u, other := newUser(), newUser()
	var mine []*core.TokenPair
	for range 3 {
		p := login(t, a, u)
		verify(t, a, p.AccessToken)
		mine = append(mine, p)
	}
	theirs := login(t, a, other)
	n, err := a.LogoutAll(ctx(t), u.ID)
	if err != nil || n != 3 {
		t.Fatalf("LogoutAll: %d, %v; want 3", n, err)
	}
	for _, p := range mine {
		wantRevoked(t, a, p.AccessToken)
		wantRefreshFails(t, a, p.RefreshToken, core.ErrInvalidRefreshToken)
	}
	verify(t, a, theirs.AccessToken)
	if list, err := a.Sessions(ctx(t), u.ID, ""); err != nil || len(list) != 0 {
		t.Fatalf("Sessions after LogoutAll: %v, %v", list, err)
	}
	if n, err := a.LogoutAll(ctx(t), u.ID); err != nil || n != 0 {
		t.Fatalf("second LogoutAll: %d, %v; want 0", n, err)
	}
}

func testRevokeSession(t *testing.T, h Harness) {
	a := NewAuth(t, h.NewStore(t), nil)
	alice, bob, root := newUser("user"), newUser("user"), newUser("admin")
	a1, a2 := login(t, a, alice), login(t, a, alice)
	b1 := login(t, a, bob)
	ac := verify(t, a, a1.AccessToken)
	rc := verify(t, a, login(t, a, root).AccessToken)
	c := ctx(t)

	wantErr(t, "revoking another user's session", a.RevokeSession(c, ac, b1.SessionID), core.ErrNotFound)
	verify(t, a, b1.AccessToken)
	wantErr(t, "revoking an unknown session", a.RevokeSession(c, ac, core.NewSessionID(alice.ID)), core.ErrNotFound)
	wantErr(t, "revoking a malformed id", a.RevokeSession(c, ac, "no-such-id"), core.ErrNotFound)
	wantErr(t, "revoking without claims", a.RevokeSession(c, nil, a2.SessionID), core.ErrNotFound)

	if err := a.RevokeSession(c, ac, a2.SessionID); err != nil {
		t.Fatalf("owner revoking own session: %v", err)
	}
	wantRevoked(t, a, a2.AccessToken)
	verify(t, a, a1.AccessToken)
	wantErr(t, "revoking it twice", a.RevokeSession(c, ac, a2.SessionID), core.ErrNotFound)

	if err := a.RevokeSession(c, rc, b1.SessionID); err != nil {
		t.Fatalf("admin revoking another user's session: %v", err)
	}
	wantRevoked(t, a, b1.AccessToken)
}

func testSessionsList(t *testing.T, h Harness) {
	a := NewAuth(t, h.NewStore(t), nil)
	u := newUser()
	c := ctx(t)
	// A long user agent is kept in part (core.CompactUserAgent), by every
	// store alike.
	longUA := "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0"
	p1, err := a.IssueSession(c, u, core.Client{UserAgent: longUA, IP: "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	p2, err := a.IssueSession(c, u, core.Client{UserAgent: "curl/8", IP: "2001:db8::1"})
	if err != nil {
		t.Fatal(err)
	}
	login(t, a, newUser()) // someone else's
	list, err := a.Sessions(c, u.ID, p2.SessionID)
	if err != nil {
		t.Fatalf("Sessions: %v", err)
	}
	if len(list) != 2 {
		t.Fatalf("Sessions returned %d sessions, want 2: %+v", len(list), list)
	}
	s1, s2 := list[0], list[1]
	if s1.ID != p1.SessionID || s1.UserAgent != core.CompactUserAgent(longUA) || len(s1.UserAgent) > core.MaxUserAgentBytes || s1.IP != "192.0.2.1" || s1.Current {
		t.Fatalf("first session %+v", s1)
	}
	if s2.ID != p2.SessionID || s2.UserAgent != "curl/8" || s2.IP != "2001:db8::1" || !s2.Current {
		t.Fatalf("second session %+v", s2)
	}
	for _, s := range list {
		if s.CreatedAt.Location() != time.UTC || s.CreatedAt.IsZero() || s.LastUsedAt.Before(s.CreatedAt) {
			t.Fatalf("timestamps of %+v", s)
		}
		if d := time.Since(s.CreatedAt); d < -5*time.Second || d > time.Minute {
			t.Fatalf("created_at %v is %v from now", s.CreatedAt, d)
		}
	}
	time.Sleep(20 * time.Millisecond)
	refresh(t, a, p1.RefreshToken)
	list, _ = a.Sessions(c, u.ID, "")
	if len(list) != 2 || list[0].ID != p1.SessionID || !list[0].LastUsedAt.After(s1.LastUsedAt) {
		t.Fatalf("after refreshing the oldest session: %+v; want it first still, last_used_at moved", list)
	}
	if err := a.Logout(c, p1.SessionID); err != nil {
		t.Fatal(err)
	}
	if list, _ = a.Sessions(c, u.ID, ""); len(list) != 1 || list[0].ID != p2.SessionID {
		t.Fatalf("after logout: %+v", list)
	}
	// Sessions opened back to back, within a millisecond, list in order too.
	burst := newUser()
	var ids []string
	for range 5 {
		ids = append(ids, login(t, a, burst).SessionID)
	}
	list, _ = a.Sessions(c, burst.ID, "")
	if len(list) != len(ids) {
		t.Fatalf("sessions opened back to back: %d listed, want %d", len(list), len(ids))
	}
	for i := range list {
		if list[i].ID != ids[i] {
			t.Fatalf("sessions opened back to back listed out of order: %v, want %v", list, ids)
		}
	}
}

// testSessionsPerUser: a user's sessions are bounded; opening one more ends
// the least recently used, whose access tokens the same process refuses at
// once.
func testSessionsPerUser(t *testing.T, h Harness) {
	s := h.NewStore(t)
	a := NewAuth(t, s, nil)
	const limit = core.DefaultMaxSessionsPerUser
	u, other := newUser(), newUser()
	theirs := login(t, a, other)
	var pairs []*core.TokenPair
	for i := range limit + limit/2 {
		p := login(t, a, u)
		verify(t, a, p.AccessToken) // cached as alive, where a store caches
		pairs = append(pairs, p)
		if i == limit-1 {
			// The oldest session is used again: the second is now the least
			// recently used.
			pairs[0] = refresh(t, a, pairs[0].RefreshToken)
			verify(t, a, pairs[0].AccessToken)
		}
	}
	evicted, kept := pairs[1:1+limit/2], append([]*core.TokenPair{pairs[0]}, pairs[1+limit/2:]...)
	for _, p := range evicted {
		wantRevoked(t, a, p.AccessToken)
		wantRefreshFails(t, a, p.RefreshToken, core.ErrInvalidRefreshToken)
	}
	for _, p := range kept {
		verify(t, a, p.AccessToken)
	}
	list, err := a.Sessions(ctx(t), u.ID, "")
	if err != nil || len(list) != limit {
		t.Fatalf("after %d logins: %d sessions listed, %v; want %d", len(pairs), len(list), err, limit)
	}
	listed := map[string]bool{}
	for _, s := range list {
		listed[s.ID] = true
	}
	for _, p := range kept {
		if !listed[p.SessionID] {
			t.Fatalf("session %s is live but not listed", p.SessionID)
		}
	}
	verify(t, a, theirs.AccessToken)

	// A configured bound, refreshed sessions counting as used.
	small := NewAuth(t, s, func(c *core.Config) { c.MaxSessionsPerUser = 2 })
	v := newUser()
	first, second := login(t, small, v), login(t, small, v)
	first = refresh(t, small, first.RefreshToken)
	third := login(t, small, v)
	wantRevoked(t, small, second.AccessToken)
	verify(t, small, first.AccessToken)
	verify(t, small, third.AccessToken)
	if list, err := small.Sessions(ctx(t), v.ID, ""); err != nil || len(list) != 2 {
		t.Fatalf("MaxSessionsPerUser 2: %d sessions, %v", len(list), err)
	}

	// CreateSession says how many live sessions it ended (core counts them
	// in authenik8_revocations_total{reason="evicted"}).
	w := newUser()
	for i, want := range []int{0, 0, 1, 1} {
		got, err := s.CreateSession(ctx(t), core.NewSession{
			ID: core.NewSessionID(w.ID), UserID: w.ID, Data: []byte(`{"r":[]}`), TokenHash: "h" + strconv.Itoa(i),
			IdleTTL: time.Hour, AbsoluteTTL: time.Hour, MaxSessions: 2,
		})
		if err != nil || got.Evicted != want {
			t.Fatalf("CreateSession %d of MaxSessions 2: Evicted %d, %v; want %d", i+1, got.Evicted, err, want)
		}
	}
}

func testIdleExpiry(t *testing.T, h Harness) {
	a := NewAuth(t, h.NewStore(t), func(c *core.Config) { c.IdleTTL = 1200 * time.Millisecond })
	u := newUser()
	idle := login(t, a, u)
	active := login(t, a, u)
	time.Sleep(600 * time.Millisecond)
	active = refresh(t, a, active.RefreshToken) // its idle expiry moves to 1.8 s
	time.Sleep(900 * time.Millisecond)          // 1.5 s after login
	verify(t, a, active.AccessToken)
	active = refresh(t, a, active.RefreshToken)
	wantRefreshFails(t, a, idle.RefreshToken, core.ErrInvalidRefreshToken)
	wantRevoked(t, a, idle.AccessToken)
	list, err := a.Sessions(ctx(t), u.ID, "")
	if err != nil || len(list) != 1 || list[0].ID != active.SessionID {
		t.Fatalf("Sessions after idle expiry: %+v, %v", list, err)
	}
}

func testAbsoluteExpiry(t *testing.T, h Harness) {
	a := NewAuth(t, h.NewStore(t), func(c *core.Config) {
		c.IdleTTL = time.Second
		c.AbsoluteTTL = 1600 * time.Millisecond
	})
	p := login(t, a, newUser())
	time.Sleep(600 * time.Millisecond)
	p = refresh(t, a, p.RefreshToken)
	if p.RefreshExpiresIn > 1 {
		t.Fatalf("refresh_expires_in = %ds, want at most the absolute remainder (1s)", p.RefreshExpiresIn)
	}
	time.Sleep(600 * time.Millisecond)
	p = refresh(t, a, p.RefreshToken) // 1.2 s: alive, but not extended past 1.6 s
	time.Sleep(700 * time.Millisecond)
	wantRefreshFails(t, a, p.RefreshToken, core.ErrInvalidRefreshToken)
	wantRevoked(t, a, p.AccessToken)
}

// Revocation latency a peer must meet (the per-request check is served from
// a cache that the backend invalidates). Sized for a busy 2-core CI machine;
// typical figures on loopback are well under a millisecond at the median.
const (
	peerTrials = 200
	peerP50    = 10 * time.Millisecond
	peerP99    = 50 * time.Millisecond
)

// testRevocationReachesPeer checks that a revocation made through one client
// reaches an independent client (another process) quickly: p50 and p99 over
// every way a session ends.
func testRevocationReachesPeer(t *testing.T, h Harness) {
	if h.NewPeer == nil {
		t.Skip("the store has no independent clients (in-process only)")
	}
	s := h.NewStore(t)
	a := NewAuth(t, s, nil)
	one := NewAuth(t, s, func(c *core.Config) { c.MaxSessionsPerUser = 1 })
	b := NewAuth(t, h.NewPeer(t, s), nil)
	type revoker struct {
		name   string
		login  func(u core.User) *core.TokenPair
		revoke func(p *core.TokenPair) error
	}
	byA := func(u core.User) *core.TokenPair { return login(t, a, u) }
	revokers := []revoker{
		{"Logout", byA, func(p *core.TokenPair) error { return a.Logout(ctx(t), p.SessionID) }},
		{"LogoutAll", byA, func(p *core.TokenPair) error {
			_, err := a.LogoutAll(ctx(t), p.UserID)
			return err
		}},
		{"RevokeSession", byA, func(p *core.TokenPair) error {
			return a.RevokeSession(ctx(t), verify(t, a, p.AccessToken), p.SessionID)
		}},
		{"LogoutRefreshToken", byA, func(p *core.TokenPair) error { return a.LogoutRefreshToken(ctx(t), p.RefreshToken) }},
		{"LogoutOthers", byA, func(p *core.TokenPair) error {
			_, err := a.LogoutOthers(ctx(t), p.UserID, core.NewSessionID(p.UserID))
			return err
		}},
		{"EvictedByNewLogin", func(u core.User) *core.TokenPair { return login(t, one, u) }, func(p *core.TokenPair) error {
			_, err := one.IssueSession(ctx(t), core.User{ID: p.UserID}, core.Client{})
			return err
		}},
	}
	var lat []time.Duration
	for i := range peerTrials {
		r := revokers[i%len(revokers)]
		p := r.login(newUser())
		verify(t, a, p.AccessToken) // both clients now hold the session as alive
		verify(t, b, p.AccessToken)
		start := time.Now()
		if err := r.revoke(p); err != nil {
			t.Fatalf("%s: %v", r.name, err)
		}
		wantRevoked(t, a, p.AccessToken) // at once, in the revoking client
		for {
			_, err := b.Verify(ctx(t), p.AccessToken)
			if errors.Is(err, core.ErrTokenRevoked) {
				break
			}
			if err != nil {
				t.Fatalf("peer Verify: %v", err)
			}
			if time.Since(start) > 2*time.Second {
				t.Fatalf("%s: the peer still accepts the access token after 2s", r.name)
			}
			time.Sleep(50 * time.Microsecond)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
	t.Logf("revocation seen by an independent client: n=%d p50=%v p99=%v max=%v", len(lat), p50, p99, lat[len(lat)-1])
	if p50 >= peerP50 || p99 >= peerP99 {
		t.Fatalf("revocation reached the peer in p50 %v, p99 %v; want under %v and %v", p50, p99, peerP50, peerP99)
	}
}

// testPartition: a store cut off from its backend stops answering "alive"
// from its cache within its PartitionWindow, and then fails closed with
// ErrStoreUnavailable — never a pass, never "revoked".
func testPartition(t *testing.T, h Harness) {
	if h.Partition == nil {
		t.Skip("the store has no backend to be cut off from")
	}
	if h.PartitionWindow <= 0 {
		t.Fatal("storetest: Harness.PartitionWindow is required with Partition")
	}
	s, cut := h.Partition(t)
	a := NewAuth(t, s, nil)
	p := login(t, a, newUser())
	for range 10 {
		verify(t, a, p.AccessToken) // warm: served from the cache
	}
	cut()
	start := time.Now()
	var lastAlive time.Duration
	for {
		callStart := time.Since(start)
		_, err := a.Verify(ctx(t), p.AccessToken)
		took := time.Since(start) - callStart
		if err == nil {
			lastAlive = callStart
			if callStart > h.PartitionWindow+5*time.Second {
				t.Fatalf("still answering alive %v after the cut", callStart)
			}
			time.Sleep(time.Millisecond)
			continue
		}
		if !errors.Is(err, core.ErrStoreUnavailable) {
			t.Fatalf("Verify %v after the cut: %v, want store_unavailable", callStart, err)
		}
		t.Logf("cached answers stopped %v after the cut (window %v); the first failing call took %v", lastAlive, h.PartitionWindow, took)
		// Slack for timers on a busy machine; a cache that outlives the
		// window by a whole TTL or an invalidation it never hears fails.
		if slack := 250 * time.Millisecond; lastAlive > h.PartitionWindow+slack {
			t.Fatalf("a cut-off store answered alive %v after the cut; the window is %v", lastAlive, h.PartitionWindow)
		}
		if took > 5*time.Second {
			t.Fatalf("the failing call took %v", took)
		}
		return
	}
}
