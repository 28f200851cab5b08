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

// TestRoundTrips proves the costs SPEC §4 promises: a refresh is exactly one
// command to Redis (one Lua script), and the per-request check of a live
// session costs none once cached.
func TestRoundTrips(t *testing.T) {
	srv := redistest.Start(t) // no other client: the server's counters are ours
	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	c := &counting{Client: client}
	store, err := redisstore.New(c, redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := storetest.NewAuth(t, store, nil)
	ctx := context.Background()
	p, err := a.IssueSession(ctx, core.User{ID: "rt"}, core.Client{})
	if err != nil {
		t.Fatal(err)
	}

	const n = 200
	c.reset()
	before := commandCalls(t, srv.Addr)
	for range n {
		if p, err = a.Refresh(ctx, p.RefreshToken); err != nil {
			t.Fatal(err)
		}
	}
	d := delta(before, commandCalls(t, srv.Addr))
	if c.do.Load() != n || c.multi.Load() != 0 || c.cache.Load() != 0 || d["evalsha"] != n || d["eval"] != 0 {
		t.Fatalf("%d refreshes: client Do %d, DoMulti %d, DoCache %d; server calls %v; want %d single EVALSHA round trips",
			n, c.do.Load(), c.multi.Load(), c.cache.Load(), d, n)
	}
	t.Logf("%d refreshes: %d client round trips, each one EVALSHA on the server (commands run by the script: %v)", n, c.do.Load(), d)

	if _, err := a.Verify(ctx, p.AccessToken); err != nil { // the miss that fills the cache
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
}
