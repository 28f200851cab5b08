// Package pgstore keeps accounts in PostgreSQL: a core.UserStore,
// core.UserRegistrar, core.AccountStore and core.LinkTokenStore on
// github.com/jackc/pgx/v5, for deployments where accounts must be durable
// while sessions stay fast in Redis.
//
//	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
//	users, err := pgstore.New(pool, pgstore.Options{})
//	err = users.Migrate(ctx) // at every start: creates or upgrades the schema
//	a, err := core.New(core.Config{Store: sessions, Users: users, ...})
//
// # Schema and migrations
//
// The tables live in a schema of their own (Options.Schema, default
// "authenik8"), created by Migrate from SQL files embedded in the package
// and numbered 0001, 0002…. Migrate applies the ones the schema lacks, in
// order, in one transaction, and records each in the schema's
// schema_migrations table with its checksum. It is idempotent, and safe when
// several processes start at once: a transaction-level advisory lock keyed
// by the schema lets one work while the others wait and then find nothing to
// do. Migrations only add: nothing is dropped or rewritten, and a released
// file never changes (Migrate refuses a schema whose recorded checksum
// differs). MigrationStatus reports what is applied and pending without
// changing anything.
//
// # Guarantees
//
// Emails are unique after normalization: core trims and lower-cases them,
// and a unique index on lower(email) decides a registration race (exactly
// one winner; the others get core.ErrUserExists). A login for an unknown
// email, or for an account without a password, runs the same argon2id
// computation as a wrong password and gets the same
// core.ErrInvalidCredentials. No connection is held while a password is
// hashed.
//
// Every call is bounded by Options.Timeout (waiting for a pooled connection
// included). When PostgreSQL cannot answer — down, frozen, timed out,
// schema not migrated — the error matches core.ErrStoreUnavailable, which
// core answers with 503 store_unavailable; the pool reconnects by itself
// when the server is back. Requests that carry a valid access token never
// touch the user store.
//
// # Tests
//
// pgstoretest opens Users on a schema of its own, dropped at the test's
// cleanup, on the server conformance/pgtest names
// (AUTHENIK8_TEST_DATABASE_URL or the local server); storetest's user suites
// run here as on memstore and redisstore.
package pgstore
