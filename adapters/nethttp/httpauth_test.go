package httpauth_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/authenik8/authenik8-go/adapters/nethttp"
	"github.com/authenik8/authenik8-go/conformance/adaptertest"
	"github.com/authenik8/authenik8-go/conformance/redistest"
	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/core/memstore"
	"github.com/authenik8/authenik8-go/redisstore/redisstoretest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// options turns what the suite asks for into httpauth options.
func options(cfg adaptertest.ServerConfig) []httpauth.Option {
	opts := []httpauth.Option{
		httpauth.WithTokenLookup(cfg.TokenLookup...),
		httpauth.WithBodyLimit(cfg.BodyLimit),
		httpauth.WithTrustedProxy(cfg.TrustedProxy.Header, cfg.TrustedProxy.Proxies...),
		httpauth.WithoutRoutes(cfg.Without...),
	}
	if cfg.Skip != nil {
		opts = append(opts, httpauth.WithSkipper(func(r *http.Request) bool { return cfg.Skip(r.URL.Path) }))
	}
	if cfg.OnSuccess != nil {
		opts = append(opts, httpauth.WithSuccessHandler(func(_ *http.Request, claims *core.Claims) error { return cfg.OnSuccess(claims) }))
	}
	if cfg.OnError != nil {
		opts = append(opts, httpauth.WithErrorHandler(func(w http.ResponseWriter, _ *http.Request, err error) { httpauth.Write(w, cfg.OnError(err)) }))
	}
	return opts
}

func profile(w http.ResponseWriter, r *http.Request) {
	claims, _ := httpauth.Claims(r)
	fromCtx, _ := core.FromContext(r.Context())
	w.Header().Set("Content-Type", "application/json")
	w.Write(adaptertest.Profile(claims, fromCtx))
}

func ok(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(adaptertest.OK)
}

// serveMux is the suite's server on the standard ServeMux (routes in the
// adaptertest package doc): the auth API by Handler under StripPrefix, the
// rest with method patterns.
func serveMux(t testing.TB, a *core.Auth, cfg adaptertest.ServerConfig) string {
	m := httpauth.New(a, options(cfg)...)
	mux := http.NewServeMux()
	mux.Handle("/auth/", http.StripPrefix("/auth", m.Handler()))
	authed := func(mw func(http.Handler) http.Handler) http.Handler {
		return m.Authenticate(mw(http.HandlerFunc(ok)))
	}
	mux.Handle("GET /api/profile", m.Authenticate(http.HandlerFunc(profile)))
	mux.Handle("GET /api/optional", m.Optional(http.HandlerFunc(profile)))
	mux.Handle("GET /api/admin", authed(m.RequireAdmin()))
	mux.Handle("GET /api/any", authed(m.Require("editor", "admin")))
	mux.Handle("GET /api/all", authed(m.RequireAll("user", "editor")))
	mux.Handle("GET /api/perm", authed(m.RequirePermission("reports:read", "reports:write")))
	mux.Handle("GET /api/perm-all", authed(m.RequireAllPermissions("reports:read", "reports:export")))
	mux.Handle("GET /api/rule", authed(m.RequireRule(adaptertest.TenantRule)))
	mux.Handle("GET /api/plain", authed(httpauth.RequireAdmin()))
	mux.Handle("GET /api/verified", authed(m.RequireVerifiedEmail()))
	mux.Handle("GET /api/unguarded", httpauth.RequireAdmin()(http.HandlerFunc(ok)))
	return adaptertest.ServeHTTP(t, mux)
}

// serveChi is the suite's server on chi: the auth API by Mount, the rest
// with chi's Use and With.
func serveChi(t testing.TB, a *core.Auth, cfg adaptertest.ServerConfig) string {
	m := httpauth.New(a, options(cfg)...)
	r := chi.NewRouter()
	m.Mount(r, "/auth")
	r.Route("/api", func(r chi.Router) {
		r.With(m.Optional).Get("/optional", profile)
		r.With(httpauth.RequireAdmin()).Get("/unguarded", ok)
		r.Group(func(r chi.Router) {
			r.Use(m.Authenticate)
			r.Get("/profile", profile)
			r.With(m.RequireAdmin()).Get("/admin", ok)
			r.With(m.Require("editor", "admin")).Get("/any", ok)
			r.With(m.RequireAll("user", "editor")).Get("/all", ok)
			r.With(m.RequirePermission("reports:read", "reports:write")).Get("/perm", ok)
			r.With(m.RequireAllPermissions("reports:read", "reports:export")).Get("/perm-all", ok)
			r.With(m.RequireRule(adaptertest.TenantRule)).Get("/rule", ok)
			r.With(httpauth.RequireAdmin()).Get("/plain", ok)
			r.With(m.RequireVerifiedEmail()).Get("/verified", ok)
		})
	})
	return adaptertest.ServeHTTP(t, r)
}

func TestServeMuxMemstore(t *testing.T) {
	adaptertest.Run(t, adaptertest.Harness{Serve: serveMux, Stores: adaptertest.MemoryStores})
}

func TestServeMuxRedis(t *testing.T) {
	adaptertest.Run(t, adaptertest.Harness{Serve: serveMux, Stores: redisstoretest.Stores})
}

func TestChiMemstore(t *testing.T) {
	adaptertest.Run(t, adaptertest.Harness{Serve: serveChi, Stores: adaptertest.MemoryStores})
}

func TestChiRedis(t *testing.T) {
	adaptertest.Run(t, adaptertest.Harness{Serve: serveChi, Stores: redisstoretest.Stores})
}

// TestPathParam: a session id with an escaped slash reaches core decoded,
// whether the ServeMux (which decodes) or chi (which does not) routed it,
// and whether mounted by Handler or by Mount.
func TestPathParam(t *testing.T) {
	a := adaptertest.NewAuth(t, memstore.New(), memstore.NewUsers(nil), nil)
	mux := http.NewServeMux()
	httpauth.Mount(mux, "/auth", a)
	stripped := http.NewServeMux()
	stripped.Handle("/auth/", http.StripPrefix("/auth", httpauth.Handler(a)))
	cr := chi.NewRouter()
	httpauth.Mount(cr, "/auth/", a)
	cm := chi.NewRouter()
	cm.Mount("/auth", http.StripPrefix("/auth", httpauth.Handler(a)))
	for name, h := range map[string]http.Handler{"ServeMux Mount": mux, "ServeMux Handler": stripped, "chi Mount": cr, "chi Handler": cm} {
		p, err := a.IssueSession(context.Background(), core.User{ID: "tenant/alice"}, core.Client{})
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest("DELETE", "/auth/sessions/"+url.PathEscape(p.SessionID), nil)
		req.Header.Set("Authorization", "Bearer "+p.AccessToken)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 204 {
			t.Fatalf("%s: delete %s: %d %s", name, url.PathEscape(p.SessionID), w.Code, w.Body)
		}
		if _, err := a.Verify(context.Background(), p.AccessToken); !errors.Is(err, core.ErrTokenRevoked) {
			t.Fatalf("%s: after delete: %v", name, err)
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
	m := httpauth.New(a)
	okh := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(200) })
	mux := http.NewServeMux()
	mux.Handle("GET /open", okh)
	mux.Handle("GET /authed", m.Authenticate(okh))
	mux.Handle("GET /admin", m.Authenticate(m.RequireAdmin()(okh)))
	for _, path := range []string{"/open", "/authed", "/admin"} {
		b.Run(strings.TrimPrefix(path, "/"), func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.Header.Set("Authorization", "Bearer "+p.AccessToken)
			w := &discard{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				w.code = 0
				mux.ServeHTTP(w, req)
				if w.code != 200 {
					b.Fatalf("%s: %d", path, w.code)
				}
			}
		})
	}
}

// discard is a ResponseWriter that keeps only the status.
type discard struct {
	h    http.Header
	code int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(code int)        { d.code = code }
