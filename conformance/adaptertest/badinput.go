package adaptertest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authenik8/authenik8-go/core"
)

// testBadInputCatalog is the catalog of malformed and hostile requests:
// tokens, headers, content types, bodies, sizes, unicode and
// paths. Each case is a subtest that checks
//
//   - the answer: exactly core's error for the expected sentinel (status,
//     body, WWW-Authenticate, Content-Type, Cache-Control), or, for 400
//     invalid_request whose description names a field, the status, the
//     code and the headers; never a 5xx;
//   - that nothing changed: every tracked user's sessions (ids, created,
//     last used, expiry) as the store lists them, no account for the
//     case's email (asked of the UserStore directly, so no rate limit is
//     involved), the known account still authenticates, and the live
//     session's access token still passes GET /auth/me.
//
// The live session's refresh token is never sent whole to /refresh or
// /logout (only as a bearer token, and garbled): it is refreshed once at
// the end, which proves no case consumed it. Cases about
// refresh-token encodings that might be accepted by mistake present tokens
// of throwaway sessions ("victims"), so that a failure there does not
// disturb the others. After a failed case the catalog goes on against a new
// server and fixture, so one failure does not cascade.
func testBadInputCatalog(t *testing.T, h Harness) {
	fresh := func() *badFixture { return newBadFixture(t, newEnv(t, h, ServerConfig{}, nil)) }
	fx := fresh()
	cases := fx.cases()
	// Exact: a case lost in an edit fails here, not silently.
	if len(cases) != catalogSize {
		t.Fatalf("the catalog has %d cases, want %d", len(cases), catalogSize)
	}
	seen := map[string]bool{}
	for _, tc := range cases {
		if seen[tc.name] {
			t.Fatalf("duplicate case name %q", tc.name)
		}
		seen[tc.name] = true
	}
	for i := range cases {
		tc := cases[i]
		if !t.Run(tc.name, func(t *testing.T) { fx.run(t, tc) }) {
			// A new server, stores and sessions, and the cases rebuilt on
			// them: the next cases are judged on their own.
			fx = fresh()
			cases = fx.cases()
		}
	}
	// The live session's refresh token was never consumed.
	wantStatus(t, "refresh the live session after the catalog", fx.e.refresh(fx.live.RefreshToken), 200)
}

// catalogSize is the number of cases in the catalog.
const catalogSize = 141

// cred is an email and password a case sends.
type cred struct{ email, password string }

// badCase is one request of the catalog and its expected answer.
type badCase struct {
	name    string
	method  string
	path    string
	headers [][2]string // added in order (Header.Add), so a name may repeat
	ct      string      // Content-Type; "" sends none
	body    []byte      // nil: no body
	chunked bool        // send the body without a Content-Length
	// want lists the acceptable answers (usually one sentinel). Empty:
	// the request must succeed with status ok.
	want []error
	ok   int
	// probe: accounts the request must not have created.
	probe []cred
	// creates: the account the request is expected to create (201).
	creates *cred
}

// badFixture is the state the catalog runs against.
type badFixture struct {
	t        *testing.T
	e        *env
	mainID   string
	otherID  string
	live     tokens // the main account's live session
	liveSID  string
	other    tokens // another account's session
	otherSID string
	victims  map[string]*core.TokenPair // throwaway sessions, by user id
	// Refresh tokens of live sessions of the main and the other account,
	// minted by an Auth with another refresh secret: well formed, naming a
	// live session, MAC'd with the wrong key.
	forgedMain, forgedOther string
	// Link tokens of the main account: a genuine reset and verification
	// token (never accepted by a case), and a reset token MAC'd with the
	// wrong key.
	resetTok, verifyTok, forgedReset string
	tracked                          []string // user ids whose sessions are compared
	kid                              string   // kid of the access tokens
	before                           badSnapshot
}

const (
	badMain  = "catalog@example.com"
	badOther = "other@example.com"
	badPass  = "wrong password 123" // a well-formed password no account has
)

func newBadFixture(t *testing.T, e *env) *badFixture {
	fx := &badFixture{t: t, e: e, victims: map[string]*core.TokenPair{}}
	fx.mainID = e.register(badMain)
	fx.otherID = e.register(badOther)
	fx.live = e.login(badMain)
	fx.other = e.login(badOther)
	fx.liveSID = fx.sid(fx.live)
	fx.otherSID = fx.sid(fx.other)
	// Sessions of users the user store does not know (as for single
	// sign-on), whose refresh tokens the encoding cases present. The
	// lengths of the ids matter: with a 12-byte id the token is 104 bytes,
	// whose base64url form has 2 spare bits in its last character and
	// whose padded standard-base64 form ends in "=".
	for _, uid := range []string{"victim-newline", "victim-slack", "victim-stdb", "victim-crlf1"} {
		p, err := e.auth.IssueSession(context.Background(), core.User{ID: uid, Roles: []string{"user"}}, core.Client{UserAgent: "adaptertest/victim"})
		if err != nil {
			t.Fatal(err)
		}
		fx.victims[uid] = p
	}
	forger := NewAuth(t, e.store, e.users, func(c *core.Config) {
		c.RefreshSecret = []byte("not the suite's refresh secret, 32+ bytes")
	})
	for uid, dst := range map[string]*string{fx.mainID: &fx.forgedMain, fx.otherID: &fx.forgedOther} {
		p, err := forger.IssueSession(context.Background(), core.User{ID: uid, Roles: []string{"user"}}, core.Client{})
		if err != nil {
			t.Fatal(err)
		}
		*dst = p.RefreshToken
	}
	fx.lifecycleTokens(forger)
	fx.tracked = []string{fx.mainID, fx.otherID, "victim-newline", "victim-slack", "victim-stdb", "victim-crlf1"}
	hdr, _, _ := splitJWT(t, fx.live.AccessToken)
	fx.kid, _ = hdr["kid"].(string)
	if fx.kid == "" || hdr["alg"] != "HS256" {
		t.Fatalf("access token header %v: want HS256 with a kid", hdr)
	}
	// Control for the forged tokens below: the suite's own secret, with the
	// genuine header and claims re-encoded, is accepted; so a forgery's
	// refusal is due to what the case changed.
	if r := e.do("GET", "/auth/me", bearer(fx.resign(nil, nil))); r.Status != 200 {
		t.Fatalf("control: a re-signed copy of the live access token got %d %s", r.Status, r.Body)
	}
	fx.before = fx.snap(t)
	return fx
}

func (fx *badFixture) sid(tk tokens) string {
	fx.t.Helper()
	sid, _ := fx.e.do("GET", "/auth/me", bearer(tk.AccessToken)).object(fx.t)["sid"].(string)
	if sid == "" {
		fx.t.Fatal("no sid in /auth/me")
	}
	return sid
}

// run sends one case and checks its answer and that nothing changed. The
// state is checked even when the answer was wrong, so a failure tells both.
func (fx *badFixture) run(t *testing.T, tc badCase) {
	e := *fx.e
	e.t = t // failures end this case's subtest only
	before := fx.before
	for _, p := range tc.probe {
		fx.wantNoAccount(t, "before the request", p)
	}
	defer fx.checkUnchanged(t, &e, tc, before)

	r := e.do(tc.method, tc.path, tc.opts()...)
	if r.Status >= 500 {
		t.Fatalf("%s %s: a server error: %d %s", tc.method, tc.path, r.Status, r.Body)
	}
	if len(tc.want) == 0 {
		wantStatus(t, tc.name, r, tc.ok)
	} else {
		wantOneOf(t, tc.name, r, tc.want)
	}
}

// checkUnchanged: the tracked sessions are as before, no probed account
// exists (the expected one does), the known account still authenticates
// and the live session still passes GET /auth/me.
func (fx *badFixture) checkUnchanged(t *testing.T, e *env, tc badCase, before badSnapshot) {
	ctx := context.Background()
	if d := before.diff(fx.snap(t)); d != "" {
		t.Errorf("the request changed the sessions: %s", d)
	}
	for _, p := range tc.probe {
		if _, err := fx.e.users.Authenticate(ctx, core.NormalizeEmail(p.email), p.password); !errors.Is(err, core.ErrInvalidCredentials) {
			t.Errorf("after the request: an account %q exists (Authenticate: %v)", p.email, err)
		}
	}
	if tc.creates != nil {
		if _, err := fx.e.users.Authenticate(ctx, core.NormalizeEmail(tc.creates.email), tc.creates.password); err != nil {
			t.Errorf("the account %q was not created: %v", tc.creates.email, err)
		}
	}
	if u, err := fx.e.users.Authenticate(ctx, badMain, password); err != nil || u.Disabled {
		t.Errorf("the known account no longer authenticates, or is disabled: %+v, %v", u, err)
	}
	if r := e.do("GET", "/auth/me", bearer(fx.live.AccessToken)); r.Status != 200 {
		t.Errorf("the live session after the request: %d %s", r.Status, r.Body)
	}
}

func (fx *badFixture) wantNoAccount(t *testing.T, when string, c cred) {
	t.Helper()
	_, err := fx.e.users.Authenticate(context.Background(), core.NormalizeEmail(c.email), c.password)
	if !errors.Is(err, core.ErrInvalidCredentials) {
		t.Fatalf("%s: an account %q exists (Authenticate: %v)", when, c.email, err)
	}
}

// badSnapshot is every tracked user's sessions, as the store lists them.
type badSnapshot map[string][]string

func (fx *badFixture) snap(t testing.TB) badSnapshot {
	t.Helper()
	s := badSnapshot{}
	for _, uid := range fx.tracked {
		list, err := fx.e.store.ListSessions(context.Background(), uid)
		if err != nil {
			t.Fatalf("ListSessions(%s): %v", uid, err)
		}
		for _, x := range list {
			s[uid] = append(s[uid], fmt.Sprintf("%s created=%s last_used=%s expires=%s",
				x.ID, x.CreatedAt.UTC().Format(time.RFC3339Nano), x.LastUsedAt.UTC().Format(time.RFC3339Nano), x.ExpiresAt.UTC().Format(time.RFC3339Nano)))
		}
	}
	return s
}

func (s badSnapshot) diff(after badSnapshot) string {
	var out []string
	for _, uid := range sortedKeys(s, after) {
		if !slices.Equal(s[uid], after[uid]) {
			out = append(out, fmt.Sprintf("user %s: before %q, after %q", uid, s[uid], after[uid]))
		}
	}
	return strings.Join(out, "; ")
}

func sortedKeys(a, b badSnapshot) []string {
	var keys []string
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// wantOneOf checks that r is core's answer for one of the sentinels: the
// exact answer, or for invalid_request (whose description may name the
// field) the status, the code, a description and the headers.
func wantOneOf(t testing.TB, what string, r *result, want []error) {
	t.Helper()
	var got struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	var fields map[string]any
	if r.Status < 400 {
		t.Fatalf("%s: got %d %s; want an error: %s", what, r.Status, r.Body, describe(want))
	}
	if json.Unmarshal(r.Body, &got) != nil || json.Unmarshal(r.Body, &fields) != nil || len(fields) != 2 || got.Description == "" {
		t.Fatalf("%s: %d %s: not an error body {\"error\",\"error_description\"}", what, r.Status, r.Body)
	}
	var codes []string
	for _, w := range want {
		var e *core.Error
		if !errors.As(w, &e) {
			t.Fatalf("%s: %v is not a core error", what, w)
		}
		codes = append(codes, fmt.Sprintf("%d %s", e.Status, e.Code))
		if got.Error != e.Code {
			continue
		}
		if errors.Is(w, core.ErrInvalidRequest) {
			wantStatus(t, what, r, e.Status)
			wantHeaders(t, what, r, core.ErrorResponse(w))
		} else {
			wantError(t, what, r, w)
		}
		return
	}
	t.Fatalf("%s: got %d %s; want %s", what, r.Status, r.Body, strings.Join(codes, " or "))
}

func describe(errs []error) string {
	var s []string
	for _, err := range errs {
		r := core.ErrorResponse(err)
		s = append(s, fmt.Sprintf("%d %s", r.Status, r.Body))
	}
	return strings.Join(s, " or ")
}

// opts turns a case into request options.
func (tc badCase) opts() []reqOpt {
	opts := []reqOpt{func(r *http.Request) {
		for _, h := range tc.headers {
			r.Header.Add(h[0], h[1])
		}
		if tc.ct != "" {
			r.Header.Set("Content-Type", tc.ct)
		}
		if tc.body == nil {
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(tc.body))
		r.ContentLength = int64(len(tc.body))
		if tc.chunked {
			r.ContentLength = -1 // unknown: Transfer-Encoding: chunked
		}
	}}
	return opts
}

// Builders for the table.

func get(name, path string, headers ...[2]string) badCase {
	return badCase{name: name, method: "GET", path: path, headers: headers}
}

func post(name, path, ct string, body []byte, headers ...[2]string) badCase {
	return badCase{name: name, method: "POST", path: path, ct: ct, body: body, headers: headers}
}

func (tc badCase) wants(errs ...error) badCase { tc.want = errs; return tc }
func (tc badCase) succeeds(status int) badCase { tc.ok = status; return tc }
func (tc badCase) probes(c ...cred) badCase    { tc.probe = append(tc.probe, c...); return tc }

func authz(v string) [2]string     { return [2]string{"Authorization", v} }
func bearerH(tok string) [2]string { return authz("Bearer " + tok) }

// credBody is {"email","password"} as JSON, escaped by encoding/json.
func credBody(email, pw string) []byte {
	b, _ := json.Marshal(map[string]string{"email": email, "password": pw})
	return b
}

func refreshBodyOf(tok string) []byte {
	b, _ := json.Marshal(map[string]string{"refresh_token": tok})
	return b
}

const ctJSON = "application/json"

// padded returns {"refresh_token":"forged","pad":"xxx…"} of exactly n bytes.
func padded(n int) []byte {
	const head, tail = `{"refresh_token":"forged","pad":"`, `"}`
	return []byte(head + strings.Repeat("x", n-len(head)-len(tail)) + tail)
}

// Access-token forgery, with the suite's own HMAC secret.

func splitJWT(t testing.TB, tok string) (hdr, claims map[string]any, sig string) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", tok)
	}
	for i, dst := range []*map[string]any{&hdr, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil || json.Unmarshal(b, dst) != nil {
			t.Fatalf("segment %d of %q: %v", i, tok, err)
		}
	}
	return hdr, claims, parts[2]
}

func seg(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hs256(signingInput string) string {
	m := hmac.New(sha256.New, accessSecret)
	m.Write([]byte(signingInput))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// resign returns the live access token with its header and claims changed
// by the functions (nil: unchanged), MAC'd with the suite's HS256 secret.
func (fx *badFixture) resign(modHdr, modClaims func(map[string]any)) string {
	hdr, claims, _ := splitJWT(fx.t, fx.live.AccessToken)
	if modHdr != nil {
		modHdr(hdr)
	}
	if modClaims != nil {
		modClaims(claims)
	}
	in := seg(hdr) + "." + seg(claims)
	return in + "." + hs256(in)
}

// unsigned returns the live access token's claims under a header with
// alg "none" and no signature.
func (fx *badFixture) unsigned() string {
	_, claims, _ := splitJWT(fx.t, fx.live.AccessToken)
	return seg(map[string]any{"alg": "none", "typ": "at+jwt", "kid": fx.kid}) + "." + seg(claims) + "."
}

// jsonSerialized is the live access token in the JWS JSON serialization.
func (fx *badFixture) jsonSerialized() string {
	p := strings.Split(fx.live.AccessToken, ".")
	b, _ := json.Marshal(map[string]string{"protected": p[0], "payload": p[1], "signature": p[2]})
	return string(b)
}

const b64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// reencodeLast changes the spare low bits of a base64url string's last
// character: another spelling of the same bytes when len(s)%4 is 2 or 3.
func reencodeLast(s string) string {
	i := strings.IndexByte(b64url, s[len(s)-1])
	return s[:len(s)-1] + string(b64url[i^1])
}

// pctEncode percent-encodes every byte of s.
func pctEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, "%%%02X", s[i])
	}
	return b.String()
}

// cases is the catalog.
func (fx *badFixture) cases() []badCase {
	live := fx.live.AccessToken
	liveRT := fx.live.RefreshToken
	me := "/auth/me"
	pw := password

	// A token just over the 8 KiB limit, of the right form: the live
	// token with a padded claim set, correctly MAC'd.
	huge := fx.resign(nil, func(c map[string]any) { c["pad"] = strings.Repeat("p", core.MaxTokenBytes) })
	if len(huge) <= core.MaxTokenBytes {
		fx.t.Fatalf("the huge token is %d bytes", len(huge))
	}
	nl := fx.victims["victim-newline"].RefreshToken
	crlf := fx.victims["victim-crlf1"].RefreshToken
	slack := fx.victims["victim-slack"].RefreshToken
	if raw, _ := base64.RawURLEncoding.DecodeString(slack); len(raw)%3 == 0 {
		fx.t.Fatalf("victim-slack's refresh token is %d bytes: no spare bits", len(raw))
	}
	stdRaw, _ := base64.RawURLEncoding.DecodeString(fx.victims["victim-stdb"].RefreshToken)
	stdEnc := base64.StdEncoding.EncodeToString(stdRaw)
	if !strings.HasSuffix(stdEnc, "=") {
		fx.t.Fatalf("victim-stdb's refresh token in standard base64 has no padding: %q", stdEnc)
	}

	deepArr := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	longEmail := strings.Repeat("a", 255-len("@example.com")) + "@example.com"

	return append([]badCase{
		// Tokens: on a mounted route (GET /auth/me) unless said otherwise.
		get("token/garbage", me, bearerH("garbage")).wants(core.ErrInvalidToken),
		get("token/empty bearer", me, authz("Bearer ")).wants(core.ErrMissingToken),
		get("token/bearer without space", me, authz("Bearer"+live)).wants(core.ErrMissingToken),
		get("token/basic scheme", me, authz("Basic dXNlcjpwYXNz")).wants(core.ErrMissingToken),
		get("token/other scheme with the live token", me, authz("Token "+live)).wants(core.ErrMissingToken),
		get("token/lowercase bearer is accepted", me, authz("bearer "+live)).succeeds(200),
		get("token/mixed-case BeArEr is accepted", me, authz("BeArEr "+live)).succeeds(200),
		// Two Authorization headers (RFC 9110 allows one): the adapters
		// read both, joined with a comma, which is no token; refusing the
		// request as malformed would do too.
		get("token/two Authorization headers", me, bearerH("garbage"), bearerH(live)).wants(core.ErrInvalidToken, core.ErrInvalidRequest),
		get("token/alg none unsigned", me, bearerH(fx.unsigned())).wants(core.ErrInvalidToken),
		get("token/alg none with a valid HS256 MAC", me, bearerH(fx.resign(func(h map[string]any) { h["alg"] = "none" }, nil))).wants(core.ErrInvalidToken),
		get("token/HS512 label with a valid HS256 MAC", me, bearerH(fx.resign(func(h map[string]any) { h["alg"] = "HS512" }, nil))).wants(core.ErrInvalidToken),
		get("token/typ JWT with a valid MAC", me, bearerH(fx.resign(func(h map[string]any) { h["typ"] = "JWT" }, nil))).wants(core.ErrInvalidToken),
		get("token/no typ with a valid MAC", me, bearerH(fx.resign(func(h map[string]any) { delete(h, "typ") }, nil))).wants(core.ErrInvalidToken),
		get("token/unknown kid with a valid MAC", me, bearerH(fx.resign(func(h map[string]any) { h["kid"] = "not-a-key" }, nil))).wants(core.ErrInvalidToken),
		get("token/sid of another user with a valid MAC", me, bearerH(fx.resign(nil, func(c map[string]any) { c["sid"] = fx.otherSID }))).wants(core.ErrInvalidToken),
		get("token/no jti with a valid MAC", me, bearerH(fx.resign(nil, func(c map[string]any) { delete(c, "jti") }))).wants(core.ErrInvalidToken),
		get("token/wrong aud with a valid MAC", me, bearerH(fx.resign(nil, func(c map[string]any) { c["aud"] = []string{"someone-else"} }))).wants(core.ErrInvalidToken),
		get("token/JSON serialization", me, bearerH(fx.jsonSerialized())).wants(core.ErrInvalidToken),
		get("token/space inside", me, bearerH(live[:20]+" "+live[20:])).wants(core.ErrInvalidToken),
		get("token/tab inside", me, bearerH(live[:20]+"\t"+live[20:])).wants(core.ErrInvalidToken),
		get("token/over 8 KiB", me, bearerH(huge)).wants(core.ErrInvalidToken),
		get("token/unicode inside", me, bearerH(live[:20]+"é✓"+live[20:])).wants(core.ErrInvalidToken),
		get("token/refresh token as access token", me, bearerH(liveRT)).wants(core.ErrInvalidToken),
		get("token/truncated by one character", me, bearerH(live[:len(live)-1])).wants(core.ErrInvalidToken),
		get("token/truncated before the signature", me, bearerH(live[:strings.LastIndexByte(live, '.')+1])).wants(core.ErrInvalidToken),
		get("token/signature segment dropped", me, bearerH(live[:strings.LastIndexByte(live, '.')])).wants(core.ErrInvalidToken),
		// The signature's base64url has spare bits in its last character:
		// another spelling of the same MAC is a malformed token (RFC 7515
		// base64url is the canonical RFC 4648 §5 encoding).
		get("token/signature with non-zero spare bits", me, bearerH(reencodeLast(live))).wants(core.ErrInvalidToken),
		post("token/garbage bearer on logout-all", "/auth/logout-all", "", nil, bearerH("garbage")).wants(core.ErrInvalidToken),
		post("token/garbage bearer on logout", "/auth/logout", "", nil, bearerH("garbage")).wants(core.ErrInvalidToken),
		{name: "token/garbage bearer on DELETE of the live session", method: "DELETE", path: "/auth/sessions/" + fx.liveSID, headers: [][2]string{bearerH("garbage")}, want: []error{core.ErrInvalidToken}},

		// Refresh tokens.
		post("refresh/access token as refresh token", "/auth/refresh", ctJSON, refreshBodyOf(live)).wants(core.ErrInvalidRefreshToken),
		post("refresh/forged token for a live session", "/auth/refresh", ctJSON, refreshBodyOf(fx.forgedMain)).wants(core.ErrInvalidRefreshToken),
		// A stranger who knows a session id cannot end that session.
		post("refresh/forged token for a live session on logout", "/auth/logout", ctJSON, refreshBodyOf(fx.forgedMain)).wants(core.ErrInvalidRefreshToken),
		post("refresh/forged token for another user's live session on logout", "/auth/logout", ctJSON, refreshBodyOf(fx.forgedOther)).wants(core.ErrInvalidRefreshToken),
		post("refresh/truncated by one character", "/auth/refresh", ctJSON, refreshBodyOf(liveRT[:len(liveRT)-1])).wants(core.ErrInvalidRefreshToken),
		post("refresh/truncated by half", "/auth/refresh", ctJSON, refreshBodyOf(liveRT[:len(liveRT)/2])).wants(core.ErrInvalidRefreshToken),
		post("refresh/over 8 KiB", "/auth/refresh", ctJSON, refreshBodyOf(liveRT+strings.Repeat("A", core.MaxTokenBytes))).wants(core.ErrInvalidRefreshToken),
		post("refresh/padded standard base64", "/auth/refresh", ctJSON, refreshBodyOf(stdEnc)).wants(core.ErrInvalidRefreshToken),
		// Garbled spellings of a genuine token: a garbled token is refused
		// without touching the session.
		post("refresh/newline inside", "/auth/refresh", ctJSON, refreshBodyOf(nl[:40]+"\n"+nl[40:])).wants(core.ErrInvalidRefreshToken),
		post("refresh/CRLF inside on logout", "/auth/logout", ctJSON, refreshBodyOf(crlf[:40]+"\r\n"+crlf[40:])).wants(core.ErrInvalidRefreshToken),
		post("refresh/non-zero spare bits", "/auth/refresh", ctJSON, refreshBodyOf(reencodeLast(slack))).wants(core.ErrInvalidRefreshToken),
		post("refresh/empty string", "/auth/refresh", ctJSON, []byte(`{"refresh_token":""}`)).wants(core.ErrInvalidRequest),

		// Content types, on /auth/refresh with a well-formed body: refused,
		// 400; accepted, the forged token's 401.
		post("content-type/missing", "/auth/refresh", "", refreshBodyOf("forged")).wants(core.ErrInvalidRequest),
		post("content-type/text/plain", "/auth/refresh", "text/plain", refreshBodyOf("forged")).wants(core.ErrInvalidRequest),
		post("content-type/multipart/form-data", "/auth/refresh", "multipart/form-data; boundary=XyZ",
			[]byte("--XyZ\r\nContent-Disposition: form-data; name=\"refresh_token\"\r\n\r\nforged\r\n--XyZ--\r\n")).wants(core.ErrInvalidRequest),
		post("content-type/form-urlencoded on register", "/auth/register", "application/x-www-form-urlencoded",
			[]byte("email=form%40example.com&password=correct+horse+battery")).wants(core.ErrInvalidRequest).probes(cred{"form@example.com", pw}),
		post("content-type/application/jsonx", "/auth/refresh", "application/jsonx", refreshBodyOf("forged")).wants(core.ErrInvalidRequest),
		post("content-type/application/json-seq", "/auth/refresh", "application/json-seq", refreshBodyOf("forged")).wants(core.ErrInvalidRequest),
		post("content-type/charset=utf-8 is accepted", "/auth/refresh", "application/json; charset=utf-8", refreshBodyOf("forged")).wants(core.ErrInvalidRefreshToken),
		post("content-type/uppercase APPLICATION/JSON is accepted", "/auth/refresh", "APPLICATION/JSON", refreshBodyOf("forged")).wants(core.ErrInvalidRefreshToken),

		// Login and logout with well-formed credentials in a malformed
		// request: refused, and no session opened.
		post("login/malformed JSON", "/auth/login", ctJSON, []byte(`{"email":`)).wants(core.ErrInvalidRequest),
		post("login/wrong types", "/auth/login", ctJSON, []byte(`{"email":1,"password":true}`)).wants(core.ErrInvalidRequest),
		post("login/trailing data", "/auth/login", ctJSON, append(credBody(badMain, password), " {}"...)).wants(core.ErrInvalidRequest),
		post("login/text/plain", "/auth/login", "text/plain", credBody(badMain, password)).wants(core.ErrInvalidRequest),
		post("login/form", "/auth/login", "application/x-www-form-urlencoded", []byte("email="+badMain+"&password=x")).wants(core.ErrInvalidRequest),
		post("login/no content type", "/auth/login", "", credBody(badMain, password)).wants(core.ErrInvalidRequest),
		post("register/empty body", "/auth/register", ctJSON, []byte{}).wants(core.ErrInvalidRequest),
		post("logout/malformed", "/auth/logout", ctJSON, []byte(`{"refresh_token"`)).wants(core.ErrInvalidRequest),

		// Bodies.
		post("body/malformed JSON", "/auth/refresh", ctJSON, []byte(`{"refresh_token":`)).wants(core.ErrInvalidRequest),
		post("body/trailing garbage", "/auth/refresh", ctJSON, []byte(`{"refresh_token":"forged"}x`)).wants(core.ErrInvalidRequest),
		post("body/two objects", "/auth/refresh", ctJSON, []byte(`{"refresh_token":"forged"}{"refresh_token":"forged"}`)).wants(core.ErrInvalidRequest),
		post("body/array", "/auth/login", ctJSON, []byte(`[{"email":"`+badMain+`","password":"`+pw+`"}]`)).wants(core.ErrInvalidRequest),
		// null is JSON but not an object: on /logout, whose body is
		// optional, it must not pass for "no body".
		post("body/null on logout", "/auth/logout", ctJSON, []byte(`null`)).wants(core.ErrInvalidRequest),
		post("body/null on login", "/auth/login", ctJSON, []byte(`null`)).wants(core.ErrInvalidRequest),
		post("body/string", "/auth/refresh", ctJSON, []byte(`"forged"`)).wants(core.ErrInvalidRequest),
		post("body/number", "/auth/login", ctJSON, []byte(`42`)).wants(core.ErrInvalidRequest),
		post("body/refresh_token a number", "/auth/refresh", ctJSON, []byte(`{"refresh_token":42}`)).wants(core.ErrInvalidRequest),
		post("body/refresh_token an array on logout", "/auth/logout", ctJSON, []byte(`{"refresh_token":["forged"]}`)).wants(core.ErrInvalidRequest),
		post("body/email an object", "/auth/login", ctJSON, []byte(`{"email":{"a":1},"password":"`+pw+`"}`)).wants(core.ErrInvalidRequest),
		post("body/null fields", "/auth/login", ctJSON, []byte(`{"email":null,"password":null}`)).wants(core.ErrInvalidRequest),
		// Duplicate keys: whether refused or read last-wins, the first
		// value must not be used.
		post("body/duplicate keys", "/auth/register", ctJSON, []byte(`{"email":"dupfirst@example.com","email":"not-an-email","password":"`+pw+`"}`)).
			wants(core.ErrInvalidRequest).probes(cred{"dupfirst@example.com", pw}),
		post("body/unknown fields are ignored", "/auth/refresh", ctJSON, []byte(`{"refresh_token":"forged","extra":{"a":[1,2,{"b":null}]},"n":1e999999}`)).wants(core.ErrInvalidRefreshToken),
		post("body/UTF-8 BOM", "/auth/refresh", ctJSON, append([]byte("\xEF\xBB\xBF"), refreshBodyOf("forged")...)).wants(core.ErrInvalidRequest),
		// JSON text is UTF-8 (RFC 8259): invalid bytes must not be turned
		// into U+FFFD and make an account.
		post("body/invalid UTF-8 in the email", "/auth/register", ctJSON, []byte("{\"email\":\"inv\xff\xfealid@example.com\",\"password\":\""+pw+"\"}")).
			wants(core.ErrInvalidRequest).probes(cred{"inv\ufffd\ufffdalid@example.com", pw}, cred{"inv\ufffdalid@example.com", pw}),
		post("body/raw NUL byte", "/auth/register", ctJSON, []byte("{\"email\":\"nul\x00raw@example.com\",\"password\":\""+pw+"\"}")).
			wants(core.ErrInvalidRequest).probes(cred{"nul\x00raw@example.com", pw}),
		post("body/escaped NUL in the email", "/auth/register", ctJSON, []byte(`{"email":"nul\u0000esc@example.com","password":"`+pw+`"}`)).
			wants(core.ErrInvalidRequest).probes(cred{"nul\x00esc@example.com", pw}),
		post("body/deeply nested unknown field under 16 KiB", "/auth/refresh", ctJSON, []byte(`{"refresh_token":"forged","x":`+deepArr(7000)+`}`)).wants(core.ErrInvalidRefreshToken),
		post("body/deeply nested known field", "/auth/refresh", ctJSON, []byte(`{"refresh_token":`+deepArr(5000)+`}`)).wants(core.ErrInvalidRequest),
		post("body/nesting past the decoder's depth", "/auth/refresh", ctJSON, []byte(`{"x":`+strings.Repeat("[", 12000))).wants(core.ErrInvalidRequest),
		post("body/empty on login", "/auth/login", ctJSON, nil).wants(core.ErrInvalidRequest),
		post("body/whitespace only on login", "/auth/login", ctJSON, []byte(" \r\n\t ")).wants(core.ErrInvalidRequest),

		// Sizes (the limit is 16 KiB).
		post("size/exactly 16 KiB is read", "/auth/refresh", ctJSON, padded(core.DefaultBodyLimit)).wants(core.ErrInvalidRefreshToken),
		post("size/16 KiB + 1", "/auth/refresh", ctJSON, padded(core.DefaultBodyLimit+1)).wants(core.ErrPayloadTooLarge),
		post("size/declared Content-Length of 64 KiB", "/auth/login", ctJSON, padded(64<<10)).wants(core.ErrPayloadTooLarge),
		{name: "size/chunked body over 16 KiB", method: "POST", path: "/auth/refresh", ct: ctJSON, body: padded(17 << 10), chunked: true, want: []error{core.ErrPayloadTooLarge}},
		{name: "size/chunked body under 16 KiB is read", method: "POST", path: "/auth/refresh", ct: ctJSON, body: padded(1 << 10), chunked: true, want: []error{core.ErrInvalidRefreshToken}},
		post("size/over 16 KiB on logout with the live bearer", "/auth/logout", ctJSON, padded(core.DefaultBodyLimit+1), bearerH(live)).wants(core.ErrPayloadTooLarge),

		// Unicode and account fields.
		post("unicode/unknown unicode email", "/auth/login", ctJSON, credBody("ÜNÏCØDE@Exämple.com", badPass)).wants(core.ErrInvalidCredentials),
		// Zero-width and bidirectional controls would make an address that
		// looks like another one.
		post("unicode/zero-width space in the email", "/auth/register", ctJSON, credBody("catalog\u200b@example.com", pw)).
			wants(core.ErrInvalidRequest).probes(cred{"catalog\u200b@example.com", pw}),
		post("unicode/right-to-left override in the email", "/auth/register", ctJSON, credBody("cat\u202ealog@example.com", pw)).
			wants(core.ErrInvalidRequest).probes(cred{"cat\u202ealog@example.com", pw}),
		post("unicode/fullwidth at sign", "/auth/register", ctJSON, credBody("fullwidth\uff20example.com", pw)).
			wants(core.ErrInvalidRequest).probes(cred{"fullwidth\uff20example.com", pw}),
		post("unicode/case and whitespace normalize to the known email", "/auth/register", ctJSON, credBody(" \tCATALOG@Example.COM \n", "another password")).
			wants(core.ErrUserExists),
		post("unicode/email of 255 bytes", "/auth/register", ctJSON, credBody(longEmail, pw)).
			wants(core.ErrInvalidRequest).probes(cred{longEmail, pw}),
		post("unicode/password of 1025 bytes on register", "/auth/register", ctJSON, credBody("pw1025@example.com", strings.Repeat("p", 1025))).
			wants(core.ErrInvalidRequest).probes(cred{"pw1025@example.com", strings.Repeat("p", 1025)}),
		post("unicode/password of 1025 bytes on login", "/auth/login", ctJSON, credBody(badMain, strings.Repeat("p", 1025))).wants(core.ErrInvalidRequest),
		post("unicode/password of 7 bytes", "/auth/register", ctJSON, credBody("pw7@example.com", "1234567")).
			wants(core.ErrInvalidRequest).probes(cred{"pw7@example.com", "1234567"}),
		// Lengths are in bytes: 513 "é" are 1026 bytes, 3 "é" are 6.
		post("unicode/multibyte password over 1024 bytes", "/auth/register", ctJSON, credBody("mblong@example.com", strings.Repeat("é", 513))).
			wants(core.ErrInvalidRequest).probes(cred{"mblong@example.com", strings.Repeat("é", 513)}),
		post("unicode/multibyte password under 8 bytes", "/auth/register", ctJSON, credBody("mbshort@example.com", "ééé")).
			wants(core.ErrInvalidRequest).probes(cred{"mbshort@example.com", "ééé"}),
		// 3 "€" are 9 bytes: a valid password, although 3 characters.
		{name: "unicode/multibyte password of 9 bytes is accepted", method: "POST", path: "/auth/register", ct: ctJSON,
			body: credBody("mbok@example.com", "€€€"), ok: 201, creates: &cred{"mbok@example.com", "€€€"}},

		// Paths: DELETE /auth/sessions/:id with the live bearer.
		{name: "path/garbage id", method: "DELETE", path: "/auth/sessions/garbage", headers: [][2]string{bearerH(live)}, want: []error{core.ErrNotFound}},
		{name: "path/percent-encoded bytes", method: "DELETE", path: "/auth/sessions/a%00b%FFc%20d", headers: [][2]string{bearerH(live)}, want: []error{core.ErrNotFound}},
		{name: "path/percent-encoded id of another user's session", method: "DELETE", path: "/auth/sessions/" + pctEncode(fx.otherSID), headers: [][2]string{bearerH(live)}, want: []error{core.ErrNotFound}},
		{name: "path/id of another user's session", method: "DELETE", path: "/auth/sessions/" + fx.otherSID, headers: [][2]string{bearerH(live)}, want: []error{core.ErrNotFound}},
		{name: "path/very long id", method: "DELETE", path: "/auth/sessions/" + strings.Repeat("x", 4000) + ".AAAAAAAAAAAAAAAAAAAAAA", headers: [][2]string{bearerH(live)}, want: []error{core.ErrNotFound}},
		{name: "path/unicode id", method: "DELETE", path: "/auth/sessions/" + url.PathEscape("séssion✓."+strings.Repeat("A", 22)), headers: [][2]string{bearerH(live)}, want: []error{core.ErrNotFound}},
		{name: "path/live session id without a token", method: "DELETE", path: "/auth/sessions/" + fx.liveSID, want: []error{core.ErrMissingToken}},
	}, fx.lifecycleCases()...)
}
