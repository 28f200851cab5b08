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

// serve is the suite's server (routes in the adaptertest package doc).
func serve(t testing.TB, a *core.Auth, cfg adaptertest.ServerConfig) string {
	var opts []ginauth.Option
	if cfg.TokenLookup != nil {
		opts = append(opts, ginauth.WithTokenLookup(cfg.TokenLookup...))
	}
	if cfg.BodyLimit > 0 {
		opts = append(opts, ginauth.WithBodyLimit(cfg.BodyLimit))
	}
	r := gin.New()
	if err := r.SetTrustedProxies(nil); err != nil {
		t.Fatal(err)
	}
	ginauth.Mount(r.Group("/auth"), a, opts...)
	profile := func(c *gin.Context) {
		claims, _ := ginauth.Claims(c)
		fromCtx, _ := core.FromContext(c.Request.Context())
		c.Data(200, "application/json", adaptertest.Profile(claims, fromCtx))
	}
	ok := func(c *gin.Context) { c.Data(200, "application/json", adaptertest.OK) }
	api := r.Group("/api")
	api.GET("/optional", ginauth.Optional(a, opts...), profile)
	api.GET("/unguarded", ginauth.RequireAdmin(), ok)
	authed := api.Group("", ginauth.Authenticate(a, opts...))
	authed.GET("/profile", profile)
	authed.GET("/admin", ginauth.RequireAdmin(), ok)
	authed.GET("/any", ginauth.Require("editor", "admin"), ok)
	authed.GET("/all", ginauth.RequireAll("user", "editor"), ok)
	authed.GET("/perm", ginauth.RequirePermission("reports:read"), ok)

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
