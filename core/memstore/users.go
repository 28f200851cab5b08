package memstore

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/authenik8/authenik8-go/core"
)

// Users is a core.UserStore and core.UserRegistrar in memory, with argon2id
// password hashes. It is safe for concurrent use.
type Users struct {
	hasher *core.PasswordHasher

	mu      sync.RWMutex
	byID    map[string]*userRecord
	byEmail map[string]*userRecord
	idents  map[identity]*userRecord // OAuth identities (identities.go); nil until the first link
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
	return &Users{hasher: hasher, byID: map[string]*userRecord{}, byEmail: map[string]*userRecord{}}
}

var (
	_ core.UserStore     = (*Users)(nil)
	_ core.UserRegistrar = (*Users)(nil)
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
	return user, nil
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
	u.mu.Lock()
	defer u.mu.Unlock()
	r := u.byID[id]
	if r == nil {
		return core.ErrUserNotFound
	}
	r.Roles = slices.Clone(roles)
	return nil
}

// SetClaims replaces a user's application claims.
func (u *Users) SetClaims(_ context.Context, id string, claims map[string]any) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	r := u.byID[id]
	if r == nil {
		return core.ErrUserNotFound
	}
	r.Claims = maps.Clone(claims)
	return nil
}

func (r *userRecord) copy() core.User {
	c := r.User
	c.Roles = slices.Clone(r.Roles)
	c.Claims = maps.Clone(r.Claims)
	return c
}
