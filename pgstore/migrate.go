package pgstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultMigrateTimeout bounds Migrate and MigrationStatus when their
// context has no deadline: time for the migrations and for waiting on
// another process that is running them.
const DefaultMigrateTimeout = time.Minute

// Migrate creates the schema and its tables, or brings them up to this
// build: each embedded migration not yet recorded in the schema's
// schema_migrations table runs once, in order. It is idempotent and safe
// when several processes start together: a transaction-level advisory lock
// keyed by the schema serializes them, and the others find the work done.
// All pending migrations apply in one transaction, or none does. A
// migration recorded with a different checksum than this build's is an
// error: released migrations are never edited.
func (u *Users) Migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	ctx, cancel := migrateCtx(ctx)
	defer cancel()
	tx, err := u.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return u.fail(err)
	}
	defer tx.Rollback(ctx)
	// Read committed, so that once the lock is ours each statement sees
	// what the process that held it before committed.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, u.lockKey); err != nil {
		return u.fail(err)
	}
	applied, err := u.applied(ctx, tx, true)
	if err != nil {
		return err
	}
	var pending []migration
	for _, m := range ms {
		if sum, ok := applied[m.version]; !ok {
			pending = append(pending, m)
		} else if sum != m.checksum {
			return fmt.Errorf("pgstore: migration %s in schema %q was applied with checksum %s, this build has %s: a released migration must never change",
				m.name, u.schema, sum, m.checksum)
		}
	}
	if len(pending) == 0 {
		return nil // commits nothing: the deferred rollback releases the lock
	}
	if _, err := tx.Exec(ctx, `SET LOCAL search_path TO `+pgx.Identifier{u.schema}.Sanitize()); err != nil {
		return u.fail(err)
	}
	for _, m := range pending {
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return fmt.Errorf("pgstore: migration %s: %w", m.name, u.fail(err))
		}
		if _, err := tx.Exec(ctx, `INSERT INTO `+u.migrationsTable()+` (version, name, checksum) VALUES ($1, $2, $3)`,
			m.version, m.name, m.checksum); err != nil {
			return u.fail(err)
		}
	}
	return u.fail(tx.Commit(ctx))
}

// MigrationStatus is what MigrationStatus reports.
type MigrationStatus struct {
	// Applied lists the versions recorded in the schema, ascending; empty
	// for a database Migrate never ran on. Versions above Latest were
	// applied by a newer build.
	Applied []int
	// Pending lists the versions of this build that the schema lacks.
	Pending []int
	// Latest is the highest version this build has.
	Latest int
}

// MigrationStatus reports which migrations the schema has, without
// changing anything (for health checks and `authenik8 doctor`).
func (u *Users) MigrationStatus(ctx context.Context) (MigrationStatus, error) {
	ms, err := migrations()
	if err != nil {
		return MigrationStatus{}, err
	}
	ctx, cancel := migrateCtx(ctx)
	defer cancel()
	tx, err := u.pool.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return MigrationStatus{}, u.fail(err)
	}
	defer tx.Rollback(ctx)
	applied, err := u.applied(ctx, tx, false)
	if err != nil {
		return MigrationStatus{}, err
	}
	st := MigrationStatus{Applied: []int{}, Pending: []int{}, Latest: ms[len(ms)-1].version}
	for v := range applied {
		st.Applied = append(st.Applied, v)
	}
	slices.Sort(st.Applied)
	for _, m := range ms {
		if _, ok := applied[m.version]; !ok {
			st.Pending = append(st.Pending, m.version)
		}
	}
	return st, nil
}

// applied returns the checksums of the recorded migrations by version. With
// create, it first creates the schema and the table when missing, each
// checked before it is created, so that an up-to-date database needs no
// CREATE privilege.
func (u *Users) applied(ctx context.Context, tx pgx.Tx, create bool) (map[int]string, error) {
	var schemaExists, tableExists bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1), to_regclass($2) IS NOT NULL`,
		u.schema, u.migrationsTable()).Scan(&schemaExists, &tableExists)
	if err != nil {
		return nil, u.fail(err)
	}
	if !create && !tableExists {
		return map[int]string{}, nil
	}
	if !schemaExists {
		if _, err := tx.Exec(ctx, `CREATE SCHEMA `+pgx.Identifier{u.schema}.Sanitize()); err != nil {
			return nil, u.fail(err)
		}
	}
	if !tableExists {
		if _, err := tx.Exec(ctx, `CREATE TABLE `+u.migrationsTable()+` (
			version    integer     PRIMARY KEY,
			name       text        NOT NULL,
			checksum   text        NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`); err != nil {
			return nil, u.fail(err)
		}
	}
	rows, err := tx.Query(ctx, `SELECT version, checksum FROM `+u.migrationsTable())
	if err != nil {
		return nil, u.fail(err)
	}
	applied := map[int]string{}
	var (
		v   int
		sum string
	)
	_, err = pgx.ForEachRow(rows, []any{&v, &sum}, func() error { applied[v] = sum; return nil })
	if err != nil {
		return nil, u.fail(err)
	}
	return applied, nil
}

func (u *Users) migrationsTable() string {
	return pgx.Identifier{u.schema, "schema_migrations"}.Sanitize()
}

func migrateCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, DefaultMigrateTimeout)
}

// migration is one file of migrations/: NNNN_name.sql.
type migration struct {
	version  int
	name     string // the file name
	sql      string
	checksum string // hex SHA-256 of the file, with LF line endings
}

//go:embed migrations/*.sql
var migrationFiles embed.FS

var migrationFile = regexp.MustCompile(`^(\d{4})_[a-z0-9_]+\.sql$`)

// migrations returns the embedded migrations in order, checking that their
// versions run 1, 2, 3… without a gap or a duplicate.
var migrations = sync.OnceValues(func() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries { // sorted by name
		m := migrationFile.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("pgstore: migration file %q is not named NNNN_name.sql", e.Name())
		}
		b, err := migrationFiles.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		v, _ := strconv.Atoi(m[1])
		if v != len(ms)+1 {
			return nil, fmt.Errorf("pgstore: migration %s: want version %d next", e.Name(), len(ms)+1)
		}
		// Line endings do not count: a checkout with CRLF endings is the
		// same migration.
		sum := sha256.Sum256(bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")))
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b), checksum: hex.EncodeToString(sum[:])})
	}
	if len(ms) == 0 {
		return nil, errors.New("pgstore: no migrations embedded")
	}
	return ms, nil
})
