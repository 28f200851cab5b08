package core

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// BenchmarkVerify: cold is a token verified from scratch every time (the
// cache disabled), one sub-benchmark per algorithm; warm is a token served
// from the cache. The store is trivial, so this is core's own cost.
func BenchmarkVerify(b *testing.B) {
	for _, alg := range []string{"HS256", "EdDSA", "ES256", "RS256"} {
		b.Run("cold/"+alg, func(b *testing.B) {
			key, err := GenerateKey(alg)
			if err != nil {
				b.Fatal(err)
			}
			a := testAuth(b, func(c *Config) { c.TokenCacheSize = -1; c.AccessKeys = []Key{key} })
			benchVerify(b, a)
		})
	}
	b.Run("warm", func(b *testing.B) {
		benchVerify(b, testAuth(b, nil))
	})
}

func benchVerify(b *testing.B, a *Auth) {
	benchVerifyToken(b, a, issueFor(b, a, "u1").AccessToken)
}

func benchVerifyToken(b *testing.B, a *Auth, tok string) {
	ctx := context.Background()
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if _, err := a.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

// reportCPU adds cpu-ns/op, the process CPU time per iteration, beside
// ns/op (wall time): on a machine shared with other work, wall time
// counts the waits for a CPU and this does not. Call as
// defer reportCPU(b)() just before the loop.
func reportCPU(b *testing.B) func() {
	start := processCPU()
	return func() {
		if used := processCPU() - start; start > 0 && b.N > 0 {
			b.ReportMetric(float64(used.Nanoseconds())/float64(b.N), "cpu-ns/op")
		}
	}
}

// BenchmarkSignAccess: minting one access token, as login, IssueSession and
// refresh do, per algorithm.
func BenchmarkSignAccess(b *testing.B) {
	for _, alg := range []string{"HS256", "EdDSA", "ES256", "RS256"} {
		b.Run(alg, func(b *testing.B) {
			key, err := GenerateKey(alg)
			if err != nil {
				b.Fatal(err)
			}
			a := testAuth(b, func(c *Config) { c.AccessKeys = []Key{key} })
			sc := sessionClaims{userID: "u1", sessionID: NewSessionID("u1"), roles: []string{"user"}}
			now := time.Now()
			b.ReportAllocs()
			defer reportCPU(b)()
			for b.Loop() {
				if _, err := a.signAccess(sc, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTokenCacheMemory reports the heap one cached token costs
// (B/entry), over 100,000 tokens as core mints them: user ids from
// NewUserID, one role, no application claims.
func BenchmarkTokenCacheMemory(b *testing.B) {
	for b.Loop() {
		b.ReportMetric(cacheBytesPerEntry(b, 100_000), "B/entry")
	}
}

// cacheBytesPerEntry fills a token cache of size n with n verified tokens
// and returns the live heap it grew by, per cached token. The tokens
// themselves are garbage by the time it measures: only what the cache keeps
// counts.
func cacheBytesPerEntry(tb testing.TB, n int) float64 {
	a := testAuth(tb, func(c *Config) { c.TokenCacheSize = n })
	now := time.Now()
	heap := func() uint64 {
		var m runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	for range n {
		uid := NewUserID()
		tok, err := a.signAccess(sessionClaims{userID: uid, sessionID: NewSessionID(uid), roles: []string{"user"}}, now)
		if err != nil {
			tb.Fatal(err)
		}
		c, err := a.parseAccess(tok)
		if err != nil {
			tb.Fatal(err)
		}
		a.tokens.put(tok, c)
	}
	after := heap()
	entries := a.tokens.len()
	if entries < n/2 {
		tb.Fatalf("the cache kept %d of %d tokens", entries, n)
	}
	runtime.KeepAlive(a)
	return float64(after-before) / float64(entries)
}
