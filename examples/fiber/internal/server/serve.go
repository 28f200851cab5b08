package server

import (
	"context"
	"net"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
)

// Serve answers on l until ctx is done, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	app := fiber.New(fiber.Config{
		DisableStartupMessage: true,
		ReadTimeout:           readTimeout, // the whole request, headers and body
		WriteTimeout:          writeTimeout,
		IdleTimeout:           idleTimeout,
		ReadBufferSize:        maxHeaderBytes, // the request line and headers must fit
	})
	if s.metrics != nil { // METRICS=1
		app.Get("/metrics", adaptor.HTTPHandler(s.metrics))
	}
	s.routes(app)
	errc := make(chan error, 1)
	go func() { errc <- app.Listener(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	return app.ShutdownWithContext(ctx)
}
