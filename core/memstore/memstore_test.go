package memstore_test

import (
	"testing"

	"github.com/authenik8/authenik8-go/conformance/storetest"
	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/core/memstore"
)

var harness = storetest.Harness{
	NewStore: func(testing.TB) core.Store { return memstore.New() },
	NewUsers: func(testing.TB, core.Store) storetest.UserStore { return memstore.NewUsers(storetest.FastHasher) },
}

func TestConformance(t *testing.T) { storetest.Run(t, harness) }
func TestConcurrency(t *testing.T) { storetest.RunConcurrency(t, harness) }
func BenchmarkStore(b *testing.B)  { storetest.Benchmark(b, harness) }

// The user suites run on memstore.Users from conformance/storetest.
