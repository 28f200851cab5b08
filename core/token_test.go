package core_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/core/memstore"
)

// tokenRequest runs POST /token with a body of that content type.
func tokenRequest(t *testing.T, a *core.Auth, contentType, body string) *core.Response {
	t.Helper()
	return route(t, a, "/token")(context.Background(), &core.Request{ContentType: contentType, Body: []byte(body)})
}

func refreshForm(rt string) string {
	return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"any-client"}}.Encode()
}

// wantOAuthError checks an RFC 6749 §5.2 answer: status, code, JSON body,
// no-store.
func wantOAuthError(t *testing.T, what string, r *core.Response, status int, code string) {
	t.Helper()
	var body map[string]string
	if r.Status != status || json.Unmarshal(r.Body, &body) != nil || body["error"] != code || body["error_description"] == "" ||
		header(r, "Content-Type") != "application/json" || header(r, "Cache-Control") != "no-store" || header(r, "WWW-Authenticate") != "" {
		t.Fatalf("%s: %d %v %s; want %d %s", what, r.Status, r.Header, r.Body, status, code)
	}
}

func TestTokenEndpoint(t *testing.T) {
	ctx := context.Background()
	a := newAuth(t, func(c *core.Config) { c.ReuseGrace = 200 * time.Millisecond })
	p := issue(t, a, "user")

	r := tokenRequest(t, a, "application/x-www-form-urlencoded; charset=utf-8", refreshForm(p.RefreshToken))
	if r.Status != 200 || header(r, "Cache-Control") != "no-store" || header(r, "Pragma") != "no-cache" || header(r, "Content-Type") != "application/json" {
		t.Fatalf("refresh grant: %d %v %s", r.Status, r.Header, r.Body)
	}
	var got map[string]any
	if err := json.Unmarshal(r.Body, &got); err != nil || got["token_type"] != "Bearer" || got["expires_in"] != 900.0 || got["access_token"] == "" || got["refresh_token"] == "" || got["refresh_token"] == p.RefreshToken {
		t.Fatalf("token response %s", r.Body)
	}
	next := tokens(t, r)
	if c, err := a.Verify(ctx, next.AccessToken); err != nil || c.SessionID != p.SessionID {
		t.Fatalf("the new access token: %+v, %v", c, err)
	}

	// The replaced token within the grace: invalid_grant, nothing revoked.
	wantOAuthError(t, "the replaced token within the grace", tokenRequest(t, a, "application/x-www-form-urlencoded", refreshForm(p.RefreshToken)), 400, "invalid_grant")
	if _, err := a.Verify(ctx, next.AccessToken); err != nil {
		t.Fatalf("a conflict revoked the session: %v", err)
	}
	// After it: reuse, invalid_grant, and the session is revoked.
	time.Sleep(250 * time.Millisecond)
	r = tokenRequest(t, a, "application/x-www-form-urlencoded", refreshForm(p.RefreshToken))
	wantOAuthError(t, "a spent token", r, 400, "invalid_grant")
	if !strings.Contains(string(r.Body), "revoked") {
		t.Fatalf("the reuse description: %s", r.Body)
	}
	if _, err := a.Verify(ctx, next.AccessToken); !errors.Is(err, core.ErrTokenRevoked) {
		t.Fatalf("reuse through /token left the session alive: %v", err)
	}
	wantOAuthError(t, "the newest token of a revoked session", tokenRequest(t, a, "application/x-www-form-urlencoded", refreshForm(next.RefreshToken)), 400, "invalid_grant")
	wantOAuthError(t, "a forged token", tokenRequest(t, a, "application/x-www-form-urlencoded", refreshForm("garbage")), 400, "invalid_grant")

	live := issue(t, a)
	form := func(v url.Values) string { return v.Encode() }
	for _, tc := range []struct {
		name, ct, body string
		status         int
		code           string
	}{
		{"authorization_code grant", "application/x-www-form-urlencoded", form(url.Values{"grant_type": {"authorization_code"}, "code": {"x"}}), 400, "unsupported_grant_type"},
		{"password grant", "application/x-www-form-urlencoded", form(url.Values{"grant_type": {"password"}, "username": {"a"}, "password": {"b"}}), 400, "unsupported_grant_type"},
		{"no grant_type", "application/x-www-form-urlencoded", form(url.Values{"refresh_token": {live.RefreshToken}}), 400, "invalid_request"},
		{"no refresh_token", "application/x-www-form-urlencoded", form(url.Values{"grant_type": {"refresh_token"}}), 400, "invalid_request"},
		{"repeated parameter", "application/x-www-form-urlencoded", refreshForm(live.RefreshToken) + "&grant_type=refresh_token", 400, "invalid_request"},
		{"JSON body", "application/json", `{"grant_type":"refresh_token","refresh_token":"` + live.RefreshToken + `"}`, 400, "invalid_request"},
		{"no content type", "", refreshForm(live.RefreshToken), 400, "invalid_request"},
		{"bad escape", "application/x-www-form-urlencoded", "grant_type=refresh_token&refresh_token=%zz", 400, "invalid_request"},
		{"invalid UTF-8", "application/x-www-form-urlencoded", "grant_type=refresh_token&refresh_token=%ff", 400, "invalid_request"},
	} {
		wantOAuthError(t, tc.name, tokenRequest(t, a, tc.ct, tc.body), tc.status, tc.code)
	}
	// None of the refused requests touched the live session's token.
	tokens(t, tokenRequest(t, a, "application/x-www-form-urlencoded", refreshForm(live.RefreshToken)))

	large := route(t, a, "/token")(ctx, &core.Request{ContentType: "application/x-www-form-urlencoded", BodyTooLarge: true})
	wantOAuthError(t, "too large", large, 413, "payload_too_large")
}

// TestTokenEndpointStoreDown: a store that cannot answer is 503, not a
// refused grant (the client keeps its token and retries).
func TestTokenEndpointStoreDown(t *testing.T) {
	s := &downStore{Store: memstore.New()}
	a := newAuth(t, func(c *core.Config) { c.Store = s; c.RateLimits.Disabled = true })
	p := issue(t, a)
	s.down = true
	wantOAuthError(t, "store down", tokenRequest(t, a, "application/x-www-form-urlencoded", refreshForm(p.RefreshToken)), 503, "store_unavailable")
	s.down = false
	tokens(t, tokenRequest(t, a, "application/x-www-form-urlencoded", refreshForm(p.RefreshToken)))
}

// TestTokenEndpointIgnoresCookieMode: /token answers in the body even in
// cookie mode; its clients are not browsers.
func TestTokenEndpointIgnoresCookieMode(t *testing.T) {
	a := newAuth(t, func(c *core.Config) { c.Cookies = &core.CookieConfig{Path: "/auth"} })
	p := issue(t, a)
	r := tokenRequest(t, a, "application/x-www-form-urlencoded", refreshForm(p.RefreshToken))
	if tokens(t, r).RefreshToken == "" || header(r, "Set-Cookie") != "" {
		t.Fatalf("cookie mode /token: %v %s", r.Header, r.Body)
	}
}

type downStore struct {
	core.Store
	down bool
}

func (s *downStore) Rotate(ctx context.Context, r core.Rotation) (core.RotateResult, error) {
	if s.down {
		return core.RotateResult{}, core.ErrStoreUnavailable
	}
	return s.Store.Rotate(ctx, r)
}

// tokens decodes a token response.
func tokens(t *testing.T, r *core.Response) core.TokenPair {
	t.Helper()
	var p core.TokenPair
	if r.Status != 200 || json.Unmarshal(r.Body, &p) != nil || p.AccessToken == "" {
		t.Fatalf("want a token response, got %d %s", r.Status, r.Body)
	}
	return p
}
