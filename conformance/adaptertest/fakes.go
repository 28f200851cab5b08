package adaptertest

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/authenik8/authenik8-go/core"
)

// The stores of StoreUnavailable: a real store behind a switch that makes
// every call fail as an unreachable store does.

// failSwitch turns the flaky stores' failures on and off.
type failSwitch struct{ on atomic.Bool }

func (f *failSwitch) set(v bool) { f.on.Store(v) }
func (f *failSwitch) err() error {
	if f.on.Load() {
		return fmt.Errorf("%w: test outage", core.ErrStoreUnavailable)
	}
	return nil
}

type flakyStore struct {
	core.Store
	down *failSwitch
}

func (s *flakyStore) CreateSession(ctx context.Context, n core.NewSession) (core.Session, error) {
	if err := s.down.err(); err != nil {
		return core.Session{}, err
	}
	return s.Store.CreateSession(ctx, n)
}
func (s *flakyStore) Rotate(ctx context.Context, r core.Rotation) (core.RotateResult, error) {
	if err := s.down.err(); err != nil {
		return core.RotateResult{}, err
	}
	return s.Store.Rotate(ctx, r)
}
func (s *flakyStore) SessionAlive(ctx context.Context, uid, sid string) (bool, error) {
	if err := s.down.err(); err != nil {
		return true, err // a true with the error must not let anything through
	}
	return s.Store.SessionAlive(ctx, uid, sid)
}
func (s *flakyStore) RevokeSession(ctx context.Context, uid, sid string) (bool, error) {
	if err := s.down.err(); err != nil {
		return false, err
	}
	return s.Store.RevokeSession(ctx, uid, sid)
}
func (s *flakyStore) RevokeUser(ctx context.Context, uid string) (int, error) {
	if err := s.down.err(); err != nil {
		return 0, err
	}
	return s.Store.RevokeUser(ctx, uid)
}
func (s *flakyStore) ListSessions(ctx context.Context, uid string) ([]core.Session, error) {
	if err := s.down.err(); err != nil {
		return nil, err
	}
	return s.Store.ListSessions(ctx, uid)
}
func (s *flakyStore) Ping(ctx context.Context) error {
	if err := s.down.err(); err != nil {
		return err
	}
	return s.Store.Ping(ctx)
}

// The limiter follows the switch too: login and registration count
// attempts in the store first.
func (s *flakyStore) Hit(ctx context.Context, key string, limit int64, window time.Duration) (bool, time.Duration, error) {
	if err := s.down.err(); err != nil {
		return false, 0, err
	}
	return s.Store.(core.Limiter).Hit(ctx, key, limit, window)
}
func (s *flakyStore) Peek(ctx context.Context, key string) (int64, time.Duration, error) {
	if err := s.down.err(); err != nil {
		return 0, 0, err
	}
	return s.Store.(core.Limiter).Peek(ctx, key)
}
func (s *flakyStore) Undo(ctx context.Context, key string) error {
	if err := s.down.err(); err != nil {
		return err
	}
	return s.Store.(core.Limiter).Undo(ctx, key)
}
func (s *flakyStore) Reset(ctx context.Context, key string) error {
	if err := s.down.err(); err != nil {
		return err
	}
	return s.Store.(core.Limiter).Reset(ctx, key)
}

type flakyUsers struct {
	core.UserStore
	down *failSwitch
}

func (u *flakyUsers) Authenticate(ctx context.Context, email, password string) (core.User, error) {
	if err := u.down.err(); err != nil {
		return core.User{}, err
	}
	return u.UserStore.Authenticate(ctx, email, password)
}
func (u *flakyUsers) User(ctx context.Context, id string) (core.User, error) {
	if err := u.down.err(); err != nil {
		return core.User{}, err
	}
	return u.UserStore.User(ctx, id)
}
func (u *flakyUsers) Register(ctx context.Context, email, password string, roles []string) (core.User, error) {
	if err := u.down.err(); err != nil {
		return core.User{}, err
	}
	return u.UserStore.(core.UserRegistrar).Register(ctx, email, password, roles)
}
func (u *flakyUsers) SetRoles(ctx context.Context, id string, roles []string) error {
	return u.UserStore.(interface {
		SetRoles(context.Context, string, []string) error
	}).SetRoles(ctx, id, roles)
}

func (s *flakyStore) RevokeOtherSessions(ctx context.Context, uid, keep string) (int, error) {
	if err := s.down.err(); err != nil {
		return 0, err
	}
	return s.Store.RevokeOtherSessions(ctx, uid, keep)
}

// The account and link-token methods follow the switch too, when the
// wrapped store has them (the mail routes need both).
func (u *flakyUsers) accounts() core.AccountStore { return u.UserStore.(core.AccountStore) }
func (u *flakyUsers) links() core.LinkTokenStore  { return u.UserStore.(core.LinkTokenStore) }
func (u *flakyUsers) UserByEmail(ctx context.Context, email string) (core.User, error) {
	if err := u.down.err(); err != nil {
		return core.User{}, err
	}
	return u.accounts().UserByEmail(ctx, email)
}
func (u *flakyUsers) SetPassword(ctx context.Context, id, password string) error {
	if err := u.down.err(); err != nil {
		return err
	}
	return u.accounts().SetPassword(ctx, id, password)
}
func (u *flakyUsers) SetDisabled(ctx context.Context, id string, disabled bool) error {
	if err := u.down.err(); err != nil {
		return err
	}
	return u.accounts().SetDisabled(ctx, id, disabled)
}
func (u *flakyUsers) SetEmailVerified(ctx context.Context, id string) error {
	if err := u.down.err(); err != nil {
		return err
	}
	return u.accounts().SetEmailVerified(ctx, id)
}
func (u *flakyUsers) PutLinkToken(ctx context.Context, id, purpose, hash string, ttl time.Duration) error {
	if err := u.down.err(); err != nil {
		return err
	}
	return u.links().PutLinkToken(ctx, id, purpose, hash, ttl)
}
func (u *flakyUsers) RedeemLinkToken(ctx context.Context, id, purpose, hash string) (bool, error) {
	if err := u.down.err(); err != nil {
		return false, err
	}
	return u.links().RedeemLinkToken(ctx, id, purpose, hash)
}
