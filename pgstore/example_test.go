package pgstore_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/pgstore"
	"github.com/authenik8/authenik8-go/redisstore"
)

// Accounts in PostgreSQL, sessions in Redis: the production layout.
func Example() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL")) // postgres://user:pass@host:5432/db
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	users, err := pgstore.New(pool, pgstore.Options{})
	if err != nil {
		log.Fatal(err)
	}
	// At every start: creates the schema, or upgrades it; a no-op when it
	// is current, and safe when several instances start at once.
	if err := users.Migrate(ctx); err != nil {
		log.Fatal(err)
	}

	sessions, err := redisstore.Open(os.Getenv("REDIS_URL"), redisstore.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer sessions.Close()
	key, err := core.NewHMACKey([]byte(os.Getenv("JWT_SECRET")))
	if err != nil {
		log.Fatal(err)
	}
	a, err := core.New(core.Config{
		Store:         sessions,
		Users:         users,
		UserLoader:    users.User, // role changes apply at the next refresh
		AccessKeys:    []core.Key{key},
		RefreshSecret: []byte(os.Getenv("REFRESH_SECRET")),
	})
	if err != nil {
		log.Fatal(err)
	}
	_ = a // mount its routes with an adapter
}

// Readiness or `doctor`-style checks: is the schema current?
func ExampleUsers_MigrationStatus() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	users, err := pgstore.New(pool, pgstore.Options{Schema: "authenik8"})
	if err != nil {
		log.Fatal(err)
	}
	st, err := users.MigrationStatus(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("schema at version %v of %d; pending %v\n", st.Applied, st.Latest, st.Pending)
}

// Roles and application claims are set by the application, e.g. from an
// admin screen; with Config.UserLoader they reach tokens at the next refresh.
func ExampleUsers_SetRoles() {
	ctx := context.Background()
	var users *pgstore.Users // from pgstore.New
	var userID string
	if err := users.SetRoles(ctx, userID, []string{"user", "admin"}); err != nil {
		log.Print(err) // core.ErrUserNotFound, or one matching core.ErrStoreUnavailable
	}
	if err := users.SetClaims(ctx, userID, map[string]any{"tenant": "acme"}); err != nil {
		log.Print(err)
	}
}
