package adaptertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authenik8/authenik8-go/core"
)

// Run checks the adapter behind h against the auth API's contract. Each
// subtest gets a fresh store and server.
func Run(t *testing.T, h Harness) {
	if h.Stores == nil || h.Serve == nil {
		t.Fatal("adaptertest: Harness.Stores and Harness.Serve are required")
	}
	tests := []struct {
		name string
		fn   func(*testing.T, Harness)
	}{
		{"Register", testRegister},
		{"Login", testLogin},
		{"LoginDoesNotRevealEmails", testLoginNoEnumeration},
		{"Me", testMe},
		{"BearerTokenErrors", testBearerErrors},
		{"Refresh", testRefresh},
		{"RefreshReplay", testRefreshReplay},
		{"Logout", testLogout},
		{"LogoutWithRefreshToken", testLogoutRefreshToken},
		{"LogoutWithExpiredBearer", testLogoutExpiredBearer},
		{"LogoutAll", testLogoutAll},
		{"Sessions", testSessions},
		{"DeleteSession", testDeleteSession},
		{"JWKS", testJWKS},
		{"RBAC", testRBAC},
		{"RequireWithoutAuthenticateFailsClosed", testUnguarded},
		{"Optional", testOptional},
		{"TokenLookup", testTokenLookup},
		{"BodyLimit", testBodyLimit},
		{"BadInputCatalog", testBadInputCatalog},
		{"StoreUnavailable", testStoreUnavailable},
		{"Flow", testFlow},
		{"CookieMode", testCookieMode},
		{"CookieTokenCSRF", testCookieTokenCSRF},
		{"OriginScheme", testOriginScheme},
		{"RateLimits", testRateLimits},
		{"ClientIP", testClientIP},
		{"Skipper", testSkipper},
		{"SuccessHandler", testSuccessHandler},
		{"ErrorHandler", testErrorHandler},
		{"WithoutRoutes", testWithoutRoutes},
		{"ChangePassword", testChangePassword},
		{"ForgotAndResetPassword", testForgotAndReset},
		{"EmailVerification", testEmailVerification},
		{"LogoutOthers", testLogoutOthers},
		{"AdminUserRoutes", testAdminUserRoutes},
		{"LifecycleStoreUnavailable", testLifecycleStoreUnavailable},
		{"LifecycleCSRF", testLifecycleCSRF},
		{"OAuthSignIn", testOAuthSignIn},
		{"OAuthRefusals", testOAuthRefusals},
		{"TokenEndpoint", testTokenEndpoint},
		{"VerifyOnly", testVerifyOnly},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, h) })
	}
}

func testRegister(t *testing.T, h Harness) {
	e := newEnv(t, h, ServerConfig{}, nil)
	r := e.do("POST", "/auth/register", jsonBody(map[string]string{"email": "  New.User@Example.COM ", "password": password}))
	wantStatus(t, "register", r, 201)
	wantHeaders(t, "register", r, &core.Response{Header: []core.Header{{Key: "Content-Type", Value: "application/json"}, {Key: "Cache-Control", Value: "no-store"}}})
	m := r.object(t)
	if id, _ := m["id"].(string); id == "" || m["email"] != "new.user@example.com" || fmt.Sprint(m["roles"]) != "[user]" || len(m) != 3 {
		t.Fatalf("register body %s", r.Body)
	}
	wantError(t, "register again", e.do("POST", "/auth/register", jsonBody(map[string]string{"email": "new.user@example.com", "password": "another password"})), core.ErrUserExists)
	for name, b := range map[string]map[string]string{
		"invalid email":  {"email": "not-an-email", "password": password},
		"short password": {"email": "short@example.com", "password": "1234567"},
		"long password":  {"email": "long@example.com", "password": strings.Repeat("p", 1025)},
		"no email":       {"password": password},
		"no password":    {"email": "nopw@example.com"},
	} {
		r := e.do("POST", "/auth/register", jsonBody(b))
		wantStatus(t, "register with "+name, r, 400)
		if r.object(t)["error"] != "invalid_request" {
			t.Fatalf("register with %s: %s", name, r.Body)
		}
	}
	// Nothing was created by the refused requests.
	wantError(t, "login of a refused registration", e.do("POST", "/auth/login", jsonBody(map[string]string{"email": "short@example.com", "password": "1234567"})), core.ErrInvalidCredentials)
	e.login("new.user@example.com")
}

func testLogin(t *testing.T, h Harness) {
	e := newEnv(t, h, ServerConfig{}, nil)
	e.register("ada@example.com")
	r := e.do("POST", "/auth/login", jsonBody(map[string]string{"email": "ADA@example.com", "password": password}))
	wantStatus(t, "login", r, 200)
	wantHeaders(t, "login", r, &core.Response{Header: []core.Header{{Key: "Content-Type", Value: "application/json"}, {Key: "Cache-Control", Value: "no-store"}}})
	m := r.object(t)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if fmt.Sprint(keys) != "[access_token expires_in refresh_expires_in refresh_token token_type]" {
		t.Fatalf("token response fields %v", keys)
	}
	tk := decodeTokens(t, r)
	if tk.TokenType != "Bearer" || tk.ExpiresIn != 900 || tk.RefreshExpiresIn < 7*24*3600-5 || tk.RefreshExpiresIn > 7*24*3600 {
		t.Fatalf("token response %+v", tk)
	}
	wantError(t, "wrong password", e.do("POST", "/auth/login", jsonBody(map[string]string{"email": "ada@example.com", "password": "wrong password"})), core.ErrInvalidCredentials)
	wantStatus(t, "login without password", e.do("POST", "/auth/login", jsonBody(map[string]string{"email": "ada@example.com"})), 400)
}

// testLoginNoEnumeration: a 401 never says whether the email exists.
func testLoginNoEnumeration(t *testing.T, h Harness) {
	e := newEnv(t, h, ServerConfig{}, nil)
	e.register("known@example.com")
	known := e.do("POST", "/auth/login", jsonBody(map[string]string{"email": "known@example.com", "password": "wrong password"}))
	unknown := e.do("POST", "/auth/login", jsonBody(map[string]string{"email": "unknown@example.com", "password": "wrong password"}))
	wantError(t, "wrong password", known, core.ErrInvalidCredentials)
	wantError(t, "unknown email", unknown, core.ErrInvalidCredentials)
	for _, name := range []string{"Content-Type", "Content-Length", "WWW-Authenticate", "Cache-Control"} {
		if known.Header.Get(name) != unknown.Header.Get(name) {
			t.Fatalf("%s differs: %q vs %q", name, known.Header.Get(name), unknown.Header.Get(name))
		}
	}
}

func testMe(t *testing.T, h Harness) {
	e := newEnv(t, h, ServerConfig{}, nil)
	id := e.register("me@example.com")
	tk := e.login("me@example.com")
	r := e.do("GET", "/auth/me", bearer(tk.AccessToken))
	wantStatus(t, "me", r, 200)
	m := r.object(t)
	if m["sub"] != id || fmt.Sprint(m["roles"]) != "[user]" {
		t.Fatalf("me %s", r.Body)
	}
	if uid, ok := core.SessionUser(fmt.Sprint(m["sid"])); !ok || uid != id {
		t.Fatalf("me sid %v", m["sid"])
	}
	// Application claims appear next to sub, sid and roles.
	p, err := e.auth.IssueSession(context.Background(), core.User{ID: id, Roles: []string{"user"}, Claims: map[string]any{"tenant": "acme"}}, core.Client{})
	if err != nil {
		t.Fatal(err)
	}
	if m := e.do("GET", "/auth/me", bearer(p.AccessToken)).object(t); m["tenant"] != "acme" || m["sub"] != id {
		t.Fatalf("me with claims %v", m)
	}
}

// testBearerErrors: every way a bearer token is refused, on a mounted route
// and on a route behind Authenticate.
func testBearerErrors(t *testing.T, h Harness) {
	e := newEnv(t, h, ServerConfig{}, nil)
	e.register("tok@example.com")
	tk := e.login("tok@example.com")
	expired := expiredToken(t, e)
	revoked := e.login("tok@example.com")
	wantStatus(t, "logout", e.do("POST", "/auth/logout", bearer(revoked.AccessToken)), 204)
	cases := []struct {
		name string
		opt  reqOpt
		want error
	}{
		{"no token", nil, core.ErrMissingToken},
		{"basic scheme", header("Authorization", "Basic dXNlcjpwYXNz"), core.ErrMissingToken},
		{"empty bearer", header("Authorization", "Bearer "), core.ErrMissingToken},
		{"garbage", bearer("garbage"), core.ErrInvalidToken},
		{"three garbage segments", bearer("a.b.c"), core.ErrInvalidToken},
		{"tampered", bearer(tk.AccessToken[:len(tk.AccessToken)-4] + "AAAA"), core.ErrInvalidToken},
		{"refresh token", bearer(tk.RefreshToken), core.ErrInvalidToken},
		{"too long", bearer(strings.Repeat("a", 9000)), core.ErrInvalidToken},
		{"expired", bearer(expired), core.ErrTokenExpired},
		{"revoked", bearer(revoked.AccessToken), core.ErrTokenRevoked},
	}
	for _, path := range []string{"/auth/me", "/auth/sessions", "/api/profile"} {
		for _, tc := range cases {
			var opts []reqOpt
			if tc.opt != nil {
				opts = append(opts, tc.opt)
			}
			wantError(t, path+" with "+tc.name, e.do("GET", path, opts...), tc.want)
		}
	}
	wantStatus(t, "control", e.do("GET", "/api/profile", bearer(tk.AccessToken)), 200)
}

// expiredToken mints a token an hour in the past, for a live session.
func expiredToken(t testing.TB, e *env) string {
	t.Helper()
	past := NewAuth(t, e.store, e.users, func(c *core.Config) { c.Now = func() time.Time { return time.Now().Add(-time.Hour) } })
	p, err := past.IssueSession(context.Background(), core.User{ID: "expired-user"}, core.Client{})
	if err != nil {
		t.Fatal(err)
	}
	return p.AccessToken
}

func testRefresh(t *testing.T, h Harness) {
	e := newEnv(t, h, ServerConfig{}, nil)
	e.register("ref@example.com")
	tk := e.login("ref@example.com")
	r := e.refresh(tk.RefreshToken)
	wantStatus(t, "refresh", r, 200)
	wantHeaders(t, "refresh", r, &core.Response{Header: []core.Header{{Key: "Content-Type", Value: "application/json"}, {Key: "Cache-Control", Value: "no-store"}}})
	next := decodeTokens(t, r)
	if next.RefreshToken == tk.RefreshToken || next.TokenType != "Bearer" || next.ExpiresIn != 900 {
		t.Fatalf("refresh response %+v", next)
	}
	wantStatus(t, "me with the new token", e.do("GET", "/auth/me", bearer(next.AccessToken)), 200)
	wantError(t, "garbage refresh token", e.refresh("garbage"), core.ErrInvalidRefreshToken)
	wantError(t, "access token as refresh token", e.refresh(next.AccessToken), core.ErrInvalidRefreshToken)
	wantStatus(t, "empty refresh token", e.refresh(""), 400)
	wantStatus(t, "no refresh token", e.do("POST", "/auth/refresh", jsonBody(map[string]string{})), 400)
	wantStatus(t, "after bad refreshes", e.refresh(next.RefreshToken), 200)
}

func testRefreshReplay(t *testing.T, h Harness) {
	e := newEnv(t, h, ServerConfig{}, nil)
	e.register("replay@example.com")
	t0 := e.login("replay@example.com")
	t1 := decodeTokens(t, e.refresh(t0.RefreshToken))
	wantError(t, "replay within the grace", e.refresh(t0.RefreshToken), core.ErrRefreshConflict)
	wantStatus(t, "me after a conflict", e.do("GET", "/auth/me", bearer(t1.AccessToken)), 200)
	time.Sleep(Grace + 200*time.Millisecond)
	wantError(t, "replay after the grace", e.refresh(t0.RefreshToken), core.ErrRefreshTokenReused)
	wantError(t, "newest token after reuse", e.refresh(t1.RefreshToken), core.ErrInvalidRefreshToken)
	wantError(t, "access token after reuse", e.do("GET", "/auth/me", bearer(t1.AccessToken)), core.ErrTokenRevoked)
}

// testLogoutWithExpiredBearer: a client whose access token has expired (or
// is garbage) logs out with its refresh token: the bearer token does not
// stand in the way.
func testJWKS(t *testing.T, h Harness) {
	e := newEnv(t, h, ServerConfig{}, nil)
	r := e.do("GET", "/auth/jwks.json")
	wantStatus(t, "jwks", r, 200)
	if string(r.Body) != `{"keys":[]}` || r.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("HMAC jwks: %s %v", r.Body, r.Header)
	}
	ed, err := core.GenerateKey("EdDSA")
	if err != nil {
		t.Fatal(err)
	}
	e = newEnv(t, h, ServerConfig{}, func(c *core.Config) { c.AccessKeys = []core.Key{ed} })
	r = e.do("GET", "/auth/jwks.json")
	keys, err := core.ParseJWKS(r.Body)
	if err != nil || len(keys) != 1 || keys[0].ID() != ed.ID() || keys[0].CanSign() || bytes.Contains(r.Body, []byte(`"d"`)) {
		t.Fatalf("EdDSA jwks %s: %v", r.Body, err)
	}
}

func testRBAC(t *testing.T, h Harness) {
	e := newEnv(t, h, ServerConfig{}, nil)
	e.register("plain@example.com")
	user := e.login("plain@example.com")
	editor := e.withRoles("editor@example.com", "user", "editor")
	admin := e.withRoles("admin@example.com", "admin")
	analyst := e.withRoles("analyst@example.com", "analyst")
	exporter := e.withRoles("exporter@example.com", "exporter")
	id := e.register("tenant@example.com")
	var tenant, otherTenant tokens
	for _, tc := range []struct {
		tk   *tokens
		name string
	}{{&tenant, "acme"}, {&otherTenant, "globex"}} {
		p, err := e.auth.IssueSession(context.Background(), core.User{ID: id, Roles: []string{"user"}, Claims: map[string]any{"tenant": tc.name}}, core.Client{})
		if err != nil {
			t.Fatal(err)
		}
		tc.tk.AccessToken = p.AccessToken
	}
	cases := []struct {
		path string
		tk   tokens
		ok   bool
	}{
		{"/api/admin", admin, true}, {"/api/admin", editor, false}, {"/api/admin", user, false},
		{"/api/any", editor, true}, {"/api/any", admin, true}, {"/api/any", user, false},
		{"/api/all", editor, true}, {"/api/all", user, false}, {"/api/all", admin, false},
		{"/api/perm", analyst, true}, {"/api/perm", exporter, true}, {"/api/perm", editor, false}, {"/api/perm", admin, false},
		{"/api/perm-all", exporter, true}, {"/api/perm-all", analyst, false}, {"/api/perm-all", user, false},
		{"/api/rule", tenant, true}, {"/api/rule", otherTenant, false}, {"/api/rule", admin, false},
		{"/api/plain", admin, true}, {"/api/plain", user, false},
	}
	for _, tc := range cases {
		r := e.do("GET", tc.path, bearer(tc.tk.AccessToken))
		if tc.ok {
			wantStatus(t, tc.path, r, 200)
			if !bytes.Equal(r.Body, OK) {
				t.Fatalf("%s: body %s", tc.path, r.Body)
			}
			continue
		}
		// A 403 is the same for every route and rule: it names neither the
		// role nor the route, so it does not tell what an admin could reach.
		wantError(t, tc.path, r, core.ErrForbidden)
		if bytes.Contains(r.Body, []byte("admin")) || bytes.Contains(r.Body, []byte("editor")) || bytes.Contains(r.Body, []byte("/api")) {
			t.Fatalf("%s: the 403 leaks: %s", tc.path, r.Body)
		}
	}
	for _, p := range []string{"/api/admin", "/api/any", "/api/all", "/api/perm", "/api/perm-all", "/api/rule", "/api/plain"} {
		wantError(t, p+" without a token", e.do("GET", p), core.ErrMissingToken)
		wantError(t, p+" with a garbage token", e.do("GET", p, bearer("garbage")), core.ErrInvalidToken)
	}
}

func testUnguarded(t *testing.T, h Harness) {
	e := newEnv(t, h, ServerConfig{}, nil)
	admin := e.withRoles("admin2@example.com", "admin")
	// Without Authenticate in front, Require* has no claims: it refuses even
	// an admin's token rather than letting anything through.
	wantError(t, "unguarded without a token", e.do("GET", "/api/unguarded"), core.ErrMissingToken)
	wantError(t, "unguarded with an admin token", e.do("GET", "/api/unguarded", bearer(admin.AccessToken)), core.ErrMissingToken)
}

func testOptional(t *testing.T, h Harness) {
	e := newEnv(t, h, ServerConfig{}, nil)
	id := e.register("opt@example.com")
	tk := e.login("opt@example.com")
	r := e.do("GET", "/api/optional")
	wantStatus(t, "optional anonymous", r, 200)
	if !bytes.Equal(r.Body, Profile(nil, nil)) {
		t.Fatalf("optional anonymous body %s", r.Body)
	}
	r = e.do("GET", "/api/optional", bearer(tk.AccessToken))
	wantStatus(t, "optional signed in", r, 200)
	if m := r.object(t); m["sub"] != id || m["ctx_sub"] != id {
		t.Fatalf("optional signed in body %s", r.Body)
	}
	wantError(t, "optional with a bad token", e.do("GET", "/api/optional", bearer("garbage")), core.ErrInvalidToken)
	wantError(t, "optional with an expired token", e.do("GET", "/api/optional", bearer(expiredToken(t, e))), core.ErrTokenExpired)
	// The claims from the framework's accessor and from the request's
	// context.Context agree.
	r = e.do("GET", "/api/profile", bearer(tk.AccessToken))
	if m := r.object(t); m["sub"] != id || m["ctx_sub"] != id || m["sid"] == "" || fmt.Sprint(m["roles"]) != "[user]" {
		t.Fatalf("profile body %s", r.Body)
	}
}

func testTokenLookup(t *testing.T, h Harness) {
	cfg := ServerConfig{TokenLookup: []core.TokenSource{core.FromCookie("access_token"), core.FromQuery("access_token"), core.FromHeader("Authorization")}}
	e := newEnv(t, h, cfg, nil)
	id := e.register("look@example.com")
	tk := e.login("look@example.com")
	for name, opts := range map[string][]reqOpt{
		"cookie": {cookie("access_token", tk.AccessToken)},
		"header": {bearer(tk.AccessToken)},
	} {
		if m := e.do("GET", "/api/profile", opts...).object(t); m["sub"] != id {
			t.Fatalf("token by %s: %v", name, m)
		}
		if m := e.do("GET", "/auth/me", opts...).object(t); m["sub"] != id {
			t.Fatalf("mounted route, token by %s: %v", name, m)
		}
	}
	if m := e.do("GET", "/api/profile"+query("access_token", tk.AccessToken)).object(t); m["sub"] != id {
		t.Fatalf("token by query: %v", m)
	}
	wantError(t, "cookie with garbage", e.do("GET", "/api/profile", cookie("access_token", "garbage")), core.ErrInvalidToken)
	wantError(t, "no token anywhere", e.do("GET", "/api/profile"), core.ErrMissingToken)

	// The default lookup is the Authorization header only.
	d := newEnv(t, h, ServerConfig{}, nil)
	d.register("look@example.com")
	dtk := d.login("look@example.com")
	wantError(t, "cookie with the default lookup", d.do("GET", "/api/profile", cookie("access_token", dtk.AccessToken)), core.ErrMissingToken)
	wantError(t, "query with the default lookup", d.do("GET", "/api/profile"+query("access_token", dtk.AccessToken)), core.ErrMissingToken)
}

func testBodyLimit(t *testing.T, h Harness) {
	e := newEnv(t, h, ServerConfig{}, nil)
	e.register("big@example.com")
	pad := func(n int) []byte {
		b, _ := json.Marshal(map[string]string{"email": "big@example.com", "password": password, "pad": strings.Repeat("x", n)})
		return b
	}
	near := pad(core.DefaultBodyLimit - 200)
	if len(near) > core.DefaultBodyLimit {
		t.Fatalf("test body %d bytes", len(near))
	}
	wantStatus(t, "a body just under 16 KiB", e.do("POST", "/auth/login", body("application/json", near)), 200)
	over := pad(core.DefaultBodyLimit)
	wantError(t, "a body over 16 KiB", e.do("POST", "/auth/login", body("application/json", over)), core.ErrPayloadTooLarge)
	wantError(t, "register over 16 KiB", e.do("POST", "/auth/register", body("application/json", over)), core.ErrPayloadTooLarge)

	small := newEnv(t, h, ServerConfig{BodyLimit: 64}, nil)
	wantError(t, "a body over a 64-byte limit", small.do("POST", "/auth/login", body("application/json", pad(10))), core.ErrPayloadTooLarge)
	wantError(t, "a body under a 64-byte limit", small.do("POST", "/auth/login", jsonBody(map[string]string{"email": "x@y.z", "password": "12345678"})), core.ErrInvalidCredentials)
}

// testStoreUnavailable: when the store cannot answer, every request that
// needs it gets 503 store_unavailable — never a 500, never a pass.
func testStoreUnavailable(t *testing.T, h Harness) {
	var down failSwitch
	e := newEnv(t, Harness{
		Serve: h.Serve,
		Stores: func(t testing.TB) (core.Store, core.UserStore) {
			s, u := h.Stores(t)
			return &flakyStore{Store: s, down: &down}, &flakyUsers{UserStore: u, down: &down}
		},
	}, ServerConfig{}, nil)
	e.register("flaky@example.com")
	tk := e.login("flaky@example.com")
	down.set(true)
	for _, req := range []struct{ method, path string }{
		{"GET", "/auth/me"}, {"GET", "/auth/sessions"}, {"POST", "/auth/logout"}, {"POST", "/auth/logout-all"}, {"GET", "/api/profile"}, {"GET", "/api/admin"}, {"GET", "/api/optional"},
	} {
		wantError(t, req.path+" with the store down", e.do(req.method, req.path, bearer(tk.AccessToken)), core.ErrStoreUnavailable)
	}
	wantError(t, "refresh with the store down", e.refresh(tk.RefreshToken), core.ErrStoreUnavailable)
	wantError(t, "login with the store down", e.do("POST", "/auth/login", jsonBody(map[string]string{"email": "flaky@example.com", "password": password})), core.ErrStoreUnavailable)
	wantError(t, "register with the store down", e.do("POST", "/auth/register", jsonBody(map[string]string{"email": "new@example.com", "password": password})), core.ErrStoreUnavailable)
	down.set(false)
	wantStatus(t, "me after recovery", e.do("GET", "/auth/me", bearer(tk.AccessToken)), 200)
	wantStatus(t, "refresh after recovery", e.refresh(tk.RefreshToken), 200)
}

// testFlow is the walk-through of the README: register, login, profile,
// admin denied, refresh, replay, logout, profile refused.
func testFlow(t *testing.T, h Harness) {
	e := newEnv(t, h, ServerConfig{}, nil)
	e.register("flow@example.com")
	tk := e.login("flow@example.com")
	wantStatus(t, "profile", e.do("GET", "/api/profile", bearer(tk.AccessToken)), 200)
	wantError(t, "admin", e.do("GET", "/api/admin", bearer(tk.AccessToken)), core.ErrForbidden)
	next := decodeTokens(t, e.refresh(tk.RefreshToken))
	wantError(t, "replay", e.refresh(tk.RefreshToken), core.ErrRefreshConflict)
	wantStatus(t, "logout", e.do("POST", "/auth/logout", bearer(next.AccessToken)), 204)
	wantError(t, "profile after logout", e.do("GET", "/api/profile", bearer(next.AccessToken)), core.ErrTokenRevoked)
	wantError(t, "old access token after logout", e.do("GET", "/api/profile", bearer(tk.AccessToken)), core.ErrTokenRevoked)
}
