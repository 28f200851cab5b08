// Package pgstoretest opens pgstore Users for tests: each on a schema of its
// own, migrated, and dropped at the test's cleanup, so that tests share one
// PostgreSQL without seeing each other's accounts.
//
// The server is the one conformance/pgtest names: AUTHENIK8_TEST_DATABASE_URL
// or the local postgres://postgres@127.0.0.1:5432/postgres; without one the
// test skips, unless AUTHENIK8_REQUIRE_POSTGRES=1.
package pgstoretest

import (
	"context"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authenik8/authenik8-go/conformance/pgtest"
	"github.com/authenik8/authenik8-go/pgstore"
)

var seq atomic.Int64

// Schema returns a schema name that no other test of this or another
// process has used: the clock for processes, a counter within one.
func Schema() string {
	return "t" + strconv.FormatInt(time.Now().UnixNano(), 36) + "x" + strconv.FormatInt(seq.Add(1), 36)
}

var (
	pools sync.Mutex
	byURL = map[string]*pgxpool.Pool{}
)

// Pool returns a pool on url shared by the test binary; an error fails t.
func Pool(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	pools.Lock()
	defer pools.Unlock()
	if p := byURL[url]; p != nil {
		return p
	}
	p, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatalf("pgxpool.New: %v", err)
	}
	byURL[url] = p
	return p
}

// Open returns Users on pgtest's server, on a fresh schema (opts.Schema when
// set), migrated, and dropped with its tables at t's cleanup.
func Open(t testing.TB, opts pgstore.Options) *pgstore.Users {
	t.Helper()
	return OpenOn(t, Pool(t, pgtest.URL(t)), opts)
}

// OpenOn is Open on the caller's pool.
func OpenOn(t testing.TB, pool *pgxpool.Pool, opts pgstore.Options) *pgstore.Users {
	t.Helper()
	if opts.Schema == "" {
		opts.Schema = Schema()
	}
	u, err := pgstore.New(pool, opts)
	if err != nil {
		t.Fatalf("pgstore.New: %v", err)
	}
	t.Cleanup(func() { Drop(t, pool, opts.Schema) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := u.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return u
}

// Drop removes a schema and everything in it.
func Drop(t testing.TB, pool *pgxpool.Pool, schema string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := pool.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
		t.Errorf("drop schema %s: %v", schema, err)
	}
}

// Database creates a database of t's own on pgtest's server and returns its
// URL (or connection string); the database is dropped, its connections
// ended first, at t's cleanup. It is for programs with a fixed schema, such
// as servers on pgstore's default, which a schema of the test's own cannot
// isolate.
func Database(t testing.TB) string {
	t.Helper()
	base := pgtest.URL(t)
	pool := Pool(t, base)
	name := "a8" + Schema()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := pool.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// DROP DATABASE refuses a database in use; WITH (FORCE) needs 13.
		_, err := pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, name)
		if err == nil {
			_, err = pool.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{name}.Sanitize())
		}
		if err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	if u, err := url.Parse(base); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		u.Path = "/" + name
		return u.String()
	}
	return base + " dbname=" + name
}
