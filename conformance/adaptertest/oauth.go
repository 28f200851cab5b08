package adaptertest

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/authenik8/authenik8-go/conformance/oauthtest"
	"github.com/authenik8/authenik8-go/core"
)

// The OAuth routes on an adapter: the redirects, cookies and headers of a
// sign-in as core decides them, the login code's exchange, and the RFC 6749
// token endpoint. The provider is oauthtest's and the accounts are
// oauthtest.Accounts: what is under test is the adapter, not the store.

const (
	oauthBase     = "http://app.test/auth"
	oauthRedirect = "https://app.example.com/done"
)

// oauthEnv is an env whose Auth signs in with provider "test".
func oauthEnv(t *testing.T, h Harness) (*env, *oauthtest.Provider, *oauthtest.Accounts) {
	p, accounts := oauthtest.NewProvider(), oauthtest.NewAccounts(nil)
	e := newEnv(t, h, ServerConfig{}, func(c *core.Config) {
		c.Users, c.Mailer = accounts, nil // oauthtest.Accounts keep no mail's link tokens
		c.OAuth = &core.OAuthConfig{Providers: map[string]core.Provider{"test": p}, BaseURL: oauthBase, RedirectURL: oauthRedirect}
	})
	return e, p, accounts
}

// noRedirects is a client that hands back every redirect.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// get sends GET path without following redirects.
func (e *env) get(path string, opts ...reqOpt) *result {
	e.t.Helper()
	saved := e.hc.CheckRedirect
	e.hc.CheckRedirect = noRedirects.CheckRedirect
	defer func() { e.hc.CheckRedirect = saved }()
	return e.do("GET", path, opts...)
}

// wantRedirect checks a 302 with core's headers for a flow step.
func wantRedirect(t *testing.T, what string, r *result) *url.URL {
	t.Helper()
	loc, err := url.Parse(r.Header.Get("Location"))
	if r.Status != 302 || err != nil || r.Header.Get("Cache-Control") != "no-store" || r.Header.Get("Referrer-Policy") != "no-referrer" || len(r.Body) != 0 && r.Header.Get("Content-Type") == "application/json" {
		t.Fatalf("%s: %d %v %s", what, r.Status, r.Header, r.Body)
	}
	return loc
}

// landing checks that a callback ended on the redirect URL with the flow
// cookie cleared, and returns its query.
func landing(t *testing.T, what string, r *result) url.Values {
	t.Helper()
	loc := wantRedirect(t, what, r)
	if loc.Scheme+"://"+loc.Host+loc.Path != oauthRedirect {
		t.Fatalf("%s: landed on %s", what, loc)
	}
	ck := r.cookies()["a8_oauth"]
	if ck == nil || ck.Value != "" || ck.MaxAge >= 0 || ck.Path != "/auth/oauth/" {
		t.Fatalf("%s: the flow cookie was not cleared: %q", what, r.Header.Values("Set-Cookie"))
	}
	return loc.Query()
}

// oauthStart runs GET start: the provider's URL and the flow cookie.
func oauthStart(t *testing.T, e *env) (string, *http.Cookie) {
	t.Helper()
	r := e.get("/auth/oauth/test/start")
	loc := wantRedirect(t, "start", r)
	ck := r.cookies()["a8_oauth"]
	if ck == nil || ck.Value == "" || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/auth/oauth/" || ck.MaxAge != 600 {
		t.Fatalf("start set %q", r.Header.Values("Set-Cookie"))
	}
	if !strings.HasPrefix(loc.String(), oauthtest.AuthorizeURL+"?") || loc.Query().Get("redirect_uri") != oauthBase+"/oauth/test/callback" {
		t.Fatalf("start sent the browser to %s", loc)
	}
	return loc.String(), ck
}

// callbackPath turns the provider's redirect into a path on the server.
func callbackPath(t *testing.T, cb string) string {
	u, err := url.Parse(cb)
	if err != nil || !strings.HasPrefix(cb, oauthBase) {
		t.Fatalf("callback URL %q", cb)
	}
	return "/auth" + strings.TrimPrefix(u.Path, "/auth") + "?" + u.RawQuery
}

func testOAuthSignIn(t *testing.T, h Harness) {
	e, p, accounts := oauthEnv(t, h)
	p.Next(core.Identity{Subject: "adapter-sub", Email: "Flow@Example.com", EmailVerified: true})
	authURL, ck := oauthStart(t, e)
	cb, err := p.Authorize(authURL)
	if err != nil {
		t.Fatal(err)
	}
	land := landing(t, "callback", e.get(callbackPath(t, cb), cookie(ck.Name, ck.Value)))
	code := land.Get("login_code")
	if code == "" || land.Get("error") != "" {
		t.Fatalf("landed with %v", land)
	}
	r := e.do("POST", "/auth/oauth/exchange", jsonBody(map[string]string{"login_code": code}))
	wantStatus(t, "exchange", r, 200)
	wantHeaders(t, "exchange", r, &core.Response{Header: []core.Header{{Key: "Content-Type", Value: "application/json"}, {Key: "Cache-Control", Value: "no-store"}}})
	tk := decodeTokens(t, r)
	wantStatus(t, "profile after OAuth sign-in", e.do("GET", "/api/profile", bearer(tk.AccessToken)), 200)
	u, err := accounts.UserByIdentity(context.Background(), "test", "adapter-sub")
	if err != nil || u.Email != "flow@example.com" {
		t.Fatalf("the account: %+v, %v", u, err)
	}
	// The code is spent; a replayed callback hands out none.
	wantError(t, "the login code again", e.do("POST", "/auth/oauth/exchange", jsonBody(map[string]string{"login_code": code})), core.ErrInvalidGrant)
	if land := landing(t, "replayed callback", e.get(callbackPath(t, cb), cookie(ck.Name, ck.Value))); land.Get("error") != core.OAuthErrorInvalidState {
		t.Fatalf("replayed callback landed with %v", land)
	}
}

func testOAuthRefusals(t *testing.T, h Harness) {
	e, p, accounts := oauthEnv(t, h)
	p.Next(core.Identity{Subject: "s", Email: "s@example.com", EmailVerified: true})
	authURL, ck := oauthStart(t, e)
	cb, err := p.Authorize(authURL)
	if err != nil {
		t.Fatal(err)
	}
	if land := landing(t, "callback without the cookie", e.get(callbackPath(t, cb))); land.Get("error") != core.OAuthErrorInvalidState {
		t.Fatalf("without the cookie: %v", land)
	}
	state := url.QueryEscape(must(url.Parse(authURL)).Query().Get("state"))
	if land := landing(t, "access denied", e.get("/auth/oauth/test/callback?error=access_denied&state="+state, cookie(ck.Name, ck.Value))); land.Get("error") != core.OAuthErrorAccessDenied {
		t.Fatalf("access denied: %v", land)
	}
	if n, ids, codes := accounts.Counts(); n+ids+codes != 0 {
		t.Fatalf("refused callbacks left %d accounts, %d identities, %d codes", n, ids, codes)
	}
	for _, path := range []string{"/auth/oauth/nope/start", "/auth/oauth/nope/callback?code=x&state=y"} {
		wantError(t, path, e.get(path), core.ErrNotFound)
	}
	wantError(t, "exchange of a forged code", e.do("POST", "/auth/oauth/exchange", jsonBody(map[string]string{"login_code": "forged"})), core.ErrInvalidGrant)
	wantStatus(t, "exchange without a code", e.do("POST", "/auth/oauth/exchange", jsonBody(map[string]string{})), 400)
}

// testTokenEndpoint: POST /token speaks RFC 6749 to standard clients.
func testTokenEndpoint(t *testing.T, h Harness) {
	e := newEnv(t, h, ServerConfig{}, func(c *core.Config) { c.ReuseGrace = -1 })
	e.register("token@example.com")
	tk := e.login("token@example.com")
	form := func(v url.Values) reqOpt { return body("application/x-www-form-urlencoded", []byte(v.Encode())) }
	grant := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tk.RefreshToken}, "client_id": {"cli"}}
	r := e.do("POST", "/auth/token", form(grant))
	wantStatus(t, "refresh grant", r, 200)
	if r.Header.Get("Pragma") != "no-cache" || r.Header.Get("Cache-Control") != "no-store" || r.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("refresh grant headers %v", r.Header)
	}
	next := decodeTokens(t, r)
	wantStatus(t, "profile with the refreshed token", e.do("GET", "/api/profile", bearer(next.AccessToken)), 200)
	// The spent token: invalid_grant, and the session is revoked.
	r = e.do("POST", "/auth/token", form(grant))
	if m := r.object(t); r.Status != 400 || m["error"] != "invalid_grant" || m["error_description"] == "" || r.Header.Get("WWW-Authenticate") != "" {
		t.Fatalf("a spent refresh token: %d %v %s", r.Status, r.Header, r.Body)
	}
	wantError(t, "the session after reuse", e.do("GET", "/api/profile", bearer(next.AccessToken)), core.ErrTokenRevoked)
	wantError(t, "password grant", e.do("POST", "/auth/token", form(url.Values{"grant_type": {"password"}})), core.ErrUnsupportedGrantType)
	wantError(t, "JSON body", e.do("POST", "/auth/token", jsonBody(map[string]string{"grant_type": "refresh_token"})), core.ErrInvalidRequest.WithDescription("Content-Type must be application/x-www-form-urlencoded"))
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// testVerifyOnly: a second service verifies the first's EdDSA tokens with
// the keys of its JWKS, shares its session store, and so refuses them
// after logout; it mounts no route that issues tokens.
func testVerifyOnly(t *testing.T, h Harness) {
	key, err := core.GenerateKey("EdDSA")
	if err != nil {
		t.Fatal(err)
	}
	issuer := newEnv(t, h, ServerConfig{}, func(c *core.Config) { c.AccessKeys = []core.Key{key} })
	issuer.register("verify-only@example.com")
	tk := issuer.login("verify-only@example.com")
	rk, err := core.RemoteKeys(issuer.base+"/auth/jwks.json", core.RemoteKeysMinRefetch(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rk.Close)
	va, err := core.New(core.Config{Store: issuer.store, RemoteKeys: rk})
	if err != nil {
		t.Fatal(err)
	}
	verifier := &env{t: t, base: h.Serve(t, va, ServerConfig{}), auth: va, store: issuer.store, hc: issuer.hc}
	wantStatus(t, "profile at the verifier", verifier.do("GET", "/api/profile", bearer(tk.AccessToken)), 200)
	sid := issuer.do("GET", "/auth/me", bearer(tk.AccessToken)).object(t)["sid"]
	if m := verifier.do("GET", "/auth/me", bearer(tk.AccessToken)).object(t); sid == nil || m["sid"] != sid {
		t.Fatalf("/me at the verifier: %v; the issuer says sid %v", m, sid)
	}
	for _, path := range []string{"/auth/login", "/auth/register", "/auth/refresh", "/auth/token"} {
		if r := verifier.do("POST", path, jsonBody(map[string]string{"refresh_token": tk.RefreshToken})); r.Status != 404 && r.Status != 405 {
			t.Fatalf("POST %s at the verifier: %d %s", path, r.Status, r.Body)
		}
	}
	wantStatus(t, "logout at the issuer", issuer.do("POST", "/auth/logout", bearer(tk.AccessToken)), 204)
	wantError(t, "profile at the verifier after logout", verifier.do("GET", "/api/profile", bearer(tk.AccessToken)), core.ErrTokenRevoked)
}
