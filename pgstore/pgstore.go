package pgstore

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authenik8/authenik8-go/core"
)

// Options configure Users. Zero fields take the default in their comment.
type Options struct {
	// Schema holds the store's tables; Migrate creates it. Lower-case
	// letters, digits and underscores, starting with a letter or an
	// underscore, at most 63 bytes. Default "authenik8".
	Schema string
	// Timeout bounds every call to PostgreSQL, waiting for a pooled
	// connection included: past it the call fails with
	// core.ErrStoreUnavailable. Password hashing is not counted. Default 1
	// second.
	Timeout time.Duration
	// Hasher hashes passwords. Default core.DefaultPasswordParams.
	Hasher *core.PasswordHasher
}

// Defaults of Options.
const (
	DefaultSchema  = "authenik8"
	DefaultTimeout = time.Second
)

// Users is a core.UserStore and core.UserRegistrar on PostgreSQL. It is safe
// for concurrent use.
type Users struct {
	pool    *pgxpool.Pool
	schema  string
	timeout time.Duration
	hasher  *core.PasswordHasher
	lockKey int64 // advisory lock of Migrate, one per schema
	q       queries
}

var (
	_ core.UserStore     = (*Users)(nil)
	_ core.UserRegistrar = (*Users)(nil)
)

// New returns Users on the caller's pool, which it never closes. It does no
// I/O: call Migrate at start, which creates or upgrades the schema and
// proves that the database answers.
func New(pool *pgxpool.Pool, opts Options) (*Users, error) {
	if pool == nil {
		return nil, errors.New("pgstore: pool is nil")
	}
	u := &Users{pool: pool, schema: opts.Schema, timeout: opts.Timeout, hasher: opts.Hasher}
	if u.schema == "" {
		u.schema = DefaultSchema
	}
	if !schemaName.MatchString(u.schema) {
		return nil, fmt.Errorf("pgstore: schema %q: use lower-case letters, digits and underscores, starting with a letter or an underscore, at most 63 bytes", u.schema)
	}
	if u.timeout <= 0 {
		u.timeout = DefaultTimeout
	}
	if u.hasher == nil {
		u.hasher = &core.PasswordHasher{}
	}
	sum := sha256.Sum256([]byte("authenik8-go/pgstore migrate " + u.schema))
	u.lockKey = int64(binary.BigEndian.Uint64(sum[:8]))
	u.q = newQueries(pgx.Identifier{u.schema}.Sanitize())
	return u, nil
}

// Register implements core.UserRegistrar: atomic per normalized email (a
// unique index decides a race), core.ErrUserExists when the email is taken.
func (u *Users) Register(ctx context.Context, email, password string, roles []string) (core.User, error) {
	email = core.NormalizeEmail(email)
	if err := core.CheckEmail(email); err != nil {
		return core.User{}, err
	}
	// Hash before the deadline starts: argon2id is the slow part, and holds
	// no connection.
	hash, err := u.hasher.Hash(password)
	if err != nil {
		return core.User{}, err
	}
	roles = nonNil(slices.Clone(roles))
	id := core.NewUserID()
	ctx, cancel := u.ctx(ctx)
	defer cancel()
	var created time.Time
	err = u.pool.QueryRow(ctx, u.q.insert, id, email, hash, roles).Scan(&created)
	if errors.Is(err, pgx.ErrNoRows) || isEmailConflict(err) {
		return core.User{}, core.ErrUserExists
	}
	if err != nil {
		return core.User{}, u.fail(err)
	}
	return core.User{ID: id, Email: email, Roles: roles, CreatedAt: created.UTC()}, nil
}

// Authenticate implements core.UserStore. An unknown email, or an account
// without a password, costs the same argon2id computation as a wrong
// password, and gives the same core.ErrInvalidCredentials.
func (u *Users) Authenticate(ctx context.Context, email, password string) (core.User, error) {
	email = core.NormalizeEmail(email)
	var (
		user   core.User
		hash   *string
		claims []byte
		err    = pgx.ErrNoRows
	)
	// No account has an email PostgreSQL cannot hold as text: asking would
	// be a database error, where the answer is "unknown email".
	if storable(email) {
		qctx, cancel := u.ctx(ctx)
		err = u.pool.QueryRow(qctx, u.q.byEmail, email).Scan(&user.ID, &user.Email, &hash, &user.Roles, &claims, &user.CreatedAt)
		cancel() // the connection goes back to the pool before hashing
	}
	switch {
	case errors.Is(err, pgx.ErrNoRows) || (err == nil && hash == nil):
		u.hasher.VerifyMissing(password)
		return core.User{}, core.ErrInvalidCredentials
	case err != nil:
		return core.User{}, u.fail(err)
	case !u.hasher.Verify(*hash, password):
		return core.User{}, core.ErrInvalidCredentials
	}
	return user, finish(&user, claims)
}

// User implements core.UserStore.
func (u *Users) User(ctx context.Context, id string) (core.User, error) {
	if !core.ValidUserID(id) {
		return core.User{}, core.ErrUserNotFound
	}
	ctx, cancel := u.ctx(ctx)
	defer cancel()
	var (
		user   core.User
		claims []byte
	)
	err := u.pool.QueryRow(ctx, u.q.byID, id).Scan(&user.ID, &user.Email, &user.Roles, &claims, &user.CreatedAt, &user.EmailVerified)
	if errors.Is(err, pgx.ErrNoRows) {
		return core.User{}, core.ErrUserNotFound
	}
	if err != nil {
		return core.User{}, u.fail(err)
	}
	return user, finish(&user, claims)
}

// SetRoles replaces a user's roles; core.ErrUserNotFound when there is no
// such user. Sessions see the change at their next refresh when
// core.Config.UserLoader is set.
func (u *Users) SetRoles(ctx context.Context, id string, roles []string) error {
	return u.update(ctx, u.q.setRoles, id, nonNil(roles))
}

// SetClaims replaces a user's application claims (nil or empty: none);
// core.ErrUserNotFound when there is no such user.
func (u *Users) SetClaims(ctx context.Context, id string, claims map[string]any) error {
	var v *string
	if len(claims) > 0 {
		b, err := json.Marshal(claims)
		if err != nil {
			return fmt.Errorf("pgstore: claims: %w", err)
		}
		s := string(b)
		v = &s
	}
	return u.update(ctx, u.q.setClaims, id, v)
}

// Ping checks that PostgreSQL answers within the timeout.
func (u *Users) Ping(ctx context.Context) error {
	ctx, cancel := u.ctx(ctx)
	defer cancel()
	return u.fail(u.pool.Ping(ctx))
}

// Schema is the schema that holds the store's tables.
func (u *Users) Schema() string { return u.schema }

// queries are the statements of Users, on one schema. pgx prepares each
// once per connection.
type queries struct {
	insert, byEmail, byID, setRoles, setClaims string
}

func newQueries(schema string) queries {
	users := schema + ".users"
	return queries{
		insert: `INSERT INTO ` + users + ` (id, email, password_hash, roles) VALUES ($1, $2, $3, $4)
			ON CONFLICT ((lower(email))) DO NOTHING RETURNING created_at`,
		byEmail:   `SELECT id, email, password_hash, roles, claims, created_at FROM ` + users + ` WHERE lower(email) = lower($1)`,
		byID:      `SELECT id, email, roles, claims, created_at, email_verified FROM ` + users + ` WHERE id = $1`,
		setRoles:  `UPDATE ` + users + ` SET roles = $2, updated_at = now() WHERE id = $1`,
		setClaims: `UPDATE ` + users + ` SET claims = $2::jsonb, updated_at = now() WHERE id = $1`,
	}
}

func (u *Users) update(ctx context.Context, sql, id string, v any) error {
	if !core.ValidUserID(id) {
		return core.ErrUserNotFound
	}
	ctx, cancel := u.ctx(ctx)
	defer cancel()
	tag, err := u.pool.Exec(ctx, sql, id, v)
	if err != nil {
		return u.fail(err)
	}
	if tag.RowsAffected() == 0 {
		return core.ErrUserNotFound
	}
	return nil
}

func (u *Users) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, u.timeout)
}

// fail turns any error of PostgreSQL or the pool into one that matches
// core.ErrStoreUnavailable: whatever it is, the store had no answer.
func (u *Users) fail(err error) error {
	if err == nil || errors.Is(err, core.ErrStoreUnavailable) {
		return err
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "42P01" || pgErr.Code == "3F000" || pgErr.Code == "42703") {
		// undefined_table, invalid_schema_name, undefined_column
		return fmt.Errorf("%w: pgstore: schema %q is not migrated (call Migrate at start): %w", core.ErrStoreUnavailable, u.schema, err)
	}
	return fmt.Errorf("%w: postgres: %w", core.ErrStoreUnavailable, err)
}

// emailIndex is the unique index of migrations/0001_users.sql.
const emailIndex = "users_email_key"

func isEmailConflict(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == emailIndex
}

// finish decodes a user's claims and normalizes what PostgreSQL returned.
func finish(user *core.User, claims []byte) error {
	user.CreatedAt = user.CreatedAt.UTC()
	user.Roles = nonNil(user.Roles)
	if claims != nil {
		if err := json.Unmarshal(claims, &user.Claims); err != nil {
			return fmt.Errorf("%w: pgstore: user %s: claims: %w", core.ErrStoreUnavailable, user.ID, err)
		}
	}
	return nil
}

// storable reports whether PostgreSQL can hold s in a text column: valid
// UTF-8 without NUL.
func storable(s string) bool { return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 }

var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
