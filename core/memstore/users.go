package memstore

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/authenik8/authenik8-go/core"
)

// Users is a core.UserStore, core.UserRegistrar, core.AccountStore and
// core.LinkTokenStore in memory, with argon2id password hashes. It is safe
// for concurrent use.
type Users struct {
	hasher *core.PasswordHasher

	mu      sync.RWMutex
	byID    map[string]*userRecord
	byEmail map[string]*userRecord
	idents  map[identity]*userRecord // OAuth identities (identities.go); nil until the first link
	links   map[linkKey]linkEntry    // at most one per user and purpose
}

type linkKey struct{ user, purpose string }

type linkEntry struct {
	hash    string
	expires time.Time
}

type userRecord struct {
	core.User
	hash string
}

// NewUsers returns an empty user store. A nil hasher uses
// core.DefaultPasswordParams.
func NewUsers(hasher *core.PasswordHasher) *Users {
	if hasher == nil {
		hasher = &core.PasswordHasher{}
	}
	return &Users{hasher: hasher, byID: map[string]*userRecord{}, byEmail: map[string]*userRecord{}, links: map[linkKey]linkEntry{}}
}

var (
	_ core.UserStore      = (*Users)(nil)
	_ core.UserRegistrar  = (*Users)(nil)
	_ core.AccountStore   = (*Users)(nil)
	_ core.LinkTokenStore = (*Users)(nil)
)

// Register implements core.UserRegistrar.
func (u *Users) Register(_ context.Context, email, password string, roles []string) (core.User, error) {
	email = core.NormalizeEmail(email)
	// Hash before taking the lock: argon2id is the slow part.
	hash, err := u.hasher.Hash(password)
	if err != nil {
		return core.User{}, err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.byEmail[email] != nil {
		return core.User{}, core.ErrUserExists
	}
	r := &userRecord{
		User: core.User{ID: core.NewUserID(), Email: email, Roles: slices.Clone(roles), CreatedAt: time.Now().UTC()},
		hash: hash,
	}
	u.byID[r.ID], u.byEmail[email] = r, r
	return r.copy(), nil
}

// Authenticate implements core.UserStore.
func (u *Users) Authenticate(_ context.Context, email, password string) (core.User, error) {
	u.mu.RLock()
	r := u.byEmail[core.NormalizeEmail(email)]
	var (
		hash string
		user core.User
	)
	if r != nil {
		hash, user = r.hash, r.copy()
	}
	u.mu.RUnlock()
	if r == nil || hash == "" { // no account, or one without a password (OAuth)
		u.hasher.VerifyMissing(password)
		return core.User{}, core.ErrInvalidCredentials
	}
	if !u.hasher.Verify(hash, password) {
		return core.User{}, core.ErrInvalidCredentials
	}
	if u.hasher.NeedsRehash(hash) {
		if upgraded, err := u.hasher.Hash(password); err == nil {
			u.mu.Lock()
			if r.hash == hash { // not changed meanwhile (SetPassword wins)
				r.hash = upgraded
			}
			u.mu.Unlock()
		}
	}
	return user, nil
}

// UserByEmail implements core.AccountStore.
func (u *Users) UserByEmail(_ context.Context, email string) (core.User, error) {
	u.mu.RLock()
	defer u.mu.RUnlock()
	if r := u.byEmail[core.NormalizeEmail(email)]; r != nil {
		return r.copy(), nil
	}
	return core.User{}, core.ErrUserNotFound
}

// SetPassword implements core.AccountStore.
func (u *Users) SetPassword(_ context.Context, id, password string) error {
	u.mu.RLock()
	r := u.byID[id]
	u.mu.RUnlock()
	if r == nil {
		return core.ErrUserNotFound
	}
	hash, err := u.hasher.Hash(password)
	if err != nil {
		return err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	r.hash = hash
	return nil
}

// SetDisabled implements core.AccountStore.
func (u *Users) SetDisabled(_ context.Context, id string, disabled bool) error {
	return u.change(id, func(r *userRecord) { r.Disabled = disabled })
}

// SetEmailVerified implements core.AccountStore.
func (u *Users) SetEmailVerified(_ context.Context, id string) error {
	return u.change(id, func(r *userRecord) { r.EmailVerified = true })
}

// PutLinkToken implements core.LinkTokenStore.
func (u *Users) PutLinkToken(_ context.Context, userID, purpose, hash string, ttl time.Duration) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.links[linkKey{userID, purpose}] = linkEntry{hash: hash, expires: time.Now().Add(ttl)}
	return nil
}

// RedeemLinkToken implements core.LinkTokenStore.
func (u *Users) RedeemLinkToken(_ context.Context, userID, purpose, hash string) (bool, error) {
	k := linkKey{userID, purpose}
	u.mu.Lock()
	defer u.mu.Unlock()
	e, ok := u.links[k]
	if !ok {
		return false, nil
	}
	if !time.Now().Before(e.expires) {
		delete(u.links, k)
		return false, nil
	}
	if e.hash != hash {
		return false, nil
	}
	delete(u.links, k)
	return true, nil
}

// User implements core.UserStore.
func (u *Users) User(_ context.Context, id string) (core.User, error) {
	u.mu.RLock()
	defer u.mu.RUnlock()
	if r := u.byID[id]; r != nil {
		return r.copy(), nil
	}
	return core.User{}, core.ErrUserNotFound
}

// SetRoles replaces a user's roles. Sessions see the change at their next
// refresh when core.Config.UserLoader is set.
func (u *Users) SetRoles(_ context.Context, id string, roles []string) error {
	return u.change(id, func(r *userRecord) { r.Roles = slices.Clone(roles) })
}

// SetClaims replaces a user's application claims.
func (u *Users) SetClaims(_ context.Context, id string, claims map[string]any) error {
	return u.change(id, func(r *userRecord) { r.Claims = maps.Clone(claims) })
}

// change applies f to the user's record under the lock.
func (u *Users) change(id string, f func(*userRecord)) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	r := u.byID[id]
	if r == nil {
		return core.ErrUserNotFound
	}
	f(r)
	return nil
}

func (r *userRecord) copy() core.User {
	c := r.User
	c.Roles = slices.Clone(r.Roles)
	c.Claims = maps.Clone(r.Claims)
	return c
}
