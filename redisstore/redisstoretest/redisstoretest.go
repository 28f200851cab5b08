// Package redisstoretest opens redisstore Stores for tests: each on a key
// prefix of its own, so that tests share one Redis without seeing each
// other's keys, and closed at the test's cleanup.
//
// The adapters' conformance runs and redisstore's own tests use it, on the
// Redis that conformance/redistest provides.
package redisstoretest

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authenik8/authenik8-go/conformance/redistest"
	"github.com/authenik8/authenik8-go/conformance/storetest"
	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/redisstore"
)

var seq atomic.Int64

// Prefix returns a key prefix that no other store of this or another
// process has used: the clock for processes, a counter within one.
func Prefix() string {
	return "t" + strconv.FormatInt(time.Now().UnixNano(), 36) + "x" + strconv.FormatInt(seq.Add(1), 36)
}

// Open opens a Store on url, closed at t's cleanup; an error fails t.
func Open(t testing.TB, url string, opts redisstore.Options) *redisstore.Store {
	t.Helper()
	s, err := redisstore.Open(url, opts)
	if err != nil {
		t.Fatalf("redisstore.Open(%s): %v", url, err)
	}
	t.Cleanup(s.Close)
	return s
}

// Stores is a fresh session and user store on redistest's standalone Redis,
// on a prefix of its own and with storetest's fast password hasher: the
// shape of adaptertest.Harness.Stores.
func Stores(t testing.TB) (core.Store, core.UserStore) {
	s := Open(t, redistest.URL(t), redisstore.Options{KeyPrefix: Prefix(), Hasher: storetest.FastHasher})
	return s, s.Users()
}
