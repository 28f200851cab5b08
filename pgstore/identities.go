package pgstore

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/authenik8/authenik8-go/core"
)

var _ core.IdentityStore = (*Users)(nil)

// UserByIdentity implements core.IdentityStore.
func (u *Users) UserByIdentity(ctx context.Context, provider, subject string) (core.User, error) {
	if provider == "" || subject == "" || !storable(provider) || !storable(subject) {
		return core.User{}, core.ErrUserNotFound
	}
	qctx, cancel := u.ctx(ctx)
	var id string
	err := u.pool.QueryRow(qctx, `SELECT user_id FROM `+u.table("identities")+` WHERE provider = $1 AND subject = $2`, provider, subject).Scan(&id)
	cancel()
	if errors.Is(err, pgx.ErrNoRows) {
		return core.User{}, core.ErrUserNotFound
	}
	if err != nil {
		return core.User{}, u.fail(err)
	}
	// The account as User reads it, every column included.
	return u.User(ctx, id)
}

// LinkIdentity implements core.IdentityStore: the primary key on
// (provider, subject) keeps the first link. Linking a pair again to the
// same user changes nothing.
func (u *Users) LinkIdentity(ctx context.Context, userID, provider, subject string) error {
	if provider == "" || subject == "" || !storable(provider) || !storable(subject) {
		return core.ErrInvalidRequest.WithDescription("an identity needs a provider and a subject")
	}
	if !core.ValidUserID(userID) {
		return core.ErrUserNotFound
	}
	ctx, cancel := u.ctx(ctx)
	defer cancel()
	var owner string
	err := u.pool.QueryRow(ctx, `WITH linked AS (
			INSERT INTO `+u.table("identities")+` (provider, subject, user_id) VALUES ($1, $2, $3)
			ON CONFLICT (provider, subject) DO NOTHING RETURNING user_id)
		SELECT user_id FROM linked
		UNION ALL SELECT user_id FROM `+u.table("identities")+` WHERE provider = $1 AND subject = $2
		LIMIT 1`, provider, subject, userID).Scan(&owner)
	switch {
	case isForeignKey(err):
		return core.ErrUserNotFound
	case err != nil:
		return u.fail(err)
	case owner != userID:
		return core.ErrUserExists
	}
	return nil
}

// RegisterIdentity implements core.IdentityStore: the account and its
// identity in one transaction. The unique index on the email decides a race
// with Register, the primary key of identities one with another
// RegisterIdentity.
func (u *Users) RegisterIdentity(ctx context.Context, email string, roles []string, provider, subject string) (core.User, error) {
	email = core.NormalizeEmail(email)
	if err := core.CheckEmail(email); err != nil {
		return core.User{}, err
	}
	if provider == "" || subject == "" || !storable(provider) || !storable(subject) {
		return core.User{}, core.ErrInvalidRequest.WithDescription("an identity needs a provider and a subject")
	}
	roles = nonNil(slices.Clone(roles))
	id := core.NewUserID()
	ctx, cancel := u.ctx(ctx)
	defer cancel()
	var created time.Time
	err := pgx.BeginFunc(ctx, u.pool, func(tx pgx.Tx) error {
		// No password: Authenticate refuses the account at the cost of an
		// unknown email.
		err := tx.QueryRow(ctx, `INSERT INTO `+u.table("users")+` (id, email, password_hash, roles, email_verified) VALUES ($1, $2, NULL, $3, true)
			ON CONFLICT ((lower(email))) DO NOTHING RETURNING created_at`, id, email, roles).Scan(&created)
		if errors.Is(err, pgx.ErrNoRows) || isEmailConflict(err) {
			return core.ErrUserExists
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO `+u.table("identities")+` (provider, subject, user_id) VALUES ($1, $2, $3)`, provider, subject, id)
		if isIdentityConflict(err) {
			return core.ErrUserExists
		}
		return err
	})
	switch {
	case errors.Is(err, core.ErrUserExists):
		return core.User{}, err
	case err != nil:
		return core.User{}, u.fail(err)
	}
	return core.User{ID: id, Email: email, Roles: roles, CreatedAt: created.UTC(), EmailVerified: true}, nil
}

func (u *Users) table(name string) string { return pgx.Identifier{u.schema, name}.Sanitize() }

// identitiesKey is the primary key of migrations/0003_identities.sql.
const identitiesKey = "identities_pkey"

func isIdentityConflict(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == identitiesKey
}

func isForeignKey(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23503"
}
