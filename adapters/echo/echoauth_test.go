package echoauth_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/authenik8/authenik8-go/adapters/echo"
	"github.com/authenik8/authenik8-go/conformance/adaptertest"
	"github.com/authenik8/authenik8-go/conformance/redistest"
	"github.com/authenik8/authenik8-go/conformance/storetest"
	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/core/memstore"
	"github.com/authenik8/authenik8-go/redisstore/redisstoretest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

func newEcho() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	return e
}

// options turns what the suite asks for into echoauth options.
func options(cfg adaptertest.ServerConfig) []echoauth.Option {
	opts := []echoauth.Option{
		echoauth.WithTokenLookup(cfg.TokenLookup...),
		echoauth.WithBodyLimit(cfg.BodyLimit),
		echoauth.WithTrustedProxy(cfg.TrustedProxy.Header, cfg.TrustedProxy.Proxies...),
		echoauth.WithoutRoutes(cfg.Without...),
	}
	if cfg.Skip != nil {
		opts = append(opts, echoauth.WithSkipper(func(c echo.Context) bool { return cfg.Skip(c.Request().URL.Path) }))
	}
	if cfg.OnSuccess != nil {
		opts = append(opts, echoauth.WithSuccessHandler(func(_ echo.Context, claims *core.Claims) error { return cfg.OnSuccess(claims) }))
	}
	if cfg.OnError != nil {
		opts = append(opts, echoauth.WithErrorHandler(func(c echo.Context, err error) error { return echoauth.Write(c, cfg.OnError(err)) }))
	}
	return opts
}

// serve is the suite's server (routes in the adaptertest package doc). The
// Echo keeps its default IPExtractor-less RealIP, which believes
// X-Forwarded-For from anyone: echoauth must not use it.
func serve(t testing.TB, a *core.Auth, cfg adaptertest.ServerConfig) string {
	e := newEcho()
	m := echoauth.New(a, options(cfg)...)
	m.Mount(e.Group("/auth"))
	profile := func(c echo.Context) error {
		claims, _ := echoauth.Claims(c)
		fromCtx, _ := core.FromContext(c.Request().Context())
		return c.Blob(200, "application/json", adaptertest.Profile(claims, fromCtx))
	}
	ok := func(c echo.Context) error { return c.Blob(200, "application/json", adaptertest.OK) }
	auth := m.Authenticate()
	// Route-level middleware: a group with middleware would also register
	// Echo's catch-all routes for unknown paths under its prefix.
	api := e.Group("/api")
	api.GET("/profile", profile, auth)
	api.GET("/optional", profile, m.Optional())
	api.GET("/admin", ok, auth, m.RequireAdmin())
	api.GET("/any", ok, auth, m.Require("editor", "admin"))
	api.GET("/all", ok, auth, m.RequireAll("user", "editor"))
	api.GET("/perm", ok, auth, m.RequirePermission("reports:read", "reports:write"))
	api.GET("/perm-all", ok, auth, m.RequireAllPermissions("reports:read", "reports:export"))
	api.GET("/rule", ok, auth, m.RequireRule(adaptertest.TenantRule))
	api.GET("/plain", ok, auth, echoauth.RequireAdmin())
	api.GET("/verified", ok, auth, m.RequireVerifiedEmail())
	api.GET("/unguarded", ok, echoauth.RequireAdmin())
	return adaptertest.ServeHTTP(t, e)
}

func TestMemstore(t *testing.T) {
	adaptertest.Run(t, adaptertest.Harness{
		Serve:  serve,
		Stores: adaptertest.MemoryStores,
	})
}

func TestRedis(t *testing.T) {
	adaptertest.Run(t, adaptertest.Harness{Serve: serve, Stores: redisstoretest.Stores})
}

// newAuth is an Auth on the in-memory stores and a signed-in session with
// roles.
func newAuth(t *testing.T, roles ...string) (*core.Auth, string) {
	t.Helper()
	a := adaptertest.NewAuth(t, memstore.New(), memstore.NewUsers(storetest.FastHasher), nil)
	p, err := a.IssueSession(context.Background(), core.User{ID: "u1", Roles: roles}, core.Client{})
	if err != nil {
		t.Fatal(err)
	}
	return a, p.AccessToken
}

func do(e *echo.Echo, method, path, token string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	e.ServeHTTP(w, r)
	return w
}

func TestWithErrorHandler(t *testing.T) {
	a, userToken := newAuth(t, "user")
	var calls []error
	onError := echoauth.WithErrorHandler(func(c echo.Context, err error) error {
		calls = append(calls, err)
		return c.String(http.StatusTeapot, "custom")
	})
	e := newEcho()
	ok := func(c echo.Context) error { return c.String(200, "ok") }
	m := echoauth.New(a, onError)
	e.GET("/profile", ok, m.Authenticate())
	e.GET("/admin", ok, m.Authenticate(), m.RequireAdmin())
	e.GET("/any", ok, m.Authenticate(), m.Require("user"))
	e.GET("/optional-admin", ok, m.Optional(), m.RequireAdmin())
	e.GET("/default", ok, echoauth.Authenticate(a), echoauth.RequireAdmin())

	for _, tc := range []struct {
		what, path, token string
		status            int
		err               error // nil: the handler must not be called
	}{
		{"refused Authenticate", "/profile", "", 418, core.ErrMissingToken},
		{"refused Authenticate, bad token", "/profile", "garbage", 418, core.ErrInvalidToken},
		{"refused Require", "/admin", userToken, 418, core.ErrForbidden},
		{"refused Require after Optional", "/optional-admin", "", 418, core.ErrMissingToken},
		{"allowed Authenticate", "/profile", userToken, 200, nil},
		{"allowed Require", "/any", userToken, 200, nil},
		{"without the option", "/default", userToken, 403, nil},
	} {
		calls = nil
		w := do(e, "GET", tc.path, tc.token)
		if w.Code != tc.status {
			t.Fatalf("%s: got %d %s, want %d", tc.what, w.Code, w.Body, tc.status)
		}
		switch {
		case tc.err == nil && len(calls) != 0:
			t.Fatalf("%s: error handler called with %v", tc.what, calls)
		case tc.err != nil && (len(calls) != 1 || !errors.Is(calls[0], tc.err)):
			t.Fatalf("%s: error handler calls %v, want one with %v", tc.what, calls, tc.err)
		case tc.err != nil && w.Body.String() != "custom":
			t.Fatalf("%s: body %q", tc.what, w.Body)
		}
	}

	// An error the handler returns goes to Echo's HTTPErrorHandler.
	e = newEcho()
	e.GET("/profile", ok, echoauth.Authenticate(a, echoauth.WithErrorHandler(func(echo.Context, error) error {
		return echo.NewHTTPError(http.StatusUnauthorized, "nope")
	})))
	if w := do(e, "GET", "/profile", ""); w.Code != 401 || w.Body.String() != "{\"message\":\"nope\"}\n" {
		t.Fatalf("returned error: %d %q", w.Code, w.Body)
	}
}

func TestClaimsAgree(t *testing.T) {
	a, token := newAuth(t, "user", "editor")
	e := newEcho()
	var got, fromCtx *core.Claims
	var gotOK, ctxOK bool
	h := func(c echo.Context) error {
		got, gotOK = echoauth.Claims(c)
		fromCtx, ctxOK = core.FromContext(c.Request().Context())
		return c.NoContent(204)
	}
	e.GET("/auth", h, echoauth.Authenticate(a))
	e.GET("/optional", h, echoauth.Optional(a))
	e.GET("/none", h)

	for _, path := range []string{"/auth", "/optional"} {
		got, fromCtx = nil, nil
		if w := do(e, "GET", path, token); w.Code != 204 {
			t.Fatalf("%s: %d %s", path, w.Code, w.Body)
		}
		if !gotOK || !ctxOK || got != fromCtx || got.Subject != "u1" || !got.HasAllRoles("user", "editor") {
			t.Fatalf("%s: accessor %+v %v, context %+v %v", path, got, gotOK, fromCtx, ctxOK)
		}
	}
	for _, tc := range []struct{ path, token string }{{"/optional", ""}, {"/none", token}} {
		got, fromCtx = &core.Claims{}, &core.Claims{}
		do(e, "GET", tc.path, tc.token)
		if gotOK || ctxOK || got != nil || fromCtx != nil {
			t.Fatalf("%s: accessor %+v %v, context %+v %v", tc.path, got, gotOK, fromCtx, ctxOK)
		}
	}
}

// TestMountOnEcho mounts on *echo.Echo itself, and checks that a session id
// sent percent-encoded reaches core decoded, as on Gin and Fiber.
func TestMountOnEcho(t *testing.T) {
	a := adaptertest.NewAuth(t, memstore.New(), memstore.NewUsers(storetest.FastHasher), nil)
	p, err := a.IssueSession(context.Background(), core.User{ID: "tenant/alice"}, core.Client{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := a.Verify(context.Background(), p.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	e := newEcho()
	echoauth.Mount(e, a)
	if w := do(e, "GET", "/jwks.json", ""); w.Code != 200 || w.Body.String() != `{"keys":[]}` {
		t.Fatalf("jwks: %d %s", w.Code, w.Body)
	}
	if w := do(e, "DELETE", "/sessions/"+url.PathEscape(c.SessionID), p.AccessToken); w.Code != 204 || w.Body.Len() != 0 || w.Header().Get("Content-Type") != "" {
		t.Fatalf("delete %s: %d %s %v", url.PathEscape(c.SessionID), w.Code, w.Body, w.Header())
	}
	if _, err := a.Verify(context.Background(), p.AccessToken); !errors.Is(err, core.ErrTokenRevoked) {
		t.Fatalf("after delete: %v", err)
	}
}

// TestWrite: Write copies core's answers verbatim; no body means no
// Content-Type either.
func TestWrite(t *testing.T) {
	e := newEcho()
	e.GET("/limited", func(c echo.Context) error {
		return echoauth.Write(c, core.ErrorResponse(core.ErrRateLimited.WithRetryAfter(90*time.Second)))
	})
	e.GET("/empty", func(c echo.Context) error {
		return echoauth.Write(c, &core.Response{Status: 204, Header: []core.Header{{Key: "Cache-Control", Value: "no-store"}}})
	})
	want := core.ErrorResponse(core.ErrRateLimited.WithRetryAfter(90 * time.Second))
	w := do(e, "GET", "/limited", "")
	if w.Code != 429 || w.Body.String() != string(want.Body) || w.Header().Get("Retry-After") != "90" ||
		w.Header().Get("Content-Type") != "application/json" || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("limited: %d %s %v", w.Code, w.Body, w.Header())
	}
	w = do(e, "GET", "/empty", "")
	if w.Code != 204 || w.Body.Len() != 0 || len(w.Header()) != 1 || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("empty: %d %q %v", w.Code, w.Body, w.Header())
	}
}

// TestBodyWithoutLength: the limit holds for a chunked body and for one
// longer than its Content-Length says (a body replaced by decompressing
// middleware).
func TestBodyWithoutLength(t *testing.T) {
	a := adaptertest.NewAuth(t, memstore.New(), memstore.NewUsers(storetest.FastHasher), nil)
	e := newEcho()
	echoauth.Mount(e, a, echoauth.WithBodyLimit(64))
	login := func(body string, contentLength int64) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "/login", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.ContentLength = contentLength
		w := httptest.NewRecorder()
		e.ServeHTTP(w, r)
		return w
	}
	small := `{"email":"x@y.z","password":"12345678"}`
	big := `{"email":"x@y.z","password":"12345678","pad":"` + strings.Repeat("x", 64) + `"}`
	for _, tc := range []struct {
		what   string
		body   string
		length int64
		want   error
	}{
		{"chunked, under the limit", small, -1, core.ErrInvalidCredentials},
		{"chunked, over the limit", big, -1, core.ErrPayloadTooLarge},
		{"longer than its Content-Length, over the limit", big, 10, core.ErrPayloadTooLarge},
		{"longer than its Content-Length, under the limit", small, 10, core.ErrInvalidCredentials},
	} {
		want := core.ErrorResponse(tc.want)
		if w := login(tc.body, tc.length); w.Code != want.Status || w.Body.String() != string(want.Body) {
			t.Fatalf("%s: %d %s", tc.what, w.Code, w.Body)
		}
	}
}

// BenchmarkAuthenticate measures the middleware over an open route: the
// difference is the adapter's and core's cost per request (memstore, warm
// token cache).
func BenchmarkAuthenticate(b *testing.B) {
	a := adaptertest.NewAuth(b, memstore.New(), memstore.NewUsers(nil), nil)
	p, err := a.IssueSession(b.Context(), core.User{ID: "u1", Roles: []string{"admin"}}, core.Client{})
	if err != nil {
		b.Fatal(err)
	}
	e := newEcho()
	ok := func(c echo.Context) error { return c.NoContent(200) }
	e.GET("/open", ok)
	e.GET("/authed", ok, echoauth.Authenticate(a))
	e.GET("/admin", ok, echoauth.Authenticate(a), echoauth.RequireAdmin())
	for _, path := range []string{"/open", "/authed", "/admin"} {
		b.Run(strings.TrimPrefix(path, "/"), func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.Header.Set("Authorization", "Bearer "+p.AccessToken)
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				e.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatalf("%s: %d", path, w.Code)
				}
			}
		})
	}
}
