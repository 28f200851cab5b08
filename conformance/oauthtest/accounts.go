package oauthtest

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/authenik8/authenik8-go/core"
)

// Accounts is an in-memory user store with what core's OAuth flow uses —
// core.UserStore, core.UserRegistrar, core.IdentityStore,
// core.LinkTokenStore and UserByEmail — and setters for the states a test
// needs (verified emails, disabled accounts). It counts accounts,
// identities and link tokens so that a test can check that a refused flow
// changed nothing. Passwords are hashed with a cheap argon2id setting.
type Accounts struct {
	hasher core.PasswordHasher
	now    func() time.Time

	mu      sync.Mutex
	byID    map[string]*account
	byEmail map[string]*account
	idents  map[[2]string]*account
	links   map[[2]string]link
	// Down, when set, makes every call fail as an unreachable store does.
	down bool
}

type account struct {
	core.User
	hash string
}

type link struct {
	hash    string
	expires time.Time
}

// Accounts hold everything core's OAuth sign-in asks of a user store.
var (
	_ core.AccountStore   = (*Accounts)(nil)
	_ core.LinkTokenStore = (*Accounts)(nil)
	_ core.IdentityStore  = (*Accounts)(nil)
	_ core.UserRegistrar  = (*Accounts)(nil)
)

// NewAccounts returns an empty store on the clock now (time.Now when nil),
// which decides when link tokens expire.
func NewAccounts(now func() time.Time) *Accounts {
	if now == nil {
		now = time.Now
	}
	return &Accounts{
		hasher: core.PasswordHasher{Params: core.PasswordParams{Time: 1, MemoryKiB: 64, Threads: 1}},
		now:    now,
		byID:   map[string]*account{}, byEmail: map[string]*account{},
		idents: map[[2]string]*account{}, links: map[[2]string]link{},
	}
}

var (
	_ core.UserStore      = (*Accounts)(nil)
	_ core.UserRegistrar  = (*Accounts)(nil)
	_ core.IdentityStore  = (*Accounts)(nil)
	_ core.LinkTokenStore = (*Accounts)(nil)
)

// SetDown makes every call fail with core.ErrStoreUnavailable (true) or
// answer again (false).
func (s *Accounts) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

func (s *Accounts) lock() error {
	s.mu.Lock()
	if s.down {
		s.mu.Unlock()
		return core.ErrStoreUnavailable
	}
	return nil
}

// Register implements core.UserRegistrar.
func (s *Accounts) Register(_ context.Context, email, password string, roles []string) (core.User, error) {
	hash, err := s.hasher.Hash(password)
	if err != nil {
		return core.User{}, err
	}
	return s.create(core.NormalizeEmail(email), hash, roles, false, [2]string{})
}

// RegisterIdentity implements core.IdentityStore.
func (s *Accounts) RegisterIdentity(_ context.Context, email string, roles []string, provider, subject string) (core.User, error) {
	return s.create(core.NormalizeEmail(email), "", roles, true, [2]string{provider, subject})
}

func (s *Accounts) create(email, hash string, roles []string, verified bool, id [2]string) (core.User, error) {
	if err := s.lock(); err != nil {
		return core.User{}, err
	}
	defer s.mu.Unlock()
	if s.byEmail[email] != nil || (id != [2]string{} && s.idents[id] != nil) {
		return core.User{}, core.ErrUserExists
	}
	a := &account{User: core.User{ID: core.NewUserID(), Email: email, Roles: slices.Clone(roles), CreatedAt: s.now().UTC(), EmailVerified: verified}, hash: hash}
	s.byID[a.ID], s.byEmail[email] = a, a
	if id != [2]string{} {
		s.idents[id] = a
	}
	return a.copy(), nil
}

// Authenticate implements core.UserStore.
func (s *Accounts) Authenticate(_ context.Context, email, password string) (core.User, error) {
	if err := s.lock(); err != nil {
		return core.User{}, err
	}
	a := s.byEmail[core.NormalizeEmail(email)]
	var (
		u    core.User
		hash string
	)
	if a != nil {
		u, hash = a.copy(), a.hash
	}
	s.mu.Unlock()
	if hash == "" {
		s.hasher.VerifyMissing(password)
		return core.User{}, core.ErrInvalidCredentials
	}
	if !s.hasher.Verify(hash, password) {
		return core.User{}, core.ErrInvalidCredentials
	}
	return u, nil
}

// User implements core.UserStore.
func (s *Accounts) User(_ context.Context, id string) (core.User, error) {
	return s.find(func() *account { return s.byID[id] })
}

// UserByEmail is core.AccountStore's: the account of a normalized email.
func (s *Accounts) UserByEmail(_ context.Context, email string) (core.User, error) {
	return s.find(func() *account { return s.byEmail[core.NormalizeEmail(email)] })
}

// UserByIdentity implements core.IdentityStore.
func (s *Accounts) UserByIdentity(_ context.Context, provider, subject string) (core.User, error) {
	return s.find(func() *account { return s.idents[[2]string{provider, subject}] })
}

func (s *Accounts) find(f func() *account) (core.User, error) {
	if err := s.lock(); err != nil {
		return core.User{}, err
	}
	defer s.mu.Unlock()
	if a := f(); a != nil {
		return a.copy(), nil
	}
	return core.User{}, core.ErrUserNotFound
}

// LinkIdentity implements core.IdentityStore.
func (s *Accounts) LinkIdentity(_ context.Context, userID, provider, subject string) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	a := s.byID[userID]
	if a == nil {
		return core.ErrUserNotFound
	}
	k := [2]string{provider, subject}
	if owner := s.idents[k]; owner != nil && owner != a {
		return core.ErrUserExists
	}
	s.idents[k] = a
	return nil
}

// PutLinkToken implements core.LinkTokenStore.
func (s *Accounts) PutLinkToken(_ context.Context, userID, purpose, hash string, ttl time.Duration) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	s.links[[2]string{userID, purpose}] = link{hash: hash, expires: s.now().Add(ttl)}
	return nil
}

// RedeemLinkToken implements core.LinkTokenStore.
func (s *Accounts) RedeemLinkToken(_ context.Context, userID, purpose, hash string) (bool, error) {
	if err := s.lock(); err != nil {
		return false, err
	}
	defer s.mu.Unlock()
	k := [2]string{userID, purpose}
	l, ok := s.links[k]
	if !ok || l.hash != hash {
		return false, nil
	}
	delete(s.links, k)
	return s.now().Before(l.expires), nil
}

// SetEmailVerified marks the account's email verified.
func (s *Accounts) SetEmailVerified(_ context.Context, id string) error {
	return s.change(id, func(a *account) { a.EmailVerified = true })
}

// SetPassword replaces the account's password.
func (s *Accounts) SetPassword(_ context.Context, id, password string) error {
	hash, err := s.hasher.Hash(password)
	if err != nil {
		return err
	}
	return s.change(id, func(a *account) { a.hash = hash })
}

// SetDisabled disables or enables the account.
func (s *Accounts) SetDisabled(_ context.Context, id string, disabled bool) error {
	return s.change(id, func(a *account) { a.Disabled = disabled })
}

// SetRoles replaces the account's roles.
func (s *Accounts) SetRoles(_ context.Context, id string, roles []string) error {
	return s.change(id, func(a *account) { a.Roles = slices.Clone(roles) })
}

func (s *Accounts) change(id string, f func(*account)) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	a := s.byID[id]
	if a == nil {
		return core.ErrUserNotFound
	}
	f(a)
	return nil
}

// Reset forgets every account, identity and link token.
func (s *Accounts) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.byID)
	clear(s.byEmail)
	clear(s.idents)
	clear(s.links)
}

// Counts returns how many accounts, linked identities and pending link
// tokens the store holds.
func (s *Accounts) Counts() (accounts, identities, links int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byID), len(s.idents), len(s.links)
}

// Identities returns the (provider, subject) pairs linked to the account.
func (s *Accounts) Identities(userID string) [][2]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out [][2]string
	for k, a := range s.idents {
		if a.ID == userID {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b [2]string) int { return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1])) })
	return out
}

func (a *account) copy() core.User {
	u := a.User
	u.Roles = slices.Clone(a.Roles)
	u.Claims = maps.Clone(a.Claims)
	return u
}
