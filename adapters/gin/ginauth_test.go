package ginauth_test

import (
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/authenik8/authenik8-go/adapters/gin"
	"github.com/authenik8/authenik8-go/conformance/adaptertest"
	"github.com/authenik8/authenik8-go/conformance/redistest"
	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/redisstore/redisstoretest"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode)
	redistest.Main(m)
}

// options turns what the suite asks for into ginauth options.
func options(cfg adaptertest.ServerConfig) []ginauth.Option {
	opts := []ginauth.Option{
		ginauth.WithTokenLookup(cfg.TokenLookup...),
		ginauth.WithBodyLimit(cfg.BodyLimit),
		ginauth.WithTrustedProxy(cfg.TrustedProxy.Header, cfg.TrustedProxy.Proxies...),
		ginauth.WithoutRoutes(cfg.Without...),
	}
	if cfg.Skip != nil {
		opts = append(opts, ginauth.WithSkipper(func(c *gin.Context) bool { return cfg.Skip(c.Request.URL.Path) }))
	}
	if cfg.OnSuccess != nil {
		opts = append(opts, ginauth.WithSuccessHandler(func(_ *gin.Context, claims *core.Claims) error { return cfg.OnSuccess(claims) }))
	}
	if cfg.OnError != nil {
		opts = append(opts, ginauth.WithErrorHandler(func(c *gin.Context, err error) { ginauth.Write(c, cfg.OnError(err)) }))
	}
	return opts
}

// serve is the suite's server (routes in the adaptertest package doc). The
// engine keeps Gin's default of trusting X-Forwarded-For from anyone:
// ginauth must not use it.
func serve(t testing.TB, a *core.Auth, cfg adaptertest.ServerConfig) string {
	r := gin.New()
	m := ginauth.New(a, options(cfg)...)
	m.Mount(r.Group("/auth"))
	profile := func(c *gin.Context) {
		claims, _ := ginauth.Claims(c)
		fromCtx, _ := core.FromContext(c.Request.Context())
		c.Data(200, "application/json", adaptertest.Profile(claims, fromCtx))
	}
	ok := func(c *gin.Context) { c.Data(200, "application/json", adaptertest.OK) }
	api := r.Group("/api")
	api.GET("/optional", m.Optional(), profile)
	api.GET("/unguarded", ginauth.RequireAdmin(), ok)
	authed := api.Group("", m.Authenticate())
	authed.GET("/profile", profile)
	authed.GET("/admin", m.RequireAdmin(), ok)
	authed.GET("/any", m.Require("editor", "admin"), ok)
	authed.GET("/all", m.RequireAll("user", "editor"), ok)
	authed.GET("/perm", m.RequirePermission("reports:read", "reports:write"), ok)
	authed.GET("/perm-all", m.RequireAllPermissions("reports:read", "reports:export"), ok)
	authed.GET("/rule", m.RequireRule(adaptertest.TenantRule), ok)
	authed.GET("/plain", ginauth.RequireAdmin(), ok)
	authed.GET("/verified", m.RequireVerifiedEmail(), ok)
	return adaptertest.ServeHTTP(t, r)
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
