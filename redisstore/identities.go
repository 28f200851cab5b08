package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/authenik8/authenik8-go/core"
)

var _ core.IdentityStore = (*Users)(nil)

// An OAuth identity is the string <prefix>:{i:<sha256 of provider and
// subject>}:ident holding the account's id, without a TTL, like the email
// index. Hashing keeps subjects — which may be emails at some providers —
// out of key names, and braces out of hash tags.
func (u *Users) identityKey(provider, subject string) string {
	h := sha256.New()
	h.Write([]byte(provider))
	h.Write([]byte{0})
	h.Write([]byte(subject))
	return u.s.prefix + ":{i:" + hex.EncodeToString(h.Sum(nil)[:16]) + "}:ident"
}

// UserByIdentity implements core.IdentityStore.
func (u *Users) UserByIdentity(ctx context.Context, provider, subject string) (core.User, error) {
	if provider == "" || subject == "" {
		return core.User{}, core.ErrUserNotFound
	}
	ctx, cancel := u.s.ctx(ctx)
	defer cancel()
	id, err := u.s.c.Do(ctx, u.s.c.B().Get().Key(u.identityKey(provider, subject)).Build()).ToString()
	if isNil(err) {
		return core.User{}, core.ErrUserNotFound
	}
	if err != nil {
		return core.User{}, wrap(err)
	}
	user, _, err := u.load(ctx, id)
	if err != nil && err != core.ErrUserNotFound {
		err = wrap(err)
	}
	return user, err
}

// LinkIdentity implements core.IdentityStore: SET NX on the identity, so
// of two links of one identity the first stays. Linking a pair again to the
// same user changes nothing.
func (u *Users) LinkIdentity(ctx context.Context, userID, provider, subject string) error {
	if provider == "" || subject == "" {
		return core.ErrInvalidRequest.WithDescription("an identity needs a provider and a subject")
	}
	if !core.ValidUserID(userID) {
		return core.ErrUserNotFound
	}
	ctx, cancel := u.s.ctx(ctx)
	defer cancel()
	c := u.s.c
	n, err := c.Do(ctx, c.B().Exists().Key(u.userKey(userID)).Build()).AsInt64()
	if err != nil {
		return wrap(err)
	}
	if n == 0 {
		return core.ErrUserNotFound
	}
	ik := u.identityKey(provider, subject)
	err = c.Do(ctx, c.B().Set().Key(ik).Value(userID).Nx().Build()).Error()
	if !isNil(err) {
		return wrap(err) // nil: linked
	}
	owner, err := c.Do(ctx, c.B().Get().Key(ik).Build()).ToString()
	switch {
	case err != nil && !isNil(err):
		return wrap(err)
	case owner == userID:
		return nil
	}
	return core.ErrUserExists
}

// RegisterIdentity implements core.IdentityStore. The email, the identity
// and the account live in different slots: as Register does, it reserves
// the email and then the identity (SET NX with a TTL), writes the account
// and makes both reservations permanent; a sign-up that dies half-way frees
// them when the reservations expire. Register and RegisterIdentity reserve
// the same email key, so one of them wins an email.
func (u *Users) RegisterIdentity(ctx context.Context, email string, roles []string, provider, subject string) (core.User, error) {
	if provider == "" || subject == "" {
		return core.User{}, core.ErrInvalidRequest.WithDescription("an identity needs a provider and a subject")
	}
	email = core.NormalizeEmail(email)
	rolesJSON, err := json.Marshal(nonNil(roles))
	if err != nil {
		return core.User{}, err
	}
	ctx, cancel := u.s.ctx(ctx)
	defer cancel()
	id, ek, ik := core.NewUserID(), u.emailKey(email), u.identityKey(provider, subject)
	c := u.s.c
	err = c.Do(ctx, c.B().Set().Key(ek).Value(id).Nx().Px(registrationWindow).Build()).Error()
	if isNil(err) {
		return core.User{}, core.ErrUserExists
	}
	if err != nil {
		return core.User{}, wrap(err)
	}
	undo := func() {
		// A fresh deadline: ctx may be the one that expired.
		uctx, cancel := context.WithTimeout(context.Background(), u.s.timeout)
		defer cancel()
		c.Do(uctx, c.B().Del().Key(u.userKey(id)).Build())
		claimEmailAbort(uctx, u, ik, id)
		claimEmailAbort(uctx, u, ek, id)
	}
	err = c.Do(ctx, c.B().Set().Key(ik).Value(id).Nx().Px(registrationWindow).Build()).Error()
	if isNil(err) {
		undo()
		return core.User{}, core.ErrUserExists
	}
	created := time.Now().UTC().Truncate(time.Millisecond)
	if err == nil {
		// No "pw" field: Authenticate refuses the account at the cost of an
		// unknown email.
		err = c.Do(ctx, c.B().Hset().Key(u.userKey(id)).FieldValue().
			FieldValue("email", email).FieldValue("roles", string(rolesJSON)).FieldValue("verified", "1").
			FieldValue("created", strconv.FormatInt(created.UnixMilli(), 10)).Build()).Error()
	}
	for _, k := range []string{ek, ik} {
		if err != nil {
			break
		}
		var claimed int64
		claimed, err = claimEmailScript.Exec(ctx, c, []string{k}, []string{id}).AsInt64()
		if err == nil && claimed != 1 {
			err = fmt.Errorf("a reservation expired before the sign-up finished")
		}
	}
	if err != nil {
		undo()
		return core.User{}, wrap(err)
	}
	return core.User{ID: id, Email: email, Roles: nonNil(roles), CreatedAt: created, EmailVerified: true}, nil
}
