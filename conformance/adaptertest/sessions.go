package adaptertest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authenik8/authenik8-go/core"
)

// The session routes: logout (by bearer token, by refresh token, with an
// expired bearer token), logout-all, the session list and DELETE
// /sessions/:id.
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

func testLogoutExpiredBearer(t *testing.T, h Harness) {
	e := newEnv(t, h, ServerConfig{}, nil)
	past := NewAuth(t, e.store, e.users, func(c *core.Config) { c.Now = func() time.Time { return time.Now().Add(-time.Hour) } })
	for _, bad := range []string{"expired", "garbage"} {
		p, err := past.IssueSession(context.Background(), core.User{ID: "expired-user"}, core.Client{})
		if err != nil {
			t.Fatal(err)
		}
		tok := p.AccessToken
		if bad == "garbage" {
			tok = "garbage"
		} else {
			wantError(t, "the expired token", e.do("GET", "/auth/me", bearer(tok)), core.ErrTokenExpired)
		}
		wantStatus(t, bad+" bearer and a refresh token", e.do("POST", "/auth/logout", bearer(tok), jsonBody(map[string]string{"refresh_token": p.RefreshToken})), 204)
		alive, err := e.store.SessionAlive(context.Background(), p.UserID, p.SessionID)
		if err != nil || alive {
			t.Fatalf("%s bearer: the session is alive after logout (%v)", bad, err)
		}
		wantError(t, "refresh after logout", e.refresh(p.RefreshToken), core.ErrInvalidRefreshToken)
	}
	// Without a refresh token, the bearer token's refusal is the answer.
	p, err := past.IssueSession(context.Background(), core.User{ID: "expired-user"}, core.Client{})
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, "expired bearer alone", e.do("POST", "/auth/logout", bearer(p.AccessToken)), core.ErrTokenExpired)
	if alive, err := e.store.SessionAlive(context.Background(), p.UserID, p.SessionID); err != nil || !alive {
		t.Fatalf("a refused logout ended the session (%v)", err)
	}
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
	r := e.do("POST", "/auth/login", header("User-Agent", "second-agent/2"),
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
