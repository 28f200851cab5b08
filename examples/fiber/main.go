// Command fiber is the Authenik8 example server on Fiber v2 (SPEC §7):
//
//	go run ./examples/fiber
//
// The auth routes are under /auth; GET /api/profile needs any signed-in
// user and GET /api/admin role admin; /healthz and /readyz are the probes.
// Configuration comes from the environment: see examples/internal/app.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/recover"

	"github.com/authenik8/authenik8-go/adapters/fiber"
	"github.com/authenik8/authenik8-go/examples/internal/app"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	a, err := app.FromEnv(os.Getenv, log)
	if err != nil {
		log.Error("configuration", "err", err)
		os.Exit(1)
	}
	f := fiber.New(fiber.Config{
		DisableStartupMessage: true,
		ReadBufferSize:        16 << 10, // room for access tokens up to 8 KiB in headers
		// Client IPs come from the connection; to trust a proxy set
		// EnableTrustedProxyCheck, TrustedProxies and ProxyHeader.
	})
	f.Use(recover.New())

	fiberauth.Mount(f.Group("/auth"), a.Auth)
	f.Get("/.well-known/jwks.json", func(c *fiber.Ctx) error { return fiberauth.Write(c, a.Auth.JWKSResponse()) })
	f.Get("/healthz", func(c *fiber.Ctx) error { return fiberauth.Write(c, app.Healthz()) })
	f.Get("/readyz", func(c *fiber.Ctx) error { return fiberauth.Write(c, a.Readyz(c.UserContext())) })

	// Route-level middleware: on a group, Fiber would answer 401 for unknown
	// paths under /api too.
	authenticated := fiberauth.Authenticate(a.Auth)
	f.Get("/api/profile", authenticated, func(c *fiber.Ctx) error {
		claims, _ := fiberauth.Claims(c)
		return fiberauth.Write(c, app.Profile(claims))
	})
	f.Get("/api/admin", authenticated, fiberauth.RequireAdmin(), func(c *fiber.Ctx) error { return fiberauth.Write(c, app.Admin()) })

	shutdown := func(ctx context.Context) error { return f.ShutdownWithContext(ctx) }
	if err := a.Run("fiber", f.Listener, shutdown); err != nil {
		log.Error("server", "err", err)
		os.Exit(1)
	}
}
