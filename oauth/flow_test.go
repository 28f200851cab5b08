package oauth_test

// core's OAuth sign-in decisions — state, cookie, nonce, account resolution,
// login codes — with oauthtest's scripted provider. They live here, beside
// the providers, because core's own tests may not import the conformance
// module (it requires core).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authenik8/authenik8-go/conformance/oauthtest"
	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/core/memstore"
)

// oauthEnv is an Auth with OAuth on: a scripted provider "test", the
// in-memory accounts of oauthtest, and a clock the test moves.
type oauthEnv struct {
	t      *testing.T
	a      *core.Auth
	p      *oauthtest.Provider
	other  *oauthtest.Provider
	users  *oauthtest.Accounts
	store  *memstore.Store
	mu     sync.Mutex
	now    time.Time
	errors []string // OnError's codes
	base   [3]int   // snapshot: accounts, identities, login codes
}

const (
	oauthBase     = "https://api.example.com/auth"
	oauthRedirect = "https://app.example.com/signed-in?from=oauth"
)

func newOAuthEnv(t *testing.T, mod func(*core.Config)) *oauthEnv {
	t.Helper()
	e := &oauthEnv{t: t, p: oauthtest.NewProvider(), other: oauthtest.NewProvider(), store: memstore.New(), now: time.Now()}
	e.users = oauthtest.NewAccounts(e.clock)
	cfg := core.Config{
		Store: e.store, Users: e.users, AccessKeys: mustKeys(t), RefreshSecret: refreshSecret, Now: e.clock,
		OAuth: &core.OAuthConfig{
			Providers: map[string]core.Provider{"test": e.p, "other": e.other},
			BaseURL:   oauthBase + "/", RedirectURL: oauthRedirect,
			OnError: func(_ context.Context, provider, code string, cause error) {
				if cause == nil {
					t.Errorf("OnError(%s, %s) without a cause", provider, code)
				}
				e.mu.Lock()
				e.errors = append(e.errors, code)
				e.mu.Unlock()
			},
		},
	}
	if mod != nil {
		mod(&cfg)
	}
	e.a = must(core.New(cfg))
	return e
}

func (e *oauthEnv) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *oauthEnv) advance(d time.Duration) {
	e.mu.Lock()
	e.now = e.now.Add(d)
	e.mu.Unlock()
}

// start runs GET /oauth/{provider}/start: the provider's URL and the flow
// cookie's value.
func (e *oauthEnv) start(provider string) (string, string) {
	e.t.Helper()
	r := route(e.t, e.a, "/oauth/:provider/start")(context.Background(), &core.Request{ID: provider})
	if r.Status != 302 {
		e.t.Fatalf("start: %d %s", r.Status, r.Body)
	}
	return header(r, "Location"), cookieValue(e.t, header(r, "Set-Cookie"))
}

// callback runs GET /oauth/{provider}/callback with the callback URL's
// query and the flow cookie ("" for none).
func (e *oauthEnv) callback(provider, callbackURL, cookie string) *core.Response {
	e.t.Helper()
	u, err := url.Parse(callbackURL)
	if err != nil {
		e.t.Fatal(err)
	}
	q := u.Query()
	return route(e.t, e.a, "/oauth/:provider/callback")(context.Background(), &core.Request{
		ID: provider, Query: q.Get,
		Cookie: func(name string) string {
			if name == "a8_oauth" {
				return cookie
			}
			return ""
		},
	})
}

// signIn runs a whole flow for id at provider "test" and returns the
// callback's answer.
func (e *oauthEnv) signIn(id core.Identity) *core.Response {
	e.t.Helper()
	e.p.Next(id)
	authURL, cookie := e.start("test")
	cb, err := e.p.Authorize(authURL)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.callback("test", cb, cookie)
}

func (e *oauthEnv) exchange(code string) *core.Response {
	e.t.Helper()
	body, _ := json.Marshal(map[string]string{"login_code": code})
	return route(e.t, e.a, "/oauth/exchange")(context.Background(), &core.Request{ContentType: "application/json", Body: body})
}

// flowLanding parses where a callback sent the browser: it must be
// RedirectURL plus login_code or error, with the flow cookie cleared.
func flowLanding(t *testing.T, r *core.Response) url.Values {
	t.Helper()
	if r.Status != 302 || header(r, "Cache-Control") != "no-store" || header(r, "Referrer-Policy") != "no-referrer" {
		t.Fatalf("callback answered %d %v", r.Status, r.Header)
	}
	u, err := url.Parse(header(r, "Location"))
	if err != nil || u.Scheme+"://"+u.Host+u.Path != "https://app.example.com/signed-in" {
		t.Fatalf("callback redirected to %q", header(r, "Location"))
	}
	ck, err := http.ParseSetCookie(header(r, "Set-Cookie"))
	if err != nil || ck.Name != "a8_oauth" || ck.Value != "" || ck.MaxAge >= 0 || ck.Path != "/auth/oauth/" {
		t.Fatalf("the callback did not clear the flow cookie: %q", header(r, "Set-Cookie"))
	}
	q := u.Query()
	if q.Get("from") != "oauth" || len(q) != 2 || (q.Get("login_code") == "") == (q.Get("error") == "") {
		t.Fatalf("landing query %v", q)
	}
	return q
}

func cookieValue(t *testing.T, setCookie string) string {
	t.Helper()
	ck, err := http.ParseSetCookie(setCookie)
	if err != nil || ck.Name != "a8_oauth" || ck.Value == "" {
		t.Fatalf("no flow cookie in %q", setCookie)
	}
	return ck.Value
}

var alice = core.Identity{Subject: "alice-at-test", Email: "Alice@Example.com", EmailVerified: true}

func TestOAuthSignIn(t *testing.T) {
	e := newOAuthEnv(t, nil)
	r := route(t, e.a, "/oauth/:provider/start")(context.Background(), &core.Request{ID: "test"})
	if r.Status != 302 || header(r, "Cache-Control") != "no-store" || header(r, "Referrer-Policy") != "no-referrer" {
		t.Fatalf("start: %d %v", r.Status, r.Header)
	}
	ck, err := http.ParseSetCookie(header(r, "Set-Cookie"))
	if err != nil || ck.Name != "a8_oauth" || !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/auth/oauth/" || ck.MaxAge != 600 {
		t.Fatalf("flow cookie %q", header(r, "Set-Cookie"))
	}
	auth, _ := url.Parse(header(r, "Location"))
	q := auth.Query()
	if !strings.HasPrefix(auth.String(), oauthtest.AuthorizeURL+"?") || q.Get("redirect_uri") != oauthBase+"/oauth/test/callback" ||
		len(q.Get("state")) < 43 || len(q.Get("nonce")) < 43 || q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 {
		t.Fatalf("authorization URL %s", auth)
	}
	if strings.Contains(ck.Value, q.Get("state")) || strings.Contains(ck.Value, q.Get("nonce")) {
		t.Fatal("the flow cookie carries the state or nonce in clear")
	}
	if got := e.a.OAuthCallbackURL("test"); got != oauthBase+"/oauth/test/callback" {
		t.Fatalf("OAuthCallbackURL %q", got)
	}
	// Two flows never share their parameters.
	other, _ := e.start("test")
	if oq := must(url.Parse(other)).Query(); oq.Get("state") == q.Get("state") || oq.Get("nonce") == q.Get("nonce") || oq.Get("code_challenge") == q.Get("code_challenge") {
		t.Fatal("two flows share a parameter")
	}

	// The first sign-in creates the account: role user, email verified, no
	// password; the browser lands with a login code and no token.
	cb := e.signIn(alice)
	code := flowLanding(t, cb).Get("login_code")
	if loc := header(cb, "Location"); strings.Contains(loc, "token") || len(code) < 43 {
		t.Fatalf("the browser landed on %q", loc)
	}
	n, ids, _ := e.users.Counts()
	if n != 1 || ids != 1 {
		t.Fatalf("%d accounts, %d identities after the first sign-in", n, ids)
	}
	resp := e.exchange(code)
	if resp.Status != 200 || header(resp, "Cache-Control") != "no-store" {
		t.Fatalf("exchange: %d %s", resp.Status, resp.Body)
	}
	var pair core.TokenPair
	if err := json.Unmarshal(resp.Body, &pair); err != nil || pair.AccessToken == "" || pair.RefreshToken == "" || pair.TokenType != "Bearer" {
		t.Fatalf("token response %s", resp.Body)
	}
	c, err := e.a.Verify(context.Background(), pair.AccessToken)
	if err != nil || !slices.Equal(c.Roles, []string{"user"}) || !c.EmailVerified {
		t.Fatalf("Verify: %+v, %v", c, err)
	}
	u, err := e.users.UserByIdentity(context.Background(), "test", alice.Subject)
	if err != nil || u.ID != c.Subject || u.Email != "alice@example.com" || !u.EmailVerified {
		t.Fatalf("the account: %+v, %v", u, err)
	}
	if _, err := e.a.Login(context.Background(), "alice@example.com", "", core.Client{}); err == nil {
		t.Fatal("an OAuth account logged in without a password")
	}

	// The next sign-in finds the account by identity, even when the email
	// at the provider has changed (and is not verified any more).
	moved := alice
	moved.Email, moved.EmailVerified = "alice@elsewhere.example", false
	pair2 := tokens(t, e.exchange(flowLanding(t, e.signIn(moved)).Get("login_code")))
	if c2 := must(e.a.Verify(context.Background(), pair2.AccessToken)); c2.Subject != u.ID || c2.SessionID == c.SessionID {
		t.Fatalf("second sign-in: %+v", c2)
	}
	if n, ids, _ := e.users.Counts(); n != 1 || ids != 1 {
		t.Fatalf("%d accounts, %d identities after the second sign-in", n, ids)
	}
	if e.p.Exchanges() != 2 {
		t.Fatalf("%d code exchanges", e.p.Exchanges())
	}
}

func tokens(t *testing.T, r *core.Response) core.TokenPair {
	t.Helper()
	var p core.TokenPair
	if r.Status != 200 || json.Unmarshal(r.Body, &p) != nil || p.AccessToken == "" {
		t.Fatalf("want a token response, got %d %s", r.Status, r.Body)
	}
	return p
}

// TestOAuthRefusedCallbacks: each way a callback is refused ends on
// RedirectURL with its code, creates and links nothing, hands out no login
// code and opens no session.
func TestOAuthRefusedCallbacks(t *testing.T) {
	cases := []struct {
		name string
		want string
		// run plays the attack and returns the callback's answer.
		run func(e *oauthEnv) *core.Response
	}{
		{"replayed callback", core.OAuthErrorInvalidState, func(e *oauthEnv) *core.Response {
			e.p.ReuseCodes = true // the provider would take the code again
			e.p.Next(alice)
			authURL, cookie := e.start("test")
			cb := must(e.p.Authorize(authURL))
			first := flowLanding(e.t, e.callback("test", cb, cookie)).Get("login_code")
			if first == "" {
				e.t.Fatal("the first callback handed out no login code")
			}
			e.snapshot() // only the replay's doing counts
			replay := e.callback("test", cb, cookie)
			// The replay handed out no code that would void the first.
			tokens(e.t, e.exchange(first))
			e.snapshot()
			return replay
		}},
		{"tampered state", core.OAuthErrorInvalidState, func(e *oauthEnv) *core.Response {
			e.p.Next(alice)
			authURL, cookie := e.start("test")
			cb := must(e.p.Authorize(authURL))
			return e.callback("test", setParam(cb, "state", flip(must(url.Parse(cb)).Query().Get("state"))), cookie)
		}},
		{"state of another flow", core.OAuthErrorInvalidState, func(e *oauthEnv) *core.Response {
			e.p.Next(alice)
			authURL, _ := e.start("test")
			_, cookie := e.start("test") // the victim's own flow
			return e.callback("test", must(e.p.Authorize(authURL)), cookie)
		}},
		{"missing cookie", core.OAuthErrorInvalidState, func(e *oauthEnv) *core.Response {
			e.p.Next(alice)
			authURL, _ := e.start("test")
			return e.callback("test", must(e.p.Authorize(authURL)), "")
		}},
		{"forged cookie", core.OAuthErrorInvalidState, func(e *oauthEnv) *core.Response {
			e.p.Next(alice)
			authURL, cookie := e.start("test")
			return e.callback("test", must(e.p.Authorize(authURL)), flip(cookie))
		}},
		{"callback at another provider", core.OAuthErrorInvalidState, func(e *oauthEnv) *core.Response {
			// A flow of provider "other", its answer delivered to "test"'s
			// callback (a mix-up): state and cookie agree, the provider not.
			e.other.Next(alice)
			authURL, cookie := e.start("other")
			return e.callback("test", must(e.other.Authorize(authURL)), cookie)
		}},
		{"expired flow", core.OAuthErrorInvalidState, func(e *oauthEnv) *core.Response {
			e.p.Next(alice)
			authURL, cookie := e.start("test")
			cb := must(e.p.Authorize(authURL))
			e.advance(core.OAuthFlowTTL + time.Second)
			return e.callback("test", cb, cookie)
		}},
		{"wrong nonce", core.OAuthErrorInvalidIDToken, func(e *oauthEnv) *core.Response {
			e.p.Next(alice)
			authURL, cookie := e.start("test")
			return e.callback("test", must(e.p.Authorize(setParam(authURL, "nonce", "attacker-nonce"))), cookie)
		}},
		{"PKCE challenge swapped", core.OAuthErrorProvider, func(e *oauthEnv) *core.Response {
			e.p.Next(alice)
			authURL, cookie := e.start("test")
			return e.callback("test", must(e.p.Authorize(setParam(authURL, "code_challenge", strings.Repeat("A", 43)))), cookie)
		}},
		{"ID token refused", core.OAuthErrorInvalidIDToken, func(e *oauthEnv) *core.Response {
			e.p.FailNext(fmt.Errorf("%w: token is expired", core.ErrInvalidIDToken))
			return e.signIn(alice)
		}},
		{"exchange failed", core.OAuthErrorProvider, func(e *oauthEnv) *core.Response {
			e.p.FailNext(errors.New("connection refused"))
			return e.signIn(alice)
		}},
		{"access denied", core.OAuthErrorAccessDenied, func(e *oauthEnv) *core.Response {
			authURL, cookie := e.start("test")
			q := must(url.Parse(authURL)).Query()
			return e.callback("test", oauthBase+"/oauth/test/callback?error=access_denied&state="+q.Get("state"), cookie)
		}},
		{"other provider error, not reflected", core.OAuthErrorProvider, func(e *oauthEnv) *core.Response {
			_, cookie := e.start("test")
			return e.callback("test", oauthBase+"/oauth/test/callback?error=%3Cscript%3E&code=x", cookie)
		}},
		{"no code", core.OAuthErrorProvider, func(e *oauthEnv) *core.Response {
			authURL, cookie := e.start("test")
			return e.callback("test", oauthBase+"/oauth/test/callback?state="+must(url.Parse(authURL)).Query().Get("state"), cookie)
		}},
		{"unverified email", core.OAuthErrorEmailNotVerified, func(e *oauthEnv) *core.Response {
			return e.signIn(core.Identity{Subject: "s", Email: "new@example.com", EmailVerified: false})
		}},
		{"no email", core.OAuthErrorEmailNotVerified, func(e *oauthEnv) *core.Response {
			return e.signIn(core.Identity{Subject: "s", EmailVerified: true})
		}},
		{"invalid email", core.OAuthErrorEmailNotVerified, func(e *oauthEnv) *core.Response {
			return e.signIn(core.Identity{Subject: "s", Email: "not an email", EmailVerified: true})
		}},
		{"no subject", core.OAuthErrorProvider, func(e *oauthEnv) *core.Response {
			return e.signIn(core.Identity{Email: "new@example.com", EmailVerified: true})
		}},
		{"store down", core.OAuthErrorUnavailable, func(e *oauthEnv) *core.Response {
			e.users.SetDown(true)
			defer e.users.SetDown(false)
			return e.signIn(alice)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newOAuthEnv(t, nil)
			// An existing account the attacks aim at: alice's email, verified.
			victim := must(e.users.Register(context.Background(), "victim@example.com", "victim password", []string{"user"}))
			must(0, e.users.SetEmailVerified(context.Background(), victim.ID))
			e.snapshot()
			land := flowLanding(t, tc.run(e))
			if land.Get("error") != tc.want {
				t.Fatalf("landed with %v, want error=%s", land, tc.want)
			}
			if a, i, l := e.users.Counts(); [3]int{a, i, l} != e.base {
				t.Fatalf("the refused callback changed the store: %d accounts, %d identities, %d login codes (before %v)", a, i, l, e.base)
			}
			if list, err := e.a.Sessions(context.Background(), victim.ID, ""); err != nil || len(list) != 0 {
				t.Fatalf("sessions of the victim: %v, %v", list, err)
			}
			e.mu.Lock()
			got := slices.Clone(e.errors)
			e.mu.Unlock()
			if len(got) == 0 || got[len(got)-1] != tc.want {
				t.Fatalf("OnError saw %v", got)
			}
		})
	}
}

// snapshot records the store's counts that a refused callback must leave
// as they are.
func (e *oauthEnv) snapshot() { e.base[0], e.base[1], e.base[2] = e.users.Counts() }

func TestOAuthUnknownProvider(t *testing.T) {
	e := newOAuthEnv(t, nil)
	for _, path := range []string{"/oauth/:provider/start", "/oauth/:provider/callback"} {
		r := route(t, e.a, path)(context.Background(), &core.Request{ID: "nope", Query: url.Values{"code": {"x"}}.Get})
		if r.Status != 404 || !strings.Contains(string(r.Body), "not_found") {
			t.Fatalf("%s for an unknown provider: %d %s", path, r.Status, r.Body)
		}
	}
}

// TestOAuthAccountLinking: a verified provider email links to the account
// whose own email is verified; to an unverified one it never does.
func TestOAuthAccountLinking(t *testing.T) {
	ctx := context.Background()
	e := newOAuthEnv(t, nil)
	bob := must(e.users.Register(ctx, "bob@example.com", "bob's password", []string{"user", "editor"}))
	must(0, e.users.SetEmailVerified(ctx, bob.ID))
	p := tokens(t, e.exchange(flowLanding(t, e.signIn(core.Identity{Subject: "bob-sub", Email: "BOB@example.com", EmailVerified: true})).Get("login_code")))
	if c := must(e.a.Verify(ctx, p.AccessToken)); c.Subject != bob.ID || !slices.Equal(c.Roles, []string{"user", "editor"}) {
		t.Fatalf("linked sign-in: %+v", c)
	}
	if got := e.users.Identities(bob.ID); len(got) != 1 || got[0] != [2]string{"test", "bob-sub"} {
		t.Fatalf("bob's identities %v", got)
	}
	if _, err := e.a.Login(ctx, "bob@example.com", "bob's password", core.Client{}); err != nil {
		t.Fatalf("the password stopped working: %v", err)
	}

	// Carol registered with a password and never verified her email: an
	// identity with that email must not take her account, nor may carol's
	// account take the identity.
	carol := must(e.users.Register(ctx, "carol@example.com", "someone's password", []string{"user"}))
	land := flowLanding(t, e.signIn(core.Identity{Subject: "carol-sub", Email: "carol@example.com", EmailVerified: true}))
	if land.Get("error") != core.OAuthErrorAccountExists {
		t.Fatalf("unverified account: %v", land)
	}
	if got := e.users.Identities(carol.ID); len(got) != 0 {
		t.Fatalf("carol's unverified account got identities %v", got)
	}
	// Once she verifies it, the same sign-in links.
	must(0, e.users.SetEmailVerified(ctx, carol.ID))
	tokens(t, e.exchange(flowLanding(t, e.signIn(core.Identity{Subject: "carol-sub", Email: "carol@example.com", EmailVerified: true})).Get("login_code")))

	// An unverified provider email neither links nor creates.
	before, _, _ := e.users.Counts()
	land = flowLanding(t, e.signIn(core.Identity{Subject: "mallory", Email: "bob@example.com", EmailVerified: false}))
	if land.Get("error") != core.OAuthErrorEmailNotVerified || len(e.users.Identities(bob.ID)) != 1 {
		t.Fatalf("unverified provider email: %v, bob's identities %v", land, e.users.Identities(bob.ID))
	}
	if after, _, _ := e.users.Counts(); after != before {
		t.Fatal("an unverified provider email created an account")
	}

	// A disabled account gets no login code, by identity or by email.
	must(0, e.users.SetDisabled(ctx, bob.ID, true))
	for _, id := range []core.Identity{{Subject: "bob-sub"}, {Subject: "bob-2", Email: "bob@example.com", EmailVerified: true}} {
		if land := flowLanding(t, e.signIn(id)); land.Get("error") != core.OAuthErrorAccountDisabled {
			t.Fatalf("disabled account via %+v: %v", id, land)
		}
	}
	if got := e.users.Identities(bob.ID); len(got) != 1 {
		t.Fatalf("a disabled account got linked: %v", got)
	}
}

func TestLoginCodeExchange(t *testing.T) {
	ctx := context.Background()
	e := newOAuthEnv(t, nil)
	code := flowLanding(t, e.signIn(alice)).Get("login_code")
	tokens(t, e.exchange(code))
	invalidGrant := func(what string, r *core.Response) {
		t.Helper()
		want := core.ErrorResponse(core.ErrInvalidGrant)
		if r.Status != 400 || string(r.Body) != string(want.Body) {
			t.Fatalf("%s: %d %s", what, r.Status, r.Body)
		}
	}
	invalidGrant("the code again", e.exchange(code))

	// Expired: 60 seconds.
	code = flowLanding(t, e.signIn(alice)).Get("login_code")
	e.advance(core.LoginCodeTTL)
	invalidGrant("an expired code", e.exchange(code))

	// A newer code voids an older one.
	older := flowLanding(t, e.signIn(alice)).Get("login_code")
	newer := flowLanding(t, e.signIn(alice)).Get("login_code")
	invalidGrant("a superseded code", e.exchange(older))
	tokens(t, e.exchange(newer))

	// Forged and garbled codes never reach the store.
	code = flowLanding(t, e.signIn(alice)).Get("login_code")
	e.users.SetDown(true)
	for name, c := range map[string]string{"flipped": flip(code), "truncated": code[:len(code)-2], "garbage": "garbage", "long": strings.Repeat("A", 600)} {
		invalidGrant(name, e.exchange(c))
	}
	// A real one with the store down: 503, and the code survives.
	if r := e.exchange(code); r.Status != 503 || !strings.Contains(string(r.Body), "store_unavailable") {
		t.Fatalf("exchange with the store down: %d %s", r.Status, r.Body)
	}
	e.users.SetDown(false)

	// A code of an account disabled since: 403, no session.
	u := must(e.users.UserByIdentity(ctx, "test", alice.Subject))
	must(0, e.users.SetDisabled(ctx, u.ID, true))
	if r := e.exchange(code); r.Status != 403 || !strings.Contains(string(r.Body), "account_disabled") {
		t.Fatalf("exchange for a disabled account: %d %s", r.Status, r.Body)
	}
	must(0, e.users.SetDisabled(ctx, u.ID, false))
	sessions := must(e.a.Sessions(ctx, u.ID, ""))
	if len(sessions) != 2 {
		t.Fatalf("%d sessions after two exchanges", len(sessions))
	}

	// Bodies.
	for name, req := range map[string]*core.Request{
		"no code":       {ContentType: "application/json", Body: []byte(`{}`)},
		"form":          {ContentType: "application/x-www-form-urlencoded", Body: []byte(`login_code=x`)},
		"wrong type":    {ContentType: "application/json", Body: []byte(`{"login_code":1}`)},
		"not an object": {ContentType: "application/json", Body: []byte(`"x"`)},
	} {
		if r := route(t, e.a, "/oauth/exchange")(ctx, req); r.Status != 400 || !strings.Contains(string(r.Body), "invalid_request") {
			t.Fatalf("%s: %d %s", name, r.Status, r.Body)
		}
	}
}

// TestOAuthConcurrentFirstSignIn: simultaneous first callbacks of one
// identity end on one account.
func TestOAuthConcurrentFirstSignIn(t *testing.T) {
	e := newOAuthEnv(t, nil)
	const n = 8
	type flow struct{ cb, cookie string }
	flows := make([]flow, n)
	for i := range flows {
		e.p.Next(core.Identity{Subject: "racer", Email: "racer@example.com", EmailVerified: true})
		authURL, cookie := e.start("test")
		flows[i] = flow{must(e.p.Authorize(authURL)), cookie}
	}
	var wg sync.WaitGroup
	lands := make([]url.Values, n)
	for i := range flows {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lands[i] = flowLanding(t, e.callback("test", flows[i].cb, flows[i].cookie))
		}()
	}
	wg.Wait()
	for i, l := range lands {
		if l.Get("login_code") == "" {
			t.Fatalf("flow %d: %v", i, l)
		}
	}
	if a, ids, _ := e.users.Counts(); a != 1 || ids != 1 {
		t.Fatalf("%d accounts, %d identities after %d simultaneous first sign-ins", a, ids, n)
	}
}

// TestOAuthFlowAcrossSecretRotation: a flow started before the refresh
// secret rotated finishes after, on a process with the new secret.
func TestOAuthFlowAcrossSecretRotation(t *testing.T) {
	e := newOAuthEnv(t, nil)
	e.p.Next(alice)
	authURL, cookie := e.start("test")
	cb := must(e.p.Authorize(authURL))
	rotated := newOAuthEnv(t, func(c *core.Config) {
		c.Store, c.Users = e.store, e.users
		c.RefreshSecret, c.PreviousRefreshSecrets = []byte("the next refresh secret, 32+ bytes long"), [][]byte{refreshSecret}
		c.OAuth.Providers["test"] = e.p
	})
	land := flowLanding(t, rotated.callback("test", cb, cookie))
	tokens(t, rotated.exchange(land.Get("login_code")))
	// Without the old secret the flow is refused.
	e.p.Next(alice)
	authURL, cookie = e.start("test")
	cb = must(e.p.Authorize(authURL))
	stranger := newOAuthEnv(t, func(c *core.Config) {
		c.Store, c.Users = e.store, e.users
		c.RefreshSecret = []byte("an unrelated refresh secret, 32+ bytes")
		c.OAuth.Providers["test"] = e.p
	})
	if l := flowLanding(t, stranger.callback("test", cb, cookie)); l.Get("error") != core.OAuthErrorInvalidState {
		t.Fatalf("a flow of another secret: %v", l)
	}
}

func TestOAuthConfig(t *testing.T) {
	p := oauthtest.NewProvider()
	good := func() core.Config {
		return core.Config{
			Store: memstore.New(), Users: oauthtest.NewAccounts(nil), AccessKeys: mustKeys(t), RefreshSecret: refreshSecret,
			OAuth: &core.OAuthConfig{Providers: map[string]core.Provider{"google": p}, BaseURL: oauthBase, RedirectURL: "/signed-in"},
		}
	}
	cases := map[string]struct {
		mod  func(*core.Config)
		want string
	}{
		"no providers":      {func(c *core.Config) { c.OAuth.Providers = nil }, "Providers is empty"},
		"bad name":          {func(c *core.Config) { c.OAuth.Providers = map[string]core.Provider{"Google/x": p} }, "not a provider name"},
		"nil provider":      {func(c *core.Config) { c.OAuth.Providers = map[string]core.Provider{"x": nil} }, "is nil"},
		"no base":           {func(c *core.Config) { c.OAuth.BaseURL = "" }, "BaseURL"},
		"relative base":     {func(c *core.Config) { c.OAuth.BaseURL = "/auth" }, "BaseURL"},
		"base with query":   {func(c *core.Config) { c.OAuth.BaseURL = "https://x.example/auth?a=b" }, "BaseURL"},
		"no redirect":       {func(c *core.Config) { c.OAuth.RedirectURL = "" }, "RedirectURL"},
		"scheme-relative":   {func(c *core.Config) { c.OAuth.RedirectURL = "//evil.example/x" }, "RedirectURL"},
		"javascript":        {func(c *core.Config) { c.OAuth.RedirectURL = "javascript:alert(1)" }, "RedirectURL"},
		"negative timeout":  {func(c *core.Config) { c.OAuth.Timeout = -1 }, "Timeout"},
		"no identities":     {func(c *core.Config) { c.Users = userStoreOnly{c.Users} }, "IdentityStore"},
		"store not limiter": {func(c *core.Config) { c.Store = limiterless{memstore.New()}; c.RateLimits.Disabled = true }, "Limiter"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := good()
			tc.mod(&cfg)
			if _, err := core.New(cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v; want an error containing %q", err, tc.want)
			}
		})
	}
	_ = must(core.New(good()))
	// A path RedirectURL stays a path; the cookie of an http BaseURL is not
	// Secure (local development).
	cfg := good()
	cfg.OAuth.BaseURL = "http://localhost:8080/auth"
	a := must(core.New(cfg))
	r := route(t, a, "/oauth/:provider/start")(context.Background(), &core.Request{ID: "google"})
	if ck := must(http.ParseSetCookie(header(r, "Set-Cookie"))); ck.Secure {
		t.Fatalf("cookie of an http BaseURL: %q", header(r, "Set-Cookie"))
	}
	r = route(t, a, "/oauth/:provider/callback")(context.Background(), &core.Request{ID: "google", Query: url.Values{"error": {"access_denied"}}.Get})
	if header(r, "Location") != "/signed-in?error=access_denied" {
		t.Fatalf("Location %q", header(r, "Location"))
	}
	// Without OAuth there are no OAuth routes.
	plain := must(core.New(core.Config{Store: memstore.New(), AccessKeys: mustKeys(t), RefreshSecret: refreshSecret}))
	for _, rt := range plain.Routes() {
		if strings.HasPrefix(rt.Path, "/oauth") {
			t.Fatalf("OAuth route %s without OAuth", rt.Path)
		}
	}
	if plain.OAuthCallbackURL("x") != "" {
		t.Fatal("OAuthCallbackURL without OAuth")
	}
}

// limiterless hides memstore's Limiter.
type limiterless struct{ core.Store }

// userStoreOnly hides every method but core.UserStore's.
type userStoreOnly struct{ core.UserStore }

var refreshSecret = []byte("oauth flow test refresh secret, 32+ bytes")

func mustKeys(t *testing.T) []core.Key {
	k, err := core.NewHMACKey([]byte("an HS256 secret of at least 32 bytes!"))
	if err != nil {
		t.Fatal(err)
	}
	return []core.Key{k}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// route returns the handler of the auth route at path.
func route(t *testing.T, a *core.Auth, path string) func(context.Context, *core.Request) *core.Response {
	for _, rt := range a.Routes() {
		if rt.Path == path {
			return rt.Handle
		}
	}
	t.Fatalf("no route %s", path)
	return nil
}

// header is a response's first value of key.
func header(r *core.Response, key string) string {
	for _, h := range r.Header {
		if h.Key == key {
			return h.Value
		}
	}
	return ""
}

// flip changes a token's first character.
func flip(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}
