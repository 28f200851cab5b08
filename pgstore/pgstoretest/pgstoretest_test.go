package pgstoretest_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/authenik8/authenik8-go/conformance/pgtest"
	"github.com/authenik8/authenik8-go/pgstore/pgstoretest"
)

// TestDatabase: the database exists during the test, even a connection
// left open to it does not keep it, and it is gone after the cleanup.
func TestDatabase(t *testing.T) {
	var name string
	t.Run("inner", func(t *testing.T) {
		url := pgstoretest.Database(t)
		conn, err := pgx.Connect(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		if err := conn.QueryRow(context.Background(), `SELECT current_database()`).Scan(&name); err != nil || !strings.HasPrefix(name, "a8t") {
			t.Fatalf("current_database() = %q, %v", name, err)
		}
		// conn stays open: the cleanup must end it.
	})
	var n int
	err := pgstoretest.Pool(t, pgtest.URL(t)).QueryRow(context.Background(), `SELECT count(*) FROM pg_database WHERE datname = $1`, name).Scan(&n)
	if err != nil || n != 0 {
		t.Errorf("database %s after the cleanup: %d, %v", name, n, err)
	}
}
