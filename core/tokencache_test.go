package core

import (
	"context"
	"encoding/base64"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"
)

// testAuth builds an Auth on a trivial in-package store (core's tests of
// the store-backed behaviour live in core_test with memstore).
func testAuth(t testing.TB, mod func(*Config)) *Auth {
	key, _ := NewHMACKey([]byte("token cache test secret, 32+ bytes long"))
	cfg := Config{Store: aliveStore{}, AccessKeys: []Key{key}, RefreshSecret: []byte("token cache refresh secret, 32+ bytes"),
		RateLimits: RateLimits{Disabled: true}}
	if mod != nil {
		mod(&cfg)
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// aliveStore says every session is alive unless revoked is set.
type aliveStore struct{ revoked *sync.Map }

func (aliveStore) CreateSession(_ context.Context, n NewSession) (Session, error) {
	now := time.Now()
	return Session{ID: n.ID, UserID: n.UserID, CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(n.IdleTTL)}, nil
}
func (aliveStore) Rotate(context.Context, Rotation) (RotateResult, error) { return RotateResult{}, nil }
func (s aliveStore) SessionAlive(_ context.Context, _, sid string) (bool, error) {
	if s.revoked != nil {
		if _, gone := s.revoked.Load(sid); gone {
			return false, nil
		}
	}
	return true, nil
}
func (s aliveStore) RevokeSession(_ context.Context, _, sid string) (bool, error) {
	s.revoked.Store(sid, true)
	return true, nil
}
func (aliveStore) RevokeUser(context.Context, string) (int, error)                  { return 0, nil }
func (aliveStore) RevokeOtherSessions(context.Context, string, string) (int, error) { return 0, nil }
func (aliveStore) ListSessions(context.Context, string) ([]Session, error)          { return nil, nil }
func (aliveStore) Ping(context.Context) error                                       { return nil }

func issueFor(t testing.TB, a *Auth, uid string) *TokenPair {
	p, err := a.IssueSession(context.Background(), User{ID: uid}, Client{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestTokenCacheKeepsRevocation: a cached token of a revoked session is
// refused at once — the cache holds the token's proof, not its session.
func TestTokenCacheKeepsRevocation(t *testing.T) {
	store := aliveStore{revoked: &sync.Map{}}
	a := testAuth(t, func(c *Config) { c.Store = store })
	p := issueFor(t, a, "u1")
	for range 3 {
		if _, err := a.Verify(context.Background(), p.AccessToken); err != nil {
			t.Fatal(err)
		}
	}
	if a.tokens.get(p.AccessToken, time.Now()) == nil {
		t.Fatal("the token was not cached")
	}
	if err := a.Logout(context.Background(), p.SessionID); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Verify(context.Background(), p.AccessToken); !errors.Is(err, ErrTokenRevoked) {
		t.Fatalf("cached token after logout: %v", err)
	}
}

// TestTokenCacheKeepsExpiry: a cached token stops verifying at its exp (plus
// the leeway), exactly when an uncached one would.
func TestTokenCacheKeepsExpiry(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	for _, size := range []int{0, -1} { // cached and uncached must agree
		a := testAuth(t, func(c *Config) { c.Now = clock; c.TokenCacheSize = size })
		p := issueFor(t, a, "u1")
		start := clock()
		if _, err := a.Verify(context.Background(), p.AccessToken); err != nil {
			t.Fatal(err)
		}
		advance(DefaultAccessTTL + DefaultLeeway - 2*time.Second)
		if _, err := a.Verify(context.Background(), p.AccessToken); err != nil {
			t.Fatalf("cache size %d: just before exp+leeway: %v", size, err)
		}
		advance(4 * time.Second)
		if _, err := a.Verify(context.Background(), p.AccessToken); !errors.Is(err, ErrTokenExpired) {
			t.Fatalf("cache size %d: after exp+leeway: %v", size, err)
		}
		mu.Lock()
		now = start
		mu.Unlock()
	}
}

// TestTokenCacheBounded: the cache never holds more than its size, however
// many tokens pass, and evicted tokens still verify (the slow way).
func TestTokenCacheBounded(t *testing.T) {
	a := testAuth(t, func(c *Config) { c.TokenCacheSize = 64 })
	var tokens []string
	for i := range 500 {
		p := issueFor(t, a, "u"+strconv.Itoa(i))
		if _, err := a.Verify(context.Background(), p.AccessToken); err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, p.AccessToken)
	}
	if n := a.tokens.len(); n > 64 || n < 32 {
		t.Fatalf("cache holds %d tokens; its size is 64", n)
	}
	for _, tok := range tokens[:10] {
		if _, err := a.Verify(context.Background(), tok); err != nil {
			t.Fatalf("an evicted token: %v", err)
		}
	}
}

// TestTokenCacheExactMatch: only the token itself hits; a tampered copy of
// a cached token (one character changed, or one added) has another key and
// is verified — and refused — from scratch.
func TestTokenCacheExactMatch(t *testing.T) {
	a := testAuth(t, nil)
	p := issueFor(t, a, "u1")
	if _, err := a.Verify(context.Background(), p.AccessToken); err != nil {
		t.Fatal(err)
	}
	tampered := p.AccessToken[:len(p.AccessToken)-1] + "x"
	if p.AccessToken[len(p.AccessToken)-1] == 'x' {
		tampered = p.AccessToken[:len(p.AccessToken)-1] + "y"
	}
	if _, err := a.Verify(context.Background(), tampered); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("tampered copy of a cached token: %v", err)
	}
	if _, err := a.Verify(context.Background(), p.AccessToken+" "); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("padded copy of a cached token: %v", err)
	}
}

func TestTokenCacheConcurrent(t *testing.T) {
	a := testAuth(t, func(c *Config) { c.TokenCacheSize = 128 })
	var tokens []string
	for i := range 300 {
		tokens = append(tokens, issueFor(t, a, "u"+strconv.Itoa(i)).AccessToken)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				if _, err := a.Verify(context.Background(), tokens[(i*7+g)%len(tokens)]); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestTokenCacheKeys: a token's key is the same at every lookup of one
// cache, differs between tokens, and depends on the cache's own random
// seeds, so no one outside the process can compute it.
func TestTokenCacheKeys(t *testing.T) {
	a, b := newTokenCache(10, 0), newTokenCache(10, 0)
	t1, t2 := "header.payload.signature1", "header.payload.signature2"
	if a.key(t1) != a.key(t1) || a.key(t1) == a.key(t2) {
		t.Fatalf("keys %x %x %x", a.key(t1), a.key(t1), a.key(t2))
	}
	if a.key(t1) == b.key(t1) || a.key(t1)[0] == a.key(t1)[1] {
		t.Fatalf("two caches, or two halves, agree: %x %x", a.key(t1), b.key(t1))
	}
}

// TestTokenCacheMemoryPerEntry: a cached token costs at most
// maxCacheEntryBytes of heap (Config.TokenCacheSize documents the figure).
// Keying by the whole token cost about 700.
func TestTokenCacheMemoryPerEntry(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a cache of 50,000 tokens")
	}
	const maxCacheEntryBytes = 400
	if per := cacheBytesPerEntry(t, 50_000); per > maxCacheEntryBytes {
		t.Fatalf("%.0f bytes per cached token; the bound is %d", per, maxCacheEntryBytes)
	} else {
		t.Logf("%.0f bytes per cached token", per)
	}
}

// TestHeaderMemo: the decoded headers of tokens under the Auth's own keys
// are kept once per distinct header, never more than maxMemoHeaders, and a
// header whose kid is not the Auth's, or that no valid signature vouches
// for, is not kept.
func TestHeaderMemo(t *testing.T) {
	a := testAuth(t, func(c *Config) { c.TokenCacheSize = -1 })
	for i := range 20 {
		if _, err := a.Verify(context.Background(), issueFor(t, a, "u"+strconv.Itoa(i)).AccessToken); err != nil {
			t.Fatal(err)
		}
	}
	if m := a.headers.m.Load(); m == nil || len(*m) != 1 {
		t.Fatalf("memo after 20 tokens of one key: %v", m)
	}
	foreign := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","kid":"not-ours","typ":"at+jwt"}`))
	if _, err := a.parseAccess(foreign + ".e30.c2ln"); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("unknown kid: %v", err)
	}
	if m := a.headers.m.Load(); len(*m) != 1 {
		t.Fatalf("a foreign header was kept: %v", *m)
	}
	// Our kid, but no valid signature: such headers could otherwise fill
	// the memo's places for good.
	var h tokenHeader
	for _, h = range *a.headers.m.Load() { // the one kept
	}
	forged := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"` + h.Alg + `","kid":"` + h.Kid + `","typ":"at+jwt","x":1}`))
	if _, err := a.parseAccess(forged + ".e30.c2ln"); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("forged signature: %v", err)
	}
	if m := a.headers.m.Load(); len(*m) != 1 {
		t.Fatalf("a header without a valid signature was kept: %v", *m)
	}
	for i := range 2 * maxMemoHeaders {
		a.headers.add("segment"+strconv.Itoa(i), tokenHeader{})
	}
	if m := a.headers.m.Load(); len(*m) != maxMemoHeaders {
		t.Fatalf("memo holds %d headers; the bound is %d", len(*m), maxMemoHeaders)
	}
}
