package storetest_test

// memstore's conformance run lives beside the suite, not in core: core would
// otherwise require this module for a test while this module requires core,
// a module cycle (slogtest's own tests run it against slog's handlers the
// same way).

import (
	"testing"

	"github.com/authenik8/authenik8-go/conformance/storetest"
	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/core/memstore"
)

var memHarness = storetest.Harness{
	NewStore: func(testing.TB) core.Store { return memstore.New() },
	NewUsers: func(testing.TB, core.Store) storetest.UserStore { return memstore.NewUsers(storetest.FastHasher) },
}

func TestMemstore(t *testing.T)            { storetest.Run(t, memHarness) }
func TestMemstoreConcurrency(t *testing.T) { storetest.RunConcurrency(t, memHarness) }
func BenchmarkMemstore(b *testing.B)       { storetest.Benchmark(b, memHarness) }
