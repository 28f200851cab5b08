package redisstoretest_test

import (
	"testing"

	"github.com/authenik8/authenik8-go/conformance/adaptertest"
	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/redisstore"
	"github.com/authenik8/authenik8-go/redisstore/redisstoretest"
)

// An adapter's conformance run on Redis, and a store with options of its own.
func Example() {
	_ = func(t *testing.T, serve func(testing.TB, *core.Auth, adaptertest.ServerConfig) string) {
		adaptertest.Run(t, adaptertest.Harness{Serve: serve, Stores: redisstoretest.Stores})

		s := redisstoretest.Open(t, "redis://127.0.0.1:6379", redisstore.Options{KeyPrefix: redisstoretest.Prefix()})
		_ = s
	}
}
