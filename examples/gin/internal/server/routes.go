package server

import (
	"net/http"

	"github.com/gin-gonic/gin"

	ginauth "github.com/authenik8/authenik8-go/adapters/gin"
)

// Handler returns the routes: the auth API under /auth, the public keys,
// the probes, and the application's routes under /api. Add yours here.
func (s *Server) Handler() http.Handler {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(gin.Recovery())

	// Client IPs come from the connection, or from TRUSTED_PROXIES' header
	// (Gin's own ClientIP and trusted proxies play no part).
	auth := ginauth.New(s.Auth, trustedProxy(s.trustedProxy, ginauth.WithTrustedProxy)...)
	auth.Mount(r.Group("/auth"))
	r.GET("/.well-known/jwks.json", func(c *gin.Context) { ginauth.Write(c, s.Auth.JWKSResponse()) })
	r.GET("/healthz", func(c *gin.Context) { ginauth.Write(c, s.Healthz()) })
	r.GET("/readyz", func(c *gin.Context) { ginauth.Write(c, s.Readyz(c.Request.Context())) })

	api := r.Group("/api", auth.Authenticate()) // 401 without a valid token of a live session
	api.GET("/profile", func(c *gin.Context) {
		claims, _ := ginauth.Claims(c)
		ginauth.Write(c, s.Profile(claims))
	})
	api.GET("/admin", auth.RequireAdmin(), func(c *gin.Context) { // 403 without role admin
		claims, _ := ginauth.Claims(c)
		ginauth.Write(c, s.Admin(claims))
	})
	return r
}
