package core_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/core/memstore"
)

func TestNewRefusesWeakOrMissingSettings(t *testing.T) {
	key := hmacKey(t)
	pub, _ := core.GenerateKey("EdDSA")
	verifyOnly, _ := core.ParseJWKS(must(core.New(core.Config{Store: memstore.New(), AccessKeys: []core.Key{pub}, RefreshSecret: refreshSecret})).JWKS())
	ok := core.Config{Store: memstore.New(), AccessKeys: []core.Key{key}, RefreshSecret: refreshSecret}
	cases := map[string]struct {
		mod  func(*core.Config)
		want string
	}{
		"no store":                 {func(c *core.Config) { c.Store = nil }, "Config.Store is required"},
		"no keys":                  {func(c *core.Config) { c.AccessKeys = nil }, "AccessKeys is empty"},
		"zero key":                 {func(c *core.Config) { c.AccessKeys = []core.Key{{}} }, "must be able to sign"},
		"verify-only first key":    {func(c *core.Config) { c.AccessKeys = verifyOnly }, "must be able to sign"},
		"duplicate kid":            {func(c *core.Config) { c.AccessKeys = []core.Key{key, key} }, "two keys with id"},
		"no refresh secret":        {func(c *core.Config) { c.RefreshSecret = nil }, "RefreshSecret is 0 bytes"},
		"short refresh secret":     {func(c *core.Config) { c.RefreshSecret = make([]byte, 31) }, "at least 32"},
		"refresh secret is access": {func(c *core.Config) { c.RefreshSecret = accessSecret }, "must differ"},
		"short previous secret":    {func(c *core.Config) { c.PreviousRefreshSecrets = [][]byte{[]byte("x")} }, "PreviousRefreshSecrets[0]"},
		"idle beyond absolute":     {func(c *core.Config) { c.IdleTTL = 48 * time.Hour; c.AbsoluteTTL = time.Hour }, "exceeds Config.AbsoluteTTL"},
		"negative lifetime":        {func(c *core.Config) { c.AccessTTL = -time.Second }, "AccessTTL must not be negative"},
		"huge leeway":              {func(c *core.Config) { c.Leeway = time.Hour }, "Leeway"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := ok
			tc.mod(&cfg)
			a, err := core.New(cfg)
			if err == nil || a != nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, %v; want an error containing %q", a, err, tc.want)
			}
		})
	}
	if _, err := core.New(ok); err != nil {
		t.Fatalf("control: %v", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestErrorTable: each sentinel answers its row of the error table
// (docs/protocol.md §7), and ErrorTable lists exactly these rows; derived
// and wrapped errors answer the same; anything else is a 500 that reveals
// nothing.
func TestErrorTable(t *testing.T) {
	rows := []struct {
		err       *core.Error
		status    int
		code      string
		challenge string
	}{
		{core.ErrInvalidRequest, 400, "invalid_request", ""},
		{core.ErrMissingToken, 401, "missing_token", `Bearer`},
		{core.ErrInvalidToken, 401, "invalid_token", `Bearer error="invalid_token"`},
		{core.ErrTokenExpired, 401, "token_expired", `Bearer error="invalid_token"`},
		{core.ErrTokenRevoked, 401, "token_revoked", `Bearer error="invalid_token"`},
		{core.ErrInvalidRefreshToken, 401, "invalid_refresh_token", `Bearer`},
		{core.ErrRefreshTokenReused, 401, "refresh_token_reused", `Bearer`},
		{core.ErrRefreshConflict, 401, "refresh_conflict", `Bearer`},
		{core.ErrInvalidCredentials, 401, "invalid_credentials", `Bearer`},
		{core.ErrForbidden, 403, "forbidden", `Bearer error="insufficient_scope"`},
		{core.ErrCSRF, 403, "csrf_failed", ""},
		{core.ErrNotFound, 404, "not_found", ""},
		{core.ErrUserExists, 409, "user_exists", ""},
		{core.ErrPayloadTooLarge, 413, "payload_too_large", ""},
		{core.ErrInvalidGrant, 400, "invalid_grant", ""},
		{core.ErrAccountDisabled, 403, "account_disabled", ""},
		{core.ErrEmailNotVerified, 403, "email_not_verified", ""},
		{core.ErrRateLimited, 429, "rate_limited", ""},
		{core.ErrStoreUnavailable, 503, "store_unavailable", ""},
		{core.ErrServerBusy, 503, "server_busy", ""},
		{core.ErrUnsupportedGrantType, 400, "unsupported_grant_type", ""},
		{core.ErrInternal, 500, "server_error", ""},
	}
	table := core.ErrorTable()
	if len(table) != len(rows) {
		t.Errorf("ErrorTable has %d rows, this test %d", len(table), len(rows))
	}
	for _, row := range rows {
		if !slices.Contains(table, row.err) {
			t.Errorf("ErrorTable lacks %s", row.code)
		}
	}
	for _, row := range rows {
		for _, err := range []error{row.err, fmt.Errorf("context: %w", row.err), row.err.WithDescription("custom")} {
			r := core.ErrorResponse(err)
			if r.Status != row.status {
				t.Errorf("%v: status %d, want %d", err, r.Status, row.status)
			}
			var body map[string]string
			if json.Unmarshal(r.Body, &body) != nil || body["error"] != row.code || body["error_description"] == "" || len(body) != 2 {
				t.Errorf("%v: body %s", err, r.Body)
			}
			if got := header(r, "WWW-Authenticate"); got != row.challenge {
				t.Errorf("%v: WWW-Authenticate %q, want %q", err, got, row.challenge)
			}
			if header(r, "Content-Type") != "application/json" || header(r, "Cache-Control") != "no-store" {
				t.Errorf("%v: headers %v", err, r.Header)
			}
			if !errors.Is(err, row.err) {
				t.Errorf("%v does not match its sentinel", err)
			}
		}
	}
	if errors.Is(core.ErrInvalidToken, core.ErrTokenExpired) {
		t.Fatal("distinct sentinels match each other")
	}
	r := core.ErrorResponse(core.ErrRateLimited.WithRetryAfter(1500 * time.Millisecond))
	if header(r, "Retry-After") != "2" || r.Status != 429 {
		t.Fatalf("Retry-After: %v", r.Header)
	}
	r = core.ErrorResponse(errors.New("database password is hunter2"))
	if r.Status != 500 || strings.Contains(string(r.Body), "hunter2") {
		t.Fatalf("unknown error: %d %s", r.Status, r.Body)
	}
}

func header(r *core.Response, key string) string {
	for _, h := range r.Header {
		if h.Key == key {
			return h.Value
		}
	}
	return ""
}

func TestRules(t *testing.T) {
	a := newAuth(t, func(c *core.Config) {
		c.Permissions = map[string][]string{"editor": {"posts:write"}, "root": {"*"}}
	})
	claims := func(roles ...string) *core.Claims {
		c, err := a.Verify(context.Background(), issue(t, a, roles...).AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	user, editor, admin, root := claims("user"), claims("user", "editor"), claims("admin"), claims("root")
	cases := []struct {
		name string
		rule core.Rule
		c    *core.Claims
		want error
	}{
		{"any-of allows one", core.AnyRole("editor", "admin"), editor, nil},
		{"any-of refuses none", core.AnyRole("editor", "admin"), user, core.ErrForbidden},
		{"all-of allows all", core.AllRoles("user", "editor"), editor, nil},
		{"all-of refuses some", core.AllRoles("user", "editor"), user, core.ErrForbidden},
		{"admin allows admin", core.Admin(), admin, nil},
		{"admin refuses editor", core.Admin(), editor, core.ErrForbidden},
		{"permission by role", core.Permission("posts:write"), editor, nil},
		{"permission refused", core.Permission("posts:write"), user, core.ErrForbidden},
		{"permission wildcard", core.Permission("anything"), root, nil},
		{"admin has no implicit permission", core.Permission("posts:write"), admin, core.ErrForbidden},
		{"no claims", core.AnyRole("user"), nil, core.ErrMissingToken},
		{"empty any-of refuses", core.AnyRole(), user, core.ErrForbidden},
	}
	for _, tc := range cases {
		if err := tc.rule(tc.c); !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// Every refusal has the same body: it names neither role nor route.
	if r := core.ErrorResponse(core.Admin()(user)); string(r.Body) != string(core.ErrorResponse(core.Permission("x")(user)).Body) ||
		strings.Contains(string(r.Body), "admin") {
		t.Fatalf("403 body %s", r.Body)
	}
}

func TestContext(t *testing.T) {
	if _, ok := core.FromContext(context.Background()); ok {
		t.Fatal("claims in an empty context")
	}
	c := &core.Claims{Subject: "u"}
	got, ok := core.FromContext(core.NewContext(context.Background(), c))
	if !ok || got != c {
		t.Fatal("claims lost in the context")
	}
}

func TestPasswordHasher(t *testing.T) {
	h := &core.PasswordHasher{Params: core.PasswordParams{Time: 1, MemoryKiB: 64, Threads: 1}}
	enc, err := h.Hash("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$") || strings.Contains(enc, "horse") {
		t.Fatalf("hash %q", enc)
	}
	if again, _ := h.Hash("correct horse battery staple"); again == enc {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	if !h.Verify(enc, "correct horse battery staple") || h.Verify(enc, "correct horse battery stapl") {
		t.Fatal("Verify")
	}
	// Hashes made with other parameters still verify.
	if !(&core.PasswordHasher{}).Verify(enc, "correct horse battery staple") {
		t.Fatal("a hash with other parameters does not verify")
	}
	for _, bad := range []string{"", "plain", "$argon2i$v=19$m=64,t=1,p=1$c2FsdA$aGFzaA", "$argon2id$v=18$m=64,t=1,p=1$c2FsdA$aGFzaA",
		"$argon2id$v=19$m=64,t=0,p=1$c2FsdA$aGFzaA", "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdA$aGFzaA", "$argon2id$v=19$m=64,t=1,p=1$!!$aGFzaA"} {
		if h.Verify(bad, "x") {
			t.Fatalf("Verify accepted %q", bad)
		}
	}
	if h.VerifyMissing("x") {
		t.Fatal("VerifyMissing reported true")
	}
}

// TestPasswordHasherOnVerify: the hook sees the parameters of every hash
// computed, the dummy of VerifyMissing included, and none for a malformed one.
func TestPasswordHasherOnVerify(t *testing.T) {
	var seen []core.PasswordParams
	p := core.PasswordParams{Time: 2, MemoryKiB: 72, Threads: 2}
	h := &core.PasswordHasher{Params: p, OnVerify: func(p core.PasswordParams) { seen = append(seen, p) }}
	enc, err := h.Hash("password")
	if err != nil || len(seen) != 0 {
		t.Fatalf("Hash: %v, hook calls %v", err, seen)
	}
	h.Verify(enc, "password")
	h.Verify("$argon2id$v=19$m=64,t=1,p=1$!!$aGFzaA", "password")
	h.VerifyMissing("password")
	h.Verify("$argon2id$v=19$m=64,t=1,p=1$c2FsdA$aGFzaA", "password")
	want := []core.PasswordParams{p, p, {Time: 1, MemoryKiB: 64, Threads: 1}}
	if !slices.Equal(seen, want) {
		t.Fatalf("OnVerify saw %v, want %v", seen, want)
	}
}

func TestEmailAndPasswordChecks(t *testing.T) {
	for _, e := range []string{"a@b.co", "first.last+tag@example.com", "ü@exämple.de"} {
		if err := core.CheckEmail(e); err != nil {
			t.Errorf("CheckEmail(%q): %v", e, err)
		}
	}
	for _, e := range []string{"", "plain", "@example.com", "a@", "a@b", "a b@example.com", "a@b@c.com", "a\x00@b.com", strings.Repeat("a", 250) + "@b.com", "\xff@b.com"} {
		if err := core.CheckEmail(e); !errors.Is(err, core.ErrInvalidRequest) {
			t.Errorf("CheckEmail(%q) accepted", e)
		}
	}
	if core.NormalizeEmail("  Alice@Example.COM\t") != "alice@example.com" {
		t.Error("NormalizeEmail")
	}
	for n, ok := range map[int]bool{7: false, 8: true, 1024: true, 1025: false} {
		if err := core.CheckPassword(strings.Repeat("p", n)); (err == nil) != ok {
			t.Errorf("CheckPassword(%d bytes): %v", n, err)
		}
	}
}

func TestValidUserID(t *testing.T) {
	for id, ok := range map[string]bool{"u1": true, "a.b@c": true, "": false, "has space": false, "br{ace": false, "br}ace": false, strings.Repeat("x", 129): false, "tab\t": false, "é": false} {
		if core.ValidUserID(id) != ok {
			t.Errorf("ValidUserID(%q) = %v", id, !ok)
		}
	}
	if _, err := newAuth(t, nil).IssueSession(context.Background(), core.User{ID: "bad id"}, core.Client{}); err == nil {
		t.Fatal("IssueSession accepted an invalid user id")
	}
	if _, err := newAuth(t, nil).IssueSession(context.Background(), core.User{ID: "u", Claims: map[string]any{"sub": "x"}}, core.Client{}); err == nil {
		t.Fatal("IssueSession accepted a reserved claim")
	}
}

// TestRefreshSecretRotation: tokens minted under the previous refresh secret
// keep working while it is listed in PreviousRefreshSecrets.
func TestRefreshSecretRotation(t *testing.T) {
	store := memstore.New()
	old := newAuth(t, func(c *core.Config) { c.Store = store })
	p := issue(t, old)
	next := []byte("the next refresh secret, 32 bytes or more")
	rotated := newAuth(t, func(c *core.Config) {
		c.Store = store
		c.RefreshSecret = next
		c.PreviousRefreshSecrets = [][]byte{refreshSecret}
	})
	p2, err := rotated.Refresh(context.Background(), p.RefreshToken)
	if err != nil {
		t.Fatalf("refresh with the previous secret: %v", err)
	}
	dropped := newAuth(t, func(c *core.Config) { c.Store = store; c.RefreshSecret = next })
	if _, err := dropped.Refresh(context.Background(), p2.RefreshToken); err != nil {
		t.Fatalf("a token minted under the new secret: %v", err)
	}
	if _, err := old.Refresh(context.Background(), p2.RefreshToken); !errors.Is(err, core.ErrInvalidRefreshToken) {
		t.Fatalf("the old secret accepts the new secret's token: %v", err)
	}
}

func TestReadBody(t *testing.T) {
	for _, tc := range []struct {
		body     string
		declared int64
		tooLarge bool
	}{
		{"", 0, false}, {"hello", 5, false}, {"hello", -1, false}, {"hello!", -1, true}, {"hello", 99, true}, {strings.Repeat("x", 5000), -1, true},
	} {
		b, tooLarge := core.ReadBody(strings.NewReader(tc.body), tc.declared, 5)
		if tooLarge != tc.tooLarge || (!tooLarge && string(b) != tc.body) {
			t.Errorf("ReadBody(%q, %d): %q, %v", tc.body, tc.declared, b, tooLarge)
		}
	}
	if b, tooLarge := core.ReadBody(nil, 10, 5); b != nil || tooLarge {
		t.Error("nil body")
	}
}

// TestIssuerAndAudience: iss and aud are configurable, and a token issued for
// another issuer or audience is refused.
func TestIssuerAndAudience(t *testing.T) {
	store := memstore.New()
	mk := func(iss, aud string) *core.Auth {
		return newAuth(t, func(c *core.Config) { c.Store = store; c.Issuer = iss; c.Audience = aud })
	}
	a := mk("https://auth.example.com", "orders-api")
	p := issue(t, a)
	_, claims := parts(t, p.AccessToken)
	if claims["iss"] != "https://auth.example.com" || fmt.Sprint(claims["aud"]) != "[orders-api]" {
		t.Fatalf("claims %v", claims)
	}
	if _, err := a.Verify(context.Background(), p.AccessToken); err != nil {
		t.Fatal(err)
	}
	for _, other := range []*core.Auth{mk("https://auth.example.com", "billing-api"), mk("https://other.example.com", "orders-api")} {
		if _, err := other.Verify(context.Background(), p.AccessToken); !errors.Is(err, core.ErrInvalidToken) {
			t.Fatalf("another issuer or audience accepted the token: %v", err)
		}
	}
}
