// Command echo is the Authenik8 example server on Echo v4 (SPEC §7):
//
//	go run ./examples/echo
//
// The auth routes are under /auth; GET /api/profile needs any signed-in
// user and GET /api/admin role admin; /healthz and /readyz are the probes.
// Configuration comes from the environment: see examples/internal/app.
package main

import (
	"log/slog"
	"net"
	"net/http"
	"os"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/authenik8/authenik8-go/adapters/echo"
	"github.com/authenik8/authenik8-go/examples/internal/app"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	a, err := app.FromEnv(os.Getenv, log)
	if err != nil {
		log.Error("configuration", "err", err)
		os.Exit(1)
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Use(middleware.Recover())
	e.IPExtractor = echo.ExtractIPDirect() // client IPs come from the connection; trust your proxies here

	echoauth.Mount(e.Group("/auth"), a.Auth)
	e.GET("/.well-known/jwks.json", func(c echo.Context) error { return echoauth.Write(c, a.Auth.JWKSResponse()) })
	e.GET("/healthz", func(c echo.Context) error { return echoauth.Write(c, app.Healthz()) })
	e.GET("/readyz", func(c echo.Context) error { return echoauth.Write(c, a.Readyz(c.Request().Context())) })

	// Route-level middleware: on a group, Echo would answer 401 for unknown
	// paths under /api too.
	authenticated := echoauth.Authenticate(a.Auth)
	e.GET("/api/profile", func(c echo.Context) error {
		claims, _ := echoauth.Claims(c)
		return echoauth.Write(c, app.Profile(claims))
	}, authenticated)
	e.GET("/api/admin", func(c echo.Context) error { return echoauth.Write(c, app.Admin()) }, authenticated, echoauth.RequireAdmin())

	serve := func(l net.Listener) error { e.Listener = l; return e.Start("") }
	if err := a.Run("echo", serve, e.Shutdown); err != nil && err != http.ErrServerClosed {
		log.Error("server", "err", err)
		os.Exit(1)
	}
}
