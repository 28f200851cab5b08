package memstore

import (
	"context"
	"time"

	"github.com/authenik8/authenik8-go/core"
)

var _ core.Limiter = (*Store)(nil)

// counter is one fixed window of a Limiter key.
type counter struct {
	n   int64
	end time.Time
}

// Hit implements core.Limiter.
func (s *Store) Hit(_ context.Context, key string, window time.Duration) (int64, time.Duration, error) {
	now := s.now()
	s.limitMu.Lock()
	defer s.limitMu.Unlock()
	if s.counters == nil {
		s.counters = map[string]*counter{}
	}
	c := s.counters[key]
	if c == nil || !now.Before(c.end) {
		c = &counter{end: now.Add(window)}
		s.counters[key] = c
		s.sweepCountersLocked(now)
	}
	c.n++
	return c.n, c.end.Sub(now), nil
}

// Undo implements core.Limiter.
func (s *Store) Undo(_ context.Context, key string) error {
	now := s.now()
	s.limitMu.Lock()
	defer s.limitMu.Unlock()
	if c := s.counters[key]; c != nil && now.Before(c.end) && c.n > 0 {
		c.n--
	}
	return nil
}

// Reset implements core.Limiter.
func (s *Store) Reset(_ context.Context, key string) error {
	s.limitMu.Lock()
	defer s.limitMu.Unlock()
	delete(s.counters, key)
	return nil
}

// sweepCountersLocked drops ended windows every so many new ones.
func (s *Store) sweepCountersLocked(now time.Time) {
	if s.newWindows++; s.newWindows < 1024 {
		return
	}
	s.newWindows = 0
	for k, c := range s.counters {
		if !now.Before(c.end) {
			delete(s.counters, k)
		}
	}
}
