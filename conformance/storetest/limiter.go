package storetest

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/authenik8/authenik8-go/core"
)

// testLimiter checks the core.Limiter contract: counts in fixed windows up
// to the limit and never past it, a refused hit changes nothing, a window
// undone to zero is forgotten, atomic under concurrent hits, shared by every
// client of the backend.
func testLimiter(t *testing.T, h Harness) {
	s := h.NewStore(t)
	lim, ok := s.(core.Limiter)
	if !ok {
		t.Skip("the store does not implement core.Limiter")
	}
	c := ctx(t)
	peek := func(key string) (int64, time.Duration) {
		t.Helper()
		n, left, err := lim.Peek(c, key)
		if err != nil {
			t.Fatalf("Peek: %v", err)
		}
		return n, left
	}
	hit := func(key string, limit int64, window time.Duration) (bool, time.Duration) {
		t.Helper()
		ok, left, err := lim.Hit(c, key, limit, window)
		if err != nil {
			t.Fatalf("Hit: %v", err)
		}
		return ok, left
	}

	key := "test:" + newUser().ID
	if n, left := peek(key); n != 0 || left != 0 {
		t.Fatalf("Peek of a new key: %d, %v; want 0, 0", n, left)
	}
	for want := int64(1); want <= 3; want++ {
		ok, left := hit(key, 3, time.Minute)
		if !ok || left <= 0 || left > time.Minute {
			t.Fatalf("Hit %d of 3: %v, %v", want, ok, left)
		}
		if n, pleft := peek(key); n != want || pleft <= 0 || pleft > left {
			t.Fatalf("Peek after Hit %d: %d, %v (Hit said %v left)", want, n, pleft, left)
		}
	}
	// At the limit a hit is refused and changes nothing: the count stays,
	// the window is not extended.
	_, before := peek(key)
	for range 5 {
		if ok, left := hit(key, 3, time.Hour); ok || left <= 0 || left > before {
			t.Fatalf("Hit past the limit: %v, %v; want refused with at most %v left", ok, left, before)
		}
	}
	if n, left := peek(key); n != 3 || left > before {
		t.Fatalf("after refused hits: %d, %v; want 3 and no longer than %v", n, left, before)
	}
	if err := lim.Undo(c, key); err != nil {
		t.Fatal(err)
	}
	if n, _ := peek(key); n != 2 {
		t.Fatalf("after Undo: %d, want 2", n)
	}
	if ok, _ := hit(key, 3, time.Minute); !ok {
		t.Fatal("after Undo, a hit below the limit was refused")
	}
	if err := lim.Reset(c, key); err != nil {
		t.Fatal(err)
	}
	if n, left := peek(key); n != 0 || left != 0 {
		t.Fatalf("after Reset: %d, %v; want 0, 0", n, left)
	}
	if ok, _ := hit(key, 3, time.Minute); !ok {
		t.Fatal("after Reset, the first hit was refused")
	}
	if n, _ := peek(key); n != 1 {
		t.Fatalf("after Reset and a hit: %d, want 1", n)
	}

	// Undo down to zero forgets the window; Undo of a missing key does
	// nothing.
	other := key + ":undo"
	if err := lim.Undo(c, other); err != nil {
		t.Fatal(err)
	}
	if n, left := peek(other); n != 0 || left != 0 {
		t.Fatalf("Undo of a missing key left %d, %v", n, left)
	}
	hit(other, 5, time.Minute)
	lim.Undo(c, other)
	if n, left := peek(other); n != 0 || left != 0 {
		t.Fatalf("Undo of the only event left %d, %v; want the window gone", n, left)
	}
	if ok, left := hit(other, 5, 10*time.Second); !ok || left <= 9*time.Second {
		t.Fatalf("first hit after an undone window: %v, %v; want a new 10s window", ok, left)
	}

	// A hit that cannot count (a zero limit) creates nothing.
	none := key + ":none"
	if ok, _ := hit(none, 0, time.Minute); ok {
		t.Fatal("Hit with limit 0 counted")
	}
	if n, left := peek(none); n != 0 || left != 0 {
		t.Fatalf("a refused first hit left %d, %v", n, left)
	}

	// Concurrent hits, over every client there is: exactly the limit count.
	clients := []core.Limiter{lim}
	if h.NewPeer != nil {
		clients = append(clients, h.NewPeer(t, s).(core.Limiter))
	}
	key = "test:" + newUser().ID
	var counted atomic.Int64
	race(200, func(i int) {
		ok, _, err := clients[i%len(clients)].Hit(ctx(t), key, 150, time.Minute)
		if err != nil {
			t.Error(err)
		}
		if ok {
			counted.Add(1)
		}
	})
	if n, _ := peek(key); counted.Load() != 150 || n != 150 {
		t.Fatalf("200 concurrent hits with limit 150 over %d clients: %d counted, count %d; want 150", len(clients), counted.Load(), n)
	}

	// A window ends: its count is gone, and the next hit starts a new one.
	key = "test:" + newUser().ID
	hit(key, 2, 300*time.Millisecond)
	hit(key, 2, 300*time.Millisecond)
	if ok, _ := hit(key, 2, 300*time.Millisecond); ok {
		t.Fatal("3rd hit of 2 counted")
	}
	time.Sleep(400 * time.Millisecond)
	if n, left := peek(key); n != 0 || left != 0 {
		t.Fatalf("Peek after the window: %d, %v; want 0, 0", n, left)
	}
	if ok, left := hit(key, 2, 300*time.Millisecond); !ok || left < 200*time.Millisecond {
		t.Fatalf("after the window: %v, %v; want a new window", ok, left)
	}
}
