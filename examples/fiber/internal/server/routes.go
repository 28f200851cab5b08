package server

import (
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/recover"

	fiberauth "github.com/authenik8/authenik8-go/adapters/fiber"
)

// routes adds the routes to app: the auth API under /auth, the public keys,
// the probes, and the application's routes under /api. Add yours here.
func (s *Server) routes(app *fiber.App) {
	app.Use(recover.New())

	// Client IPs come from the connection, or from TRUSTED_PROXIES' header
	// (Fiber's c.IP(), ProxyHeader and TrustedProxies play no part).
	auth := fiberauth.New(s.Auth, trustedProxy(s.trustedProxy, fiberauth.WithTrustedProxy)...)
	auth.Mount(app.Group("/auth"))
	app.Get("/.well-known/jwks.json", func(c *fiber.Ctx) error { return fiberauth.Write(c, s.Auth.JWKSResponse()) })
	app.Get("/healthz", func(c *fiber.Ctx) error { return fiberauth.Write(c, s.Healthz()) })
	app.Get("/readyz", func(c *fiber.Ctx) error { return fiberauth.Write(c, s.Readyz(c.UserContext())) })

	// Middleware per route: on a group, Fiber would answer 401 for unknown
	// paths under /api too.
	authenticated := auth.Authenticate() // 401 without a valid token of a live session
	app.Get("/api/profile", authenticated, func(c *fiber.Ctx) error {
		claims, _ := fiberauth.Claims(c)
		return fiberauth.Write(c, s.Profile(claims))
	})
	app.Get("/api/admin", authenticated, auth.RequireAdmin(), func(c *fiber.Ctx) error { // 403 without role admin
		claims, _ := fiberauth.Claims(c)
		return fiberauth.Write(c, s.Admin(claims))
	})
}
