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
	r.SetTrustedProxies(nil) // client IPs come from the connection; list your proxies here

	ginauth.Mount(r.Group("/auth"), s.Auth)
	r.GET("/.well-known/jwks.json", func(c *gin.Context) { ginauth.Write(c, s.Auth.JWKSResponse()) })
	r.GET("/healthz", func(c *gin.Context) { ginauth.Write(c, s.Healthz()) })
	r.GET("/readyz", func(c *gin.Context) { ginauth.Write(c, s.Readyz(c.Request.Context())) })

	api := r.Group("/api", ginauth.Authenticate(s.Auth)) // 401 without a valid token of a live session
	api.GET("/profile", func(c *gin.Context) {
		claims, _ := ginauth.Claims(c)
		ginauth.Write(c, s.Profile(claims))
	})
	api.GET("/admin", ginauth.RequireAdmin(), func(c *gin.Context) { // 403 without role admin
		claims, _ := ginauth.Claims(c)
		ginauth.Write(c, s.Admin(claims))
	})
	return r
}
