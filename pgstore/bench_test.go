package pgstore_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authenik8/authenik8-go/conformance/redistest"
	"github.com/authenik8/authenik8-go/conformance/storetest"
	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/pgstore"
	"github.com/authenik8/authenik8-go/pgstore/pgstoretest"
	"github.com/authenik8/authenik8-go/redisstore"
	"github.com/authenik8/authenik8-go/redisstore/redisstoretest"
)

// loginAuths returns two Auths that differ only in where accounts live:
// PostgreSQL and Redis. Both keep sessions in one Redis, hash with the
// default argon2id cost, and have the same accounts.
func loginAuths(b *testing.B) (pg, rd *core.Auth) {
	s := redisstoretest.Open(b, redistest.URL(b), redisstore.Options{KeyPrefix: redisstoretest.Prefix()})
	pgUsers := pgstoretest.Open(b, pgstore.Options{})
	pg = storetest.NewAuth(b, s, func(c *core.Config) { c.Users = pgUsers })
	rd = storetest.NewAuth(b, s, func(c *core.Config) { c.Users = s.Users() })
	ctx := bg(b)
	for i := range benchAccounts {
		for _, a := range []*core.Auth{pg, rd} {
			if _, err := a.Register(ctx, benchEmail(i), "bench password", core.Client{}); err != nil {
				b.Fatal(err)
			}
		}
	}
	return pg, rd
}

const benchAccounts = 16

func benchEmail(i int) string { return fmt.Sprintf("bench%d@example.com", i%benchAccounts) }

// BenchmarkLogin: core.Auth.Login throughput, GOMAXPROCS goroutines, with
// accounts in PostgreSQL and in Redis (sessions in Redis for both).
func BenchmarkLogin(b *testing.B) {
	pg, rd := loginAuths(b)
	for _, tc := range []struct {
		name string
		a    *core.Auth
	}{{"Postgres", pg}, {"Redis", rd}} {
		b.Run(tc.name, func(b *testing.B) {
			var n atomic.Int64
			b.RunParallel(func(p *testing.PB) {
				ctx := bg(b)
				for p.Next() {
					if _, err := tc.a.Login(ctx, benchEmail(int(n.Add(1))), "bench password", core.Client{}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
		})
	}
}

// BenchmarkLoginPostgresVsRedis: the two side by side in one run, each
// goroutine alternating a PostgreSQL login and a Redis login, so that load
// from elsewhere on the machine falls on both alike. Reports the mean time
// of each and their ratio, pg/redis (1 = the same cost).
func BenchmarkLoginPostgresVsRedis(b *testing.B) {
	pg, rd := loginAuths(b)
	var pgTime, rdTime, n atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(p *testing.PB) {
		ctx := bg(b)
		for p.Next() {
			i := n.Add(1)
			order := []*core.Auth{pg, rd}
			if i%2 == 1 {
				order = []*core.Auth{rd, pg}
			}
			for _, a := range order {
				start := time.Now()
				if _, err := a.Login(ctx, benchEmail(int(i)), "bench password", core.Client{}); err != nil {
					b.Error(err)
					return
				}
				if d := int64(time.Since(start)); a == pg {
					pgTime.Add(d)
				} else {
					rdTime.Add(d)
				}
			}
		}
	})
	pgMean := float64(pgTime.Load()) / float64(b.N) / 1e6
	rdMean := float64(rdTime.Load()) / float64(b.N) / 1e6
	b.ReportMetric(pgMean, "pg-ms/login")
	b.ReportMetric(rdMean, "redis-ms/login")
	b.ReportMetric(pgMean/rdMean, "pg/redis")
}
