package redisstore_test

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/authenik8/authenik8-go/conformance/redistest"
	"github.com/authenik8/authenik8-go/conformance/storetest"
	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/redisstore"
)

// counting counts what the store asks of its client: each Do or DoMulti is
// at least one round trip; DoCache may be none.
type counting struct {
	rueidis.Client
	do, multi, cache atomic.Int64
}

func (c *counting) Do(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	c.do.Add(1)
	return c.Client.Do(ctx, cmd)
}

func (c *counting) DoMulti(ctx context.Context, cmds ...rueidis.Completed) []rueidis.RedisResult {
	c.multi.Add(1)
	return c.Client.DoMulti(ctx, cmds...)
}

func (c *counting) DoCache(ctx context.Context, cmd rueidis.Cacheable, ttl time.Duration) rueidis.RedisResult {
	c.cache.Add(1)
	return c.Client.DoCache(ctx, cmd, ttl)
}

func (c *counting) reset() { c.do.Store(0); c.multi.Store(0); c.cache.Store(0) }

// commandCalls reads the server's per-command call counts (INFO
// commandstats), commands run inside scripts included.
func commandCalls(t *testing.T, addr string) map[string]int64 {
	info, err := redistest.Command(addr, "INFO", "commandstats")
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]int64{}
	for _, line := range strings.Split(info, "\r\n") {
		name, rest, ok := strings.Cut(strings.TrimPrefix(line, "cmdstat_"), ":calls=")
		if ok && name != "info" {
			v, _, _ := strings.Cut(rest, ",")
			calls[name], _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return calls
}

func delta(before, after map[string]int64) map[string]int64 {
	d := map[string]int64{}
	for k, v := range after {
		if v != before[k] {
			d[k] = v - before[k]
		}
	}
	return d
}

// TestRoundTrips proves the costs promised: a refresh is exactly one command
// to Redis (one Lua script) — with Config.ReloadUser too, the user's roles
// being read inside the script, a role change applying at the next refresh
// — and the per-request check of a live session costs none once cached. A
// custom UserLoader costs its own round trip before the rotation.
func TestRoundTrips(t *testing.T) {
	srv := redistest.Start(t) // no other client: the server's counters are ours
	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	c := &counting{Client: client}
	store, err := redisstore.New(c, redisstore.Options{Hasher: storetest.FastHasher})
	if err != nil {
		t.Fatal(err)
	}
	users := store.Users()
	a := storetest.NewAuth(t, store, func(c *core.Config) {
		c.Users = users
		c.ReloadUser = true
	})
	ctx := context.Background()
	u, err := users.Register(ctx, "rt@example.com", "a password", []string{"user"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := a.IssueSession(ctx, u, core.Client{})
	if err != nil {
		t.Fatal(err)
	}

	const n = 200
	c.reset()
	before := commandCalls(t, srv.Addr)
	for i := range n {
		if i == n/2 {
			c.reset()
			if err := users.SetRoles(ctx, u.ID, []string{"user", "admin"}); err != nil {
				t.Fatal(err)
			}
			if c.do.Load() != 1 {
				t.Fatalf("SetRoles: %d round trips", c.do.Load())
			}
			c.reset()
			before = commandCalls(t, srv.Addr)
		}
		if p, err = a.Refresh(ctx, p.RefreshToken); err != nil {
			t.Fatal(err)
		}
		claims, err := a.Verify(ctx, p.AccessToken)
		if err != nil || claims.IsAdmin() != (i >= n/2) {
			t.Fatalf("refresh %d: admin %v, %v; the role change is made before refresh %d", i, claims.IsAdmin(), err, n/2)
		}
	}
	d := delta(before, commandCalls(t, srv.Addr))
	if c.do.Load() != n/2 || c.multi.Load() != 0 || d["evalsha"] != n/2 || d["eval"] != 0 || d["hgetall"] != n/2 {
		t.Fatalf("%d refreshes with ReloadUser: client Do %d, DoMulti %d; server calls %v; want %d single EVALSHA round trips, each reading the user",
			n/2, c.do.Load(), c.multi.Load(), d, n/2)
	}
	t.Logf("%d refreshes with ReloadUser: %d client round trips (Do), %d EVALSHA and %d HGETALL (inside the script) on the server", n/2, c.do.Load(), d["evalsha"], d["hgetall"])

	// The last refresh's invalidation of the session's cached check may still
	// be on its way: let it land, then the miss that fills the cache.
	time.Sleep(100 * time.Millisecond)
	if _, err := a.Verify(ctx, p.AccessToken); err != nil {
		t.Fatal(err)
	}
	c.reset()
	before = commandCalls(t, srv.Addr)
	for range n {
		if _, err := a.Verify(ctx, p.AccessToken); err != nil {
			t.Fatal(err)
		}
	}
	if d := delta(before, commandCalls(t, srv.Addr)); c.do.Load() != 0 || c.multi.Load() != 0 || len(d) != 0 {
		t.Fatalf("%d warm Verify calls: client Do %d, DoMulti %d; server calls %v; want none", n, c.do.Load(), c.multi.Load(), d)
	}
	t.Logf("%d warm Verify calls: %d cached reads, 0 server commands", n, c.cache.Load())

	// A custom loader (here the same users, as an opaque function) costs its
	// own round trip.
	custom := storetest.NewAuth(t, store, func(c *core.Config) { c.UserLoader = users.User })
	c.reset()
	for range 10 {
		if p, err = custom.Refresh(ctx, p.RefreshToken); err != nil {
			t.Fatal(err)
		}
	}
	if c.do.Load() != 20 {
		t.Fatalf("10 refreshes with a UserLoader: %d round trips, want 20", c.do.Load())
	}
}
