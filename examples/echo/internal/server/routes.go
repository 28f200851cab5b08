package server

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	echoauth "github.com/authenik8/authenik8-go/adapters/echo"
)

// Handler returns the routes: the auth API under /auth, the public keys,
// the probes, and the application's routes under /api. Add yours here.
func (s *Server) Handler() http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Use(middleware.Recover())

	// Client IPs come from the connection, or from TRUSTED_PROXIES' header
	// (Echo's RealIP and IPExtractor play no part).
	auth := echoauth.New(s.Auth, trustedProxy(s.trustedProxy, echoauth.WithTrustedProxy)...)
	auth.Mount(e.Group("/auth"))
	e.GET("/.well-known/jwks.json", func(c echo.Context) error { return echoauth.Write(c, s.Auth.JWKSResponse()) })
	e.GET("/healthz", func(c echo.Context) error { return echoauth.Write(c, s.Healthz()) })
	e.GET("/readyz", func(c echo.Context) error { return echoauth.Write(c, s.Readyz(c.Request().Context())) })

	// Middleware per route: on a group, Echo would answer 401 for unknown
	// paths under /api too.
	authenticated := auth.Authenticate() // 401 without a valid token of a live session
	e.GET("/api/profile", func(c echo.Context) error {
		claims, _ := echoauth.Claims(c)
		return echoauth.Write(c, s.Profile(claims))
	}, authenticated)
	e.GET("/api/admin", func(c echo.Context) error {
		claims, _ := echoauth.Claims(c)
		return echoauth.Write(c, s.Admin(claims))
	}, authenticated, auth.RequireAdmin()) // 403 without role admin
	return e
}
