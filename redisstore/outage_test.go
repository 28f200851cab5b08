package redisstore_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/authenik8/authenik8-go/conformance/redistest"
	"github.com/authenik8/authenik8-go/conformance/storetest"
	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/redisstore"
	"github.com/authenik8/authenik8-go/redisstore/redisstoretest"
)

// TestStoreUnavailable: with Redis killed or frozen, every store call fails
// with core.ErrStoreUnavailable within the configured timeout, nothing
// panics, and the same Store works again once Redis is back.
func TestStoreUnavailable(t *testing.T) {
	const timeout = 300 * time.Millisecond
	const slack = 300 * time.Millisecond
	for _, mode := range []string{"killed", "frozen"} {
		t.Run(mode, func(t *testing.T) {
			srv := redistest.Start(t)
			s := redisstoretest.Open(t, srv.URL(), redisstore.Options{KeyPrefix: redisstoretest.Prefix(), Timeout: timeout, Hasher: storetest.FastHasher})
			users := s.Users()
			a := storetest.NewAuth(t, s, func(c *core.Config) { c.Users = users })
			c := bg(t)
			u := must(users.Register(c, "down@example.com", "password", nil))
			cached := must(a.IssueSession(c, u, core.Client{}))
			must(a.Verify(c, cached.AccessToken)) // cached as alive
			fresh := must(a.IssueSession(c, u, core.Client{}))

			if mode == "killed" {
				srv.Kill()
			} else {
				srv.Pause()
				defer srv.Resume()
			}
			sid := core.NewSessionID(u.ID)
			calls := map[string]func() error{
				"CreateSession": func() error {
					_, err := s.CreateSession(c, core.NewSession{ID: sid, UserID: u.ID, TokenHash: "h", IdleTTL: time.Hour, AbsoluteTTL: time.Hour})
					return err
				},
				"Rotate": func() error {
					_, err := s.Rotate(c, core.Rotation{UserID: u.ID, SessionID: fresh.SessionID, TokenHash: "h", NewHash: "n", IdleTTL: time.Hour})
					return err
				},
				"SessionAlive":  func() error { _, err := s.SessionAlive(c, u.ID, fresh.SessionID); return err },
				"RevokeSession": func() error { _, err := s.RevokeSession(c, u.ID, sid); return err },
				"RevokeUser":    func() error { _, err := s.RevokeUser(c, "nobody"); return err },
				"ListSessions":  func() error { _, err := s.ListSessions(c, u.ID); return err },
				"Ping":          func() error { return s.Ping(c) },
				"Users.Register": func() error {
					_, err := users.Register(c, "new@example.com", "password", nil)
					return err
				},
				"Users.Authenticate": func() error { _, err := users.Authenticate(c, "down@example.com", "password"); return err },
				"Users.User":         func() error { _, err := users.User(c, u.ID); return err },
				"Users.SetRoles":     func() error { return users.SetRoles(c, u.ID, nil) },
				"Auth.Verify":        func() error { _, err := a.Verify(c, fresh.AccessToken); return err },
				"Auth.Refresh":       func() error { _, err := a.Refresh(c, fresh.RefreshToken); return err },
				"Auth.Login":         func() error { _, err := a.Login(c, "down@example.com", "password", core.Client{}); return err },
				"Auth.Logout":        func() error { return a.Logout(c, fresh.SessionID) },
				"Auth.Ready":         func() error { return a.Ready(c) },
			}
			for name, call := range calls {
				start := time.Now()
				err := call()
				took := time.Since(start)
				if !errors.Is(err, core.ErrStoreUnavailable) {
					t.Errorf("%s with Redis %s: %v, want store_unavailable", name, mode, err)
				}
				if took > timeout+slack {
					t.Errorf("%s with Redis %s took %v; the timeout is %v", name, mode, took, timeout)
				}
			}

			if mode == "killed" {
				// The cache goes with the connection: once the client has
				// seen Redis go (the calls above did), a cached session is
				// not served as alive. (A frozen Redis is the partition
				// window's case: storetest.PartitionFailsClosed.)
				if _, err := a.Verify(c, cached.AccessToken); !errors.Is(err, core.ErrStoreUnavailable) {
					t.Errorf("Verify of a cached session with Redis killed: %v, want store_unavailable", err)
				}
				if err := srv.Restart(); err != nil {
					t.Fatal(err)
				}
			} else {
				srv.Resume()
			}
			deadline := time.Now().Add(10 * time.Second)
			for s.Ping(c) != nil {
				if time.Now().After(deadline) {
					t.Fatal("the store did not recover within 10s of Redis coming back")
				}
				time.Sleep(50 * time.Millisecond)
			}
			p := must(a.IssueSession(c, u, core.Client{}))
			must(a.Verify(c, p.AccessToken))
			must(a.Refresh(c, p.RefreshToken))
		})
	}
}

// TestServerWithoutTracking: a server that cannot do RESP3 client tracking
// gets a clear error naming the option, and works with the option set.
func TestServerWithoutTracking(t *testing.T) {
	srv := redistest.Start(t, "--rename-command", "HELLO", `""`)
	_, err := redisstore.Open(srv.URL(), redisstore.Options{})
	if err == nil || !strings.Contains(err.Error(), "DisableCache") {
		t.Fatalf("Open on a server without HELLO: %v; want an error naming DisableCache", err)
	}
	s := redisstoretest.Open(t, srv.URL(), redisstore.Options{DisableCache: true, KeyPrefix: redisstoretest.Prefix()})
	a := storetest.NewAuth(t, s, nil)
	c := bg(t)
	p := must(a.IssueSession(c, core.User{ID: "nocache"}, core.Client{}))
	must(a.Verify(c, p.AccessToken))
	if err := a.Logout(c, p.SessionID); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Verify(c, p.AccessToken); !errors.Is(err, core.ErrTokenRevoked) {
		t.Fatalf("Verify after Logout without caching: %v", err)
	}
}

// TestKeyPrefixIsolation: stores with different prefixes share nothing.
func TestKeyPrefixIsolation(t *testing.T) {
	url := redistest.URL(t)
	s1 := redisstoretest.Open(t, url, redisstore.Options{KeyPrefix: redisstoretest.Prefix()})
	s2 := redisstoretest.Open(t, url, redisstore.Options{KeyPrefix: redisstoretest.Prefix()})
	a1, a2 := storetest.NewAuth(t, s1, nil), storetest.NewAuth(t, s2, nil)
	c := bg(t)
	p := must(a1.IssueSession(c, core.User{ID: "iso"}, core.Client{}))
	if _, err := a2.Verify(c, p.AccessToken); !errors.Is(err, core.ErrTokenRevoked) {
		t.Fatalf("another prefix accepts the session: %v", err)
	}
	if n, err := a2.LogoutAll(c, "iso"); err != nil || n != 0 {
		t.Fatalf("LogoutAll under another prefix: %d, %v", n, err)
	}
	must(a1.Verify(c, p.AccessToken))
	if _, err := redisstore.Open(url, redisstore.Options{KeyPrefix: "a{b}"}); err == nil {
		t.Fatal("a prefix with braces was accepted")
	}
}
