// Command nethttp is an authentication service on net/http and Authenik8.
//
//	go run .
//
// It serves the auth API under /auth, GET /api/profile (any signed-in user),
// GET /api/admin (role admin), /healthz, /readyz and /.well-known/jwks.json
// on PORT (default 8080). Configuration comes from the environment and from
// .env: see internal/server/config.go.
package main

import (
	"context"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/authenik8/authenik8-go/examples/nethttp/internal/server"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(log); err != nil {
		log.Error("nethttp stopped", "err", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	cfg, err := server.LoadConfig(".env")
	if err != nil {
		return err
	}
	srv, err := server.New(cfg, log)
	if err != nil {
		return err
	}
	defer srv.Close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	l, err := net.Listen("tcp", ":"+cfg.Port)
	if err != nil {
		return err
	}
	log.Info("listening", "addr", l.Addr().String())
	return srv.Serve(ctx, l) // until SIGINT or SIGTERM, then a graceful shutdown
}
