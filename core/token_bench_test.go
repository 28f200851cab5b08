package core

import (
	"context"
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
	tok := issueFor(b, a, "u1").AccessToken
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Verify(ctx, tok); err != nil {
			b.Fatal(err)
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
			for b.Loop() {
				if _, err := a.signAccess(sc, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
