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
	shards   [cacheShards]cacheShard
	perShard int
	leeway   time.Duration
	seeds    [2]maphash.Seed
}

const cacheShards = 16

// tokenKey is the cache key of a token: two 64-bit hashes of it under two
// independent random seeds.
type tokenKey [2]uint64

type cacheShard struct {
	mu sync.RWMutex
	m  map[tokenKey]*Claims
	_  [40]byte // keep shards' mutexes on separate cache lines
}

func newTokenCache(size int, leeway time.Duration) *tokenCache {
	if size <= 0 {
		return nil
	}
	c := &tokenCache{perShard: max(1, size/cacheShards), leeway: leeway}
	c.seeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].m = make(map[tokenKey]*Claims)
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
	claims := sh.m[k]
	sh.mu.RUnlock()
	if claims == nil || !now.Before(claims.ExpiresAt.Add(c.leeway)) {
		return nil // an expired entry is dropped by put's sweep
	}
	return claims
}

// put remembers claims for token. A full shard makes room by looking at a
// few entries — map iteration starts anywhere — dropping the expired ones
// and, if that was not enough, the last live one looked at: constant work
// per insert. Only the key is kept, never the token: a caller's string that
// aliases a request buffer (Fiber) is not retained.
func (c *tokenCache) put(token string, claims *Claims, now time.Time) {
	if c == nil {
		return
	}
	k := c.key(token)
	sh := c.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if len(sh.m) >= c.perShard {
		var victim tokenKey
		looked := 0
		for k, v := range sh.m {
			if !now.Before(v.ExpiresAt.Add(c.leeway)) {
				delete(sh.m, k)
				continue
			}
			victim = k
			if looked++; looked == 8 {
				break
			}
		}
		if len(sh.m) >= c.perShard {
			delete(sh.m, victim)
		}
	}
	sh.m[k] = claims
}

// len counts the cached tokens.
func (c *tokenCache) len() int {
	n := 0
	for i := range c.shards {
		c.shards[i].mu.RLock()
		n += len(c.shards[i].m)
		c.shards[i].mu.RUnlock()
	}
	return n
}
