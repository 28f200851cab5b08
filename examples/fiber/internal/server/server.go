// Package server wires Authenik8 into this service: the configuration
// (config.go); the keys, the stores, the auth core and the service's own
// answers (this file); the Fiber v2 routes (routes.go); and the
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
	"net/netip"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/core/mailer"
	"github.com/authenik8/authenik8-go/core/memstore"
	"github.com/authenik8/authenik8-go/pgstore"
	"github.com/authenik8/authenik8-go/redisstore"
)

// Server is the service: the auth core and the stores behind it.
type Server struct {
	Auth *core.Auth
	Log  *slog.Logger

	trustedProxy core.TrustedProxy // TRUSTED_PROXIES, for the adapter
	stores       *stores
	metrics      http.Handler // GET /metrics with METRICS=1, else nil
	tel          *telemetry
}

// New builds the Server for cfg: the keys, the store, the telemetry, the
// auth core and the seed admin.
func New(cfg Config, log *slog.Logger) (*Server, error) {
	if cfg.JWKSURL != "" {
		return newVerifier(cfg, log) // oauth.go
	}
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
	mail, err := openMailer(cfg, log)
	if err != nil {
		tel.close(log)
		return nil, err
	}
	st, err := openStores(cfg, log)
	if err != nil {
		tel.close(log)
		return nil, err
	}
	oauthCfg, err := oauthConfig(cfg, log) // oauth.go
	if err != nil {
		st.close()
		tel.close(log)
		return nil, err
	}
	a, err := core.New(core.Config{
		OAuth:         oauthCfg,
		Store:         st.sessions,
		Users:         st.accounts,
		AccessKeys:    keys,
		RefreshSecret: refreshSecret,
		RateLimits:    cfg.RateLimits,
		ReloadUser:    true, // roles re-read at every refresh (in the same round trip on Redis)
		Mailer:        mail, // password reset and email verification links
		AppURL:        cfg.AppURL,
		// Metrics and traces; nil (METRICS, OTEL_EXPORTER_OTLP_ENDPOINT
		// unset) leaves core's instruments no-ops.
		MeterProvider:  tel.meters,
		TracerProvider: tel.tracers,
		Hooks: core.Hooks{
			OnReuseDetected: func(_ context.Context, e core.Event) {
				log.Warn("refresh token reused: session revoked", "user", e.UserID, "session", e.SessionID)
			},
			OnMailFailed: func(_ context.Context, e core.Event) {
				log.Warn("mail not sent", "kind", e.Mail, "user", e.UserID, "err", e.Err)
			},
			OnUserDisabled: func(_ context.Context, e core.Event) {
				log.Info("user disabled: sessions ended", "user", e.UserID, "sessions", e.Sessions)
			},
		},
	})
	if err == nil {
		err = seedAdmin(cfg, st.accounts, log)
	}
	if err != nil {
		st.close()
		tel.close(log)
		return nil, err
	}
	if p := cfg.TrustedProxy; p.Header != "" {
		log.Info("client IPs: from "+p.Header+" on connections from trusted proxies", "proxies", p.Proxies) // none listed: private networks
	}
	return &Server{Auth: a, Log: log, trustedProxy: cfg.TrustedProxy, stores: st, metrics: tel.metrics, tel: tel}, nil
}

// Close sends the mails still queued (for a few seconds at most), releases
// the stores and flushes the telemetry.
func (s *Server) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.Auth.FlushMail(ctx)
	s.stores.close()
	if s.tel != nil {
		s.tel.close(s.Log)
	}
}

// The service's own answers are core.Responses, like those of the auth
// routes, so that every framework writes them byte for byte alike with its
// adapter's Write.

// Healthz answers GET /healthz: the process is up. No I/O.
func (s *Server) Healthz() *core.Response { return healthy }

// Readyz answers GET /readyz: 200 when the session store answers within 2
// seconds, 503 store_unavailable when not. PostgreSQL is left out: without it
// only logins, registrations and refreshes fail, and an instance taken out
// of rotation would also refuse the requests it can still serve.
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

// users is what the service needs of a user store: accounts that can be
// registered, changed and disabled, and the link tokens of the mails.
type users interface {
	core.UserStore
	core.UserRegistrar
	core.AccountStore
	core.LinkTokenStore
}

// stores are the session store and the user store.
type stores struct {
	sessions core.Store
	accounts users
	close    func()
}

// openStores opens the session store and the user store: the one place
// that chooses them.
func openStores(cfg Config, log *slog.Logger) (*stores, error) {
	st := &stores{close: func() {}}
	if cfg.RedisURL == "" {
		log.Warn("store: in memory, because REDIS_URL is not set: sessions live in this process only")
		st.sessions, st.accounts = memstore.New(), memstore.NewUsers(nil)
	} else {
		rs, err := redisstore.Open(cfg.RedisURL, redisstore.Options{}) // its errors show the URL redacted
		if err != nil {
			return nil, err
		}
		log.Info("store: Redis", "url", core.RedactURL(cfg.RedisURL))
		st.sessions, st.accounts, st.close = rs, rs.Users(), rs.Close
	}
	if cfg.DatabaseURL == "" {
		log.Warn("users: in the session store, because DATABASE_URL is not set")
		return st, nil
	}
	pg, closePool, err := openUsers(cfg.DatabaseURL, log)
	if err != nil {
		st.close()
		return nil, err
	}
	closeSessions := st.close
	st.accounts = pg
	st.close = func() { closePool(); closeSessions() }
	return st, nil
}

// openUsers opens the accounts in the PostgreSQL of DATABASE_URL and
// brings their schema up to date: pgstore's migrations run at every start,
// safely when several instances start at once.
func openUsers(url string, log *slog.Logger) (*pgstore.Users, func(), error) {
	// Only a URL can be shown redacted: a key=value connection string is
	// refused without being echoed.
	if u, err := core.ParseURL(url); err != nil {
		return nil, nil, fmt.Errorf("DATABASE_URL: %w", err) // redacted by ParseURL
	} else if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return nil, nil, errors.New("DATABASE_URL: not a postgres:// URL (postgres://user:password@host:5432/database)")
	}
	poolConfig, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, nil, fmt.Errorf("DATABASE_URL: %w", core.RedactURLError(url, err))
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), poolConfig) // connects on first use
	if err != nil {
		return nil, nil, fmt.Errorf("DATABASE_URL: %w", core.RedactURLError(url, err))
	}
	accounts, err := pgstore.New(pool, pgstore.Options{})
	if err == nil {
		err = accounts.Migrate(context.Background()) // within pgstore.DefaultMigrateTimeout
	}
	if err != nil {
		pool.Close()
		return nil, nil, fmt.Errorf("DATABASE_URL %s: %w", core.RedactURL(url), core.RedactURLError(url, err))
	}
	log.Info("users: PostgreSQL", "url", core.RedactURL(url), "schema", accounts.Schema())
	return accounts, pool.Close, nil
}

// trustedProxy returns the adapter's WithTrustedProxy option for
// TRUSTED_PROXIES, or none: without it the adapter takes client IPs from
// the connection.
func trustedProxy[Option any](p core.TrustedProxy, with func(header string, proxies ...netip.Prefix) Option) []Option {
	if p.Header == "" {
		return nil
	}
	return []Option{with(p.Header, p.Proxies...)}
}

// openMailer returns where the mails go: the SMTP server of SMTP_URL, or,
// without it, the log (with a warning: the log then holds working links).
func openMailer(cfg Config, log *slog.Logger) (core.Mailer, error) {
	if cfg.SMTPURL == "" {
		log.Warn("SMTP_URL unset: password-reset and verification mails go to the log, for development only")
		return mailer.NewLog(log), nil
	}
	m, err := mailer.NewSMTP(cfg.SMTPURL, mailer.Options{From: cfg.MailFrom}) // its errors show the URL redacted
	if err != nil {
		return nil, fmt.Errorf("SMTP_URL: %w", err)
	}
	log.Info("mail: SMTP", "url", core.RedactURL(cfg.SMTPURL), "from", cfg.MailFrom, "app_url", cfg.AppURL)
	return m, nil
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
