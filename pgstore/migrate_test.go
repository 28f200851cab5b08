package pgstore_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authenik8/authenik8-go/conformance/pgtest"
	"github.com/authenik8/authenik8-go/pgstore"
	"github.com/authenik8/authenik8-go/pgstore/pgstoretest"
)

// TestMigrateEmptyThenAgain: Migrate builds an empty schema, records every
// migration with the checksum of its file, and a second run changes
// nothing — neither the catalog nor the migration table.
func TestMigrateEmptyThenAgain(t *testing.T) {
	pool := pgstoretest.Pool(t, pgtest.URL(t))
	schema := pgstoretest.Schema()
	t.Cleanup(func() { pgstoretest.Drop(t, pool, schema) })
	u, err := pgstore.New(pool, pgstore.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	c := bg(t)
	st, err := u.MigrationStatus(c)
	files := migrationFiles(t)
	if err != nil || len(st.Applied) != 0 || len(st.Pending) != len(files) || st.Latest != len(files) {
		t.Fatalf("MigrationStatus of an empty database: %+v, %v", st, err)
	}
	if got := catalog(t, pool, schema); len(got) != 0 {
		t.Fatalf("MigrationStatus created something: %v", got)
	}
	if err := u.Migrate(c); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	first := catalog(t, pool, schema)
	if !slices.ContainsFunc(first, func(s string) bool { return strings.HasPrefix(s, "index users_email_key") }) {
		t.Fatalf("no email index after Migrate:\n%s", strings.Join(first, "\n"))
	}
	recorded := migrationRows(t, pool, schema)
	if len(recorded) != len(files) {
		t.Fatalf("schema_migrations has %v; want one row per file %v", recorded, files)
	}
	for i, name := range files {
		if want := fmt.Sprintf("%d %s %s", i+1, name, checksum(t, name)); !strings.HasPrefix(recorded[i], want+" ") {
			t.Fatalf("schema_migrations row %q; want %q", recorded[i], want)
		}
	}

	time.Sleep(10 * time.Millisecond) // a rewritten row would show a new applied_at
	for range 2 {
		if err := u.Migrate(c); err != nil {
			t.Fatalf("Migrate again: %v", err)
		}
	}
	if again := catalog(t, pool, schema); !slices.Equal(again, first) {
		t.Fatalf("Migrate again changed the catalog:\nbefore %v\nafter  %v", first, again)
	}
	if again := migrationRows(t, pool, schema); !slices.Equal(again, recorded) {
		t.Fatalf("Migrate again changed schema_migrations:\nbefore %v\nafter  %v", recorded, again)
	}
	if st, err := u.MigrationStatus(c); err != nil || len(st.Pending) != 0 || len(st.Applied) != len(files) {
		t.Fatalf("MigrationStatus after Migrate: %+v, %v", st, err)
	}
}

// TestMigrateConcurrently: processes starting together on an empty schema
// all succeed, and each migration is applied once.
func TestMigrateConcurrently(t *testing.T) {
	const migrators = 8
	url := pgtest.URL(t)
	shared := pgstoretest.Pool(t, url)
	// The catalog of a schema migrated alone, for comparison.
	alone := pgstoretest.OpenOn(t, shared, pgstore.Options{})
	want := catalog(t, shared, alone.Schema())

	// One pool each, of one connection, opened first: separate sessions as
	// separate processes would have, released together.
	pools := make([]*pgxpool.Pool, migrators)
	for i := range pools {
		cfg, err := pgxpool.ParseConfig(url)
		if err != nil {
			t.Fatal(err)
		}
		cfg.MaxConns = 1
		if pools[i], err = pgxpool.NewWithConfig(bg(t), cfg); err != nil {
			t.Fatal(err)
		}
		defer pools[i].Close()
		if err := pools[i].Ping(bg(t)); err != nil {
			t.Fatal(err)
		}
	}
	for round := range 3 {
		schema := pgstoretest.Schema()
		t.Cleanup(func() { pgstoretest.Drop(t, shared, schema) })
		var (
			start, done sync.WaitGroup
			mu          sync.Mutex
			errs        []error
		)
		start.Add(1)
		for _, p := range pools {
			done.Add(1)
			go func() {
				defer done.Done()
				u, err := pgstore.New(p, pgstore.Options{Schema: schema})
				start.Wait()
				if err == nil {
					err = u.Migrate(bg(t))
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}()
		}
		start.Done()
		done.Wait()
		if len(errs) > 0 {
			t.Fatalf("round %d: %d of %d concurrent migrators failed: %v", round, len(errs), migrators, errs)
		}
		if got := migrationRows(t, shared, schema); len(got) != len(migrationFiles(t)) {
			t.Fatalf("round %d: schema_migrations after %d concurrent migrators: %v", round, migrators, got)
		}
		got := catalog(t, shared, schema)
		if !slices.Equal(replaceAll(got, schema, "S"), replaceAll(want, alone.Schema(), "S")) {
			t.Fatalf("round %d: the catalog differs from a lone migration:\n%v\nwant\n%v", round, got, want)
		}
	}
}

// TestMigrateRefusesAnEditedMigration: a migration recorded with another
// checksum (its file was edited after release) stops Migrate, which then
// changes nothing.
func TestMigrateRefusesAnEditedMigration(t *testing.T) {
	u := pgstoretest.Open(t, pgstore.Options{})
	pool := pgstoretest.Pool(t, pgtest.URL(t))
	c := bg(t)
	if _, err := pool.Exec(c, `UPDATE `+u.Schema()+`.schema_migrations SET checksum = 'edited' WHERE version = 1`); err != nil {
		t.Fatal(err)
	}
	before := migrationRows(t, pool, u.Schema())
	err := u.Migrate(c)
	if err == nil || !strings.Contains(err.Error(), "never change") || !strings.Contains(err.Error(), "0001_users.sql") {
		t.Fatalf("Migrate over an edited migration: %v", err)
	}
	if after := migrationRows(t, pool, u.Schema()); !slices.Equal(after, before) {
		t.Fatalf("a refused Migrate changed schema_migrations: %v", after)
	}
}

// TestMigrateUnderANewerBuild: a schema migrated by a newer build (a
// version this one does not know) is left alone, and reported.
func TestMigrateUnderANewerBuild(t *testing.T) {
	u := pgstoretest.Open(t, pgstore.Options{})
	pool := pgstoretest.Pool(t, pgtest.URL(t))
	c := bg(t)
	if _, err := pool.Exec(c, `INSERT INTO `+u.Schema()+`.schema_migrations (version, name, checksum) VALUES (999, '0999_future.sql', 'x')`); err != nil {
		t.Fatal(err)
	}
	if err := u.Migrate(c); err != nil {
		t.Fatalf("Migrate on a newer schema: %v", err)
	}
	st, err := u.MigrationStatus(c)
	if err != nil || !slices.Equal(st.Applied, append(versions(t), 999)) || len(st.Pending) != 0 || st.Latest != len(migrationFiles(t)) {
		t.Fatalf("MigrationStatus: %+v, %v", st, err)
	}
}

// TestMigrateWithoutCreatePrivilege: once the schema is up to date, Migrate
// (run at every start) needs no right to create anything, so the service
// may run as a role without DDL rights.
func TestMigrateWithoutCreatePrivilege(t *testing.T) {
	url := pgtest.URL(t)
	u := pgstoretest.Open(t, pgstore.Options{})
	pool := pgstoretest.Pool(t, url)
	c := bg(t)
	role := "r" + u.Schema()
	schema := pgx.Identifier{u.Schema()}.Sanitize()
	for _, q := range []string{
		`CREATE ROLE ` + role + ` LOGIN`,
		`REVOKE CREATE ON SCHEMA public FROM ` + role,
		`GRANT USAGE ON SCHEMA ` + schema + ` TO ` + role,
		`GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA ` + schema + ` TO ` + role,
	} {
		if _, err := pool.Exec(c, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() {
		pool.Exec(bg(t), `DROP OWNED BY `+role)
		pool.Exec(bg(t), `DROP ROLE `+role)
	})
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.User = role
	limited, err := pgxpool.NewWithConfig(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer limited.Close()
	var canCreate bool
	if err := limited.QueryRow(c, `SELECT has_database_privilege(current_database(), 'CREATE') OR has_schema_privilege($1, 'CREATE')`, u.Schema()).Scan(&canCreate); err != nil || canCreate {
		t.Fatalf("the limited role can create: %v, %v", canCreate, err)
	}
	lu, err := pgstore.New(limited, pgstore.Options{Schema: u.Schema()})
	if err != nil {
		t.Fatal(err)
	}
	if err := lu.Migrate(c); err != nil {
		t.Fatalf("Migrate of an up-to-date schema without CREATE: %v", err)
	}
	if _, err := lu.Register(c, "limited@example.com", "password", nil); err != nil {
		t.Fatalf("Register as the limited role: %v", err)
	}
}

// TestMigrationsOnlyAdd: no migration drops, truncates, deletes or renames
// anything, or rewrites a column's type: every file only adds.
func TestMigrationsOnlyAdd(t *testing.T) {
	destructive := regexp.MustCompile(`(?i)\b(DROP|TRUNCATE|DELETE|RENAME|ALTER\s+COLUMN\s+\S+\s+(SET\s+DATA\s+)?TYPE)\b`)
	comment := regexp.MustCompile(`--[^\n]*`)
	// A foreign key's ON DELETE action says what happens to rows when an
	// application deletes their user; the migration deletes nothing.
	onDelete := regexp.MustCompile(`(?i)\bON\s+DELETE\s+(CASCADE|SET\s+NULL|SET\s+DEFAULT|RESTRICT|NO\s+ACTION)\b`)
	for _, name := range migrationFiles(t) {
		b, err := os.ReadFile(filepath.Join("migrations", name))
		if err != nil {
			t.Fatal(err)
		}
		if m := destructive.FindString(onDelete.ReplaceAllString(comment.ReplaceAllString(string(b), ""), "")); m != "" {
			t.Errorf("%s contains %q: migrations never destroy; add columns or tables instead", name, m)
		}
	}
}

func migrationFiles(t testing.TB) []string {
	t.Helper()
	m, err := filepath.Glob("migrations/*.sql")
	if err != nil || len(m) == 0 {
		t.Fatalf("no migrations: %v", err)
	}
	for i := range m {
		m[i] = filepath.Base(m[i])
	}
	slices.Sort(m)
	return m
}

func versions(t testing.TB) []int {
	var v []int
	for i := range migrationFiles(t) {
		v = append(v, i+1)
	}
	return v
}

func checksum(t testing.TB, name string) string {
	b, err := os.ReadFile(filepath.Join("migrations", name))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")))
	return hex.EncodeToString(sum[:])
}

// catalog describes what a schema holds: each relation with its columns,
// each index and constraint with its definition.
func catalog(t testing.TB, pool *pgxpool.Pool, schema string) []string {
	t.Helper()
	rows, err := pool.Query(bg(t), `
		SELECT CASE c.relkind WHEN 'i' THEN 'index ' ELSE 'relation ' END || c.relname || ' ' || c.relkind::text || ' ' ||
			coalesce(pg_get_indexdef(c.oid), '') || coalesce((
				SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod) ||
					CASE WHEN a.attnotnull THEN ' not null' ELSE '' END ||
					coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), ''), ', ' ORDER BY a.attnum)
				FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
				WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND c.relkind <> 'i'), '')
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1
		UNION ALL
		SELECT 'constraint ' || conname || ' on ' || conrelid::regclass::text || ' ' || pg_get_constraintdef(oid)
		FROM pg_constraint WHERE connamespace = (SELECT oid FROM pg_namespace WHERE nspname = $1)
		ORDER BY 1`, schema)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// migrationRows lists schema_migrations as "version name checksum applied_at".
func migrationRows(t testing.TB, pool *pgxpool.Pool, schema string) []string {
	t.Helper()
	rows, err := pool.Query(bg(t), `SELECT version || ' ' || name || ' ' || checksum || ' ' || applied_at FROM `+
		pgx.Identifier{schema, "schema_migrations"}.Sanitize()+` ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func replaceAll(list []string, old, new string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = strings.ReplaceAll(s, old, new)
	}
	return out
}
