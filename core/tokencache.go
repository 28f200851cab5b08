package core

import (
	"hash/maphash"
	"sync"
	"time"
)

// DefaultTokenCacheSize is the default of Config.TokenCacheSize.
const DefaultTokenCacheSize = 10_000

// tokenCache remembers access tokens that passed signature and claim checks,
// so that a token presented again skips parsing and signature verification.
// It holds what parseAccess proved about the token itself — which never
// changes — and nothing about its session: Verify still asks the store
// whether the session is alive on every request, so revocation applies to
// cached tokens at once. An entry dies at the token's exp (plus the leeway
// parseAccess allows). Keys live in one Auth, so a new key ring starts with
// an empty cache.
//
// An entry is keyed by 128 bits of the token (tokenKey), not by the token
// itself (300–800 bytes): a collision could serve one token's claims for
// another, and cannot be made to happen —
//   - by chance: with 128 bits, the odds that some lookup among 10^12 hits one
//     of 10^7 cached tokens it is not are below 10^-19;
//   - on purpose: the hash is keyed with seeds drawn at random when the
//     process starts, never sent or stored anywhere, so an attacker cannot
//     compute a key, only send tokens and watch for hits; and a collision is
//     worth something only with a token the attacker does not hold (with
//     their own they get their own claims), whose bytes they cannot feed
//     the hash. Blind, each try hits with odds of (cached tokens)/2^128.
type tokenCache struct {
	shards [cacheShards]cacheShard
	perGen int // entries per generation of a shard
	leeway time.Duration
	seeds  [2]maphash.Seed
}

const cacheShards = 16

// tokenKey is the cache key of a token: two 64-bit hashes of it under two
// independent random seeds.
type tokenKey [2]uint64

// cacheShard holds two generations of entries: new ones go to cur; when cur
// is full it becomes old and the previous old is dropped, expired entries
// with it. A hit in old moves the entry back to cur, so tokens in use
// survive and others age out: an LRU approximation at constant cost per
// insert, which matters when most tokens are new (many users, each token
// seen for the first time).
type cacheShard struct {
	mu       sync.RWMutex
	cur, old map[tokenKey]*Claims
	_        [40]byte // keep shards' mutexes on separate cache lines
}

func newTokenCache(size int, leeway time.Duration) *tokenCache {
	if size <= 0 {
		return nil
	}
	c := &tokenCache{perGen: max(1, size/cacheShards/2), leeway: leeway}
	c.seeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].cur = make(map[tokenKey]*Claims)
		c.shards[i].old = make(map[tokenKey]*Claims)
	}
	return c
}

func (c *tokenCache) key(token string) tokenKey {
	return tokenKey{maphash.String(c.seeds[0], token), maphash.String(c.seeds[1], token)}
}

func (c *tokenCache) shard(k tokenKey) *cacheShard {
	return &c.shards[k[0]%cacheShards]
}

// get returns the cached claims of token, or nil.
func (c *tokenCache) get(token string, now time.Time) *Claims {
	if c == nil {
		return nil
	}
	k := c.key(token)
	sh := c.shard(k)
	sh.mu.RLock()
	claims, inOld := sh.cur[k], false
	if claims == nil {
		claims, inOld = sh.old[k], true
	}
	sh.mu.RUnlock()
	if claims == nil || !now.Before(claims.ExpiresAt.Add(c.leeway)) {
		return nil // an expired entry goes with its generation
	}
	if inOld { // used again: back to the current generation
		sh.mu.Lock()
		if sh.old[k] == claims {
			delete(sh.old, k)
			c.add(sh, k, claims)
		}
		sh.mu.Unlock()
	}
	return claims
}

// put remembers claims for token. Only the key is kept, never the token: a
// caller's string that aliases a request buffer (Fiber) is not retained.
func (c *tokenCache) put(token string, claims *Claims) {
	if c == nil {
		return
	}
	k := c.key(token)
	sh := c.shard(k)
	sh.mu.Lock()
	delete(sh.old, k)
	c.add(sh, k, claims)
	sh.mu.Unlock()
}

// add puts an entry in sh's current generation, turning it over when full.
// The caller holds sh.mu.
func (c *tokenCache) add(sh *cacheShard, k tokenKey, claims *Claims) {
	if _, ok := sh.cur[k]; !ok && len(sh.cur) >= c.perGen {
		sh.old, sh.cur = sh.cur, make(map[tokenKey]*Claims, c.perGen)
	}
	sh.cur[k] = claims
}

// len counts the cached tokens.
func (c *tokenCache) len() int {
	n := 0
	for i := range c.shards {
		c.shards[i].mu.RLock()
		n += len(c.shards[i].cur) + len(c.shards[i].old)
		c.shards[i].mu.RUnlock()
	}
	return n
}
