package adaptertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authenik8/authenik8-go/core"
)

// Run checks the adapter behind h against SPEC §6. Each subtest gets a
// fresh store and server.
func Run(t *testing.T, h Harness) {
	if h.Stores == nil || h.Serve == nil {
		t.Fatal("adaptertest: Harness.Stores and Harness.Serve are required")
	}
	tests := []struct {
		name string
		fn   func(*testing.T, Harness)
	}{
		{"Register", testRegister},
		{"Login", testLogin},
		{"LoginDoesNotRevealEmails", testLoginNoEnumeration},
		{"Me", testMe},
		{"BearerTokenErrors", testBearerErrors},
		{"Refresh", testRefresh},
		{"RefreshReplay", testRefreshReplay},
		{"Logout", testLogout},
		{"LogoutWithRefreshToken", testLogoutRefreshToken},
		{"LogoutAll", testLogoutAll},
		{"Sessions", testSessions},
		{"DeleteSession", testDeleteSession},
		{"JWKS", testJWKS},
		{"RBAC", testRBAC},
		{"RequireWithoutAuthenticateFailsClosed", testUnguarded},
		{"Optional", testOptional},
		{"TokenLookup", testTokenLookup},
		{"BodyLimit", testBodyLimit},
		{"BadInput", testBadInput},
		{"BadInputCatalog", testBadInputCatalog},
		{"StoreUnavailable", testStoreUnavailable},
		{"Flow", testFlow},
		{"CookieMode", testCookieMode},
		{"RateLimits", testRateLimits},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, h) })
	}
}

func testRegister(t *testing.T, h Harness) {
	e := newEnv(t, h, ServerConfig{}, nil)
	r := e.do("POST", "/auth/register", jsonBody(map[string]string{"email": "  New.User@Example.COM ", "password": password}))
	wantStatus(t, "register", r, 201)
	wantHeaders(t, "register", r, &core.Response{Header: []core.Header{{Key: "Content-Type", Value: "application/json"}, {Key: "Cache-Control", Value: "no-store"}}})
	m := r.object(t)
	if id, _ := m["id"].(string); id == "" || m["email"] != "new.user@example.com" || fmt.Sprint(m["roles"]) != "[user]" || len(m) != 3 {
		t.Fatalf("register body %s", r.Body)
	}
	wantError(t, "register again", e.do("POST", "/auth/register", jsonBody(map[string]string{"email": "new.user@example.com", "password": "another password"})), core.ErrUserExists)
	for name, b := range map[string]map[string]string{
		"invalid email":  {"email": "not-an-email", "password": password},
		"short password": {"email": "short@example.com", "password": "1234567"},
		"long password":  {"email": "long@example.com", "password": strings.Repeat("p", 1025)},
		"no email":       {"password": password},
		"no password":    {"email": "nopw@example.com"},
	} {
		r := e.do("POST", "/auth/register", jsonBody(b))
		wantStatus(t, "register with "+name, r, 400)
		if r.object(t)["error"] != "invalid_request" {
			t.Fatalf("register with %s: %s", name, r.Body)
		}
	}
	// Nothing was created by the refused requests.
	wantError(t, "login of a refused registration", e.do("POST", "/auth/login", jsonBody(map[string]string{"email": "short@example.com", "password": "1234567"})), core.ErrInvalidCredentials)
	e.login("new.user@example.com")
}

func testLogin(t *testing.T, h Harness) {
	e := newEnv(t, h, ServerConfig{}, nil)
	e.register("ada@example.com")
	r := e.do("POST", "/auth/login", jsonBody(map[string]string{"email": "ADA@example.com", "password": password}))
	wantStatus(t, "login", r, 200)
	wantHeaders(t, "login", r, &core.Response{Header: []core.Header{{Key: "Content-Type", Value: "application/json"}, {Key: "Cache-Control", Value: "no-store"}}})
	m := r.object(t)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if fmt.Sprint(keys) != "[access_token expires_in refresh_expires_in refresh_token token_type]" {
		t.Fatalf("token response fields %v", keys)
	}
	tk := decodeTokens(t, r)
	if tk.TokenType != "Bearer" || tk.ExpiresIn != 900 || tk.RefreshExpiresIn < 7*24*3600-5 || tk.RefreshExpiresIn > 7*24*3600 {
		t.Fatalf("token response %+v", tk)
	}
	wantError(t, "wrong password", e.do("POST", "/auth/login", jsonBody(map[string]string{"email": "ada@example.com", "password": "wrong password"})), core.ErrInvalidCredentials)
	wantStatus(t, "login without password", e.do("POST", "/auth/login", jsonBody(map[string]string{"email": "ada@example.com"})), 400)
}

// testLoginNoEnumeration: a 401 never says whether the email exists.
func testLoginNoEnumeration(t *testing.T, h Harness) {
	e := newEnv(t, h, ServerConfig{}, nil)
	e.register("known@example.com")
	known := e.do("POST", "/auth/login", jsonBody(map[string]string{"email": "known@example.com", "password": "wrong password"}))
	unknown := e.do("POST", "/auth/login", jsonBody(map[string]string{"email": "unknown@example.com", "password": "wrong password"}))
	wantError(t, "wrong password", known, core.ErrInvalidCredentials)
	wantError(t, "unknown email", unknown, core.ErrInvalidCredentials)
	for _, name := range []string{"Content-Type", "Content-Length", "WWW-Authenticate", "Cache-Control"} {
		if known.Header.Get(name) != unknown.Header.Get(name) {
			t.Fatalf("%s differs: %q vs %q", name, known.Header.Get(name), unknown.Header.Get(name))
		}
	}
}

func testMe(t *testing.T, h Harness) {
	e := newEnv(t, h, ServerConfig{}, nil)
	id := e.register("me@example.com")
	tk := e.login("me@example.com")
	r := e.do("GET", "/auth/me", bearer(tk.AccessToken))
	wantStatus(t, "me", r, 200)
	m := r.object(t)
	if m["sub"] != id || fmt.Sprint(m["roles"]) != "[user]" {
		t.Fatalf("me %s", r.Body)
	}
	if uid, ok := core.SessionUser(fmt.Sprint(m["sid"])); !ok || uid != id {
		t.Fatalf("me sid %v", m["sid"])
	}
	// Application claims appear next to sub, sid and roles.
	p, err := e.auth.IssueSession(context.Background(), core.User{ID: id, Roles: []string{"user"}, Claims: map[string]any{"tenant": "acme"}}, core.Client{})
	if err != nil {
		t.Fatal(err)
	}
	if m := e.do("GET", "/auth/me", bearer(p.AccessToken)).object(t); m["tenant"] != "acme" || m["sub"] != id {
		t.Fatalf("me with claims %v", m)
	}
}

// testBearerErrors: every way a bearer token is refused, on a mounted route
// and on a route behind Authenticate.
func testBearerErrors(t *testing.T, h Harness) {
	e := newEnv(t, h, ServerConfig{}, nil)
	e.register("tok@example.com")
	tk := e.login("tok@example.com")
	expired := expiredToken(t, e)
	revoked := e.login("tok@example.com")
	wantStatus(t, "logout", e.do("POST", "/auth/logout", bearer(revoked.AccessToken)), 204)
	cases := []struct {
		name string
		opt  reqOpt
		want error
	}{
		{"no token", nil, core.ErrMissingToken},
		{"basic scheme", header("Authorization", "Basic dXNlcjpwYXNz"), core.ErrMissingToken},
		{"empty bearer", header("Authorization", "Bearer "), core.ErrMissingToken},
		{"garbage", bearer("garbage"), core.ErrInvalidToken},
		{"three garbage segments", bearer("a.b.c"), core.ErrInvalidToken},
		{"tampered", bearer(tk.AccessToken[:len(tk.AccessToken)-4] + "AAAA"), core.ErrInvalidToken},
		{"refresh token", bearer(tk.RefreshToken), core.ErrInvalidToken},
		{"too long", bearer(strings.Repeat("a", 9000)), core.ErrInvalidToken},
		{"expired", bearer(expired), core.ErrTokenExpired},
		{"revoked", bearer(revoked.AccessToken), core.ErrTokenRevoked},
	}
	for _, path := range []string{"/auth/me", "/auth/sessions", "/api/profile"} {
		for _, tc := range cases {
			var opts []reqOpt
			if tc.opt != nil {
				opts = append(opts, tc.opt)
			}
			wantError(t, path+" with "+tc.name, e.do("GET", path, opts...), tc.want)
		}
	}
	wantStatus(t, "control", e.do("GET", "/api/profile", bearer(tk.AccessToken)), 200)
}

// expiredToken mints a token an hour in the past, for a live session.
func expiredToken(t testing.TB, e *env) string {
	t.Helper()
	past := NewAuth(t, e.store, e.users, func(c *core.Config) { c.Now = func() time.Time { return time.Now().Add(-time.Hour) } })
	p, err := past.IssueSession(context.Background(), core.User{ID: "expired-user"}, core.Client{})
	if err != nil {
		t.Fatal(err)
	}
	return p.AccessToken
}

func testRefresh(t *testing.T, h Harness) {
	e := newEnv(t, h, ServerConfig{}, nil)
	e.register("ref@example.com")
	tk := e.login("ref@example.com")
	r := e.refresh(tk.RefreshToken)
	wantStatus(t, "refresh", r, 200)
	wantHeaders(t, "refresh", r, &core.Response{Header: []core.Header{{Key: "Content-Type", Value: "application/json"}, {Key: "Cache-Control", Value: "no-store"}}})
	next := decodeTokens(t, r)
	if next.RefreshToken == tk.RefreshToken || next.TokenType != "Bearer" || next.ExpiresIn != 900 {
		t.Fatalf("refresh response %+v", next)
	}
	wantStatus(t, "me with the new token", e.do("GET", "/auth/me", bearer(next.AccessToken)), 200)
	wantError(t, "garbage refresh token", e.refresh("garbage"), core.ErrInvalidRefreshToken)
	wantError(t, "access token as refresh token", e.refresh(next.AccessToken), core.ErrInvalidRefreshToken)
	wantStatus(t, "empty refresh token", e.refresh(""), 400)
	wantStatus(t, "no refresh token", e.do("POST", "/auth/refresh", jsonBody(map[string]string{})), 400)
	wantStatus(t, "after bad refreshes", e.refresh(next.RefreshToken), 200)
}

func testRefreshReplay(t *testing.T, h Harness) {
	e := newEnv(t, h, ServerConfig{}, nil)
	e.register("replay@example.com")
	t0 := e.login("replay@example.com")
	t1 := decodeTokens(t, e.refresh(t0.RefreshToken))
	wantError(t, "replay within the grace", e.refresh(t0.RefreshToken), core.ErrRefreshConflict)
	wantStatus(t, "me after a conflict", e.do("GET", "/auth/me", bearer(t1.AccessToken)), 200)
	time.Sleep(Grace + 200*time.Millisecond)
	wantError(t, "replay after the grace", e.refresh(t0.RefreshToken), core.ErrRefreshTokenReused)
	wantError(t, "newest token after reuse", e.refresh(t1.RefreshToken), core.ErrInvalidRefreshToken)
	wantError(t, "access token after reuse", e.do("GET", "/auth/me", bearer(t1.AccessToken)), core.ErrTokenRevoked)
}

func testLogout(t *testing.T, h Harness) {
	e := newEnv(t, h, ServerConfig{}, nil)
	e.register("out@example.com")
	tk := e.login("out@example.com")
	other := e.login("out@example.com")
	r := e.do("POST", "/auth/logout", bearer(tk.AccessToken))
	wantStatus(t, "logout", r, 204)
	if len(r.Body) != 0 {
		t.Fatalf("204 with a body: %q", r.Body)
	}
	wantHeaders(t, "logout", r, &core.Response{Header: []core.Header{{Key: "Cache-Control", Value: "no-store"}}}) // and no Content-Type
	wantError(t, "me after logout", e.do("GET", "/auth/me", bearer(tk.AccessToken)), core.ErrTokenRevoked)
	wantError(t, "refresh after logout", e.refresh(tk.RefreshToken), core.ErrInvalidRefreshToken)
	wantStatus(t, "the other session", e.do("GET", "/auth/me", bearer(other.AccessToken)), 200)
	wantError(t, "logout with nothing", e.do("POST", "/auth/logout"), core.ErrMissingToken)
	wantError(t, "logout with a garbage bearer", e.do("POST", "/auth/logout", bearer("garbage")), core.ErrInvalidToken)
}

func testLogoutRefreshToken(t *testing.T, h Harness) {
	e := newEnv(t, h, ServerConfig{}, nil)
	e.register("rout@example.com")
	a, b := e.login("rout@example.com"), e.login("rout@example.com")
	wantStatus(t, "logout by refresh token", e.do("POST", "/auth/logout", jsonBody(map[string]string{"refresh_token": a.RefreshToken})), 204)
	wantError(t, "me after logout by refresh token", e.do("GET", "/auth/me", bearer(a.AccessToken)), core.ErrTokenRevoked)
	wantError(t, "bearer and refresh token of different sessions",
		e.do("POST", "/auth/logout", bearer(b.AccessToken), jsonBody(map[string]string{"refresh_token": e.login("rout@example.com").RefreshToken})),
		core.ErrInvalidRequest.WithDescription("the bearer token and the refresh token belong to different sessions"))
	wantStatus(t, "b survives the refused logout", e.do("GET", "/auth/me", bearer(b.AccessToken)), 200)
	wantError(t, "forged refresh token", e.do("POST", "/auth/logout", jsonBody(map[string]string{"refresh_token": "forged"})), core.ErrInvalidRefreshToken)
	wantStatus(t, "bearer and its own refresh token", e.do("POST", "/auth/logout", bearer(b.AccessToken), jsonBody(map[string]string{"refresh_token": b.RefreshToken})), 204)
	wantError(t, "me after", e.do("GET", "/auth/me", bearer(b.AccessToken)), core.ErrTokenRevoked)
}

func testLogoutAll(t *testing.T, h Harness) {
	e := newEnv(t, h, ServerConfig{}, nil)
	e.register("all@example.com")
	e.register("bystander@example.com")
	mine := []tokens{e.login("all@example.com"), e.login("all@example.com"), e.login("all@example.com")}
	theirs := e.login("bystander@example.com")
	wantError(t, "logout-all without a token", e.do("POST", "/auth/logout-all"), core.ErrMissingToken)
	wantStatus(t, "logout-all", e.do("POST", "/auth/logout-all", bearer(mine[0].AccessToken)), 204)
	for i, tk := range mine {
		wantError(t, fmt.Sprintf("session %d after logout-all", i), e.do("GET", "/auth/me", bearer(tk.AccessToken)), core.ErrTokenRevoked)
		wantError(t, fmt.Sprintf("refresh %d after logout-all", i), e.refresh(tk.RefreshToken), core.ErrInvalidRefreshToken)
	}
	wantStatus(t, "someone else's session", e.do("GET", "/auth/me", bearer(theirs.AccessToken)), 200)
}

func testSessions(t *testing.T, h Harness) {
	e := newEnv(t, h, ServerConfig{}, nil)
	e.register("list@example.com")
	first := e.login("list@example.com")
	// Forwarding headers from a peer that is no trusted proxy must not name
	// the client: they would let anyone pick the IP the per-IP limits count.
	r := e.do("POST", "/auth/login", header("User-Agent", "second-agent/2"),
		header("X-Forwarded-For", "203.0.113.7"), header("X-Real-IP", "203.0.113.8"),
		jsonBody(map[string]string{"email": "list@example.com", "password": password}))
	second := decodeTokens(t, r)
	r = e.do("GET", "/auth/sessions", bearer(second.AccessToken))
	wantStatus(t, "sessions", r, 200)
	var body struct {
		Sessions []map[string]any `json:"sessions"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil || len(body.Sessions) != 2 {
		t.Fatalf("sessions body %s", r.Body)
	}
	me := e.do("GET", "/auth/me", bearer(second.AccessToken)).object(t)
	for i, s := range body.Sessions {
		keys := make([]string, 0, len(s))
		for k := range s {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if fmt.Sprint(keys) != "[created_at current id ip last_used_at user_agent]" {
			t.Fatalf("session fields %v", keys)
		}
		for _, k := range []string{"created_at", "last_used_at"} {
			ts, err := time.Parse(time.RFC3339, fmt.Sprint(s[k]))
			if err != nil || !strings.HasSuffix(fmt.Sprint(s[k]), "Z") || time.Since(ts) > time.Minute {
				t.Fatalf("session %d %s = %v: not RFC 3339 UTC, or not recent", i, k, s[k])
			}
		}
		if s["ip"] != "127.0.0.1" && s["ip"] != "::1" {
			t.Fatalf("session ip %v", s["ip"])
		}
		if current := s["id"] == me["sid"]; s["current"] != current {
			t.Fatalf("session %v current = %v", s["id"], s["current"])
		}
	}
	if body.Sessions[0]["user_agent"] != "adaptertest/1" || body.Sessions[1]["user_agent"] != "second-agent/2" {
		t.Fatalf("user agents %v, %v (oldest first)", body.Sessions[0]["user_agent"], body.Sessions[1]["user_agent"])
	}
	_ = first
}

func testDeleteSession(t *testing.T, h Harness) {
	e := newEnv(t, h, ServerConfig{}, nil)
	e.register("alice@example.com")
	e.register("bob@example.com")
	a1, a2 := e.login("alice@example.com"), e.login("alice@example.com")
	b1 := e.login("bob@example.com")
	root := e.withRoles("root@example.com", "admin")
	sid := func(tk tokens) string {
		return fmt.Sprint(e.do("GET", "/auth/me", bearer(tk.AccessToken)).object(t)["sid"])
	}
	a2sid, b1sid := sid(a2), sid(b1)

	wantError(t, "delete without a token", e.do("DELETE", "/auth/sessions/"+a2sid), core.ErrMissingToken)
	wantError(t, "delete another user's session", e.do("DELETE", "/auth/sessions/"+b1sid, bearer(a1.AccessToken)), core.ErrNotFound)
	wantStatus(t, "bob after alice's attempt", e.do("GET", "/auth/me", bearer(b1.AccessToken)), 200)
	unknown := e.do("DELETE", "/auth/sessions/"+core.NewSessionID("nobody"), bearer(a1.AccessToken))
	wantError(t, "delete an unknown session", unknown, core.ErrNotFound)
	wantError(t, "delete a malformed id", e.do("DELETE", "/auth/sessions/not-a-session", bearer(a1.AccessToken)), core.ErrNotFound)
	wantStatus(t, "delete own session", e.do("DELETE", "/auth/sessions/"+a2sid, bearer(a1.AccessToken)), 204)
	wantError(t, "the deleted session", e.do("GET", "/auth/me", bearer(a2.AccessToken)), core.ErrTokenRevoked)
	wantError(t, "delete it again", e.do("DELETE", "/auth/sessions/"+a2sid, bearer(a1.AccessToken)), core.ErrNotFound)
	wantStatus(t, "admin deletes bob's session", e.do("DELETE", "/auth/sessions/"+b1sid, bearer(root.AccessToken)), 204)
	wantError(t, "bob after the admin", e.do("GET", "/auth/me", bearer(b1.AccessToken)), core.ErrTokenRevoked)
}

func testJWKS(t *testing.T, h Harness) {
	e := newEnv(t, h, ServerConfig{}, nil)
	r := e.do("GET", "/auth/jwks.json")
	wantStatus(t, "jwks", r, 200)
	if string(r.Body) != `{"keys":[]}` || r.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("HMAC jwks: %s %v", r.Body, r.Header)
	}
	ed, err := core.GenerateKey("EdDSA")
	if err != nil {
		t.Fatal(err)
	}
	e = newEnv(t, h, ServerConfig{}, func(c *core.Config) { c.AccessKeys = []core.Key{ed} })
	r = e.do("GET", "/auth/jwks.json")
	keys, err := core.ParseJWKS(r.Body)
	if err != nil || len(keys) != 1 || keys[0].ID() != ed.ID() || keys[0].CanSign() || bytes.Contains(r.Body, []byte(`"d"`)) {
		t.Fatalf("EdDSA jwks %s: %v", r.Body, err)
	}
}

func testRBAC(t *testing.T, h Harness) {
	e := newEnv(t, h, ServerConfig{}, nil)
	e.register("plain@example.com")
	user := e.login("plain@example.com")
	editor := e.withRoles("editor@example.com", "user", "editor")
	admin := e.withRoles("admin@example.com", "admin")
	analyst := e.withRoles("analyst@example.com", "analyst")
	cases := []struct {
		path string
		tk   tokens
		ok   bool
	}{
		{"/api/admin", admin, true}, {"/api/admin", editor, false}, {"/api/admin", user, false},
		{"/api/any", editor, true}, {"/api/any", admin, true}, {"/api/any", user, false},
		{"/api/all", editor, true}, {"/api/all", user, false}, {"/api/all", admin, false},
		{"/api/perm", analyst, true}, {"/api/perm", editor, false}, {"/api/perm", admin, false},
	}
	for _, tc := range cases {
		r := e.do("GET", tc.path, bearer(tc.tk.AccessToken))
		if tc.ok {
			wantStatus(t, tc.path, r, 200)
			if !bytes.Equal(r.Body, OK) {
				t.Fatalf("%s: body %s", tc.path, r.Body)
			}
			continue
		}
		// A 403 is the same for every route and rule: it names neither the
		// role nor the route, so it does not tell what an admin could reach.
		wantError(t, tc.path, r, core.ErrForbidden)
		if bytes.Contains(r.Body, []byte("admin")) || bytes.Contains(r.Body, []byte("editor")) || bytes.Contains(r.Body, []byte("/api")) {
			t.Fatalf("%s: the 403 leaks: %s", tc.path, r.Body)
		}
	}
	for _, p := range []string{"/api/admin", "/api/any", "/api/all", "/api/perm"} {
		wantError(t, p+" without a token", e.do("GET", p), core.ErrMissingToken)
		wantError(t, p+" with a garbage token", e.do("GET", p, bearer("garbage")), core.ErrInvalidToken)
	}
}

func testUnguarded(t *testing.T, h Harness) {
	e := newEnv(t, h, ServerConfig{}, nil)
	admin := e.withRoles("admin2@example.com", "admin")
	// Without Authenticate in front, Require* has no claims: it refuses even
	// an admin's token rather than letting anything through.
	wantError(t, "unguarded without a token", e.do("GET", "/api/unguarded"), core.ErrMissingToken)
	wantError(t, "unguarded with an admin token", e.do("GET", "/api/unguarded", bearer(admin.AccessToken)), core.ErrMissingToken)
}

func testOptional(t *testing.T, h Harness) {
	e := newEnv(t, h, ServerConfig{}, nil)
	id := e.register("opt@example.com")
	tk := e.login("opt@example.com")
	r := e.do("GET", "/api/optional")
	wantStatus(t, "optional anonymous", r, 200)
	if !bytes.Equal(r.Body, Profile(nil, nil)) {
		t.Fatalf("optional anonymous body %s", r.Body)
	}
	r = e.do("GET", "/api/optional", bearer(tk.AccessToken))
	wantStatus(t, "optional signed in", r, 200)
	if m := r.object(t); m["sub"] != id || m["ctx_sub"] != id {
		t.Fatalf("optional signed in body %s", r.Body)
	}
	wantError(t, "optional with a bad token", e.do("GET", "/api/optional", bearer("garbage")), core.ErrInvalidToken)
	wantError(t, "optional with an expired token", e.do("GET", "/api/optional", bearer(expiredToken(t, e))), core.ErrTokenExpired)
	// The claims from the framework's accessor and from the request's
	// context.Context agree.
	r = e.do("GET", "/api/profile", bearer(tk.AccessToken))
	if m := r.object(t); m["sub"] != id || m["ctx_sub"] != id || m["sid"] == "" || fmt.Sprint(m["roles"]) != "[user]" {
		t.Fatalf("profile body %s", r.Body)
	}
}

func testTokenLookup(t *testing.T, h Harness) {
	cfg := ServerConfig{TokenLookup: []core.TokenSource{core.FromCookie("access_token"), core.FromQuery("access_token"), core.FromHeader("Authorization")}}
	e := newEnv(t, h, cfg, nil)
	id := e.register("look@example.com")
	tk := e.login("look@example.com")
	for name, opts := range map[string][]reqOpt{
		"cookie": {cookie("access_token", tk.AccessToken)},
		"header": {bearer(tk.AccessToken)},
	} {
		if m := e.do("GET", "/api/profile", opts...).object(t); m["sub"] != id {
			t.Fatalf("token by %s: %v", name, m)
		}
		if m := e.do("GET", "/auth/me", opts...).object(t); m["sub"] != id {
			t.Fatalf("mounted route, token by %s: %v", name, m)
		}
	}
	if m := e.do("GET", "/api/profile"+query("access_token", tk.AccessToken)).object(t); m["sub"] != id {
		t.Fatalf("token by query: %v", m)
	}
	wantError(t, "cookie with garbage", e.do("GET", "/api/profile", cookie("access_token", "garbage")), core.ErrInvalidToken)
	wantError(t, "no token anywhere", e.do("GET", "/api/profile"), core.ErrMissingToken)

	// The default lookup is the Authorization header only.
	d := newEnv(t, h, ServerConfig{}, nil)
	d.register("look@example.com")
	dtk := d.login("look@example.com")
	wantError(t, "cookie with the default lookup", d.do("GET", "/api/profile", cookie("access_token", dtk.AccessToken)), core.ErrMissingToken)
	wantError(t, "query with the default lookup", d.do("GET", "/api/profile"+query("access_token", dtk.AccessToken)), core.ErrMissingToken)
}

func testBodyLimit(t *testing.T, h Harness) {
	e := newEnv(t, h, ServerConfig{}, nil)
	e.register("big@example.com")
	pad := func(n int) []byte {
		b, _ := json.Marshal(map[string]string{"email": "big@example.com", "password": password, "pad": strings.Repeat("x", n)})
		return b
	}
	near := pad(core.DefaultBodyLimit - 200)
	if len(near) > core.DefaultBodyLimit {
		t.Fatalf("test body %d bytes", len(near))
	}
	wantStatus(t, "a body just under 16 KiB", e.do("POST", "/auth/login", body("application/json", near)), 200)
	over := pad(core.DefaultBodyLimit)
	wantError(t, "a body over 16 KiB", e.do("POST", "/auth/login", body("application/json", over)), core.ErrPayloadTooLarge)
	wantError(t, "register over 16 KiB", e.do("POST", "/auth/register", body("application/json", over)), core.ErrPayloadTooLarge)

	small := newEnv(t, h, ServerConfig{BodyLimit: 64}, nil)
	wantError(t, "a body over a 64-byte limit", small.do("POST", "/auth/login", body("application/json", pad(10))), core.ErrPayloadTooLarge)
	wantError(t, "a body under a 64-byte limit", small.do("POST", "/auth/login", jsonBody(map[string]string{"email": "x@y.z", "password": "12345678"})), core.ErrInvalidCredentials)
}

// testBadInput: malformed requests get a clear 4xx and change nothing.
func testBadInput(t *testing.T, h Harness) {
	e := newEnv(t, h, ServerConfig{}, nil)
	e.register("bad@example.com")
	tk := e.login("bad@example.com")
	cases := []struct {
		name, path, ct, body string
	}{
		{"malformed JSON", "/auth/login", "application/json", `{"email":`},
		{"not an object", "/auth/login", "application/json", `["bad@example.com"]`},
		{"wrong types", "/auth/login", "application/json", `{"email":1,"password":true}`},
		{"trailing data", "/auth/login", "application/json", `{"email":"bad@example.com","password":"` + password + `"} {}`},
		{"text/plain", "/auth/login", "text/plain", `{"email":"bad@example.com","password":"` + password + `"}`},
		{"form", "/auth/login", "application/x-www-form-urlencoded", `email=bad@example.com&password=x`},
		{"no content type", "/auth/login", "", `{"email":"bad@example.com","password":"` + password + `"}`},
		{"empty body", "/auth/register", "application/json", ``},
		{"refresh: malformed", "/auth/refresh", "application/json", `{"refresh_token":`},
		{"refresh: wrong type", "/auth/refresh", "application/json", `{"refresh_token":42}`},
		{"refresh: wrong content type", "/auth/refresh", "text/plain", `{"refresh_token":"` + tk.RefreshToken + `"}`},
		{"logout: malformed", "/auth/logout", "application/json", `{"refresh_token"`},
	}
	for _, tc := range cases {
		r := e.do("POST", tc.path, body(tc.ct, []byte(tc.body)))
		wantStatus(t, tc.name, r, 400)
		if r.object(t)["error"] != "invalid_request" {
			t.Fatalf("%s: %s", tc.name, r.Body)
		}
	}
	// Nothing changed: the session and its refresh token still work.
	wantStatus(t, "me after bad input", e.do("GET", "/auth/me", bearer(tk.AccessToken)), 200)
	wantStatus(t, "refresh after bad input", e.refresh(tk.RefreshToken), 200)
	wantStatus(t, "charset parameter accepted", e.do("POST", "/auth/login", body("application/json; charset=utf-8", []byte(`{"email":"bad@example.com","password":"`+password+`"}`))), 200)
}

// testStoreUnavailable: when the store cannot answer, every request that
// needs it gets 503 store_unavailable — never a 500, never a pass.
func testStoreUnavailable(t *testing.T, h Harness) {
	var down failSwitch
	e := newEnv(t, Harness{
		Serve: h.Serve,
		Stores: func(t testing.TB) (core.Store, core.UserStore) {
			s, u := h.Stores(t)
			return &flakyStore{Store: s, down: &down}, &flakyUsers{UserStore: u, down: &down}
		},
	}, ServerConfig{}, nil)
	e.register("flaky@example.com")
	tk := e.login("flaky@example.com")
	down.set(true)
	for _, req := range []struct{ method, path string }{
		{"GET", "/auth/me"}, {"GET", "/auth/sessions"}, {"POST", "/auth/logout"}, {"POST", "/auth/logout-all"}, {"GET", "/api/profile"}, {"GET", "/api/admin"}, {"GET", "/api/optional"},
	} {
		wantError(t, req.path+" with the store down", e.do(req.method, req.path, bearer(tk.AccessToken)), core.ErrStoreUnavailable)
	}
	wantError(t, "refresh with the store down", e.refresh(tk.RefreshToken), core.ErrStoreUnavailable)
	wantError(t, "login with the store down", e.do("POST", "/auth/login", jsonBody(map[string]string{"email": "flaky@example.com", "password": password})), core.ErrStoreUnavailable)
	wantError(t, "register with the store down", e.do("POST", "/auth/register", jsonBody(map[string]string{"email": "new@example.com", "password": password})), core.ErrStoreUnavailable)
	down.set(false)
	wantStatus(t, "me after recovery", e.do("GET", "/auth/me", bearer(tk.AccessToken)), 200)
	wantStatus(t, "refresh after recovery", e.refresh(tk.RefreshToken), 200)
}

// testFlow is the walk-through of the README: register, login, profile,
// admin denied, refresh, replay, logout, profile refused.
func testFlow(t *testing.T, h Harness) {
	e := newEnv(t, h, ServerConfig{}, nil)
	e.register("flow@example.com")
	tk := e.login("flow@example.com")
	wantStatus(t, "profile", e.do("GET", "/api/profile", bearer(tk.AccessToken)), 200)
	wantError(t, "admin", e.do("GET", "/api/admin", bearer(tk.AccessToken)), core.ErrForbidden)
	next := decodeTokens(t, e.refresh(tk.RefreshToken))
	wantError(t, "replay", e.refresh(tk.RefreshToken), core.ErrRefreshConflict)
	wantStatus(t, "logout", e.do("POST", "/auth/logout", bearer(next.AccessToken)), 204)
	wantError(t, "profile after logout", e.do("GET", "/api/profile", bearer(next.AccessToken)), core.ErrTokenRevoked)
	wantError(t, "old access token after logout", e.do("GET", "/api/profile", bearer(tk.AccessToken)), core.ErrTokenRevoked)
}

// failSwitch turns the flaky stores' failures on and off.
type failSwitch struct{ on atomic.Bool }

func (f *failSwitch) set(v bool) { f.on.Store(v) }
func (f *failSwitch) err() error {
	if f.on.Load() {
		return fmt.Errorf("%w: test outage", core.ErrStoreUnavailable)
	}
	return nil
}

type flakyStore struct {
	core.Store
	down *failSwitch
}

func (s *flakyStore) CreateSession(ctx context.Context, n core.NewSession) (core.Session, error) {
	if err := s.down.err(); err != nil {
		return core.Session{}, err
	}
	return s.Store.CreateSession(ctx, n)
}
func (s *flakyStore) Rotate(ctx context.Context, r core.Rotation) (core.RotateResult, error) {
	if err := s.down.err(); err != nil {
		return core.RotateResult{}, err
	}
	return s.Store.Rotate(ctx, r)
}
func (s *flakyStore) SessionAlive(ctx context.Context, uid, sid string) (bool, error) {
	if err := s.down.err(); err != nil {
		return true, err // a true with the error must not let anything through
	}
	return s.Store.SessionAlive(ctx, uid, sid)
}
func (s *flakyStore) RevokeSession(ctx context.Context, uid, sid string) (bool, error) {
	if err := s.down.err(); err != nil {
		return false, err
	}
	return s.Store.RevokeSession(ctx, uid, sid)
}
func (s *flakyStore) RevokeUser(ctx context.Context, uid string) (int, error) {
	if err := s.down.err(); err != nil {
		return 0, err
	}
	return s.Store.RevokeUser(ctx, uid)
}
func (s *flakyStore) ListSessions(ctx context.Context, uid string) ([]core.Session, error) {
	if err := s.down.err(); err != nil {
		return nil, err
	}
	return s.Store.ListSessions(ctx, uid)
}
func (s *flakyStore) Ping(ctx context.Context) error {
	if err := s.down.err(); err != nil {
		return err
	}
	return s.Store.Ping(ctx)
}

// The limiter follows the switch too: login and registration count
// attempts in the store first.
func (s *flakyStore) Hit(ctx context.Context, key string, limit int64, window time.Duration) (bool, time.Duration, error) {
	if err := s.down.err(); err != nil {
		return false, 0, err
	}
	return s.Store.(core.Limiter).Hit(ctx, key, limit, window)
}
func (s *flakyStore) Peek(ctx context.Context, key string) (int64, time.Duration, error) {
	if err := s.down.err(); err != nil {
		return 0, 0, err
	}
	return s.Store.(core.Limiter).Peek(ctx, key)
}
func (s *flakyStore) Undo(ctx context.Context, key string) error {
	if err := s.down.err(); err != nil {
		return err
	}
	return s.Store.(core.Limiter).Undo(ctx, key)
}
func (s *flakyStore) Reset(ctx context.Context, key string) error {
	if err := s.down.err(); err != nil {
		return err
	}
	return s.Store.(core.Limiter).Reset(ctx, key)
}

type flakyUsers struct {
	core.UserStore
	down *failSwitch
}

func (u *flakyUsers) Authenticate(ctx context.Context, email, password string) (core.User, error) {
	if err := u.down.err(); err != nil {
		return core.User{}, err
	}
	return u.UserStore.Authenticate(ctx, email, password)
}
func (u *flakyUsers) User(ctx context.Context, id string) (core.User, error) {
	if err := u.down.err(); err != nil {
		return core.User{}, err
	}
	return u.UserStore.User(ctx, id)
}
func (u *flakyUsers) Register(ctx context.Context, email, password string, roles []string) (core.User, error) {
	if err := u.down.err(); err != nil {
		return core.User{}, err
	}
	return u.UserStore.(core.UserRegistrar).Register(ctx, email, password, roles)
}
func (u *flakyUsers) SetRoles(ctx context.Context, id string, roles []string) error {
	return u.UserStore.(interface {
		SetRoles(context.Context, string, []string) error
	}).SetRoles(ctx, id, roles)
}
