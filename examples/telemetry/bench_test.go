package telemetry_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/gofiber/fiber/v2"
	"github.com/labstack/echo/v4"
	"github.com/valyala/fasthttp"

	echoauth "github.com/authenik8/authenik8-go/adapters/echo"
	fiberauth "github.com/authenik8/authenik8-go/adapters/fiber"
	ginauth "github.com/authenik8/authenik8-go/adapters/gin"
	httpauth "github.com/authenik8/authenik8-go/adapters/nethttp"
	"github.com/authenik8/authenik8-go/core"
)

// BenchmarkAuthenticate is each adapter's BenchmarkAuthenticate/authed — a
// route behind the Authenticate middleware, memstore, warm token cache —
// once with the global providers (no-ops: no SDK installed) and once with an
// SDK recording every instrument (sdk/metric with a ManualReader, sdk/trace
// with a span recorder). The difference is what telemetry costs per
// authenticated request:
//
// cpu-ns/op, the process's CPU time per request, is steadier than ns/op on
// a machine shared with other work.
//
//	go test -run '^$' -bench 'BenchmarkAuthenticate|BenchmarkVerify' -benchmem -count 6 ./telemetry
func BenchmarkAuthenticate(b *testing.B) {
	for _, providers := range []string{"noop", "sdk"} {
		newAuth := func(b *testing.B) (*core.Auth, string) {
			var mod func(*core.Config)
			if providers == "sdk" {
				sdk := newSDK(b)
				mod = func(c *core.Config) { c.MeterProvider, c.TracerProvider = sdk.mp, sdk.tp }
			}
			f := newFixture(b, nil, mod)
			p, err := f.auth.IssueSession(context.Background(), core.User{ID: "u1", Roles: []string{"admin"}}, core.Client{})
			if err != nil {
				b.Fatal(err)
			}
			return f.auth, p.AccessToken
		}
		b.Run("gin/"+providers, func(b *testing.B) {
			a, token := newAuth(b)
			gin.SetMode(gin.ReleaseMode)
			r := gin.New()
			r.GET("/authed", ginauth.Authenticate(a), func(c *gin.Context) { c.Status(200) })
			benchHTTP(b, r, token)
		})
		b.Run("echo/"+providers, func(b *testing.B) {
			a, token := newAuth(b)
			e := echo.New()
			e.GET("/authed", func(c echo.Context) error { return c.NoContent(200) }, echoauth.Authenticate(a))
			benchHTTP(b, e, token)
		})
		b.Run("nethttp/"+providers, func(b *testing.B) {
			a, token := newAuth(b)
			mux := http.NewServeMux()
			mux.Handle("GET /authed", httpauth.Authenticate(a)(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(200) })))
			benchHTTP(b, mux, token)
		})
		b.Run("fiber/"+providers, func(b *testing.B) {
			a, token := newAuth(b)
			app := fiber.New(fiber.Config{DisableStartupMessage: true})
			app.Get("/authed", fiberauth.Authenticate(a), func(c *fiber.Ctx) error { return c.SendString("ok") })
			h := app.Handler()
			var fctx fasthttp.RequestCtx
			fctx.Request.Header.SetMethod("GET")
			fctx.Request.SetRequestURI("/authed")
			fctx.Request.Header.Set("Authorization", "Bearer "+token)
			b.ReportAllocs()
			defer reportCPU(b)()
			for b.Loop() {
				// As fasthttp's server does between requests: Fiber keeps
				// the request's context.Context in the user values, and a
				// context that grew every iteration would make each
				// lookup in it (the SDK's exemplar filter) slower.
				fctx.ResetUserValues()
				fctx.Response.Reset()
				h(&fctx)
				if fctx.Response.StatusCode() != 200 {
					b.Fatalf("%d %s", fctx.Response.StatusCode(), fctx.Response.Body())
				}
			}
		})
	}
}

func benchHTTP(b *testing.B, h http.Handler, token string) {
	req := httptest.NewRequest(http.MethodGet, "/authed", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	w := &discard{h: http.Header{}}
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		w.code = 0
		h.ServeHTTP(w, req)
		if w.code != 200 {
			b.Fatalf("%d", w.code)
		}
	}
}

// BenchmarkVerify is core's part of the above: a warm Verify (cached token,
// live session in memory), with the global no-op providers and with an SDK.
func BenchmarkVerify(b *testing.B) {
	for _, providers := range []string{"noop", "sdk"} {
		b.Run(providers, func(b *testing.B) {
			var mod func(*core.Config)
			if providers == "sdk" {
				sdk := newSDK(b)
				mod = func(c *core.Config) { c.MeterProvider, c.TracerProvider = sdk.mp, sdk.tp }
			}
			f := newFixture(b, nil, mod)
			p, err := f.auth.IssueSession(context.Background(), core.User{ID: "u1"}, core.Client{})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ReportAllocs()
			defer reportCPU(b)()
			for b.Loop() {
				if _, err := f.auth.Verify(ctx, p.AccessToken); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// reportCPU adds cpu-ns/op beside ns/op; call as defer reportCPU(b)()
// just before the loop.
func reportCPU(b *testing.B) func() {
	start := processCPU()
	return func() {
		if used := processCPU() - start; start > 0 && b.N > 0 {
			b.ReportMetric(float64(used.Nanoseconds())/float64(b.N), "cpu-ns/op")
		}
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
