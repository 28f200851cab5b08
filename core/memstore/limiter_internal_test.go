package memstore

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/authenik8/authenik8-go/core"
)

// TestCountersCostNothingOnceTripped: refused logins with distinct emails
// add no counter, and every counter is gone once its window ends.
func TestCountersCostNothingOnceTripped(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := New(WithClock(clock))
	key, _ := core.NewHMACKey([]byte("memstore test access secret, 32+ bytes"))
	a, err := core.New(core.Config{
		Store: s, Users: NewUsers(&core.PasswordHasher{Params: core.PasswordParams{Time: 1, MemoryKiB: 64, Threads: 1}}),
		AccessKeys: []core.Key{key}, RefreshSecret: []byte("memstore test refresh secret, 32+ bytes"), Now: clock,
		RateLimits: core.RateLimits{
			LoginPerAccount: core.Limit{Max: 3, Window: time.Minute},
			LoginPerIP:      core.Limit{Max: 5, Window: 2 * time.Minute},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	counters := func() (int, int) {
		s.limitMu.Lock()
		defer s.limitMu.Unlock()
		return len(s.counters), len(s.windowEnds)
	}
	ctx := context.Background()
	ip := core.Client{IP: "203.0.113.9"}
	for i := range 5 {
		a.Login(ctx, "guess"+strconv.Itoa(i)+"@example.com", "wrong password", ip)
	}
	if n, q := counters(); n != 6 || q != 6 { // five accounts and the IP
		t.Fatalf("after 5 failures: %d counters, %d queued; want 6", n, q)
	}
	for i := range 2000 {
		if _, err := a.Login(ctx, "distinct"+strconv.Itoa(i)+"@example.com", "wrong password", ip); !errors.Is(err, core.ErrRateLimited) {
			t.Fatalf("refused login %d: %v", i, err)
		}
	}
	if n, q := counters(); n != 6 || q != 6 {
		t.Fatalf("after 2000 refused logins with distinct emails: %d counters, %d queued; want 6", n, q)
	}

	// The accounts' windows (1 min) end first, then the IP's (2 min). Any
	// call on the limiter removes the ended ones.
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	advance(time.Minute)
	s.Peek(ctx, "anything")
	if n, q := counters(); n != 1 || q != 1 {
		t.Fatalf("after the accounts' window: %d counters, %d queued; want the IP's only", n, q)
	}
	advance(time.Minute)
	s.Peek(ctx, "anything")
	if n, q := counters(); n != 0 || q != 0 {
		t.Fatalf("after every window: %d counters, %d queued; want none", n, q)
	}
}
