package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/authenik8/authenik8-go/conformance/redistest"
	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/redisstore"
)

// BenchmarkVerifyMiss is the whole cost of the first sight of a token on
// Redis: Auth.Verify of an HS256 access token whose claims are in no cache
// and whose session check is in no client-side cache (signature, claims,
// one round trip, both caches filled), one call at a time. Tokens come from
// a pool of sessions; when it runs out, a new store and Auth (empty caches)
// see it again, outside the timer.
//
//	go test -run '^$' -bench BenchmarkVerifyMiss -benchmem ./redisstore
func BenchmarkVerifyMiss(b *testing.B) {
	const pool = 5000
	srv := redistest.Start(b)
	key, err := core.NewHMACKey([]byte("benchmark access secret, 32 bytes at least"))
	if err != nil {
		b.Fatal(err)
	}
	open := func() (*redisstore.Store, *core.Auth) {
		s, err := redisstore.Open(srv.URL(), redisstore.Options{})
		if err != nil {
			b.Fatal(err)
		}
		a, err := core.New(core.Config{Store: s, AccessKeys: []core.Key{key}, RefreshSecret: []byte("benchmark refresh secret, 32 bytes at least"),
			AccessTTL: time.Hour, IdleTTL: time.Hour, AbsoluteTTL: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		return s, a
	}
	ctx := context.Background()
	issuer, ia := open()
	defer issuer.Close()
	tokens := make([]string, pool)
	parallel(b, pool, func(i int) error {
		p, err := ia.IssueSession(ctx, core.User{ID: core.NewUserID(), Roles: []string{"user"}}, core.Client{})
		if err == nil {
			tokens[i] = p.AccessToken
		}
		return err
	})
	s, a := open()
	defer func() { s.Close() }()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == pool {
			b.StopTimer()
			s.Close()
			s, a = open()
			i = 0
			b.StartTimer()
		}
		if _, err := a.Verify(ctx, tokens[i]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
