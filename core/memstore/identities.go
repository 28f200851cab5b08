package memstore

import (
	"context"
	"slices"
	"time"

	"github.com/authenik8/authenik8-go/core"
)

var _ core.IdentityStore = (*Users)(nil)

// identity is an account's link to an OAuth or OpenID Connect provider.
type identity struct{ provider, subject string }

// UserByIdentity implements core.IdentityStore.
func (u *Users) UserByIdentity(_ context.Context, provider, subject string) (core.User, error) {
	u.mu.RLock()
	defer u.mu.RUnlock()
	if r := u.idents[identity{provider, subject}]; r != nil {
		return r.copy(), nil
	}
	return core.User{}, core.ErrUserNotFound
}

// LinkIdentity implements core.IdentityStore. Linking a pair again to the
// same user changes nothing.
func (u *Users) LinkIdentity(_ context.Context, userID, provider, subject string) error {
	if provider == "" || subject == "" {
		return core.ErrInvalidRequest.WithDescription("an identity needs a provider and a subject")
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	r := u.byID[userID]
	if r == nil {
		return core.ErrUserNotFound
	}
	k := identity{provider, subject}
	switch owner := u.idents[k]; {
	case owner == r:
		return nil
	case owner != nil:
		return core.ErrUserExists
	}
	u.linkLocked(k, r)
	return nil
}

// RegisterIdentity implements core.IdentityStore: under the lock that
// Register takes, so one of them wins an email.
func (u *Users) RegisterIdentity(_ context.Context, email string, roles []string, provider, subject string) (core.User, error) {
	if provider == "" || subject == "" {
		return core.User{}, core.ErrInvalidRequest.WithDescription("an identity needs a provider and a subject")
	}
	email = core.NormalizeEmail(email)
	k := identity{provider, subject}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.byEmail[email] != nil || u.idents[k] != nil {
		return core.User{}, core.ErrUserExists
	}
	r := &userRecord{User: core.User{
		ID: core.NewUserID(), Email: email, Roles: slices.Clone(roles), CreatedAt: time.Now().UTC(),
		EmailVerified: true,
	}} // no password hash: Authenticate refuses it at the cost of an unknown email
	u.byID[r.ID], u.byEmail[email] = r, r
	u.linkLocked(k, r)
	return r.copy(), nil
}

func (u *Users) linkLocked(k identity, r *userRecord) {
	if u.idents == nil {
		u.idents = map[identity]*userRecord{}
	}
	u.idents[k] = r
}
