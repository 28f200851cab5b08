package pgtest_test

import (
	"testing"

	"github.com/authenik8/authenik8-go/conformance/pgtest"
)

// A test that stops PostgreSQL mid-run starts a server of its own; other
// tests share the one URL names.
func Example() {
	_ = func(t *testing.T) {
		shared := pgtest.URL(t) // AUTHENIK8_TEST_DATABASE_URL or the local server
		_ = shared

		own := pgtest.Start(t) // removed at t's cleanup
		own.Kill()             // as a crash would
		if err := own.Restart(); err != nil {
			t.Fatal(err)
		}
	}
}
