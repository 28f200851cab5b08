package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authenik8/authenik8-go/conformance/pgtest"
	"github.com/authenik8/authenik8-go/conformance/storetest"
	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/core/memstore"
	"github.com/authenik8/authenik8-go/pgstore"
	"github.com/authenik8/authenik8-go/pgstore/pgstoretest"
)

// TestPostgresDown: with PostgreSQL killed or frozen mid-run, every call
// that needs it fails with core.ErrStoreUnavailable within the timeout —
// never a panic, a hang or another error — while requests with a valid
// access token, and refreshes without a user loader, keep working (they
// never touch the user store). The same pool recovers by itself once the
// server is back.
func TestPostgresDown(t *testing.T) {
	const timeout = 300 * time.Millisecond
	const slack = 500 * time.Millisecond // a busy 2-core machine
	for _, mode := range []string{"killed", "frozen"} {
		t.Run(mode, func(t *testing.T) {
			srv := pgtest.Start(t)
			pool, err := pgxpool.New(context.Background(), srv.URL())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(pool.Close)
			users := pgstoretest.OpenOn(t, pool, pgstore.Options{Timeout: timeout, Hasher: storetest.FastHasher})
			sessions := memstore.New()
			// Rate limits off: the test logs in more often than they allow.
			a := storetest.NewAuth(t, sessions, func(c *core.Config) { c.Users = users; c.RateLimits.Disabled = true })
			reload := storetest.NewAuth(t, sessions, func(c *core.Config) {
				c.Users, c.UserLoader, c.RateLimits.Disabled = users, users.User, true
			})
			c := bg(t)
			u := must(a.Register(c, "down@example.com", "password", core.Client{}))
			p := must(a.Login(c, "down@example.com", "password", core.Client{}))
			pr := must(reload.Login(c, "down@example.com", "password", core.Client{}))

			if mode == "killed" {
				srv.Kill()
			} else {
				srv.Pause()
				defer srv.Resume()
			}
			failing := map[string]func() error{
				"Auth.Login":    func() error { _, err := a.Login(c, "down@example.com", "password", core.Client{}); return err },
				"Auth.Register": func() error { _, err := a.Register(c, "new@example.com", "password", core.Client{}); return err },
				"Auth.Refresh with a UserLoader": func() error {
					_, err := reload.Refresh(c, pr.RefreshToken)
					return err
				},
				"Users.Authenticate": func() error { _, err := users.Authenticate(c, "down@example.com", "password"); return err },
				"Users.Register":     func() error { _, err := users.Register(c, "new@example.com", "password", nil); return err },
				"Users.User":         func() error { _, err := users.User(c, u.ID); return err },
				"Users.SetRoles":     func() error { return users.SetRoles(c, u.ID, []string{"admin"}) },
				"Users.SetClaims":    func() error { return users.SetClaims(c, u.ID, map[string]any{"x": 1}) },
				"Users.Ping":         func() error { return users.Ping(c) },
				"Users.Migrate": func() error {
					mc, cancel := context.WithTimeout(c, timeout)
					defer cancel()
					return users.Migrate(mc)
				},
				"Users.MigrationStatus": func() error {
					mc, cancel := context.WithTimeout(c, timeout)
					defer cancel()
					_, err := users.MigrationStatus(mc)
					return err
				},
			}
			for name, call := range failing {
				start := time.Now()
				err := call()
				if took := time.Since(start); took > timeout+slack {
					t.Errorf("%s with PostgreSQL %s took %v; the timeout is %v", name, mode, took, timeout)
				}
				if !errors.Is(err, core.ErrStoreUnavailable) {
					t.Errorf("%s with PostgreSQL %s: %v, want store_unavailable", name, mode, err)
				}
			}
			// Many logins at once queue for the pool's connections and for
			// the password-hashing slots, which a login holds for its whole
			// user-store call (core.Config.MaxConcurrentHashes): each answers
			// 503 — store_unavailable, or server_busy once it has waited
			// MaxHashWait for a slot — never later than that wait plus its
			// own timeout.
			var wg sync.WaitGroup
			errs := make(chan error, 16)
			for range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					start := time.Now()
					_, err := a.Login(c, "down@example.com", "password", core.Client{})
					unavailable := errors.Is(err, core.ErrStoreUnavailable) || errors.Is(err, core.ErrServerBusy)
					if took := time.Since(start); !unavailable || took > core.DefaultMaxHashWait+timeout+slack {
						errs <- fmt.Errorf("concurrent login: %v after %v", err, took)
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}

			// Sessions are not in PostgreSQL.
			if _, err := a.Verify(c, p.AccessToken); err != nil {
				t.Errorf("Verify of a valid access token with PostgreSQL %s: %v", mode, err)
			}
			p = must(a.Refresh(c, p.RefreshToken))
			must(a.Verify(c, p.AccessToken))

			if mode == "killed" {
				if err := srv.Restart(); err != nil {
					t.Fatal(err)
				}
			} else {
				srv.Resume()
			}
			deadline := time.Now().Add(15 * time.Second)
			for users.Ping(c) != nil {
				if time.Now().After(deadline) {
					t.Fatal("the store did not recover within 15s of PostgreSQL coming back")
				}
				time.Sleep(50 * time.Millisecond)
			}
			// Every pooled connection works again, not only the one Ping got.
			for i := range 8 {
				must(a.Login(c, "down@example.com", "password", core.Client{}))
				must(a.Register(c, fmt.Sprintf("after%d@example.com", i), "password", core.Client{}))
			}
			// The refresh that failed did not spend its token.
			if _, err := reload.Refresh(c, pr.RefreshToken); err != nil {
				t.Fatalf("Refresh with a UserLoader after recovery: %v", err)
			}
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
