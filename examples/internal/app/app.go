// Package app is the configuration shared by the example servers: one
// place reads the environment, builds the store and the core.Auth, seeds the
// admin and answers the probes, so that the Gin, Echo and Fiber examples
// differ only in their framework.
//
// Environment (SPEC §7):
//
//	PORT                 listen port (default 8080)
//	REDIS_URL            redis://… (a cluster: redis://a:7000?addr=b:7000&addr=c:7000);
//	                     unset: the in-memory store
//	JWT_SECRET           the HS256 access-token key itself, ≥ 32 bytes
//	                     (unset: random per start, with a warning)
//	REFRESH_SECRET       the refresh-token MAC key, ≥ 32 bytes (unset: random per start)
//	SEED_ADMIN_EMAIL     with SEED_ADMIN_PASSWORD: an admin created at start
//	SEED_ADMIN_PASSWORD  (an existing account is left unchanged, never promoted)
//	RATE_LIMITS          e.g. "login_account=10/15m,login_ip=100/15m,register_ip=20/1h"
//	                     (those are the defaults; "off" disables them)
package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/core/memstore"
	"github.com/authenik8/authenik8-go/redisstore"
)

// App is a configured server, framework aside.
type App struct {
	Auth *core.Auth
	Addr string // listen address, ":" + PORT
	Log  *slog.Logger

	close func()
}

// FromEnv builds the App from the environment (getenv, usually os.Getenv).
func FromEnv(getenv func(string) string, log *slog.Logger) (*App, error) {
	port := getenv("PORT")
	if port == "" {
		port = "8080"
	}
	jwtSecret, err := secret(getenv, log, "JWT_SECRET")
	if err != nil {
		return nil, err
	}
	refreshSecret, err := secret(getenv, log, "REFRESH_SECRET")
	if err != nil {
		return nil, err
	}
	key, err := core.NewHMACKey(jwtSecret)
	if err != nil {
		return nil, fmt.Errorf("JWT_SECRET: %w", err)
	}

	var (
		store core.Store
		users interface {
			core.UserStore
			core.UserRegistrar
		}
		closeStore = func() {}
	)
	if url := getenv("REDIS_URL"); url != "" {
		rs, err := redisstore.Open(url, redisstore.Options{})
		if err != nil {
			return nil, err
		}
		store, users, closeStore = rs, rs.Users(), rs.Close
		log.Info("store: Redis", "url", redactURL(url))
	} else {
		store, users = memstore.New(), memstore.NewUsers(nil)
		log.Warn("store: in memory (set REDIS_URL=redis://… to share sessions between processes and keep them across restarts)")
	}

	limits, err := parseRateLimits(getenv("RATE_LIMITS"))
	if err != nil {
		closeStore()
		return nil, err
	}
	a, err := core.New(core.Config{
		RateLimits:    limits,
		Store:         store,
		Users:         users,
		AccessKeys:    []core.Key{key},
		RefreshSecret: refreshSecret,
		UserLoader:    users.User, // role changes apply at the next refresh
		Hooks: core.Hooks{
			OnReuseDetected: func(_ context.Context, e core.Event) {
				log.Warn("refresh token reuse: session revoked", "user", e.UserID, "session", e.SessionID)
			},
		},
	})
	if err != nil {
		closeStore()
		return nil, err
	}
	if err := seedAdmin(getenv, log, users); err != nil {
		closeStore()
		return nil, err
	}
	return &App{Auth: a, Addr: ":" + port, Log: log, close: closeStore}, nil
}

// Close releases the store.
func (app *App) Close() { app.close() }

// secret reads a key from the environment, or makes a random one with a
// warning: tokens then die with the process and other processes reject them.
func secret(getenv func(string) string, log *slog.Logger, name string) ([]byte, error) {
	if v := getenv(name); v != "" {
		if len(v) < core.MinHMACSecret {
			return nil, fmt.Errorf("%s is %d bytes; at least %d are required (try: openssl rand -base64 32)", name, len(v), core.MinHMACSecret)
		}
		return []byte(v), nil
	}
	b := make([]byte, 32)
	rand.Read(b)
	log.Warn(name + " is not set: using a random key for this run only (tokens will not survive a restart or verify in other processes)")
	return []byte(base64.RawStdEncoding.EncodeToString(b)), nil
}

// seedAdmin creates the SEED_ADMIN_EMAIL account with role admin. An
// existing account is left as it is — never promoted — so that several
// instances can share one seed.
func seedAdmin(getenv func(string) string, log *slog.Logger, users core.UserRegistrar) error {
	email, password := getenv("SEED_ADMIN_EMAIL"), getenv("SEED_ADMIN_PASSWORD")
	if email == "" && password == "" {
		return nil
	}
	if email == "" || password == "" {
		return errors.New("SEED_ADMIN_EMAIL and SEED_ADMIN_PASSWORD go together")
	}
	email = core.NormalizeEmail(email)
	if err := errors.Join(core.CheckEmail(email), core.CheckPassword(password)); err != nil {
		return fmt.Errorf("seed admin: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := users.Register(ctx, email, password, []string{"admin"})
	switch {
	case errors.Is(err, core.ErrUserExists):
		log.Warn("seed admin: the account already exists; left unchanged (not promoted)", "email", email)
		return nil
	case err != nil:
		return fmt.Errorf("seed admin: %w", err)
	}
	log.Info("seed admin: created", "email", email)
	return nil
}

// parseRateLimits reads RATE_LIMITS: comma-separated name=max/window, names
// login_account, login_ip, register_ip; unnamed limits keep their default.
func parseRateLimits(spec string) (core.RateLimits, error) {
	var r core.RateLimits
	if spec == "" {
		return r, nil
	}
	if spec == "off" {
		r.Disabled = true
		return r, nil
	}
	for _, part := range strings.Split(spec, ",") {
		name, val, ok1 := strings.Cut(strings.TrimSpace(part), "=")
		maxs, window, ok2 := strings.Cut(val, "/")
		n, err1 := strconv.Atoi(maxs)
		d, err2 := time.ParseDuration(window)
		var l *core.Limit
		switch name {
		case "login_account":
			l = &r.LoginPerAccount
		case "login_ip":
			l = &r.LoginPerIP
		case "register_ip":
			l = &r.RegisterPerIP
		}
		if !ok1 || !ok2 || err1 != nil || err2 != nil || n <= 0 || d <= 0 || l == nil {
			return r, fmt.Errorf("RATE_LIMITS: %q is not name=max/window (names: login_account, login_ip, register_ip; e.g. login_ip=100/15m)", part)
		}
		*l = core.Limit{Max: n, Window: d}
	}
	return r, nil
}

func redactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return "(unparsable URL)"
}

// Run serves until SIGINT or SIGTERM: listen on app.Addr, call serve with
// the listener, then shutdown (within 10 s) and Close.
func (app *App) Run(name string, serve func(net.Listener) error, shutdown func(context.Context) error) error {
	l, err := net.Listen("tcp", app.Addr)
	if err != nil {
		return err
	}
	app.Log.Info(name+" example listening", "addr", l.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- serve(l) }()
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	select {
	case err = <-errc:
	case <-stop:
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = shutdown(ctx)
		cancel()
	}
	app.Close()
	return err
}
