package redisstore_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/authenik8/authenik8-go/conformance/redistest"
	"github.com/authenik8/authenik8-go/conformance/storetest"
	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/redisstore"
	"github.com/authenik8/authenik8-go/redisstore/redisstoretest"
)

func bg(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// TestKeyspaceAfterLifecycle: after a full lifecycle, every key has a TTL
// (accounts and their email index excepted), no token, password or token
// hash input is stored in clear, and no key name holds an email.
func TestKeyspaceAfterLifecycle(t *testing.T) {
	for name, url := range map[string]func(testing.TB) string{"Standalone": redistest.URL, "Cluster": redistest.ClusterURL} {
		t.Run(name, func(t *testing.T) {
			prefix := redisstoretest.Prefix()
			s := redisstoretest.Open(t, url(t), redisstore.Options{KeyPrefix: prefix, Hasher: storetest.FastHasher})
			users := s.Users()
			a := storetest.NewAuth(t, s, func(c *core.Config) {
				c.Users = users
				c.ReuseGrace = time.Millisecond
				c.ReloadUser = true
			})
			c := bg(t)
			const password = "a password in clear"
			var secrets []string
			keep := func(p *core.TokenPair) *core.TokenPair {
				raw, _ := base64.RawURLEncoding.DecodeString(p.RefreshToken)
				secrets = append(secrets, p.AccessToken, p.RefreshToken, hex.EncodeToString(raw), base64.StdEncoding.EncodeToString(raw))
				return p
			}
			if _, err := a.Register(c, "life@example.com", password, core.Client{IP: "127.0.0.1"}); err != nil {
				t.Fatal(err)
			}
			p1 := keep(must(a.Login(c, "life@example.com", password, core.Client{UserAgent: "ua", IP: "127.0.0.1"})))
			p2 := keep(must(a.Refresh(c, p1.RefreshToken)))
			keep(must(a.Refresh(c, p2.RefreshToken)))
			time.Sleep(5 * time.Millisecond)
			if _, err := a.Refresh(c, p1.RefreshToken); !errors.Is(err, core.ErrRefreshTokenReused) {
				t.Fatalf("reuse: %v", err)
			}
			p3 := keep(must(a.Login(c, "life@example.com", password, core.Client{})))
			p4 := keep(must(a.Login(c, "life@example.com", password, core.Client{})))
			keep(must(a.Refresh(c, p4.RefreshToken)))
			if err := a.Logout(c, p3.SessionID); err != nil {
				t.Fatal(err)
			}
			live := keep(must(a.Login(c, "life@example.com", password, core.Client{})))
			if _, err := a.Verify(c, live.AccessToken); err != nil {
				t.Fatal(err)
			}
			if _, err := a.Sessions(c, live.UserID, live.SessionID); err != nil {
				t.Fatal(err)
			}
			secrets = append(secrets, password)

			keys := scan(t, s.Client(), prefix+":*")
			if len(keys) < 4 {
				t.Fatalf("scan found only %v", keys)
			}
			for _, k := range keys {
				// Key names are listed by SCAN and logged by monitoring:
				// an email must not be readable there.
				if strings.Contains(k, "life@example.com") || strings.Contains(k, "example.com") {
					t.Errorf("key name %q holds an email", k)
				}
				ttl, err := s.Client().Do(c, s.Client().B().Pttl().Key(k).Build()).AsInt64()
				if err != nil {
					t.Fatal(err)
				}
				permanent := strings.HasSuffix(k, ":user") || strings.HasSuffix(k, ":email")
				if ttl == -1 && !permanent {
					t.Errorf("key %s has no TTL", k)
				}
				if ttl != -1 && permanent {
					t.Errorf("account key %s expires (PTTL %d)", k, ttl)
				}
				for _, v := range append(dump(t, s.Client(), k), k) {
					for _, secret := range secrets {
						if strings.Contains(v, secret) {
							t.Errorf("key %s holds a secret in clear: %.40q…", k, secret)
						}
					}
				}
			}
			t.Logf("%d keys scanned, none without a TTL but accounts, no token or password in clear", len(keys))
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// scan lists keys matching pattern on every node (every master of a cluster).
func scan(t *testing.T, c rueidis.Client, pattern string) []string {
	var keys []string
	for _, node := range c.Nodes() {
		if role, _ := node.Do(bg(t), node.B().Role().Build()).ToArray(); len(role) > 0 {
			if r, _ := role[0].ToString(); r != "master" {
				continue
			}
		}
		var cursor uint64
		for {
			e, err := node.Do(bg(t), node.B().Scan().Cursor(cursor).Match(pattern).Count(1000).Build()).AsScanEntry()
			if err != nil {
				t.Fatal(err)
			}
			keys = append(keys, e.Elements...)
			if cursor = e.Cursor; cursor == 0 {
				break
			}
		}
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// dump returns every string stored at key.
func dump(t *testing.T, c rueidis.Client, key string) []string {
	typ, err := c.Do(bg(t), c.B().Type().Key(key).Build()).ToString()
	if err != nil {
		t.Fatal(err)
	}
	var cmd rueidis.Completed
	switch typ {
	case "string":
		cmd = c.B().Get().Key(key).Build()
	case "hash":
		cmd = c.B().Hgetall().Key(key).Build()
	case "zset":
		cmd = c.B().Zrange().Key(key).Min("0").Max("-1").Build()
	case "none":
		return nil
	default:
		t.Fatalf("unexpected %s key %s", typ, key)
	}
	v, err := c.Do(bg(t), cmd).ToAny()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			out = append(out, x)
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for k, e := range x {
				out = append(out, k)
				walk(e)
			}
		}
	}
	walk(v)
	return out
}

// TestReadYourRevocations measures a pitfall of client-side caching — cached
// reads are not read-your-writes across a client's connections — and checks
// that the store hides it: after a revocation returns, SessionAlive in the
// same process says false every time.
func TestReadYourRevocations(t *testing.T) {
	s := redisstoretest.Open(t, redistest.URL(t), redisstore.Options{KeyPrefix: redisstoretest.Prefix()})
	a := storetest.NewAuth(t, s, nil)
	c := bg(t)
	const trials = 300
	stale := 0
	var slowest time.Duration
	for i := range trials {
		p := must(a.IssueSession(c, core.User{ID: "ryw" + strconv.Itoa(i)}, core.Client{}))
		// Cache the session as alive on every connection of the client.
		for range 16 {
			if _, err := a.Verify(c, p.AccessToken); err != nil {
				t.Fatal(err)
			}
		}
		if err := a.Logout(c, p.SessionID); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if alive, err := s.SessionAlive(c, p.UserID, p.SessionID); err != nil || alive {
			t.Fatalf("trial %d: SessionAlive after Logout returned = %v, %v", i, alive, err)
		}
		// The raw cached read (the store's own command), without the
		// store's tombstones.
		raw := func() bool {
			raw, _ := base64.RawURLEncoding.DecodeString(p.SessionID[len(p.UserID)+1:])
			key := s.KeyPrefix() + ":{u:" + p.UserID + "}:s:" + string(raw)
			n, err := s.Client().DoCache(c, s.Client().B().Pttl().Key(key).Cache().ToStaticTTL(), time.Minute).AsInt64()
			if err != nil {
				t.Fatal(err)
			}
			return n != -2
		}
		if raw() {
			stale++
			for raw() {
				time.Sleep(10 * time.Microsecond)
			}
			slowest = max(slowest, time.Since(start))
		}
	}
	t.Logf("raw cached reads right after a revocation: %d of %d stale; slowest invalidation %v (tombstones last 10s)", stale, trials, slowest)
	if slowest > 5*time.Second {
		t.Fatalf("an invalidation took %v, too close to the tombstone lifetime", slowest)
	}
}

// TestCachedCheckEndsWithKey: a session cached as alive stops being alive
// when its key expires, even if Redis has not yet noticed the expiry (it
// expires keys lazily and by sampling, and sends the invalidation only
// then). Here active expiry is off, so Redis never notices on its own: the
// entry must end by the key's PTTL, read with the check.
func TestCachedCheckEndsWithKey(t *testing.T) {
	srv := redistest.Start(t, "--enable-debug-command", "yes")
	s := redisstoretest.Open(t, srv.URL(), redisstore.Options{KeyPrefix: redisstoretest.Prefix()})
	c := bg(t)
	if err := s.Client().Do(c, s.Client().B().Arbitrary("DEBUG", "SET-ACTIVE-EXPIRE").Args("0").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	a := storetest.NewAuth(t, s, func(c *core.Config) { c.IdleTTL, c.AbsoluteTTL = 700*time.Millisecond, time.Hour })
	p := must(a.IssueSession(c, core.User{ID: "expiring"}, core.Client{}))
	a2 := storetest.NewAuth(t, s, nil) // default lifetimes
	long := must(a2.IssueSession(c, core.User{ID: "staying"}, core.Client{}))
	if _, err := a.Verify(c, p.AccessToken); err != nil {
		t.Fatal(err)
	}
	if _, err := a2.Verify(c, long.AccessToken); err != nil {
		t.Fatal(err)
	}
	// Cached: a check sends nothing.
	before := pttlCalls(t, s)
	for range 10 {
		if alive, err := s.SessionAlive(c, p.UserID, p.SessionID); err != nil || !alive {
			t.Fatalf("SessionAlive before expiry = %v, %v", alive, err)
		}
	}
	if n := pttlCalls(t, s) - before; n != 0 {
		t.Fatalf("%d PTTL calls for 10 cached checks; want none", n)
	}
	if allocs := testing.AllocsPerRun(100, func() { s.SessionAlive(c, p.UserID, p.SessionID) }); allocs != 0 {
		t.Errorf("a cached SessionAlive allocates %v times; want 0", allocs)
	}
	time.Sleep(900 * time.Millisecond)
	// Redis still holds the key (nothing touched it: no invalidation sent)…
	if n := must(s.Client().Do(c, s.Client().B().Dbsize().Build()).AsInt64()); n < 2 {
		t.Fatalf("DBSIZE %d: Redis reclaimed the key; the test needs it not to", n)
	}
	// …and the process already knows the session ended.
	if alive, err := s.SessionAlive(c, p.UserID, p.SessionID); err != nil || alive {
		t.Fatalf("SessionAlive after the key's expiry = %v, %v; want false", alive, err)
	}
	if _, err := a.Verify(c, p.AccessToken); !errors.Is(err, core.ErrTokenRevoked) {
		t.Fatalf("Verify after the session expired: %v; want ErrTokenRevoked", err)
	}
	if _, err := a2.Verify(c, long.AccessToken); err != nil {
		t.Fatalf("the other session: %v", err)
	}
}

// pttlCalls is the server's count of PTTL commands run (the session check).
func pttlCalls(t *testing.T, s *redisstore.Store) int {
	info := must(s.Client().Do(bg(t), s.Client().B().Info().Section("commandstats").Build()).ToString())
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "cmdstat_pttl:calls="); ok {
			v, _, _ = strings.Cut(v, ",")
			return must(strconv.Atoi(v))
		}
	}
	return 0
}
