package redisstore_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/authenik8/authenik8-go/conformance/redistest"
	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/redisstore"
)

// BenchmarkTrackedSessionMemory reports the process memory a tracked
// session costs: the Go heap after checking 100,000 distinct sessions once
// (each check a cache miss that fills the client-side cache), minus the heap
// before, per session. "store" is the store's own cache (Open); "rueidis" is
// rueidis' default per-connection cache, for comparison.
//
//	go test -run '^$' -bench BenchmarkTrackedSessionMemory -benchtime 1x ./redisstore
func BenchmarkTrackedSessionMemory(b *testing.B) {
	const n = 100_000
	srv := redistest.Start(b)
	writer, err := redisstore.Open(srv.URL(), redisstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer writer.Close()
	ids := make([][2]string, n)
	ctx := context.Background()
	parallel(b, n, func(i int) error {
		uid := core.NewUserID()
		sid := core.NewSessionID(uid)
		ids[i] = [2]string{uid, sid}
		_, err := writer.CreateSession(ctx, core.NewSession{ID: sid, UserID: uid, Data: []byte(`{"r":["user"]}`),
			TokenHash: "h", IdleTTL: time.Hour, AbsoluteTTL: time.Hour})
		return err
	})
	for _, tc := range []struct {
		name string
		open func() (*redisstore.Store, error)
	}{
		{"store", func() (*redisstore.Store, error) { return redisstore.Open(srv.URL(), redisstore.Options{}) }},
		{"rueidis", func() (*redisstore.Store, error) {
			c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr}})
			if err != nil {
				return nil, err
			}
			return redisstore.New(c, redisstore.Options{})
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s, err := tc.open()
			if err != nil {
				b.Fatal(err)
			}
			defer s.Client().Close()
			before := heap()
			parallel(b, n, func(i int) error {
				alive, err := s.SessionAlive(ctx, ids[i][0], ids[i][1])
				if err == nil && !alive {
					b.Errorf("session %d is not alive", i)
				}
				return err
			})
			after := heap()
			per := float64(after-before) / n
			// A second pass: served from the cache, no round trip.
			start := time.Now()
			for i := range 1000 {
				if _, err := s.SessionAlive(ctx, ids[i][0], ids[i][1]); err != nil {
					b.Fatal(err)
				}
			}
			warm := float64(time.Since(start).Nanoseconds()) / 1000
			for b.Loop() { // the figures above are the measure; b.Loop resets metrics
			}
			b.ReportMetric(per, "B/session")
			b.ReportMetric(warm, "ns/warm-check")
		})
	}
}

// heap is the live Go heap after a full collection.
func heap() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
