package storetest

import (
	"testing"

	"github.com/authenik8/authenik8-go/core"
)

// testRevokeOtherSessions: Store.RevokeOtherSessions ends every session of
// the user but the one kept, reports how many, and touches no other user;
// a keep that is not the user's live session keeps nothing.
func testRevokeOtherSessions(t *testing.T, h Harness) {
	s := h.NewStore(t)
	a := NewAuth(t, s, nil)
	u, other := newUser("user"), newUser("user")
	keep := login(t, a, u)
	var ended []*core.TokenPair
	for range 3 {
		ended = append(ended, login(t, a, u))
	}
	bystander := login(t, a, other)
	n, err := s.RevokeOtherSessions(ctx(t), u.ID, keep.SessionID)
	if err != nil || n != len(ended) {
		t.Fatalf("RevokeOtherSessions: %d, %v; want %d", n, err, len(ended))
	}
	verify(t, a, keep.AccessToken)
	for _, p := range ended {
		wantRevoked(t, a, p.AccessToken)
		wantRefreshFails(t, a, p.RefreshToken, core.ErrInvalidRefreshToken)
	}
	verify(t, a, bystander.AccessToken)
	if list, err := a.Sessions(ctx(t), u.ID, keep.SessionID); err != nil || len(list) != 1 || list[0].ID != keep.SessionID || !list[0].Current {
		t.Fatalf("sessions after RevokeOtherSessions: %+v, %v; want the kept one", list, err)
	}
	// The kept session goes on: it rotates, and later logins are bounded
	// and listed as usual.
	keep = refresh(t, a, keep.RefreshToken)
	later := login(t, a, u)
	if n, err := s.RevokeOtherSessions(ctx(t), u.ID, keep.SessionID); err != nil || n != 1 {
		t.Fatalf("a second RevokeOtherSessions: %d, %v; want 1", n, err)
	}
	wantRevoked(t, a, later.AccessToken)
	verify(t, a, keep.AccessToken)

	// Through core: LogoutOthers.
	extra := login(t, a, u)
	if n, err := a.LogoutOthers(ctx(t), u.ID, keep.SessionID); err != nil || n != 1 {
		t.Fatalf("LogoutOthers: %d, %v; want 1", n, err)
	}
	wantRevoked(t, a, extra.AccessToken)
	verify(t, a, keep.AccessToken)

	// A keep of another user, or a garbled one, keeps nothing.
	for _, bad := range []string{bystander.SessionID, "garbage", ""} {
		p := login(t, a, u)
		n, err := s.RevokeOtherSessions(ctx(t), u.ID, bad)
		if err != nil || n != 2 {
			t.Fatalf("RevokeOtherSessions keeping %q: %d, %v; want both of the user's sessions ended", bad, n, err)
		}
		wantRevoked(t, a, p.AccessToken)
		wantRevoked(t, a, keep.AccessToken)
		verify(t, a, bystander.AccessToken)
		keep = login(t, a, u)
	}
	if n, err := s.RevokeOtherSessions(ctx(t), newUser().ID, "x"); err != nil || n != 0 {
		t.Fatalf("RevokeOtherSessions of a user without sessions: %d, %v", n, err)
	}
}

// testReloadDisabledAndVerified: with Config.ReloadUser, a refresh carries
// the account's current email_verified, and a disabled account's refresh
// is refused with account_disabled and ends the session (inside the
// rotation when the store holds the users).
func testReloadDisabledAndVerified(t *testing.T, h Harness) {
	if h.NewUsers == nil {
		t.Skip("the harness has no user store")
	}
	s := h.NewStore(t)
	users, ok := h.NewUsers(t, s).(core.AccountStore)
	if !ok {
		t.Skip("the harness's user store is no core.AccountStore")
	}
	a := NewAuth(t, s, func(c *core.Config) { c.Users, c.ReloadUser = users, true })
	c := ctx(t)
	u, err := users.(UserStore).Register(c, newUser().ID+"@example.com", "a password", []string{"user"})
	if err != nil {
		t.Fatal(err)
	}
	p := login(t, a, u)
	if verify(t, a, p.AccessToken).EmailVerified {
		t.Fatal("email_verified before verification")
	}
	if err := users.SetEmailVerified(c, u.ID); err != nil {
		t.Fatal(err)
	}
	p = refresh(t, a, p.RefreshToken)
	if !verify(t, a, p.AccessToken).EmailVerified {
		t.Fatal("a refresh after verification does not carry email_verified")
	}
	second := login(t, a, u)
	if err := users.SetDisabled(c, u.ID, true); err != nil {
		t.Fatal(err)
	}
	// Only the refresh reads the account: a disabled user's sessions end
	// with core.Auth.DisableUser, or here at their next refresh.
	wantRefreshFails(t, a, p.RefreshToken, core.ErrAccountDisabled)
	wantRevoked(t, a, p.AccessToken)
	wantRefreshFails(t, a, p.RefreshToken, core.ErrInvalidRefreshToken)
	if err := users.SetDisabled(c, u.ID, false); err != nil {
		t.Fatal(err)
	}
	// Enabled again, the other session refreshes.
	second = refresh(t, a, second.RefreshToken)
	verify(t, a, second.AccessToken)
	if _, err := a.IssueSession(c, core.User{ID: u.ID, Disabled: true}, core.Client{}); err != core.ErrAccountDisabled {
		t.Fatalf("IssueSession of a disabled user: %v", err)
	}
}
