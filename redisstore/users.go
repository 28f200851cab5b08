package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/authenik8/authenik8-go/core"
)

// Users is a core.UserStore, core.UserRegistrar, core.AccountStore and
// core.LinkTokenStore on Redis, sharing its Store's client, key prefix and
// timeout. Accounts and their email index are the only keys without a TTL.
type Users struct {
	s *Store
}

var (
	_ core.UserStore      = (*Users)(nil)
	_ core.UserRegistrar  = (*Users)(nil)
	_ core.AccountStore   = (*Users)(nil)
	_ core.LinkTokenStore = (*Users)(nil)
)

// Users returns the store's user store.
func (s *Store) Users() *Users { return &Users{s: s} }

// An account is the hash <prefix>:{u:<id>}:user (email, pw, roles, claims,
// created, and "1" in verified and disabled when they are set);
// <prefix>:{e:<sha256 of email>}:email holds its id. Hashing the email
// keeps addresses out of key names and braces out of hash tags. A link
// token is the string <prefix>:{u:<id>}:lt:<purpose>, holding the token's
// hash until it expires.
func (u *Users) userKey(id string) string { return u.s.userKey(id) }
func (u *Users) emailKey(email string) string {
	sum := sha256.Sum256([]byte(email))
	return u.s.prefix + ":{e:" + hex.EncodeToString(sum[:16]) + "}:email"
}

// registrationWindow bounds how long an email stays reserved by a
// registration that has not finished (the process died between its steps).
const registrationWindow = 30 * time.Second

// Register implements core.UserRegistrar. The email and the account live in
// different slots, so registration is three steps, atomic per email: reserve
// the email (SET NX with a TTL), write the account, make the reservation
// permanent. A registration that dies half-way frees the email when the
// reservation expires, and never leaves an account without its index.
func (u *Users) Register(ctx context.Context, email, password string, roles []string) (core.User, error) {
	email = core.NormalizeEmail(email)
	hash, err := u.s.hasher.Hash(password)
	if err != nil {
		return core.User{}, err
	}
	rolesJSON, err := json.Marshal(nonNil(roles))
	if err != nil {
		return core.User{}, err
	}
	ctx, cancel := u.s.ctx(ctx)
	defer cancel()
	id, ek := core.NewUserID(), u.emailKey(email)
	c := u.s.c
	err = c.Do(ctx, c.B().Set().Key(ek).Value(id).Nx().Px(registrationWindow).Build()).Error()
	if isNil(err) {
		return core.User{}, core.ErrUserExists
	}
	if err != nil {
		return core.User{}, wrap(err)
	}
	created := time.Now().UTC().Truncate(time.Millisecond)
	err = c.Do(ctx, c.B().Hset().Key(u.userKey(id)).FieldValue().
		FieldValue("email", email).FieldValue("pw", hash).FieldValue("roles", string(rolesJSON)).
		FieldValue("created", strconv.FormatInt(created.UnixMilli(), 10)).Build()).Error()
	if err == nil {
		var claimed int64
		claimed, err = claimEmailScript.Exec(ctx, c, []string{ek}, []string{id}).AsInt64()
		if err == nil && claimed != 1 {
			err = fmt.Errorf("the reservation of the email expired before registration finished")
		}
	}
	if err != nil {
		// Undo with a fresh deadline: ctx may be the one that expired.
		undo, cancel := context.WithTimeout(context.Background(), u.s.timeout)
		defer cancel()
		c.Do(undo, c.B().Del().Key(u.userKey(id)).Build())
		claimEmailAbort(undo, u, ek, id)
		return core.User{}, wrap(err)
	}
	return core.User{ID: id, Email: email, Roles: nonNil(roles), CreatedAt: created}, nil
}

// claimEmailAbort drops a reservation that is still this registration's.
func claimEmailAbort(ctx context.Context, u *Users, ek, id string) {
	c := u.s.c
	if v, err := c.Do(ctx, c.B().Get().Key(ek).Build()).ToString(); err == nil && v == id {
		c.Do(ctx, c.B().Del().Key(ek).Build())
	}
}

// Authenticate implements core.UserStore. An unknown email costs the same
// argon2id computation as a known one. A hash made with other parameters
// than the hasher's is replaced after a successful check.
func (u *Users) Authenticate(ctx context.Context, email, password string) (core.User, error) {
	email = core.NormalizeEmail(email)
	qctx, cancel := u.s.ctx(ctx)
	user, hash, err := u.byEmail(qctx, email)
	cancel()
	switch {
	case isNil(err) || err == core.ErrUserNotFound || (err == nil && hash == ""): // no password: an OAuth account
		u.s.hasher.VerifyMissing(password)
		return core.User{}, core.ErrInvalidCredentials
	case err != nil:
		return core.User{}, wrap(err)
	case !u.s.hasher.Verify(hash, password):
		return core.User{}, core.ErrInvalidCredentials
	}
	if u.s.hasher.NeedsRehash(hash) {
		// Best effort: the login stands whether or not the upgrade lands.
		if upgraded, err := u.s.hasher.Hash(password); err == nil {
			qctx, cancel := u.s.ctx(ctx)
			setPasswordIfScript.Exec(qctx, u.s.c, []string{u.userKey(user.ID)}, []string{hash, upgraded})
			cancel()
		}
	}
	return user, nil
}

// UserByEmail implements core.AccountStore.
func (u *Users) UserByEmail(ctx context.Context, email string) (core.User, error) {
	ctx, cancel := u.s.ctx(ctx)
	defer cancel()
	user, _, err := u.byEmail(ctx, core.NormalizeEmail(email))
	if err != nil && err != core.ErrUserNotFound {
		err = wrap(err)
	}
	return user, err
}

// byEmail reads the account of a normalized email, or ErrUserNotFound.
func (u *Users) byEmail(ctx context.Context, email string) (core.User, string, error) {
	id, err := u.s.c.Do(ctx, u.s.c.B().Get().Key(u.emailKey(email)).Build()).ToString()
	if isNil(err) {
		return core.User{}, "", core.ErrUserNotFound
	}
	if err != nil {
		return core.User{}, "", err
	}
	return u.load(ctx, id)
}

// SetPassword implements core.AccountStore.
func (u *Users) SetPassword(ctx context.Context, id, password string) error {
	if !core.ValidUserID(id) {
		return core.ErrUserNotFound
	}
	hash, err := u.s.hasher.Hash(password)
	if err != nil {
		return err
	}
	return u.set(ctx, id, "pw", hash)
}

// SetDisabled implements core.AccountStore.
func (u *Users) SetDisabled(ctx context.Context, id string, disabled bool) error {
	return u.set(ctx, id, "disabled", flag(disabled))
}

// SetEmailVerified implements core.AccountStore.
func (u *Users) SetEmailVerified(ctx context.Context, id string) error {
	return u.set(ctx, id, "verified", "1")
}

// PutLinkToken implements core.LinkTokenStore.
func (u *Users) PutLinkToken(ctx context.Context, userID, purpose, hash string, ttl time.Duration) error {
	if !core.ValidUserID(userID) {
		return core.ErrUserNotFound
	}
	ctx, cancel := u.s.ctx(ctx)
	defer cancel()
	c := u.s.c
	return wrap(c.Do(ctx, c.B().Set().Key(u.linkKey(userID, purpose)).Value(compactHash(hash)).Px(ttl).Build()).Error())
}

// RedeemLinkToken implements core.LinkTokenStore: one script, so of two
// concurrent redemptions one finds the token and the other finds it gone.
func (u *Users) RedeemLinkToken(ctx context.Context, userID, purpose, hash string) (bool, error) {
	if !core.ValidUserID(userID) {
		return false, nil
	}
	ctx, cancel := u.s.ctx(ctx)
	defer cancel()
	n, err := redeemScript.Exec(ctx, u.s.c, []string{u.linkKey(userID, purpose)}, []string{compactHash(hash)}).AsInt64()
	if err != nil {
		return false, wrap(err)
	}
	return n == 1, nil
}

func (u *Users) linkKey(id, purpose string) string { return u.s.userTag(id) + "lt:" + purpose }

// User implements core.UserStore.
func (u *Users) User(ctx context.Context, id string) (core.User, error) {
	ctx, cancel := u.s.ctx(ctx)
	defer cancel()
	user, _, err := u.load(ctx, id)
	if err != nil && err != core.ErrUserNotFound {
		err = wrap(err)
	}
	return user, err
}

// SetRoles replaces a user's roles; core.ErrUserNotFound when there is no
// such user. Sessions see the change at their next refresh when
// core.Config.ReloadUser is set.
func (u *Users) SetRoles(ctx context.Context, id string, roles []string) error {
	return u.update(ctx, id, "roles", nonNil(roles))
}

// SetClaims replaces a user's application claims.
func (u *Users) SetClaims(ctx context.Context, id string, claims map[string]any) error {
	return u.update(ctx, id, "claims", claims)
}

func (u *Users) update(ctx context.Context, id, field string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return u.set(ctx, id, field, string(b))
}

// set sets a field of an existing account.
func (u *Users) set(ctx context.Context, id, field, value string) error {
	if !core.ValidUserID(id) {
		return core.ErrUserNotFound
	}
	ctx, cancel := u.s.ctx(ctx)
	defer cancel()
	n, err := updateUserScript.Exec(ctx, u.s.c, []string{u.userKey(id)}, []string{field, value}).AsInt64()
	if err != nil {
		return wrap(err)
	}
	if n == 0 {
		return core.ErrUserNotFound
	}
	return nil
}

// load reads an account: the user, its password hash, or ErrUserNotFound.
func (u *Users) load(ctx context.Context, id string) (core.User, string, error) {
	if !core.ValidUserID(id) {
		return core.User{}, "", core.ErrUserNotFound
	}
	m, err := u.s.c.Do(ctx, u.s.c.B().Hgetall().Key(u.userKey(id)).Build()).AsStrMap()
	if err != nil {
		return core.User{}, "", err
	}
	if len(m) == 0 {
		return core.User{}, "", core.ErrUserNotFound
	}
	user, err := decodeUser(id, m)
	return user, m["pw"], err
}

// decodeUser decodes an account's hash (its fields but the password hash
// are enough). The rotate script reads the same hash when it reloads a user.
func decodeUser(id string, m map[string]string) (core.User, error) {
	user := core.User{ID: id, Email: m["email"], EmailVerified: m["verified"] == "1", Disabled: m["disabled"] == "1"}
	if err := json.Unmarshal([]byte(m["roles"]), &user.Roles); err != nil {
		return core.User{}, fmt.Errorf("user %s: roles: %w", id, err)
	}
	if c := m["claims"]; c != "" {
		if err := json.Unmarshal([]byte(c), &user.Claims); err != nil {
			return core.User{}, fmt.Errorf("user %s: claims: %w", id, err)
		}
	}
	if ms, err := strconv.ParseInt(m["created"], 10, 64); err == nil {
		user.CreatedAt = time.UnixMilli(ms).UTC()
	}
	return user, nil
}

func isNil(err error) bool { return rueidis.IsRedisNil(err) }

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
