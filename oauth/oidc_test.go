package oauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"
	"golang.org/x/oauth2"

	"github.com/authenik8/authenik8-go/conformance/oauthtest"
	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/core/memstore"
	"github.com/authenik8/authenik8-go/oauth"
)

// app is a service with OAuth sign-in on a real listener: the auth routes
// under /auth (mounted through core's Adapter, as every framework adapter
// does), GET /api/profile behind Authenticate, and the page OAuth ends on,
// /app, which the browser does not follow.
type app struct {
	t      *testing.T
	base   string
	auth   *core.Auth
	users  *oauthtest.Accounts
	store  *memstore.Store
	errors []string
	counts [3]int // snapshot: accounts, identities, login codes
}

// snapshot records the store's counts; unchanged checks them.
func (ap *app) snapshot() { ap.counts[0], ap.counts[1], ap.counts[2] = ap.users.Counts() }

func (ap *app) unchanged(t *testing.T) {
	t.Helper()
	if a, i, l := ap.users.Counts(); [3]int{a, i, l} != ap.counts {
		t.Fatalf("the refused flow changed the store: %d accounts, %d identities, %d login codes (before %v)", a, i, l, ap.counts)
	}
}

func newApp(t *testing.T, providers func(base string) map[string]core.Provider) *app {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ap := &app{t: t, base: "http://" + l.Addr().String(), users: oauthtest.NewAccounts(nil), store: memstore.New()}
	key, _ := core.NewHMACKey([]byte("oauth module test access secret, 32+ bytes"))
	ap.auth, err = core.New(core.Config{
		Store: ap.store, Users: ap.users, AccessKeys: []core.Key{key},
		RefreshSecret: []byte("oauth module test refresh secret, 32+ bytes"),
		OAuth: &core.OAuthConfig{
			Providers: providers(ap.base), BaseURL: ap.base + "/auth", RedirectURL: ap.base + "/app",
			OnError: func(_ context.Context, _, code string, cause error) {
				t.Logf("callback error %s: %v", code, cause)
				ap.errors = append(ap.errors, code)
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ad := core.NewAdapter(ap.auth, core.AdapterOptions{})
	mux := http.NewServeMux()
	for _, rt := range ad.Routes() {
		rt := rt
		path := strings.NewReplacer(":provider", "{provider}", ":id", "{id}").Replace(rt.Path)
		mux.HandleFunc(rt.Method+" /auth"+path, func(w http.ResponseWriter, r *http.Request) {
			core.WriteHTTP(w, ad.Serve(r.Context(), rt, core.HTTPRequest{R: r}))
		})
	}
	mux.HandleFunc("GET /api/profile", func(w http.ResponseWriter, r *http.Request) {
		c, err := ad.Authenticate(r.Context(), core.HTTPRequest{R: r})
		if err != nil {
			core.WriteHTTP(w, core.ErrorResponse(err))
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"sub": c.Subject, "email_verified": c.EmailVerified})
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return ap
}

// browser is a client with a cookie jar that follows redirects until the
// application's page.
type browser struct {
	*http.Client
	app *app
}

func (ap *app) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{app: ap, Client: &http.Client{
		Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Path == "/app" || len(via) > 5 {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}}
}

// get fetches url and returns the answer, which the browser may have
// reached through redirects.
func (b *browser) get(t *testing.T, u string) *http.Response {
	t.Helper()
	resp, err := b.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// landing is the query the flow ended on at /app.
func landing(t *testing.T, resp *http.Response) url.Values {
	t.Helper()
	loc, err := resp.Location()
	if resp.StatusCode != 302 || err != nil || loc.Path != "/app" {
		t.Fatalf("the flow ended on %d %v (%v)", resp.StatusCode, loc, err)
	}
	return loc.Query()
}

// startNoFollow runs GET start without following: the provider's URL.
func (b *browser) start(t *testing.T, provider string) *url.URL {
	t.Helper()
	c := *b.Client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(b.app.base + "/auth/oauth/" + provider + "/start")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if resp.StatusCode != 302 || err != nil {
		t.Fatalf("start: %d %v", resp.StatusCode, err)
	}
	return loc
}

// atProvider follows the provider's authorization URL up to the callback,
// not into it: the callback URL the provider sent the browser to.
func (b *browser) atProvider(t *testing.T, authURL string) string {
	t.Helper()
	c := *b.Client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if resp.StatusCode != 302 || err != nil || !strings.HasSuffix(loc.Path, "/callback") {
		t.Fatalf("the provider answered %d %v", resp.StatusCode, loc)
	}
	return loc.String()
}

func (ap *app) exchange(t *testing.T, code string) (int, map[string]any) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"login_code": code})
	resp, err := http.Post(ap.base+"/auth/oauth/exchange", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func (ap *app) profile(t *testing.T, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", ap.base+"/api/profile", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// signedIn exchanges the login code a flow ended with and checks the
// tokens reach /api/profile; it returns the access token's subject.
func (ap *app) signedIn(t *testing.T, land url.Values) string {
	t.Helper()
	status, m := ap.exchange(t, land.Get("login_code"))
	at, _ := m["access_token"].(string)
	if status != 200 || at == "" || m["refresh_token"] == "" {
		t.Fatalf("exchange of %v: %d %v", land, status, m)
	}
	if s := ap.profile(t, at); s != 200 {
		t.Fatalf("/api/profile with the new token: %d", s)
	}
	c, err := ap.auth.Verify(context.Background(), at)
	if err != nil {
		t.Fatal(err)
	}
	return c.Subject
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

func oidcApp(t *testing.T, m *mockoidc.MockOIDC) *app {
	return newApp(t, func(string) map[string]core.Provider {
		p, err := oauth.OIDC(m.Issuer(), m.ClientID, m.ClientSecret)
		if err != nil {
			t.Fatal(err)
		}
		return map[string]core.Provider{"oidc": p}
	})
}

func user(sub, email string, verified bool) *mockoidc.MockUser {
	return &mockoidc.MockUser{Subject: sub, Email: email, EmailVerified: verified}
}

// TestOIDCSignIn: start → provider → callback → login code → exchange →
// /api/profile, against a real OpenID Connect server; the second sign-in
// finds the same account.
func TestOIDCSignIn(t *testing.T) {
	m := startOIDC(t)
	ap := oidcApp(t, m)
	b := ap.browser()
	auth := b.start(t, "oidc")
	q := auth.Query()
	if !strings.HasPrefix(auth.String(), m.AuthorizationEndpoint()+"?") || q.Get("code_challenge_method") != "S256" || q.Get("nonce") == "" ||
		q.Get("redirect_uri") != ap.base+"/auth/oauth/oidc/callback" || !strings.Contains(q.Get("scope"), "openid") {
		t.Fatalf("authorization URL %s", auth)
	}
	m.QueueUser(user("oidc-ann", "Ann@Example.com", true))
	sub := ap.signedIn(t, landing(t, b.get(t, ap.base+"/auth/oauth/oidc/start")))
	u, err := ap.users.UserByIdentity(context.Background(), "oidc", "oidc-ann")
	if err != nil || u.ID != sub || u.Email != "ann@example.com" || !u.EmailVerified {
		t.Fatalf("account %+v, %v", u, err)
	}
	m.QueueUser(user("oidc-ann", "ann@example.com", true))
	if again := ap.signedIn(t, landing(t, b.get(t, ap.base+"/auth/oauth/oidc/start"))); again != sub {
		t.Fatalf("second sign-in: account %s, want %s", again, sub)
	}
	if n, ids, _ := ap.users.Counts(); n != 1 || ids != 1 {
		t.Fatalf("%d accounts, %d identities", n, ids)
	}
}

// TestOIDCAttacks: each attack on the flow gets its documented answer and
// opens no session: no account, no identity, no login code.
func TestOIDCAttacks(t *testing.T) {
	cases := []struct {
		name, want string
		run        func(t *testing.T, m *mockoidc.MockOIDC, ap *app, b *browser) url.Values
	}{
		{"replayed callback", core.OAuthErrorInvalidState, func(t *testing.T, m *mockoidc.MockOIDC, ap *app, b *browser) url.Values {
			m.QueueUser(user("replay", "replay@example.com", true))
			cb := b.atProvider(t, b.start(t, "oidc").String())
			u, _ := url.Parse(cb)
			var flow string
			for _, c := range b.Jar.Cookies(u) {
				if c.Name == "a8_oauth" {
					flow = c.Value
				}
			}
			ap.signedIn(t, landing(t, b.get(t, cb)))
			ap.snapshot()
			// The attacker replays the whole request, cookie included.
			replayer := ap.browser()
			replayer.Jar.SetCookies(u, []*http.Cookie{{Name: "a8_oauth", Value: flow}})
			return landing(t, replayer.get(t, cb))
		}},
		{"tampered state", core.OAuthErrorInvalidState, func(t *testing.T, m *mockoidc.MockOIDC, ap *app, b *browser) url.Values {
			cb := b.atProvider(t, b.start(t, "oidc").String())
			return landing(t, b.get(t, setParam(cb, "state", "forged-"+param(cb, "state"))))
		}},
		{"missing cookie", core.OAuthErrorInvalidState, func(t *testing.T, m *mockoidc.MockOIDC, ap *app, b *browser) url.Values {
			cb := b.atProvider(t, b.start(t, "oidc").String())
			return landing(t, ap.browser().get(t, cb)) // another browser: no cookie
		}},
		{"wrong nonce", core.OAuthErrorInvalidIDToken, func(t *testing.T, m *mockoidc.MockOIDC, ap *app, b *browser) url.Values {
			auth := b.start(t, "oidc")
			return landing(t, b.get(t, b.atProvider(t, setParam(auth.String(), "nonce", "an-attackers-nonce"))))
		}},
		{"expired ID token", core.OAuthErrorInvalidIDToken, func(t *testing.T, m *mockoidc.MockOIDC, ap *app, b *browser) url.Values {
			cb := b.atProvider(t, b.start(t, "oidc").String())
			m.FastForward(-time.Hour) // the provider's clock: its ID token expired long ago
			defer m.FastForward(time.Hour)
			return landing(t, b.get(t, cb))
		}},
		{"ID token for another client", core.OAuthErrorInvalidIDToken, func(t *testing.T, m *mockoidc.MockOIDC, ap *app, b *browser) url.Values {
			m.QueueUser(&claimsUser{MockUser: user("aud", "aud@example.com", true), aud: []string{"another-client"}})
			return landing(t, b.get(t, ap.base+"/auth/oauth/oidc/start"))
		}},
		{"several audiences without azp", core.OAuthErrorInvalidIDToken, func(t *testing.T, m *mockoidc.MockOIDC, ap *app, b *browser) url.Values {
			m.QueueUser(&claimsUser{MockUser: user("azp", "azp@example.com", true), aud: []string{m.ClientID, "another-client"}})
			return landing(t, b.get(t, ap.base+"/auth/oauth/oidc/start"))
		}},
		{"ID token of another issuer", core.OAuthErrorInvalidIDToken, func(t *testing.T, m *mockoidc.MockOIDC, ap *app, b *browser) url.Values {
			m.QueueUser(&claimsUser{MockUser: user("iss", "iss@example.com", true), iss: "https://evil.example"})
			return landing(t, b.get(t, ap.base+"/auth/oauth/oidc/start"))
		}},
		{"access denied", core.OAuthErrorAccessDenied, func(t *testing.T, m *mockoidc.MockOIDC, ap *app, b *browser) url.Values {
			auth := b.start(t, "oidc")
			return landing(t, b.get(t, ap.base+"/auth/oauth/oidc/callback?error=access_denied&state="+url.QueryEscape(auth.Query().Get("state"))))
		}},
		{"token endpoint refuses", core.OAuthErrorProvider, func(t *testing.T, m *mockoidc.MockOIDC, ap *app, b *browser) url.Values {
			cb := b.atProvider(t, b.start(t, "oidc").String())
			// Twice: x/oauth2 retries a first refusal with the client
			// credentials in the other place.
			m.QueueError(&mockoidc.ServerError{Code: 400, Error: "invalid_grant", Description: "no"})
			m.QueueError(&mockoidc.ServerError{Code: 400, Error: "invalid_grant", Description: "no"})
			return landing(t, b.get(t, cb))
		}},
		{"unverified email", core.OAuthErrorEmailNotVerified, func(t *testing.T, m *mockoidc.MockOIDC, ap *app, b *browser) url.Values {
			m.QueueUser(user("unverified", "victim@example.com", false))
			return landing(t, b.get(t, ap.base+"/auth/oauth/oidc/start"))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := startOIDC(t)
			ap := oidcApp(t, m)
			// The account attacks aim at: its email verified.
			victim, err := ap.users.Register(context.Background(), "victim@example.com", "victim's password", []string{"user"})
			if err != nil {
				t.Fatal(err)
			}
			ap.users.SetEmailVerified(context.Background(), victim.ID)
			ap.snapshot()
			land := tc.run(t, m, ap, ap.browser())
			if land.Get("error") != tc.want || land.Get("login_code") != "" {
				t.Fatalf("landed with %v, want error=%s", land, tc.want)
			}
			ap.unchanged(t)
			if list, _ := ap.auth.Sessions(context.Background(), victim.ID, ""); len(list) != 0 {
				t.Fatalf("the victim has %d sessions", len(list))
			}
		})
	}
}

// TestOIDCLinking: a verified provider email links to the account whose
// email is verified; an unverified one never links.
func TestOIDCLinking(t *testing.T) {
	ctx := context.Background()
	m := startOIDC(t)
	ap := oidcApp(t, m)
	b := ap.browser()
	bob, _ := ap.users.Register(ctx, "bob@example.com", "bob's password", []string{"user", "editor"})
	ap.users.SetEmailVerified(ctx, bob.ID)
	m.QueueUser(user("oidc-bob", "BOB@example.com", true))
	if sub := ap.signedIn(t, landing(t, b.get(t, ap.base+"/auth/oauth/oidc/start"))); sub != bob.ID {
		t.Fatalf("signed in as %s, want bob %s", sub, bob.ID)
	}
	if ids := ap.users.Identities(bob.ID); len(ids) != 1 || ids[0] != [2]string{"oidc", "oidc-bob"} {
		t.Fatalf("bob's identities %v", ids)
	}
	// An unverified account is not taken over by a verified identity.
	carol, _ := ap.users.Register(ctx, "carol@example.com", "an attacker's password", []string{"user"})
	m.QueueUser(user("oidc-carol", "carol@example.com", true))
	if land := landing(t, b.get(t, ap.base+"/auth/oauth/oidc/start")); land.Get("error") != core.OAuthErrorAccountExists {
		t.Fatalf("linking an unverified account: %v", land)
	}
	if ids := ap.users.Identities(carol.ID); len(ids) != 0 {
		t.Fatalf("carol's identities %v", ids)
	}
}

// TestOIDCLoginCodeReplay: a login code works once.
func TestOIDCLoginCodeReplay(t *testing.T) {
	m := startOIDC(t)
	ap := oidcApp(t, m)
	m.QueueUser(user("code", "code@example.com", true))
	land := landing(t, ap.browser().get(t, ap.base+"/auth/oauth/oidc/start"))
	sub := ap.signedIn(t, land)
	status, body := ap.exchange(t, land.Get("login_code"))
	if status != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("the login code again: %d %v", status, body)
	}
	if list, _ := ap.auth.Sessions(context.Background(), sub, ""); len(list) != 1 {
		t.Fatalf("%d sessions after one exchange and a replay", len(list))
	}
}

// TestTokenSourceRefresh: golang.org/x/oauth2 refreshes an expired token
// through POST /auth/token, and the spent refresh token then gets an RFC
// 6749 error.
func TestTokenSourceRefresh(t *testing.T) {
	m := startOIDC(t)
	ap := oidcApp(t, m)
	m.QueueUser(user("ts", "ts@example.com", true))
	land := landing(t, ap.browser().get(t, ap.base+"/auth/oauth/oidc/start"))
	_, body := ap.exchange(t, land.Get("login_code"))
	cfg := &oauth2.Config{ClientID: "any", Endpoint: oauth2.Endpoint{TokenURL: ap.base + "/auth/token", AuthStyle: oauth2.AuthStyleInParams}}
	expired := &oauth2.Token{AccessToken: body["access_token"].(string), RefreshToken: body["refresh_token"].(string), Expiry: time.Now().Add(-time.Minute)}
	fresh, err := cfg.TokenSource(context.Background(), expired).Token()
	if err != nil || fresh.AccessToken == expired.AccessToken || fresh.RefreshToken == expired.RefreshToken || fresh.TokenType != "Bearer" || time.Until(fresh.Expiry) < 10*time.Minute {
		t.Fatalf("refresh through x/oauth2: %+v, %v", fresh, err)
	}
	if s := ap.profile(t, fresh.AccessToken); s != 200 {
		t.Fatalf("/api/profile with the refreshed token: %d", s)
	}
	_, err = cfg.TokenSource(context.Background(), expired).Token()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" || re.ErrorDescription == "" || re.Response.StatusCode != 400 {
		t.Fatalf("the spent refresh token: %v", err)
	}
}

// claimsUser is a mockoidc user whose ID token carries another audience or
// issuer.
type claimsUser struct {
	*mockoidc.MockUser
	aud []string
	iss string
}

func (u *claimsUser) Claims(scope []string, c *mockoidc.IDTokenClaims) (jwt.Claims, error) {
	if u.aud != nil {
		c.RegisteredClaims.Audience = u.aud
	}
	if u.iss != "" {
		c.RegisteredClaims.Issuer = u.iss
	}
	return u.MockUser.Claims(scope, c)
}

func param(raw, k string) string {
	u, _ := url.Parse(raw)
	return u.Query().Get(k)
}

func setParam(raw, k, v string) string {
	u, _ := url.Parse(raw)
	q := u.Query()
	q.Set(k, v)
	u.RawQuery = q.Encode()
	return u.String()
}
