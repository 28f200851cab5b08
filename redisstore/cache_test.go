package redisstore

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/authenik8/authenik8-go/conformance/redistest"
)

// replies returns real RESP3 messages from a throwaway server: the integer
// replies n (STRLEN of a value of that length) and a bulk string.
func replies(t *testing.T, ns ...int) (ints map[int]rueidis.RedisMessage, str rueidis.RedisMessage) {
	srv := redistest.Start(t)
	c := plainClient(t, srv)
	ctx := context.Background()
	ints = map[int]rueidis.RedisMessage{}
	for _, n := range ns {
		key := "v" + strconv.Itoa(n)
		if n > 0 {
			if err := c.Do(ctx, c.B().Set().Key(key).Value(string(make([]byte, n))).Build()).Error(); err != nil {
				t.Fatal(err)
			}
		}
		m, err := c.Do(ctx, c.B().Strlen().Key(key).Build()).ToMessage()
		if err != nil || !m.IsInt64() {
			t.Fatalf("STRLEN: %v %v", m, err)
		}
		ints[n] = m
	}
	c.Do(ctx, c.B().Set().Key("s").Value("text").Build())
	var err error
	if str, err = c.Do(ctx, c.B().Get().Key("s").Build()).ToMessage(); err != nil {
		t.Fatal(err)
	}
	return ints, str
}

// plainClient returns a client of srv without a cache, closed at cleanup.
func plainClient(t *testing.T, srv *redistest.Server) rueidis.Client {
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// keyMsg is an invalidation's key, as a bulk string message.
func keyMsg(t *testing.T, c rueidis.Client, key string) rueidis.RedisMessage {
	m, err := c.Do(context.Background(), c.B().Echo().Message(key).Build()).ToMessage()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func hit(t *testing.T, v rueidis.CacheStore, key, cmd string) (int64, bool) {
	t.Helper()
	m, e := v.Flight(key, cmd, time.Minute, time.Now())
	if e != nil {
		t.Fatalf("Flight(%s): a flight to wait for, where none should be", key)
	}
	if m.IsInt64() {
		n, _ := m.AsInt64()
		return n, true
	}
	return 0, false
}

// fill makes v read key (a miss) and Redis answer val.
func fill(t *testing.T, v rueidis.CacheStore, key, cmd string, ttl time.Duration, val rueidis.RedisMessage) {
	t.Helper()
	if m, e := v.Flight(key, cmd, ttl, time.Now()); m.IsInt64() || e != nil {
		t.Fatalf("fill %s: not a miss", key)
	}
	v.Update(key, cmd, val)
}

// TestSessionCacheRules: entries are shared by the client's connections; a
// connection's invalidation deletes the key whoever cached it; a closed or
// flushed connection's entries stop at once, others' stay; misses are single
// flights; only integer replies are kept.
func TestSessionCacheRules(t *testing.T) {
	ints, str := replies(t, 0, 155, 5000)
	srv := redistest.Start(t)
	echo := plainClient(t, srv)
	c := newSessionCache(1<<20, "t")
	a, b, other := c.newConn(rueidis.CacheStoreOption{}), c.newConn(rueidis.CacheStoreOption{}), c.newConn(rueidis.CacheStoreOption{})

	fill(t, a, "k1", "STRLEN", time.Minute, ints[155])
	if n, ok := hit(t, b, "k1", "STRLEN"); !ok || n != 155 {
		t.Fatalf("another connection's Flight: %d, %v; want the cached 155", n, ok)
	}
	if _, ok := hit(t, b, "k1", "HLEN"); ok {
		t.Fatal("another command on the key was answered from the cache")
	}
	b.Cancel("k1", "HLEN", errors.New("drop the flight"))
	fill(t, a, "big", "STRLEN", time.Minute, ints[5000])
	fill(t, a, "zero", "STRLEN", time.Minute, ints[0])
	if n, ok := hit(t, b, "big", "STRLEN"); !ok || n != 5000 {
		t.Fatalf("a large value: %d, %v", n, ok)
	}
	if n, ok := hit(t, b, "zero", "STRLEN"); !ok || n != 0 {
		t.Fatalf("zero: %d, %v", n, ok)
	}

	// An invalidation on any connection deletes the key.
	b.Delete([]rueidis.RedisMessage{keyMsg(t, echo, "k1")})
	if _, ok := hit(t, a, "k1", "STRLEN"); ok {
		t.Fatal("served after an invalidation")
	}
	a.Cancel("k1", "STRLEN", errors.New("drop the flight"))

	// A connection that closes takes its entries with it, at once.
	fill(t, a, "ka", "STRLEN", time.Minute, ints[155])
	fill(t, other, "ko", "STRLEN", time.Minute, ints[155])
	a.Close(errors.New("connection lost"))
	if _, ok := hit(t, b, "ka", "STRLEN"); ok {
		t.Fatal("an entry of a closed connection was served")
	}
	b.Cancel("ka", "STRLEN", errors.New("drop the flight"))
	if _, ok := hit(t, b, "ko", "STRLEN"); !ok {
		t.Fatal("another connection's entry went with the closed one")
	}
	// A flush of a connection's tracking (nil keys) ends its entries only.
	fill(t, b, "kb", "STRLEN", time.Minute, ints[155])
	other.Delete(nil)
	if _, ok := hit(t, b, "ko", "STRLEN"); ok {
		t.Fatal("served after its connection's tracking was flushed")
	}
	b.Cancel("ko", "STRLEN", errors.New("drop the flight"))
	if _, ok := hit(t, b, "kb", "STRLEN"); !ok {
		t.Fatal("a flush of one connection ended another's entries")
	}

	// The client-side TTL.
	fill(t, b, "short", "STRLEN", 20*time.Millisecond, ints[155])
	time.Sleep(40 * time.Millisecond)
	if _, ok := hit(t, b, "short", "STRLEN"); ok {
		t.Fatal("served past its TTL")
	}
	b.Cancel("short", "STRLEN", errors.New("drop the flight"))

	// Single flight: a second reader waits for the first miss, across
	// connections; a failed miss fails its waiters.
	if _, e := b.Flight("f", "STRLEN", time.Minute, time.Now()); e != nil {
		t.Fatal("first miss: a flight to wait for")
	}
	_, e := other.Flight("f", "STRLEN", time.Minute, time.Now())
	if e == nil {
		t.Fatal("second miss: no flight to wait for")
	}
	b.Update("f", "STRLEN", ints[155])
	if m, err := e.Wait(context.Background()); err != nil || !m.IsInt64() {
		t.Fatalf("waiter: %v, %v", m, err)
	}
	b.Flight("g", "STRLEN", time.Minute, time.Now())
	_, e = other.Flight("g", "STRLEN", time.Minute, time.Now())
	b.Close(errors.New("connection lost"))
	if _, err := e.Wait(context.Background()); err == nil {
		t.Fatal("the waiter of a closed connection's miss got no error")
	}

	// Other replies pass through uncached.
	fill(t, other, "s", "GET", time.Minute, str)
	if m, e := other.Flight("s", "GET", time.Minute, time.Now()); m.IsString() || e != nil {
		t.Fatal("a string reply was cached")
	}

	// Through a real client: hits are marked as such, answer what Redis
	// said, and cost no command.
	s, err := Open(srv.URL(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	s.c.Do(ctx, s.c.B().Set().Key("real").Value("twelve bytes").Build())
	for i := range 3 {
		m, err := s.c.DoCache(ctx, s.c.B().Strlen().Key("real").Cache(), time.Minute).ToMessage()
		if n, _ := m.AsInt64(); err != nil || n != 12 || m.IsCacheHit() != (i > 0) {
			t.Fatalf("DoCache %d: %d (hit %v), %v; want 12, a hit after the first", i, n, m.IsCacheHit(), err)
		}
	}
}

// TestSessionCacheBounded: the cache keeps about CacheBytes worth of
// entries whatever is checked, and what is used often stays.
func TestSessionCacheBounded(t *testing.T) {
	ints, _ := replies(t, 155)
	const bytes = 64 << 10
	c := newSessionCache(bytes, "t")
	v := c.newConn(rueidis.CacheStoreOption{})
	fill(t, v, "hot", "STRLEN", time.Minute, ints[155])
	for i := range 100_000 {
		fill(t, v, "k"+strconv.Itoa(i), "STRLEN", time.Minute, ints[155])
		if i%100 == 0 {
			if _, ok := hit(t, v, "hot", "STRLEN"); !ok {
				t.Fatalf("a key checked every 100 misses was evicted after %d", i)
			}
		}
	}
	n := 0
	for i := range c.shards {
		n += len(c.shards[i].cur) + len(c.shards[i].old)
	}
	if limit := 2 * cacheShards * c.shards[0].perGen; n > limit || n < limit/4 {
		t.Fatalf("%d entries after 100,000 misses; want at most %d, and the cache used", n, limit)
	}
	t.Logf("%d entries kept for a %d-byte bound", n, bytes)
}

// TestSessionCacheConcurrent hammers one cache from many goroutines and
// connections (run with -race): reads, fills, invalidations and closes
// interleave, and every hit answers the value last filled for its key.
func TestSessionCacheConcurrent(t *testing.T) {
	ints, _ := replies(t, 155)
	srv := redistest.Start(t)
	echo := plainClient(t, srv)
	keys := make([]rueidis.RedisMessage, 64)
	for i := range keys {
		keys[i] = keyMsg(t, echo, "k"+strconv.Itoa(i))
	}
	c := newSessionCache(1<<20, "t")
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := c.newConn(rueidis.CacheStoreOption{})
			for i := range 20_000 {
				key := "k" + strconv.Itoa((g*7+i)%64)
				m, e := v.Flight(key, "STRLEN", time.Minute, time.Now())
				switch {
				case m.IsInt64():
					if n, _ := m.AsInt64(); n != 155 {
						t.Errorf("hit %d", n)
						return
					}
				case e != nil:
					e.Wait(context.Background())
				default:
					v.Update(key, "STRLEN", ints[155])
				}
				switch i % 97 {
				case 0:
					v.Delete(keys[i%64 : i%64+1])
				case 1:
					v.Delete(nil)
				}
				if i%5000 == 4999 {
					v.Close(errors.New("reconnect"))
					v = c.newConn(rueidis.CacheStoreOption{})
				}
			}
		}()
	}
	wg.Wait()
}

// TestSessionEntries: a session check (PTTL of a session key) is kept as
// alive or ended, read back by session without a key string, and ends with
// the key; PTTL of any other key is not kept (its number changes with time).
func TestSessionEntries(t *testing.T) {
	srv := redistest.Start(t)
	c := plainClient(t, srv)
	ctx := context.Background()
	const key = "a8:{u:x}:s:m"
	if err := c.Do(ctx, c.B().Set().Key(key).Value("v").Px(300*time.Millisecond).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	live, err := c.Do(ctx, c.B().Pttl().Key(key).Build()).ToMessage()
	if n, _ := live.AsInt64(); err != nil || n <= 0 || n > 300 {
		t.Fatalf("PTTL: %v %v", live, err)
	}
	gone, err := c.Do(ctx, c.B().Pttl().Key("a8:{u:y}:s:m").Build()).ToMessage()
	if n, _ := gone.AsInt64(); err != nil || n != -2 {
		t.Fatalf("PTTL of a missing key: %v %v", gone, err)
	}

	cache := newSessionCache(1<<20, "a8")
	v := cache.newConn(rueidis.CacheStoreOption{})
	now := time.Now().UnixMilli()
	fill(t, v, key, "PTTL", time.Minute, live)
	if alive, ok := cache.session("x", []byte("m"), now); !ok || !alive {
		t.Fatalf("session x = %v, %v; want alive, from the cache", alive, ok)
	}
	if n, ok := hit(t, v, key, "PTTL"); !ok || n < 0 {
		t.Fatalf("Flight of the session key = %d, %v; want a hit of the alive class", n, ok)
	}
	if _, ok := cache.session("x", []byte("m"), now+400); ok {
		t.Fatal("session x answered from the cache after its key's expiry")
	}
	fill(t, v, "a8:{u:y}:s:m", "PTTL", time.Minute, gone)
	if alive, ok := cache.session("y", []byte("m"), now); !ok || alive {
		t.Fatalf("session y = %v, %v; want ended, from the cache", alive, ok)
	}
	if _, ok := cache.session("z", []byte("m"), now); ok {
		t.Fatal("a session never checked answered from the cache")
	}
	for _, other := range []string{"a8:{u:x}:user", "b8:{u:x}:s:m", "plain"} {
		fill(t, v, other, "PTTL", time.Minute, live)
		if _, ok := hit(t, v, other, "PTTL"); ok {
			t.Errorf("PTTL of %s was kept", other)
		}
	}
}
