// Package server wires Authenik8 into this service: the configuration
// (config.go); the keys, the store, the auth core and the service's own
// answers (this file); the Gin routes (routes.go); and the
// HTTP server (serve.go).
package server

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/core/memstore"
	"github.com/authenik8/authenik8-go/redisstore"
)

// Server is the service: the auth core and the store behind it.
type Server struct {
	Auth *core.Auth
	Log  *slog.Logger

	metrics http.Handler // GET /metrics with METRICS=1, else nil
	close   func()
}

// New builds the Server for cfg: the keys, the store, the telemetry, the
// auth core and the seed admin.
func New(cfg Config, log *slog.Logger) (*Server, error) {
	keys, err := accessKeys(cfg, log)
	if err != nil {
		return nil, err
	}
	refreshSecret, err := secret(cfg.RefreshSecret, "REFRESH_SECRET", log)
	if err != nil {
		return nil, err
	}
	tel, err := newTelemetry(cfg, log)
	if err != nil {
		return nil, err
	}
	store, accounts, closeStore, err := openStore(cfg, log)
	if err != nil {
		tel.close(log)
		return nil, err
	}
	closeAll := func() { closeStore(); tel.close(log) }
	a, err := core.New(core.Config{
		Store:         store,
		Users:         accounts,
		AccessKeys:    keys,
		RefreshSecret: refreshSecret,
		RateLimits:    cfg.RateLimits,
		ReloadUser:    true, // roles re-read at every refresh (in the same round trip on Redis)
		// Metrics and traces; nil (METRICS, OTEL_EXPORTER_OTLP_ENDPOINT
		// unset) leaves core's instruments no-ops.
		MeterProvider:  tel.meters,
		TracerProvider: tel.tracers,
		Hooks: core.Hooks{
			OnReuseDetected: func(_ context.Context, e core.Event) {
				log.Warn("refresh token reused: session revoked", "user", e.UserID, "session", e.SessionID)
			},
		},
	})
	if err == nil {
		err = seedAdmin(cfg, accounts, log)
	}
	if err != nil {
		closeAll()
		return nil, err
	}
	return &Server{Auth: a, Log: log, metrics: tel.metrics, close: closeAll}, nil
}

// Close releases the store and flushes the telemetry.
func (s *Server) Close() { s.close() }

// The service's own answers are core.Responses, like those of the auth
// routes, so that every framework writes them byte for byte alike with its
// adapter's Write.

// Healthz answers GET /healthz: the process is up. No I/O.
func (s *Server) Healthz() *core.Response { return healthy }

// Readyz answers GET /readyz: 200 when the store answers within 2 seconds,
// 503 store_unavailable when not.
func (s *Server) Readyz(ctx context.Context) *core.Response {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := s.Auth.Ready(ctx); err != nil {
		return core.ErrorResponse(err)
	}
	return ready
}

// Profile answers GET /api/profile for any signed-in user.
func (s *Server) Profile(c *core.Claims) *core.Response {
	return jsonResponse(200, profile{Roles: c.Roles, SessionID: c.SessionID, Subject: c.Subject})
}

// Admin answers GET /api/admin for role admin.
func (s *Server) Admin(*core.Claims) *core.Response { return welcomeAdmin }

// Limits of the HTTP server, the same on every framework: a client has
// readTimeout to send a whole request and writeTimeout to take the answer,
// so that a slow or stalled client cannot hold a connection; headers,
// access tokens of up to 8 KiB included, fit in maxHeaderBytes.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 15 * time.Second
	idleTimeout       = 60 * time.Second
	maxHeaderBytes    = 16 << 10
	shutdownTimeout   = 10 * time.Second
)

var (
	healthy      = jsonResponse(200, map[string]string{"status": "ok"})
	ready        = jsonResponse(200, map[string]string{"status": "ready"})
	welcomeAdmin = jsonResponse(200, map[string]string{"message": "welcome, admin"})
)

// profile is the body of GET /api/profile.
type profile struct {
	Roles     []string `json:"roles"`
	SessionID string   `json:"sid"`
	Subject   string   `json:"sub"`
}

// jsonResponse is a JSON answer, not to be cached, as core's own are.
func jsonResponse(status int, v any) *core.Response {
	body, err := json.Marshal(v)
	if err != nil {
		return core.ErrorResponse(err) // 500 internal_error
	}
	return &core.Response{Status: status, Header: jsonHeaders, Body: body}
}

var jsonHeaders = []core.Header{
	{Key: "Content-Type", Value: "application/json"},
	{Key: "Cache-Control", Value: "no-store"},
}

// users is what the service needs of a user store.
type users interface {
	core.UserStore
	core.UserRegistrar
}

// openStore opens the session store and the user store.
func openStore(cfg Config, log *slog.Logger) (core.Store, users, func(), error) {
	if cfg.RedisURL == "" {
		log.Warn("store: in memory, because REDIS_URL is not set: sessions and accounts live in this process only")
		return memstore.New(), memstore.NewUsers(nil), func() {}, nil
	}
	rs, err := redisstore.Open(cfg.RedisURL, redisstore.Options{}) // its errors show the URL redacted
	if err != nil {
		return nil, nil, nil, err
	}
	log.Info("store: Redis", "url", core.RedactURL(cfg.RedisURL))
	return rs, rs.Users(), rs.Close, nil
}

// accessKeys returns the keys of access tokens: the private JWK set
// JWT_JWKS when set (its first key signs), else the HS256 key JWT_SECRET.
func accessKeys(cfg Config, log *slog.Logger) ([]core.Key, error) {
	if cfg.JWKS != "" {
		keys, err := core.ParseJWKS([]byte(cfg.JWKS))
		if err != nil {
			return nil, fmt.Errorf("JWT_JWKS: %w", err)
		}
		return keys, nil
	}
	s, err := secret(cfg.JWTSecret, "JWT_SECRET", log)
	if err != nil {
		return nil, err
	}
	key, err := core.NewHMACKey(s)
	if err != nil {
		return nil, fmt.Errorf("JWT_SECRET: %w", err)
	}
	return []core.Key{key}, nil
}

// secret returns a configured secret, or a random one for this run with a
// warning when it is unset: tokens then die with the process.
func secret(value, name string, log *slog.Logger) ([]byte, error) {
	if value != "" {
		if len(value) < core.MinHMACSecret {
			return nil, fmt.Errorf("%s is %d bytes; at least %d are required (authenik8 secret makes one)", name, len(value), core.MinHMACSecret)
		}
		return []byte(value), nil
	}
	log.Warn(name + " is not set: using a random key for this run only (tokens will not survive a restart or verify in other processes)")
	return []byte(rand.Text() + rand.Text()), nil
}

// seedAdmin creates the SEED_ADMIN_EMAIL account with role admin. An
// existing account is left as it is, never promoted, so that several
// instances can share one seed.
func seedAdmin(cfg Config, accounts users, log *slog.Logger) error {
	email, password := core.NormalizeEmail(cfg.SeedAdminEmail), cfg.SeedAdminPassword
	if email == "" && password == "" {
		return nil
	}
	if email == "" || password == "" {
		return errors.New("SEED_ADMIN_EMAIL and SEED_ADMIN_PASSWORD go together")
	}
	if err := errors.Join(core.CheckEmail(email), core.CheckPassword(password)); err != nil {
		return fmt.Errorf("seed admin: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := accounts.Register(ctx, email, password, []string{"admin"})
	switch {
	case errors.Is(err, core.ErrUserExists):
		log.Warn("seed admin: the account exists already; left unchanged (not promoted)", "email", email)
	case err != nil:
		return fmt.Errorf("seed admin: %w", err)
	default:
		log.Info("seed admin: created", "email", email)
	}
	return nil
}
