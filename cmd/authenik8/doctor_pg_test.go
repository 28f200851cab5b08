package main

import (
	"context"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authenik8/authenik8-go/conformance/pgtest"
	"github.com/authenik8/authenik8-go/pgstore"
	"github.com/authenik8/authenik8-go/pgstore/pgstoretest"
)

// pgEnv is a valid configuration with accounts in the PostgreSQL at url.
func pgEnv(url string) map[string]string {
	env := goodEnv("")
	env["DATABASE_URL"] = url
	return env
}

// TestDoctorPostgres: against a fresh database every check passes and the
// migration is reported pending, and doctor creates nothing; once the
// server's migration ran, it is reported applied.
func TestDoctorPostgres(t *testing.T) {
	db := pgstoretest.Database(t)
	all := allMigrations(t, db)
	code, ok, checks := doctorJSON(t, pgEnv(db))
	if code != exitOK || !ok {
		t.Fatalf("doctor against a fresh database: exit %d: %v", code, checks)
	}
	u, _ := url.Parse(db)
	for name, want := range map[string]string{
		"postgres reachable":  "PASS " + u.Host + u.Path + " as postgres, connected and queried in ",
		"postgres version":    "PASS PostgreSQL ",
		"postgres writable":   "PASS transactions are read-write",
		"postgres migrations": `INFO schema "authenik8": none applied yet, ` + versions(all) + ` pending: the server applies them at start`,
	} {
		if c := checks[name]; !strings.HasPrefix(strings.ToUpper(c.Status)+" "+c.Detail, want) {
			t.Errorf("%s: %+v, want %q…", name, c, want)
		}
	}
	if !strings.HasSuffix(checks["postgres version"].Detail, "(12 or later required)") {
		t.Errorf("version: %+v", checks["postgres version"])
	}
	pool := pgstoretest.Pool(t, db)
	var schemas int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_namespace WHERE nspname = 'authenik8'`).Scan(&schemas); err != nil || schemas != 0 {
		t.Fatalf("doctor created the schema (%d, %v): it must change nothing", schemas, err)
	}

	users, err := pgstore.New(pool, pgstore.Options{}) // what the server does at start
	if err != nil {
		t.Fatal(err)
	}
	if err := users.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := cli(t, pgEnv(db), "doctor", "--env", "")
	if want := `PASS  postgres migrations: schema "authenik8": ` + versions(all) + ` applied, none pending`; r.code != exitOK || !strings.Contains(r.stdout, want) {
		t.Errorf("after the migration: want %q\n%v", want, r)
	}

	// Without DATABASE_URL the checks are skipped.
	if _, _, checks := doctorJSON(t, goodEnv("")); checks["postgres"].Status != statusSkip {
		t.Errorf("without DATABASE_URL: %+v", checks["postgres"])
	}
}

// TestDoctorPostgresRefusals: a server that takes no writes, and a user
// who may not create the schema the server would migrate, fail with a line
// that says what to do.
func TestDoctorPostgresRefusals(t *testing.T) {
	db := pgstoretest.Database(t)
	pool := pgstoretest.Pool(t, db)
	ctx := context.Background()
	name := strings.TrimPrefix(must(url.Parse(db)).Path, "/")
	role := name + "_reader" // roles are per server: one of this test's own
	// With a password, for a server that asks for one.
	if _, err := pool.Exec(ctx, `CREATE ROLE `+pgx.Identifier{role}.Sanitize()+` LOGIN PASSWORD 'reader-password'`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Exec(context.Background(), `DROP ROLE IF EXISTS `+pgx.Identifier{role}.Sanitize()) })
	asRole := must(url.Parse(db))
	asRole.User = url.UserPassword(role, "reader-password")

	r := cli(t, pgEnv(asRole.String()), "doctor", "--env", "")
	want := `FAIL  postgres migrations: schema "authenik8": ` + versions(allMigrations(t, db)) + ` pending, and ` + role + ` may not create them, so the server would not start: GRANT CREATE ON DATABASE`
	if r.code != exitFailure || !strings.Contains(r.stdout, want) {
		t.Errorf("a user without CREATE: want %q\n%v", want, r)
	}
	if _, err := pool.Exec(ctx, `GRANT CREATE ON DATABASE `+pgx.Identifier{name}.Sanitize()+` TO `+pgx.Identifier{role}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	if r := cli(t, pgEnv(asRole.String()), "doctor", "--env", ""); r.code != exitOK {
		t.Errorf("after GRANT CREATE: %v", r)
	}

	if _, err := pool.Exec(ctx, `ALTER DATABASE `+pgx.Identifier{name}.Sanitize()+` SET default_transaction_read_only = on`); err != nil {
		t.Fatal(err)
	}
	r = cli(t, pgEnv(db), "doctor", "--env", "")
	if want := "FAIL  postgres writable: transactions are read-only"; r.code != exitFailure || !strings.Contains(r.stdout, want) {
		t.Errorf("a read-only database: want %q\n%v", want, r)
	}
}

// TestDoctorPostgresDown fails, naming PostgreSQL, for a server that does
// not answer, and skips the migration check.
func TestDoctorPostgresDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	r := cli(t, pgEnv("postgres://postgres@"+addr+"/postgres"), "doctor", "--env", "", "--timeout", "2s")
	for _, want := range []string{"FAIL  postgres reachable: " + addr + "/postgres: ", "connection refused", "SKIP  postgres migrations: needs a reachable PostgreSQL", "FAILED: postgres reachable"} {
		if r.code != exitFailure || !strings.Contains(r.stdout, want) {
			t.Errorf("no %q in\n%v", want, r)
		}
	}
	// pgx's error has a line per address tried: one line per check all the same.
	for line := range strings.Lines(r.stdout) {
		if line != "\n" && !strings.HasPrefix(line, "FAILED: ") && !slices.Contains([]string{"PASS", "FAIL", "SKIP", "INFO"}, strings.TrimSpace(line[:min(5, len(line))])) {
			t.Errorf("a line that is no check: %q", line)
		}
	}
}

// TestDoctorRedactsDatabaseURL: a DATABASE_URL that does not parse, that
// is not a URL, or whose password the server refuses or accepts, is
// reported without a piece of the password, in lines and in JSON. The
// server is one of the test's own, with password authentication.
func TestDoctorRedactsDatabaseURL(t *testing.T) {
	srv := pgtest.Start(t)
	requirePassword(t, srv, "Pa55w0rd-right")
	for db, want := range map[string]string{
		"postgres://postgres:Pa55w0rd-right@" + srv.Addr + "/postgres":                  "PASS  postgres reachable: " + srv.Addr + "/postgres as postgres",
		"postgres://postgres:Pa55w0rd-wrong@" + srv.Addr + "/postgres":                  "FAIL  postgres reachable: " + srv.Addr + "/postgres: failed to connect to `user=postgres database=postgres`",
		"postgres://alice:Pa55/w0rd@" + srv.Addr + "/postgres":                          `FAIL  DATABASE_URL: invalid URL "postgres://alice:xxxxx@` + srv.Addr,
		"postgres://alice:Pa55%zzw0rd@" + srv.Addr + "/postgres":                        `FAIL  DATABASE_URL: invalid URL "postgres://alice:xxxxx@` + srv.Addr,
		"host=127.0.0.1 user=postgres password=Pa55w0rd":                                "FAIL  DATABASE_URL: not a postgres:// URL",
		"postgres://postgres:Pa55w0rd@" + srv.Addr + "0/postgres":                       "FAIL  DATABASE_URL: cannot parse `postgres://postgres:xxxxx@" + srv.Addr + "0/postgres`: invalid port",
		"postgres://postgres@" + srv.Addr + "/postgres?password=Pa55w0rd&sslmode=bogus": "FAIL  DATABASE_URL: cannot parse `postgres://postgres@" + srv.Addr + "/postgres?password=xxxxx&sslmode=bogus`",
	} {
		r := cli(t, pgEnv(db), "doctor", "--env", "", "--timeout", "5s")
		j := cli(t, pgEnv(db), "doctor", "--env", "", "--timeout", "5s", "--json")
		if !strings.Contains(r.stdout, want) {
			t.Errorf("DATABASE_URL=%s: want %q\n%v", db, want, r)
		}
		for _, out := range []string{r.stdout + r.stderr, j.stdout + j.stderr} {
			for _, secret := range []string{"Pa55", "w0rd"} {
				if strings.Contains(out, secret) {
					t.Errorf("DATABASE_URL=%s: doctor printed %q:\n%s", db, secret, out)
				}
			}
		}
	}
}

// requirePassword sets the password of user postgres and makes the server
// ask for it on TCP connections.
func requirePassword(t *testing.T, srv *pgtest.Server, password string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `ALTER USER postgres PASSWORD '`+password+`'`); err != nil {
		t.Fatal(err)
	}
	// Overwritten in place, the file keeps its owner (the server's user).
	if err := os.WriteFile(filepath.Join(srv.Dir, "pg_hba.conf"), []byte("host all all 127.0.0.1/32 scram-sha-256\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `SELECT pg_reload_conf()`); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		c, err := pgx.Connect(ctx, srv.URL()) // without the password
		if err != nil {
			return
		}
		c.Close(ctx)
		if time.Now().After(deadline) {
			t.Fatal("the server still accepts connections without a password")
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// allMigrations lists the versions of pgstore's migrations, as pending on a
// database they never ran on.
func allMigrations(t *testing.T, db string) []int {
	t.Helper()
	users, err := pgstore.New(pgstoretest.Pool(t, db), pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := users.MigrationStatus(context.Background())
	if err != nil || len(st.Pending) == 0 {
		t.Fatalf("pgstore's migrations: %+v, %v", st, err)
	}
	return st.Pending
}
