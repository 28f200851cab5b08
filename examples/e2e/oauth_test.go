package e2e

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/oauth2-proxy/mockoidc"
	"golang.org/x/oauth2"

	"github.com/authenik8/authenik8-go/conformance/redistest"
	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/core/memstore"
)

// appPage is OAUTH_REDIRECT_URL: where sign-in ends; the browser of these
// tests stops there.
const appPage = "https://app.example.com/signed-in"

// oidcServer starts an example server signing in with a mockoidc provider.
// The test talks to it as http://localhost:port, the host of the default
// PUBLIC_URL, so that the flow cookie travels to the callback.
func oidcServer(t *testing.T, framework string, m *mockoidc.MockOIDC) string {
	t.Helper()
	// The example servers keep login codes as link tokens of their user
	// store (the account lifecycle's); without them OAuth cannot start.
	if _, ok := any(memstore.NewUsers(nil)).(core.LinkTokenStore); !ok {
		t.Skip("memstore.Users keeps no link tokens in this build: the example servers cannot hand out login codes")
	}
	s := start(t, framework,
		"OIDC_ISSUER="+m.Issuer(), "OIDC_CLIENT_ID="+m.ClientID, "OIDC_CLIENT_SECRET="+m.ClientSecret,
		"OAUTH_REDIRECT_URL="+appPage, "RATE_LIMITS=off",
		"JWT_SECRET=oauth e2e access secret, 32+ bytes long", "REFRESH_SECRET=oauth e2e refresh secret, 32+ bytes long")
	return strings.Replace(s.URL, "127.0.0.1", "localhost", 1)
}

func startOIDC(t *testing.T) *mockoidc.MockOIDC {
	t.Helper()
	m, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Shutdown() })
	return m
}

// browser follows redirects with a cookie jar until the application's page.
func browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 20 * time.Second, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if req.URL.Host == "app.example.com" || len(via) > 5 {
			return http.ErrUseLastResponse
		}
		return nil
	}}
}

// noFollow is the browser stopping at the next redirect.
func noFollow(b *http.Client) *http.Client {
	c := *b
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// visit GETs u and returns where it redirected to.
func visit(t *testing.T, c *http.Client, u string) *url.URL {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	loc, err := resp.Location()
	if resp.StatusCode != 302 || err != nil {
		t.Fatalf("GET %s: %d, no redirect (%v)", u, resp.StatusCode, err)
	}
	return loc
}

// landed checks the browser ended on the application's page and returns
// its query.
func landed(t *testing.T, loc *url.URL) url.Values {
	t.Helper()
	if loc.Scheme+"://"+loc.Host+loc.Path != appPage {
		t.Fatalf("the flow ended on %s", loc)
	}
	return loc.Query()
}

// trade exchanges a login code and checks the token reaches /api/profile.
func trade(t *testing.T, base, code string) pair {
	t.Helper()
	a := postJSON(t, base+"/auth/oauth/exchange", "", `{"login_code":"`+code+`"}`)
	var p pair
	if a.Status != 200 || json.Unmarshal([]byte(a.Body), &p) != nil || p.AccessToken == "" || p.RefreshToken == "" {
		t.Fatalf("exchange: %+v", a)
	}
	if r := call(t, "GET", base+"/api/profile", p.AccessToken, "", ""); r.Status != 200 {
		t.Fatalf("/api/profile with the exchanged token: %+v", r)
	}
	return p
}

// TestOAuthSignIn: every example server, configured with OIDC_ISSUER
// pointing at a real OpenID Connect server, completes the flow over HTTP:
// start → provider → callback → 302 with login_code → exchange → token
// response → /api/profile 200.
func TestOAuthSignIn(t *testing.T) {
	m := startOIDC(t)
	for _, fw := range frameworks {
		t.Run(fw, func(t *testing.T) {
			base := oidcServer(t, fw, m)
			m.QueueUser(&mockoidc.MockUser{Subject: "e2e-" + fw, Email: fw + "@example.com", EmailVerified: true})
			land := landed(t, visit(t, browser(), base+"/auth/oauth/oidc/start"))
			if land.Get("error") != "" || land.Get("login_code") == "" {
				t.Fatalf("landed with %v", land)
			}
			trade(t, base, land.Get("login_code"))
			// The account exists, without a password: registering its email is refused.
			if a := postJSON(t, base+"/auth/register", "", `{"email":"`+fw+`@example.com","password":"correct horse battery"}`); a.Status != 409 {
				t.Fatalf("register over the OAuth account: %+v", a)
			}
		})
	}
}

// TestOAuthAttacks: each attack on the flow gets its documented answer on
// the example server and hands out no login code (so opens no session);
// the refused identity gets no account.
func TestOAuthAttacks(t *testing.T) {
	m := startOIDC(t)
	base := oidcServer(t, "gin", m)
	b := browser()
	start := func() (*url.URL, string) {
		auth := visit(t, noFollow(b), base+"/auth/oauth/oidc/start")
		return auth, auth.Query().Get("state")
	}
	atProvider := func(auth string) string { return visit(t, noFollow(b), auth).String() }
	refused := func(what, want string, loc *url.URL) {
		t.Helper()
		if land := landed(t, loc); land.Get("error") != want || land.Get("login_code") != "" {
			t.Fatalf("%s: landed with %v, want error=%s", what, land, want)
		}
	}

	// Replayed callback: the first use signs in, the replay (cookie
	// included) is refused.
	m.QueueUser(&mockoidc.MockUser{Subject: "replay", Email: "replay@example.com", EmailVerified: true})
	auth, _ := start()
	cb := atProvider(auth.String())
	cbURL, _ := url.Parse(cb)
	saved := b.Jar.Cookies(cbURL)
	trade(t, base, landed(t, visit(t, noFollow(b), cb)).Get("login_code"))
	replayer := browser()
	replayer.Jar.SetCookies(cbURL, saved)
	refused("replayed callback", core.OAuthErrorInvalidState, visit(t, noFollow(replayer), cb))

	auth, _ = start()
	cb = atProvider(auth.String())
	refused("tampered state", core.OAuthErrorInvalidState, visit(t, noFollow(b), strings.Replace(cb, "state=", "state=x", 1)))

	auth, _ = start()
	refused("missing cookie", core.OAuthErrorInvalidState, visit(t, noFollow(browser()), atProvider(auth.String())))

	auth, _ = start()
	q := auth.Query()
	q.Set("nonce", "an-attackers-nonce")
	auth.RawQuery = q.Encode()
	refused("wrong nonce", core.OAuthErrorInvalidIDToken, visit(t, noFollow(b), atProvider(auth.String())))

	auth, _ = start()
	cb = atProvider(auth.String())
	m.FastForward(-time.Hour) // the provider's clock: the ID token it issues expired an hour ago
	refused("expired ID token", core.OAuthErrorInvalidIDToken, visit(t, noFollow(b), cb))
	m.FastForward(time.Hour)

	_, state := start()
	refused("access denied", core.OAuthErrorAccessDenied, visit(t, noFollow(b), base+"/auth/oauth/oidc/callback?error=access_denied&state="+url.QueryEscape(state)))

	m.QueueUser(&mockoidc.MockUser{Subject: "unverified", Email: "unverified@example.com", EmailVerified: false})
	auth, _ = start()
	refused("unverified email", core.OAuthErrorEmailNotVerified, visit(t, noFollow(b), atProvider(auth.String())))
	if a := postJSON(t, base+"/auth/register", "", `{"email":"unverified@example.com","password":"correct horse battery"}`); a.Status != 201 {
		t.Fatalf("the refused identity took its email: %+v", a)
	}

	// A login code works once.
	m.QueueUser(&mockoidc.MockUser{Subject: "code", Email: "code@example.com", EmailVerified: true})
	code := landed(t, visit(t, b, base+"/auth/oauth/oidc/start")).Get("login_code")
	trade(t, base, code)
	if a := postJSON(t, base+"/auth/oauth/exchange", "", `{"login_code":"`+code+`"}`); a.Status != 400 || !strings.Contains(a.Body, `"invalid_grant"`) {
		t.Fatalf("the login code again: %+v", a)
	}
}

// TestTokenEndpointWithOAuth2Client: golang.org/x/oauth2 refreshes an
// expired token through POST /auth/token of every example server, and the
// spent refresh token then gets an RFC 6749 error.
func TestTokenEndpointWithOAuth2Client(t *testing.T) {
	for _, fw := range frameworks {
		t.Run(fw, func(t *testing.T) {
			s := start(t, fw, "RATE_LIMITS=off", "JWT_SECRET=token endpoint access secret, 32+ bytes", "REFRESH_SECRET=token endpoint refresh secret, 32+ bytes")
			registerOn(t, s, "client@example.com")
			p := loginOn(t, s, "client@example.com")
			cfg := &oauth2.Config{ClientID: "cli", Endpoint: oauth2.Endpoint{TokenURL: s.URL + "/auth/token", AuthStyle: oauth2.AuthStyleInParams}}
			expired := &oauth2.Token{AccessToken: p.AccessToken, RefreshToken: p.RefreshToken, Expiry: time.Now().Add(-time.Minute)}
			fresh, err := cfg.TokenSource(context.Background(), expired).Token()
			if err != nil || fresh.AccessToken == p.AccessToken || fresh.RefreshToken == p.RefreshToken || !fresh.Valid() {
				t.Fatalf("x/oauth2 refresh: %+v, %v", fresh, err)
			}
			if r := call(t, "GET", s.URL+"/api/profile", fresh.AccessToken, "", ""); r.Status != 200 {
				t.Fatalf("/api/profile with the refreshed token: %+v", r)
			}
			_, err = cfg.TokenSource(context.Background(), expired).Token()
			var re *oauth2.RetrieveError
			if !errors.As(err, &re) || re.Response.StatusCode != 400 || re.ErrorCode != "invalid_grant" || re.ErrorDescription == "" {
				t.Fatalf("the spent refresh token: %v", err)
			}
		})
	}
}

// privateJWKS is a JWT_JWKS value: one EdDSA private key.
func privateJWKS(t *testing.T) string {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := jwk.FromRaw(priv)
	if err != nil {
		t.Fatal(err)
	}
	k.Set(jwk.KeyIDKey, "e2e-ed25519")
	set := jwk.NewSet()
	set.AddKey(k)
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestVerifyOnlyService: a second example process (JWKS_URL) verifies the
// EdDSA tokens of the first through its JWKS, with no secret, and refuses
// them once their session is logged out (the same Redis); it issues none.
func TestVerifyOnlyService(t *testing.T) {
	redisURL := redistest.Start(t).URL()
	issuer := start(t, "gin", "REDIS_URL="+redisURL, "RATE_LIMITS=off", "JWT_JWKS="+privateJWKS(t), "REFRESH_SECRET=verify-only e2e refresh secret, 32+ bytes")
	for _, fw := range []string{"echo", "fiber"} {
		t.Run(fw, func(t *testing.T) {
			verifier := start(t, fw, "REDIS_URL="+redisURL, "JWKS_URL="+issuer.URL+"/.well-known/jwks.json")
			email := "verified-elsewhere-" + fw + "@example.com"
			registerOn(t, issuer, email)
			p := loginOn(t, issuer, email)
			if r := call(t, "GET", verifier.URL+"/api/profile", p.AccessToken, "", ""); r.Status != 200 || !strings.Contains(r.Body, `"sub"`) {
				t.Fatalf("the verifier refused the issuer's token: %+v", r)
			}
			for _, path := range []string{"/auth/login", "/auth/register", "/auth/token"} {
				if r := postJSON(t, verifier.URL+path, "", `{}`); r.Status != 404 && r.Status != 405 {
					t.Fatalf("POST %s at the verifier: %+v", path, r)
				}
			}
			if r := call(t, "POST", issuer.URL+"/auth/logout", p.AccessToken, "", ""); r.Status != 204 {
				t.Fatalf("logout: %+v", r)
			}
			// Another process: within the revocation latency.
			deadline := time.Now().Add(2 * time.Second)
			for {
				r := call(t, "GET", verifier.URL+"/api/profile", p.AccessToken, "", "")
				if r.Status == 401 && strings.Contains(r.Body, "token_revoked") {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the verifier still answers %+v two seconds after the logout", r)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}
