package memstore

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/authenik8/authenik8-go/core"
)

// Store is a core.Store and core.Limiter in memory. It is safe for
// concurrent use; one mutex makes every session method atomic, another the
// rate-limit counters. Expired sessions and windows are invisible at once
// and swept out periodically.
type Store struct {
	now func() time.Time

	mu       sync.RWMutex
	sessions map[string]*entry              // by session id
	byUser   map[string]map[string]struct{} // user id → session ids
	writes   int                            // since the last sweep

	limitMu    sync.Mutex
	counters   map[string]*counter // core.Limiter windows
	windowEnds windowHeap          // the counters, by end of window
}

type entry struct {
	core.Session
	absolute  time.Time
	gen       uint32
	cur, prev string // token hashes
	rotatedAt time.Time
}

// Option configures a Store.
type Option func(*Store)

// WithClock replaces time.Now, for tests of expiry.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// New returns an empty Store.
func New(opts ...Option) *Store {
	s := &Store{now: time.Now, sessions: map[string]*entry{}, byUser: map[string]map[string]struct{}{}}
	for _, o := range opts {
		o(s)
	}
	return s
}

var _ core.Store = (*Store)(nil)

// CreateSession implements core.Store.
func (s *Store) CreateSession(_ context.Context, n core.NewSession) (core.Session, error) {
	limit := n.MaxSessions
	if limit <= 0 {
		limit = core.DefaultMaxSessionsPerUser
	}
	now := s.now()
	e := &entry{
		Session: core.Session{
			ID: n.ID, UserID: n.UserID, Data: clone(n.Data),
			UserAgent: n.UserAgent, IP: n.IP,
			CreatedAt: now, LastUsedAt: now,
		},
		absolute: now.Add(n.AbsoluteTTL),
		cur:      n.TokenHash,
	}
	e.ExpiresAt = earliest(now.Add(n.IdleTTL), e.absolute)
	s.mu.Lock()
	defer s.mu.Unlock()
	evicted := s.evictLocked(n.UserID, limit-1, now)
	s.sessions[n.ID] = e
	if s.byUser[n.UserID] == nil {
		s.byUser[n.UserID] = map[string]struct{}{}
	}
	s.byUser[n.UserID][n.ID] = struct{}{}
	s.sweepLocked(now)
	snap := e.snapshot()
	snap.Evicted = evicted
	return snap, nil
}

// Rotate implements core.Store.
func (s *Store) Rotate(_ context.Context, r core.Rotation) (core.RotateResult, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.liveLocked(r.SessionID, now)
	switch {
	case r.LoadUser:
		return core.RotateResult{}, errors.New("memstore: Rotation.LoadUser: the store holds no users")
	case e == nil || e.UserID != r.UserID:
		return core.RotateResult{Outcome: core.Invalid}, nil
	case r.End && (r.Generation == e.gen && r.TokenHash == e.cur || s.justReplaced(e, r, now)):
		s.deleteLocked(e)
		return core.RotateResult{Outcome: core.Ended}, nil
	case r.Generation == e.gen && r.TokenHash == e.cur:
		e.gen++
		e.prev, e.cur, e.rotatedAt = e.cur, r.NewHash, now
		e.LastUsedAt = now
		e.ExpiresAt = earliest(now.Add(r.IdleTTL), e.absolute)
		if r.Data != nil {
			e.Data = clone(r.Data)
		}
		s.writes++
		return core.RotateResult{Outcome: core.Rotated, Session: e.snapshot()}, nil
	case s.justReplaced(e, r, now):
		return core.RotateResult{Outcome: core.Conflict}, nil
	case r.Generation < e.gen:
		s.deleteLocked(e)
		return core.RotateResult{Outcome: core.Reused}, nil
	}
	return core.RotateResult{Outcome: core.Invalid}, nil
}

// SessionAlive implements core.Store.
func (s *Store) SessionAlive(_ context.Context, userID, sessionID string) (bool, error) {
	now := s.now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	e := s.liveLocked(sessionID, now)
	return e != nil && e.UserID == userID, nil
}

// RevokeSession implements core.Store.
func (s *Store) RevokeSession(_ context.Context, userID, sessionID string) (bool, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.liveLocked(sessionID, now)
	if e == nil || e.UserID != userID {
		return false, nil
	}
	s.deleteLocked(e)
	return true, nil
}

// RevokeUser implements core.Store.
func (s *Store) RevokeUser(_ context.Context, userID string) (int, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id := range s.byUser[userID] {
		if e := s.liveLocked(id, now); e != nil {
			n++
		}
		delete(s.sessions, id)
	}
	delete(s.byUser, userID)
	return n, nil
}

// RevokeOtherSessions implements core.Store.
func (s *Store) RevokeOtherSessions(_ context.Context, userID, keep string) (int, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id := range s.byUser[userID] {
		if id == keep {
			continue
		}
		if e := s.liveLocked(id, now); e != nil {
			n++
		}
		delete(s.sessions, id)
		delete(s.byUser[userID], id)
	}
	if len(s.byUser[userID]) == 0 {
		delete(s.byUser, userID)
	}
	s.writes++
	return n, nil
}

// ListSessions implements core.Store.
func (s *Store) ListSessions(_ context.Context, userID string) ([]core.Session, error) {
	now := s.now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []core.Session
	for id := range s.byUser[userID] {
		if e := s.liveLocked(id, now); e != nil {
			out = append(out, e.snapshot())
		}
	}
	slices.SortFunc(out, func(a, b core.Session) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out, nil
}

// Ping implements core.Store; memory always answers.
func (s *Store) Ping(context.Context) error { return nil }

// justReplaced: r presents the token e's last rotation replaced, within the
// grace.
func (*Store) justReplaced(e *entry, r core.Rotation, now time.Time) bool {
	return r.Generation+1 == e.gen && r.TokenHash == e.prev && now.Sub(e.rotatedAt) <= r.Grace
}

// evictLocked ends the user's least recently used sessions until at most
// keep remain, dropping ended ones from the index on the way, and returns
// how many live ones it ended.
func (s *Store) evictLocked(userID string, keep int, now time.Time) int {
	ids := s.byUser[userID]
	if len(ids) <= keep {
		return 0
	}
	live := make([]*entry, 0, len(ids))
	for id := range ids {
		if e := s.liveLocked(id, now); e != nil {
			live = append(live, e)
		} else {
			delete(ids, id)
			delete(s.sessions, id)
		}
	}
	if len(live) <= keep {
		return 0
	}
	slices.SortFunc(live, func(a, b *entry) int {
		return cmp.Or(a.LastUsedAt.Compare(b.LastUsedAt), a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	for _, e := range live[:len(live)-keep] {
		s.deleteLocked(e)
	}
	return len(live) - keep
}

func (s *Store) liveLocked(id string, now time.Time) *entry {
	e := s.sessions[id]
	if e == nil || !now.Before(e.ExpiresAt) {
		return nil
	}
	return e
}

func (s *Store) deleteLocked(e *entry) {
	delete(s.sessions, e.ID)
	if ids := s.byUser[e.UserID]; ids != nil {
		delete(ids, e.ID)
		if len(ids) == 0 {
			delete(s.byUser, e.UserID)
		}
	}
	s.writes++
}

// sweepLocked drops expired sessions every so many writes, so that memory
// tracks live sessions without a background goroutine.
func (s *Store) sweepLocked(now time.Time) {
	if s.writes++; s.writes < 1024 {
		return
	}
	for _, e := range s.sessions {
		if !now.Before(e.ExpiresAt) {
			s.deleteLocked(e)
		}
	}
	s.writes = 0
}

func (e *entry) snapshot() core.Session {
	c := e.Session
	c.Data = clone(e.Data)
	return c
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }
