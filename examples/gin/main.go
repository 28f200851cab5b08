// Command gin is the Authenik8 example server on Gin (SPEC §7):
//
//	go run ./examples/gin
//
// The auth routes are under /auth; GET /api/profile needs any signed-in
// user and GET /api/admin role admin; /healthz and /readyz are the probes.
// Configuration comes from the environment: see examples/internal/app.
package main

import (
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/authenik8/authenik8-go/adapters/gin"
	"github.com/authenik8/authenik8-go/examples/internal/app"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	a, err := app.FromEnv(os.Getenv, log)
	if err != nil {
		log.Error("configuration", "err", err)
		os.Exit(1)
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(gin.Recovery())
	r.SetTrustedProxies(nil) // client IPs come from the connection; list your proxies here

	auth := r.Group("/auth")
	ginauth.Mount(auth, a.Auth)
	r.GET("/.well-known/jwks.json", func(c *gin.Context) { ginauth.Write(c, a.Auth.JWKSResponse()) })
	r.GET("/healthz", func(c *gin.Context) { ginauth.Write(c, app.Healthz()) })
	r.GET("/readyz", func(c *gin.Context) { ginauth.Write(c, a.Readyz(c.Request.Context())) })

	api := r.Group("/api", ginauth.Authenticate(a.Auth))
	api.GET("/profile", func(c *gin.Context) {
		claims, _ := ginauth.Claims(c)
		ginauth.Write(c, app.Profile(claims))
	})
	api.GET("/admin", ginauth.RequireAdmin(), func(c *gin.Context) { ginauth.Write(c, app.Admin()) })

	srv := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	if err := a.Run("gin", srv.Serve, srv.Shutdown); err != nil && err != http.ErrServerClosed {
		log.Error("server", "err", err)
		os.Exit(1)
	}
}
