package redisstore

import (
	"context"
	"hash/maphash"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

// sessionCache is the client-side cache of a client that the store opens
// (rueidis.ClientOption.NewCacheStoreFn). rueidis' own cache is an LRU per
// connection, sized per connection (128 MiB each by default), whose entries
// keep the key, the command and a reply object: several hundred bytes per
// cached session check, once per connection that served it. This one is
// shared by all of the client's connections, bounded in bytes for the whole
// client (Options.CacheBytes), and keeps what a session check needs: about
// cacheEntryBytes per tracked session (BenchmarkTrackedSessionMemory
// measures it).
//
// Correctness rests on two rules. An entry belongs to the connection whose
// read filled it: Redis tracks the key for that connection and sends the
// invalidation there, and a connection's invalidations delete the key's
// entry whoever filled it (deleting too much only costs a miss). And an
// entry is served only while its connection lives and has not been told to
// flush (an epoch per connection, checked on every hit): a connection that
// breaks, or whose tracking is reset, takes its entries with it at once.
//
// The store's session check is PTTL of the session key, sent without
// MULTI/PTTL/EXEC around it (rueidis' ToStaticTTL: two commands on the wire
// instead of five): its reply is the key's remaining life, so the entry ends
// when the key does, even before Redis notices the expiry and sends the
// invalidation. A session entry keeps only alive or ended; a hit answers
// with a reply of the same class (the first one seen: its number is not the
// key's current PTTL). Store.SessionAlive reads entries directly, without a
// key string or a command (see session).
//
// Other integer replies in [0, endedVal) are kept as the number itself; a
// hit answers with a reply message of that value (kept once per distinct
// value, for at most smallInts + maxLarge values). Any other reply, and PTTL
// of any other key, is passed through uncached. The client-side TTL the
// replies of hits report (RedisMessage.CachePTTL) is not meaningful.
type sessionCache struct {
	seed, checkSeed maphash.Seed
	sessions        string // how session keys start: <prefix>:{u:
	shards          [cacheShards]cacheShard

	small        [smallInts]atomic.Pointer[rueidis.RedisMessage] // reply for each value < smallInts
	alive, ended atomic.Pointer[rueidis.RedisMessage]            // replies of the session classes
	mu           sync.RWMutex
	large        map[uint32]*rueidis.RedisMessage // and for larger ones
}

// Entry values of session checks.
const (
	aliveVal = math.MaxUint32
	endedVal = math.MaxUint32 - 1
)

const (
	cacheShards = 64
	smallInts   = 1024
	maxLarge    = 4096
	// cacheEntryBytes is what an entry costs, map overhead included, for
	// sizing: BenchmarkTrackedSessionMemory measures 60–70 bytes.
	cacheEntryBytes = 64
)

// cacheShard holds two generations of entries: new ones go to cur; when cur
// is full it becomes old and the previous old is dropped. A hit in old moves
// the entry back to cur, so what is used survives and what is not ages out
// (an LRU approximation costing no per-entry links).
type cacheShard struct {
	mu       sync.RWMutex
	perGen   int // entries per generation
	cur, old map[uint64]cacheEntry
	flights  map[uint64]*cacheFlight // misses being read, by key hash
	_        [64]byte                // keep shards' locks on separate cache lines
}

type cacheEntry struct {
	check uint64 // a second hash, of key and command
	exp   int64  // unix ms
	conn  *connCache
	epoch uint32 // conn's epoch when filled
	val   uint32
}

// connCache is one connection's CacheStore: its view of the shared cache.
type connCache struct {
	c     *sessionCache
	epoch atomic.Uint32 // 0: the connection is closed
}

// cacheFlight is a miss on its way to Redis; other readers of the same key
// and command wait for it.
type cacheFlight struct {
	check uint64
	conn  *connCache
	xat   int64 // unix ms: the client-side TTL asked for
	ch    chan struct{}
	val   rueidis.RedisMessage
	err   error
}

// newSessionCache returns a cache holding about bytes worth of entries, for
// the store of key prefix prefix.
func newSessionCache(bytes int, prefix string) *sessionCache {
	c := &sessionCache{
		seed: maphash.MakeSeed(), checkSeed: maphash.MakeSeed(), sessions: prefix + ":{u:",
		large: map[uint32]*rueidis.RedisMessage{},
	}
	for i := range c.shards {
		c.shards[i].perGen = max(16, bytes/cacheEntryBytes/2/cacheShards)
		c.shards[i].cur = map[uint64]cacheEntry{}
		c.shards[i].old = map[uint64]cacheEntry{}
	}
	return c
}

// newConn is the rueidis.NewCacheStoreFn: one view per connection.
func (c *sessionCache) newConn(rueidis.CacheStoreOption) rueidis.CacheStore {
	v := &connCache{c: c}
	v.epoch.Store(1)
	return v
}

// hash returns the key's map hash and a second, independent hash of key and
// command. Two seeds unknown outside the process make 128 bits that an
// attacker can neither compute nor aim at: serving one key's reply for
// another would need a chance collision, about 2^-128 per pair.
func (c *sessionCache) hash(key, cmd string) (h, check uint64) {
	h = maphash.String(c.seed, key)
	var m maphash.Hash
	m.SetSeed(c.checkSeed)
	m.WriteString(key)
	m.WriteByte(0)
	m.WriteString(cmd)
	return h, m.Sum64()
}

func (c *sessionCache) shard(h uint64) *cacheShard { return &c.shards[h>>(64-6)] }

// reply returns the message answering v; keep must have stored one.
func (c *sessionCache) reply(v uint32) rueidis.RedisMessage {
	switch {
	case v == aliveVal:
		return *c.alive.Load()
	case v == endedVal:
		return *c.ended.Load()
	case v < smallInts:
		return *c.small[v].Load()
	}
	c.mu.RLock()
	m := c.large[v]
	c.mu.RUnlock()
	return *m
}

// sessionCmd is the session check's command (Store.SessionAlive).
const sessionCmd = "PTTL"

// session answers the session check of <prefix>:{u:<uid>}:s:<m> from the
// cache if it can (ok): the key's and the check's hashes are computed
// piecewise, with no key string, no command and no rueidis call. An entry
// found only in the old generation, or none, is left to the full path.
func (c *sessionCache) session(uid string, m []byte, nowms int64) (alive, ok bool) {
	var k maphash.Hash
	k.SetSeed(c.seed)
	k.WriteString(c.sessions)
	k.WriteString(uid)
	k.WriteString("}:s:")
	k.Write(m)
	h := k.Sum64()
	sh := c.shard(h)
	sh.mu.RLock()
	e, found := sh.cur[h]
	sh.mu.RUnlock()
	if !found || (e.val != aliveVal && e.val != endedVal) || !e.live(nowms) {
		return false, false
	}
	k.SetSeed(c.checkSeed) // SetSeed resets
	k.WriteString(c.sessions)
	k.WriteString(uid)
	k.WriteString("}:s:")
	k.Write(m)
	k.WriteByte(0)
	k.WriteString(sessionCmd)
	if k.Sum64() != e.check {
		return false, false
	}
	return e.val == aliveVal, true
}

// isSession reports whether key is a session key: <prefix>:{u:<uid>}:s:<m>.
func (c *sessionCache) isSession(key string) bool {
	rest, ok := strings.CutPrefix(key, c.sessions)
	return ok && strings.Contains(rest, "}:s:")
}

// classify maps a reply of cmd on key to the value an entry keeps, and
// reports whether it is kept at all; for a session check it also returns
// when the key expires (unix ms, 0 for never or unknown).
func (c *sessionCache) classify(key, cmd string, val rueidis.RedisMessage, now time.Time) (v uint32, keyExp int64, ok bool) {
	n, err := val.AsInt64()
	if err != nil || !val.IsInt64() {
		return 0, 0, false
	}
	if cmd == sessionCmd {
		if !c.isSession(key) || n < -2 {
			return 0, 0, false // a PTTL reply changes with time: only a session's is kept, as its class
		}
		class, v := &c.alive, uint32(aliveVal)
		if n == -2 {
			class, v = &c.ended, endedVal
		}
		if class.Load() == nil {
			first := val
			class.CompareAndSwap(nil, &first)
		}
		if v == endedVal {
			return v, 0, true
		}
		if n >= 0 {
			keyExp = now.UnixMilli() + n
		}
		return v, keyExp, true
	}
	if n < 0 || n >= endedVal || !c.keep(uint32(n), val) {
		return 0, 0, false
	}
	return uint32(n), 0, true
}

// keep remembers msg as the reply for v, and reports whether one is kept:
// larger values get at most maxLarge replies between them, so that caching
// many distinct numbers through Store.Client cannot grow this without end.
func (c *sessionCache) keep(v uint32, msg rueidis.RedisMessage) bool {
	if v < smallInts {
		if c.small[v].Load() == nil {
			c.small[v].Store(&msg)
		}
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.large[v] == nil {
		if len(c.large) >= maxLarge {
			return false
		}
		c.large[v] = &msg
	}
	return true
}

// live reports whether e may be served at nowms.
func (e *cacheEntry) live(nowms int64) bool {
	return nowms < e.exp && e.conn.epoch.Load() == e.epoch
}

// Flight implements rueidis.CacheStore.
func (v *connCache) Flight(key, cmd string, ttl time.Duration, now time.Time) (rueidis.RedisMessage, rueidis.CacheEntry) {
	c := v.c
	h, check := c.hash(key, cmd)
	sh := c.shard(h)
	nowms := now.UnixMilli()
	sh.mu.RLock()
	e, ok := sh.cur[h]
	sh.mu.RUnlock()
	if ok && e.check == check && e.live(nowms) {
		return c.reply(e.val), nil
	}

	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e, ok = sh.cur[h]; !ok {
		if e, ok = sh.old[h]; ok { // used again: back to the current generation
			delete(sh.old, h)
			sh.put(h, e)
		}
	}
	if ok && e.check == check && e.live(nowms) {
		return c.reply(e.val), nil
	}
	if ok && !e.live(nowms) {
		delete(sh.cur, h)
	}
	if f := sh.flights[h]; f != nil {
		if f.check == check {
			return rueidis.RedisMessage{}, f
		}
		// Another command on the key is being read: this one goes to
		// Redis uncached (Update will not find its flight).
		return rueidis.RedisMessage{}, nil
	}
	if sh.flights == nil {
		sh.flights = map[uint64]*cacheFlight{}
	}
	sh.flights[h] = &cacheFlight{check: check, conn: v, xat: now.Add(ttl).UnixMilli(), ch: make(chan struct{})}
	return rueidis.RedisMessage{}, nil
}

// Update implements rueidis.CacheStore: the reply to v's miss.
func (v *connCache) Update(key, cmd string, val rueidis.RedisMessage) int64 {
	c := v.c
	h, check := c.hash(key, cmd)
	sh := c.shard(h)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	f := sh.flights[h]
	if f == nil || f.check != check || f.conn != v {
		return max(0, val.CachePXAT())
	}
	delete(sh.flights, h)
	pxat := f.xat
	if sv := val.CachePXAT(); sv > 0 && sv < pxat { // the key expires first
		pxat = sv
	}
	if n, keyExp, ok := c.classify(key, cmd, val, time.Now()); ok {
		if keyExp > 0 && keyExp < pxat {
			pxat = keyExp
		}
		delete(sh.old, h)
		sh.put(h, cacheEntry{check: check, exp: pxat, conn: v, epoch: v.epoch.Load(), val: n})
	}
	f.val = val
	close(f.ch)
	return pxat
}

// put adds an entry to the current generation, turning it over when full.
func (sh *cacheShard) put(h uint64, e cacheEntry) {
	if len(sh.cur) >= sh.perGen {
		sh.old, sh.cur = sh.cur, map[uint64]cacheEntry{}
	}
	sh.cur[h] = e
}

// Cancel implements rueidis.CacheStore: v's miss failed.
func (v *connCache) Cancel(key, cmd string, err error) {
	h, check := v.c.hash(key, cmd)
	sh := v.c.shard(h)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if f := sh.flights[h]; f != nil && f.check == check && f.conn == v {
		delete(sh.flights, h)
		f.err = err
		close(f.ch)
	}
}

// Delete implements rueidis.CacheStore: invalidations received by v. Nil
// keys (the server flushed, or v's tracking was reset) end every entry v
// filled.
func (v *connCache) Delete(keys []rueidis.RedisMessage) {
	if keys == nil {
		v.bump()
		return
	}
	for _, k := range keys {
		key, err := k.ToString()
		if err != nil {
			continue
		}
		h := maphash.String(v.c.seed, key)
		sh := v.c.shard(h)
		sh.mu.Lock()
		delete(sh.cur, h)
		delete(sh.old, h)
		sh.mu.Unlock()
	}
}

// Close implements rueidis.CacheStore: v's connection broke. Its entries
// are stale from now on, and its misses fail.
func (v *connCache) Close(err error) {
	v.epoch.Store(0)
	for i := range v.c.shards {
		sh := &v.c.shards[i]
		sh.mu.Lock()
		for h, f := range sh.flights {
			if f.conn == v {
				delete(sh.flights, h)
				f.err = err
				close(f.ch)
			}
		}
		sh.mu.Unlock()
	}
}

// bump moves v to a new epoch, skipping 0 (closed).
func (v *connCache) bump() {
	for {
		e := v.epoch.Load()
		if e == 0 {
			return
		}
		n := e + 1
		if n == 0 {
			n = 1
		}
		if v.epoch.CompareAndSwap(e, n) {
			return
		}
	}
}

// Wait implements rueidis.CacheEntry.
func (f *cacheFlight) Wait(ctx context.Context) (rueidis.RedisMessage, error) {
	select {
	case <-f.ch:
		return f.val, f.err
	case <-ctx.Done():
		return rueidis.RedisMessage{}, ctx.Err()
	}
}
