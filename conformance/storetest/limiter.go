package storetest

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/authenik8/authenik8-go/core"
)

// testLimiter checks the core.Limiter contract: counts in fixed windows,
// atomic under concurrent hits, shared by every client of the backend.
func testLimiter(t *testing.T, h Harness) {
	s := h.NewStore(t)
	lim, ok := s.(core.Limiter)
	if !ok {
		t.Skip("the store does not implement core.Limiter")
	}
	c := ctx(t)
	key := "test:" + newUser().ID
	for want := int64(1); want <= 3; want++ {
		n, left, err := lim.Hit(c, key, time.Minute)
		if err != nil || n != want || left <= 0 || left > time.Minute {
			t.Fatalf("Hit %d: %d, %v, %v", want, n, left, err)
		}
	}
	if err := lim.Undo(c, key); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := lim.Hit(c, key, time.Minute); n != 3 {
		t.Fatalf("after Undo, Hit counted %d, want 3", n)
	}
	if err := lim.Reset(c, key); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := lim.Hit(c, key, time.Minute); n != 1 {
		t.Fatalf("after Reset, Hit counted %d, want 1", n)
	}
	// Undo never goes below zero, and on a missing key does nothing.
	other := key + ":undo"
	if err := lim.Undo(c, other); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := lim.Hit(c, other, time.Minute); n != 1 {
		t.Fatalf("Undo of a missing key changed it: %d", n)
	}

	// Concurrent hits, over every client there is: each gets its own count.
	clients := []core.Limiter{lim}
	if h.NewPeer != nil {
		clients = append(clients, h.NewPeer(t, s).(core.Limiter))
	}
	key = "test:" + newUser().ID
	var (
		mu     sync.Mutex
		counts []int64
	)
	race(200, func(i int) {
		n, _, err := clients[i%len(clients)].Hit(ctx(t), key, time.Minute)
		if err != nil {
			t.Error(err)
		}
		mu.Lock()
		counts = append(counts, n)
		mu.Unlock()
	})
	slices.Sort(counts)
	for i, n := range counts {
		if n != int64(i+1) {
			t.Fatalf("200 concurrent hits over %d clients counted %v; want 1…200, each once", len(clients), counts)
		}
	}

	// A window ends: the next hit starts a new one.
	key = "test:" + newUser().ID
	lim.Hit(c, key, 300*time.Millisecond)
	lim.Hit(c, key, 300*time.Millisecond)
	time.Sleep(400 * time.Millisecond)
	if n, left, _ := lim.Hit(c, key, 300*time.Millisecond); n != 1 || left < 200*time.Millisecond {
		t.Fatalf("after the window: %d, %v; want a new window", n, left)
	}
}
