package pgstoretest_test

import (
	"context"
	"testing"

	"github.com/authenik8/authenik8-go/conformance/storetest"
	"github.com/authenik8/authenik8-go/pgstore"
	"github.com/authenik8/authenik8-go/pgstore/pgstoretest"
)

// A test's own accounts, on a schema dropped at its cleanup.
func Example() {
	_ = func(t *testing.T) {
		users := pgstoretest.Open(t, pgstore.Options{Hasher: storetest.FastHasher})
		if _, err := users.Register(context.Background(), "ada@example.com", "correct horse", []string{"user"}); err != nil {
			t.Fatal(err)
		}
	}
}
