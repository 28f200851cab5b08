package core_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/core/memstore"
)

// Fuzz targets (issue 5). Plain `go test` runs their seeds and the corpus
// under testdata/fuzz; `go test -run=^$ -fuzz=^FuzzVerify$ -fuzztime=30s`
// fuzzes one of them. The genuine tokens are deterministic (fixed keys,
// clock, ids), so that a crasher written to testdata/fuzz reproduces in
// every later run.

var (
	fzAccessSecret  = []byte("fuzz access secret, 32 bytes or more..")
	fzRefreshSecret = []byte("fuzz refresh secret, 32 bytes or more.")
	// fzNow is the clock of the fuzzed Auths: the genuine token stays valid
	// however long a run lasts.
	fzNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
)

const (
	fzUser = "fuzz-user"
	fzSID  = fzUser + ".AAAAAAAAAAAAAAAAAAAAAA" // 22 base64url characters: a well-formed session id
)

// fzSeg is a JWS segment: v as JSON, base64url.
func fzSeg(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// fzSign MACs header.claims with the fuzz access secret, whatever alg the
// header names: the forger who knows the key's bytes but not its algorithm.
func fzSign(header, claims map[string]any) string {
	in := fzSeg(header) + "." + fzSeg(claims)
	m := hmac.New(sha256.New, fzAccessSecret)
	m.Write([]byte(in))
	return in + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// fzToken is an access token as core mints it, for the genuine session,
// with the header and claims changed by the functions (nil: none).
func fzToken(kid string, modHdr, modClaims func(map[string]any)) string {
	h := map[string]any{"alg": "HS256", "kid": kid, "typ": "at+jwt"}
	c := map[string]any{
		"iss": core.DefaultIssuer, "aud": []string{core.DefaultAudience},
		"sub": fzUser, "sid": fzSID, "jti": "fuzz-jti-0000000000000",
		"iat": fzNow.Unix(), "exp": fzNow.Add(15 * time.Minute).Unix(),
		"roles": []string{"user"}, "email_verified": false,
	}
	if modHdr != nil {
		modHdr(h)
	}
	if modClaims != nil {
		modClaims(c)
	}
	return fzSign(h, c)
}

// fzSignRaw MACs header and claims given as JSON text, byte for byte.
func fzSignRaw(header, claims string) string {
	in := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString([]byte(claims))
	m := hmac.New(sha256.New, fzAccessSecret)
	m.Write([]byte(in))
	return in + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// fzGenuineES256 is the genuine session's token signed with fzES256Key
// (kid "fuzz-es256"), in low-S form. ECDSA signing is randomized, so it is
// written here once rather than signed at each run.
const fzGenuineES256 = "eyJhbGciOiJFUzI1NiIsImtpZCI6ImZ1enotZXMyNTYiLCJ0eXAiOiJhdCtqd3QifQ.eyJhdWQiOlsiYXV0aGVuaWs4Il0sImVtYWlsX3ZlcmlmaWVkIjpmYWxzZSwiZXhwIjoxODkzNTU0MzQ1LCJpYXQiOjE4OTM1NTM0NDUsImlzcyI6ImF1dGhlbmlrOCIsImp0aSI6ImZ1enotanRpLTAwMDAwMDAwMDAwMDAiLCJyb2xlcyI6WyJ1c2VyIl0sInNpZCI6ImZ1enotdXNlci5BQUFBQUFBQUFBQUFBQUFBQUFBQUFBIiwic3ViIjoiZnV6ei11c2VyIn0.BYNsyAqpVaLpenuXIEb3cHXO8NEPnN9ixgBtMVpLe7oiReaYmstXQAg42sCZumBCE_49_QaCPWtvaxEI6nxF0g"

// fzES256Key is a fixed P-256 key, the verify-only second key of the fuzzed
// Auths.
func fzES256Key(tb testing.TB) core.Key {
	d := sha256.Sum256([]byte("fuzz es256 key"))
	priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d[:])
	if err != nil {
		tb.Fatal(err)
	}
	k, err := core.NewVerifyKey(priv.Public(), "fuzz-es256")
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// fzHighS is an ES256 token with its signature's s replaced by n−s: the
// signature still verifies with crypto/ecdsa, a second spelling.
func fzHighS(token string) string {
	dot := strings.LastIndexByte(token, '.')
	sig, err := base64.RawURLEncoding.DecodeString(token[dot+1:])
	if err != nil || len(sig) != 64 {
		panic("not an ES256 token")
	}
	n := elliptic.P256().Params().N
	new(big.Int).Sub(n, new(big.Int).SetBytes(sig[32:])).FillBytes(sig[32:])
	return token[:dot+1] + base64.RawURLEncoding.EncodeToString(sig)
}

// verifyFixture: an Auth with the token cache (as deployed) and one
// without, on one memstore holding the genuine session; both also verify
// ES256 tokens of fzES256Key.
type verifyFixture struct {
	cached, uncached *core.Auth
	genuine          string
	genuineES256     string
	kid              string
}

func newVerifyFixture(tb testing.TB) *verifyFixture {
	key, err := core.NewHMACKey(fzAccessSecret)
	if err != nil {
		tb.Fatal(err)
	}
	store := memstore.New()
	mk := func(cache int) *core.Auth {
		a, err := core.New(core.Config{
			Store: store, AccessKeys: []core.Key{key, fzES256Key(tb)}, RefreshSecret: fzRefreshSecret,
			Now: func() time.Time { return fzNow }, TokenCacheSize: cache,
			RateLimits: core.RateLimits{Disabled: true},
		})
		if err != nil {
			tb.Fatal(err)
		}
		return a
	}
	fx := &verifyFixture{cached: mk(0), uncached: mk(-1), kid: key.ID(), genuineES256: fzGenuineES256}
	fx.genuine = fzToken(fx.kid, nil, nil)
	ctx := context.Background()
	if _, err := store.CreateSession(ctx, core.NewSession{
		ID: fzSID, UserID: fzUser, Data: []byte(`{"r":["user"]}`), TokenHash: strings.Repeat("0", 64),
		IdleTTL: 24 * time.Hour, AbsoluteTTL: 48 * time.Hour,
	}); err != nil {
		tb.Fatal(err)
	}
	// Controls: the genuine token verifies, and so does one core mints
	// itself (the hand-made token follows core's format).
	for _, a := range []*core.Auth{fx.cached, fx.uncached} {
		if _, err := a.Verify(ctx, fx.genuine); err != nil {
			tb.Fatalf("control: the genuine token fails: %v", err)
		}
		if _, err := a.Verify(ctx, fx.genuineES256); err != nil {
			tb.Fatalf("control: the genuine ES256 token fails: %v", err)
		}
	}
	p, err := fx.cached.IssueSession(ctx, core.User{ID: "minted-user", Roles: []string{"user"}}, core.Client{})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := fx.uncached.Verify(ctx, p.AccessToken); err != nil {
		tb.Fatalf("control: a token core minted fails: %v", err)
	}
	return fx
}

var verifyErrors = []error{core.ErrMissingToken, core.ErrInvalidToken, core.ErrTokenExpired, core.ErrTokenRevoked}

// verifyClass is the sentinel err matches, or nil.
func verifyClass(err error) error {
	for _, e := range verifyErrors {
		if errors.Is(err, e) {
			return e
		}
	}
	return nil
}

// FuzzVerify: Verify never panics, accepts exactly the genuine tokens
// (HS256 and ES256) and refuses everything else with one of its four
// errors — the same one with and without the token cache. (The seeds MAC'd
// with the key all change something that must be refused, as does the
// high-S twin of the ES256 token: a fuzzer cannot make a valid signature,
// so anything else it gets accepted is a second spelling of a genuine
// token.)
func FuzzVerify(f *testing.F) {
	fx := newVerifyFixture(f)
	g := fx.genuine
	sig := strings.LastIndexByte(g, '.')
	unsignedNone := fzSeg(map[string]any{"alg": "none", "kid": fx.kid, "typ": "at+jwt"}) + g[strings.IndexByte(g, '.'):sig] + "."
	p := strings.Split(g, ".")
	jsonForm, _ := json.Marshal(map[string]string{"protected": p[0], "payload": p[1], "signature": p[2]})
	h0, _ := base64.RawURLEncoding.DecodeString(p[0])
	p1, _ := base64.RawURLEncoding.DecodeString(p[1])
	for _, s := range []string{
		g,
		"",
		"garbage",
		"a.b.c",
		"..",
		"....",
		unsignedNone,
		fzToken(fx.kid, func(h map[string]any) { h["alg"] = "none" }, nil),
		fzToken(fx.kid, func(h map[string]any) { h["alg"] = "HS512" }, nil),
		fzToken(fx.kid, func(h map[string]any) { h["typ"] = "JWT" }, nil),
		fzToken(fx.kid, func(h map[string]any) { h["kid"] = "unknown" }, nil),
		fzToken(fx.kid, nil, func(c map[string]any) { c["exp"] = fzNow.Add(-time.Hour).Unix() }),
		fzToken(fx.kid, nil, func(c map[string]any) { c["nbf"] = fzNow.Add(time.Hour).Unix() }),
		fzToken(fx.kid, nil, func(c map[string]any) { c["sid"] = "someone-else.AAAAAAAAAAAAAAAAAAAAAA" }),
		fzToken(fx.kid, nil, func(c map[string]any) { c["sub"], c["sid"] = "ghost", "ghost.AAAAAAAAAAAAAAAAAAAAAA" }),
		fzToken(fx.kid, nil, func(c map[string]any) { c["roles"] = "admin" }),
		fzToken(fx.kid, nil, func(c map[string]any) { c["aud"] = "someone-else" }),
		fzToken(fx.kid, nil, func(c map[string]any) { c["iss"] = "someone-else" }),
		fzToken(fx.kid, nil, func(c map[string]any) { c["exp"] = "never" }),
		fzToken(fx.kid, nil, func(c map[string]any) { delete(c, "jti") }),
		fzToken(fx.kid, nil, func(c map[string]any) { c["pad"] = strings.Repeat("p", core.MaxTokenBytes) }),
		fzToken(fx.kid, func(h map[string]any) { h["crit"] = []string{"exp"} }, nil),
		fzToken(fx.kid, nil, func(c map[string]any) { c["email_verified"] = "true" }),
		fzSignRaw(`{"alg":"HS256","kid":"`+fx.kid+`","typ":"at+jwt","kid":"`+fx.kid+`"}`, string(p1)),
		fzSignRaw(string(h0), string(p1[:len(p1)-1])+`,"roles":["admin"]}`),
		fx.genuineES256,
		fzHighS(fx.genuineES256),
		g[:len(g)-1],
		g[:len(g)/2],
		g[:sig],
		g[:sig+1],
		g + ".",
		g + "=",
		" " + g,
		g + "\n",
		g[:20] + " " + g[20:],
		string(jsonForm),
		strings.ReplaceAll(strings.ReplaceAll(g, "-", "+"), "_", "/"),
		"é.é.é",
		strings.Repeat("A", core.MaxTokenBytes+1),
		strings.Repeat(".", 3000),
	} {
		f.Add(s)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, token string) {
		c, err := fx.cached.Verify(ctx, token)
		if err == nil {
			if token != g && token != fx.genuineES256 {
				t.Fatalf("Verify accepted %q, which is not a genuine token (%q, %q)", token, g, fx.genuineES256)
			}
			if c == nil || c.Subject != fzUser || c.SessionID != fzSID {
				t.Fatalf("the genuine token gave claims %+v", c)
			}
		} else if verifyClass(err) == nil {
			t.Fatalf("Verify(%q): %v, not one of missing_token, invalid_token, token_expired, token_revoked", token, err)
		}
		_, uerr := fx.uncached.Verify(ctx, token)
		if (err == nil) != (uerr == nil) || (err != nil && verifyClass(err) != verifyClass(uerr)) {
			t.Fatalf("Verify(%q): %v with the token cache, %v without", token, err, uerr)
		}
		if _, err := fx.cached.Verify(ctx, g); err != nil {
			t.Fatalf("after %q the genuine token fails: %v", token, err)
		}
	})
}

// routesFixture drives Auth.Routes directly: two Auths on one memstore and
// user store (cheap argon2id), the second in cookie mode with the default
// rate limits, and the sessions whose tokens the inputs may present.
type routesFixture struct {
	plain, cookies *core.Auth
	store          *memstore.Store
	routes         []core.Route
	mu             sync.Mutex
	live, admin    *core.TokenPair // renewed when a request ends them
	liveU, adminU  core.User
	revoked        string // an access token of a revoked session
	expired        string // an expired access token
}

const (
	fzEmail    = "fuzz@example.com"
	fzAdmin    = "root@example.com"
	fzPassword = "correct horse battery"
	fzHost     = "api.example.com"
)

var fzCheap = &core.PasswordHasher{Params: core.PasswordParams{Time: 1, MemoryKiB: 64, Threads: 1}}

func newRoutesFixture(tb testing.TB) *routesFixture {
	ctx := context.Background()
	key, err := core.NewHMACKey(fzAccessSecret)
	if err != nil {
		tb.Fatal(err)
	}
	store, users := memstore.New(), memstore.NewUsers(fzCheap)
	mk := func(mod func(*core.Config)) *core.Auth {
		cfg := core.Config{
			Store: store, Users: users, AccessKeys: []core.Key{key}, RefreshSecret: fzRefreshSecret,
			RateLimits: core.RateLimits{Disabled: true},
		}
		if mod != nil {
			mod(&cfg)
		}
		a, err := core.New(cfg)
		if err != nil {
			tb.Fatal(err)
		}
		return a
	}
	fx := &routesFixture{store: store}
	fx.plain = mk(func(c *core.Config) { c.Mailer, c.AppURL = discardMail{}, "https://app.example.com" })
	fx.cookies = mk(func(c *core.Config) {
		c.RateLimits = core.RateLimits{}
		c.Cookies = &core.CookieConfig{Path: "/auth", TrustedOrigins: []string{"https://app.example.com"}}
	})
	fx.routes = fx.plain.Routes()
	if fx.liveU, err = users.Register(ctx, fzEmail, fzPassword, []string{"user"}); err != nil {
		tb.Fatal(err)
	}
	if fx.adminU, err = users.Register(ctx, fzAdmin, fzPassword, []string{"admin"}); err != nil {
		tb.Fatal(err)
	}
	issue := func(a *core.Auth, u core.User) *core.TokenPair {
		p, err := a.IssueSession(ctx, u, core.Client{})
		if err != nil {
			tb.Fatal(err)
		}
		return p
	}
	fx.live, fx.admin = issue(fx.plain, fx.liveU), issue(fx.plain, fx.adminU)
	gone := issue(fx.plain, fx.liveU)
	if err := fx.plain.Logout(ctx, gone.SessionID); err != nil {
		tb.Fatal(err)
	}
	fx.revoked = gone.AccessToken
	past := mk(func(c *core.Config) { c.Now = func() time.Time { return time.Now().Add(-time.Hour) } })
	fx.expired = issue(past, fx.liveU).AccessToken
	return fx
}

// discardMail is the fuzzed Auth's mailer.
type discardMail struct{}

func (discardMail) Send(context.Context, core.Mail) error { return nil }

// route returns the index of a route, for the seeds.
func (fx *routesFixture) route(tb testing.TB, method, path string) uint8 {
	for i, r := range fx.routes {
		if r.Method == method && r.Path == path {
			return uint8(i)
		}
	}
	tb.Fatalf("no route %s %s", method, path)
	return 0
}

// linkToken mints a link token of the live user for an input that asks
// for one.
func (fx *routesFixture) linkToken(t *testing.T, purpose string) string {
	tok, err := fx.plain.NewLinkToken(context.Background(), fx.liveU.ID, purpose, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// renew replaces a session the last request ended (logout, refresh,
// reuse detection…), and ends the sessions the request opened, so that the
// store stays small however long the fuzzer runs.
func (fx *routesFixture) renew(t *testing.T, resp *core.Response) {
	ctx := context.Background()
	if resp.Status == 200 && bytes.Contains(resp.Body, []byte(`"access_token"`)) {
		var pair struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.Unmarshal(resp.Body, &pair); err != nil {
			t.Fatalf("token response %s: %v", resp.Body, err)
		}
		c, err := fx.plain.Verify(ctx, pair.AccessToken)
		if err != nil {
			t.Fatalf("the access token of a 200 token response fails: %v", err)
		}
		if _, err := fx.store.RevokeSession(ctx, c.Subject, c.SessionID); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []struct {
		p **core.TokenPair
		u core.User
	}{{&fx.live, fx.liveU}, {&fx.admin, fx.adminU}} {
		if alive, _ := fx.store.SessionAlive(ctx, s.u.ID, (*s.p).SessionID); !alive {
			p, err := fx.plain.IssueSession(ctx, s.u, core.Client{})
			if err != nil {
				t.Fatal(err)
			}
			*s.p = p
		}
	}
}

// The codes of the error table (docs/protocol.md §7) and their statuses.
var fzCodes = func() map[string]int {
	m := map[string]int{}
	for _, e := range core.ErrorTable() {
		m[e.Code] = e.Status
	}
	return m
}()

var fzCodeForm = regexp.MustCompile(`^[a-z][a-z_]*$`)

// FuzzRoutes drives every route of Auth.Routes with a fuzzed content type,
// body and choice of token (and, in cookie mode, cookies and CSRF
// headers): no panic, no status of 500 or more, every error the JSON
// {"error","error_description"} of a known code with its status, every 2xx
// body JSON (or none).
//
// In the body (and the :id parameter, which is the body for the routes that
// have one: DELETE /sessions/:id, /users/:id/…), "$RT", "$AT", "$SID",
// "$ASID" and "$UID" stand for the live session's refresh token, access
// token and id, the admin's session id and the live user's id; "$LT" for a
// reset link token of the live user and "$VT" for a verification one.
//
// tok: bits 0-2 pick the bearer token (none, live, garbage, the live
// refresh token, revoked, expired, admin, the body itself); bit 3 the
// cookie-mode Auth; bits 4-5 its refresh cookie (none, live, garbage, the
// body); bit 6 a matching CSRF header; bit 7 a foreign Origin.
func FuzzRoutes(f *testing.F) {
	fx := newRoutesFixture(f)
	r := func(method, path string) uint8 { return fx.route(f, method, path) }
	login, register, refresh := r("POST", "/login"), r("POST", "/register"), r("POST", "/refresh")
	logout, logoutAll, me := r("POST", "/logout"), r("POST", "/logout-all"), r("GET", "/me")
	sessions, del, jwks := r("GET", "/sessions"), r("DELETE", "/sessions/:id"), r("GET", "/jwks.json")
	change, forgot, reset := r("POST", "/password"), r("POST", "/password/forgot"), r("POST", "/password/reset")
	send, verifyEmail, others := r("POST", "/email/verify/send"), r("POST", "/email/verify"), r("POST", "/logout-others")
	userSessions, disable, enable := r("GET", "/users/:id/sessions"), r("POST", "/users/:id/disable"), r("POST", "/users/:id/enable")
	const js = "application/json"
	creds := func(email, pw string) []byte {
		b, _ := json.Marshal(map[string]string{"email": email, "password": pw})
		return b
	}
	for _, s := range []struct {
		route uint8
		ct    string
		body  string
		tok   uint8
	}{
		{login, js, string(creds(fzEmail, fzPassword)), 0},
		{login, js, string(creds(" FUZZ@Example.com ", fzPassword)), 0},
		{login, js, string(creds(fzEmail, "wrong password")), 0},
		{login, js + "; charset=utf-8", string(creds(fzEmail, fzPassword)), 8},
		{register, js, string(creds("new@example.com", fzPassword)), 0},
		{register, js, string(creds(fzEmail, fzPassword)), 0},
		{register, js, string(creds("bad", "short")), 0},
		{register, js, `{"email":"a@b.c","password":"` + strings.Repeat("é", 513) + `"}`, 0},
		{refresh, js, `{"refresh_token":"$RT"}`, 0},
		{refresh, js, `{"refresh_token":"$AT"}`, 0},
		{refresh, js, `{"refresh_token":"forged"}`, 0},
		{refresh, js, `{"refresh_token":42}`, 0},
		{refresh, "", "", 8 | 16 | 64},       // cookie mode: the cookie, CSRF header
		{refresh, "", "", 8 | 16},            // cookie mode: no CSRF header
		{refresh, "", "", 8 | 16 | 64 | 128}, // cookie mode: foreign origin
		{logout, "", "", 1},                  // bearer
		{logout, js, `{"refresh_token":"$RT"}`, 0},
		{logout, js, `{"refresh_token":"$RT"}`, 6}, // bearer of another session
		{logout, js, `null`, 0},
		{logout, "", "", 8 | 16 | 64},
		{logoutAll, "", "", 1},
		{logoutAll, "", "", 2},
		{me, "", "", 1},
		{me, "", "", 3},
		{me, "", "", 4},
		{me, "", "", 5},
		{me, "", "$AT", 7},
		{sessions, "", "", 6},
		{del, "", "$SID", 1},
		{del, "", "$ASID", 1},
		{del, "", "$SID", 6},
		{del, "", "garbage", 1},
		{jwks, "", "", 0},
		{login, js, `{"email":`, 0},
		{login, js, `{"email":"a@b.c","password":"12345678"}{}`, 0},
		{login, "text/plain", string(creds(fzEmail, fzPassword)), 0},
		{login, "multipart/form-data; boundary=x", "--x--", 0},
		{login, js, "\xef\xbb\xbf{}", 0},
		{login, js, strings.Repeat("[", 10001), 0},
		{login, js, `{"pad":"` + strings.Repeat("x", core.DefaultBodyLimit) + `"}`, 0},
		{255, js, "{}", 255},
		{change, js, `{"current_password":"` + fzPassword + `","new_password":"` + fzPassword + `"}`, 1},
		{change, js, `{"current_password":"wrong password","new_password":"another password"}`, 1},
		{change, js, `{"current_password":1,"new_password":null}`, 1},
		{change, js, `{"current_password":"` + fzPassword + `","new_password":"short"}`, 0},
		{forgot, js, `{"email":"` + fzEmail + `"}`, 0},
		{forgot, js, `{"email":"nobody@example.com"}`, 0},
		{forgot, js, `{"email":"not an email"}`, 0},
		{forgot, js, `{"email":["a"]}`, 0},
		{reset, js, `{"token":"$LT","new_password":"` + fzPassword + `"}`, 0},
		{reset, js, `{"token":"$LT","new_password":"short"}`, 0},
		{reset, js, `{"token":"$VT","new_password":"` + fzPassword + `"}`, 0},
		{reset, js, `{"token":"garbage","new_password":"` + fzPassword + `"}`, 0},
		{send, "", "", 1},
		{send, "", "", 8 | 16 | 64},
		{verifyEmail, js, `{"token":"$VT"}`, 0},
		{verifyEmail, js, `{"token":"$LT"}`, 0},
		{verifyEmail, js, `{"token":""}`, 0},
		{others, "", "", 1},
		{others, "", "", 5},
		{userSessions, "", "$UID", 6},
		{userSessions, "", "$UID", 1},
		{userSessions, "", "nobody", 6},
		{disable, "", "$UID", 6},
		{disable, "", "$UID", 1},
		{enable, "", "$UID", 6},
		{enable, "", "garbage id", 6},
	} {
		f.Add(s.route, s.ct, []byte(s.body), s.tok)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, route uint8, ct string, body []byte, tok uint8) {
		fx.mu.Lock() // the fixture's sessions are shared by every input
		defer fx.mu.Unlock()
		rt := fx.routes[int(route)%len(fx.routes)]
		if bytes.IndexByte(body, '$') >= 0 {
			body = []byte(strings.NewReplacer(
				"$RT", fx.live.RefreshToken, "$AT", fx.live.AccessToken,
				"$SID", fx.live.SessionID, "$ASID", fx.admin.SessionID, "$UID", fx.liveU.ID,
				"$LT", fx.linkToken(t, core.PurposePasswordReset), "$VT", fx.linkToken(t, core.PurposeEmailVerification),
			).Replace(string(body)))
		}
		a := fx.plain
		req := core.Request{ContentType: ct, Client: core.Client{UserAgent: "fuzz", IP: "203.0.113.7"}, Host: fzHost}
		if len(body) > core.DefaultBodyLimit {
			req.BodyTooLarge = true
		} else if len(body) > 0 {
			req.Body = body
		}
		if rt.Param() != "" {
			req.ID = string(body)
		}
		req.Token = []string{"", fx.live.AccessToken, "garbage", fx.live.RefreshToken, fx.revoked, fx.expired, fx.admin.AccessToken, string(body)}[tok&7]
		if tok&8 != 0 {
			a = fx.cookies
			cookie := []string{"", fx.live.RefreshToken, "garbage", string(body)}[tok>>4&3]
			headers := map[string]string{}
			if tok&64 != 0 {
				headers["X-CSRF-Token"] = "csrf-token"
			}
			if tok&128 != 0 {
				headers["Origin"] = "https://evil.example"
			}
			req.Cookie = func(name string) string {
				switch name {
				case "a8_refresh":
					return cookie
				case "a8_csrf":
					return "csrf-token"
				}
				return ""
			}
			req.Header = func(name string) string { return headers[http.CanonicalHeaderKey(name)] }
		}
		for _, r := range a.Routes() {
			if r.Method == rt.Method && r.Path == rt.Path {
				rt = r
			}
		}

		resp := rt.Handle(ctx, &req)
		if resp == nil {
			t.Fatalf("%s %s: nil response", rt.Method, rt.Path)
		}
		what := rt.Method + " " + rt.Path
		if resp.Status < 200 || resp.Status >= 500 {
			t.Fatalf("%s: status %d %s", what, resp.Status, resp.Body)
		}
		ctype, challenge := "", ""
		for _, h := range resp.Header {
			switch {
			case strings.EqualFold(h.Key, "Content-Type"):
				ctype = h.Value
			case strings.EqualFold(h.Key, "WWW-Authenticate"):
				challenge = h.Value
			}
		}
		if resp.Status == 401 && !strings.HasPrefix(challenge, "Bearer") {
			t.Fatalf("%s: 401 without a Bearer challenge: %v", what, resp.Header)
		}
		if resp.Status >= 300 {
			var e map[string]any
			if err := json.Unmarshal(resp.Body, &e); err != nil || len(e) != 2 {
				t.Fatalf("%s: %d with body %q: not {\"error\",\"error_description\"}", what, resp.Status, resp.Body)
			}
			code, ok1 := e["error"].(string)
			desc, ok2 := e["error_description"].(string)
			if !ok1 || !ok2 || desc == "" || !fzCodeForm.MatchString(code) {
				t.Fatalf("%s: %d with body %s", what, resp.Status, resp.Body)
			}
			if want, known := fzCodes[code]; !known || want != resp.Status {
				t.Fatalf("%s: %d with code %s, whose status is %d in the error table", what, resp.Status, code, want)
			}
			if ctype != "application/json" {
				t.Fatalf("%s: %d error with Content-Type %q", what, resp.Status, ctype)
			}
		} else if resp.Body != nil {
			if !json.Valid(resp.Body) || ctype != "application/json" {
				t.Fatalf("%s: %d with Content-Type %q and body %q", what, resp.Status, ctype, resp.Body)
			}
		}
		if rt.ID == core.RouteForgotPassword && resp.Status == 202 && string(resp.Body) != "{}" {
			t.Fatalf("%s: 202 with body %q", what, resp.Body)
		}
		fx.renew(t, resp)
	})
}
