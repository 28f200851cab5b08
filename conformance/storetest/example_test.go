package storetest_test

import (
	"testing"

	"github.com/authenik8/authenik8-go/conformance/storetest"
	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/core/memstore"
)

// A store's own test calls the suites with a harness that makes fresh
// stores. A store shared between processes also sets NewPeer.
func Example() {
	harness := storetest.Harness{
		NewStore: func(testing.TB) core.Store { return memstore.New() },
	}
	_ = func(t *testing.T) {
		storetest.Run(t, harness)
		storetest.RunConcurrency(t, harness)
	}
	_ = func(b *testing.B) { storetest.Benchmark(b, harness) }
}
