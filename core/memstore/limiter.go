package memstore

import (
	"container/heap"
	"context"
	"time"

	"github.com/authenik8/authenik8-go/core"
)

var _ core.Limiter = (*Store)(nil)

// Hit implements core.Limiter.
func (s *Store) Hit(_ context.Context, key string, limit int64, window time.Duration) (bool, time.Duration, error) {
	now := s.now()
	s.limitMu.Lock()
	defer s.limitMu.Unlock()
	s.expireCountersLocked(now)
	c := s.counters[key]
	if c == nil {
		if limit < 1 || window <= 0 {
			return false, 0, nil
		}
		if s.counters == nil {
			s.counters = map[string]*counter{}
		}
		c = &counter{end: now.Add(window)}
		s.counters[key] = c
		heap.Push(&s.windowEnds, windowEnd{key: key, c: c})
	}
	if c.n >= limit {
		return false, c.end.Sub(now), nil
	}
	c.n++
	return true, c.end.Sub(now), nil
}

// Peek implements core.Limiter.
func (s *Store) Peek(_ context.Context, key string) (int64, time.Duration, error) {
	now := s.now()
	s.limitMu.Lock()
	defer s.limitMu.Unlock()
	s.expireCountersLocked(now)
	if c := s.counters[key]; c != nil && now.Before(c.end) {
		return c.n, c.end.Sub(now), nil
	}
	return 0, 0, nil
}

// Undo implements core.Limiter.
func (s *Store) Undo(_ context.Context, key string) error {
	now := s.now()
	s.limitMu.Lock()
	defer s.limitMu.Unlock()
	s.expireCountersLocked(now)
	if c := s.counters[key]; c != nil && now.Before(c.end) {
		if c.n--; c.n <= 0 {
			delete(s.counters, key)
		}
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

// counter is one fixed window of a Limiter key.
type counter struct {
	n   int64
	end time.Time
}

// windowEnd queues a counter for removal when its window ends. A counter
// that was reset or undone to zero before then has left the map already;
// its entry is dropped when it comes up.
type windowEnd struct {
	key string
	c   *counter
}

// windowHeap orders the counters by the end of their window, so that each
// is removed as soon as it ends, at O(log n) per window.
type windowHeap []windowEnd

func (h windowHeap) Len() int           { return len(h) }
func (h windowHeap) Less(i, j int) bool { return h[i].c.end.Before(h[j].c.end) }
func (h windowHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *windowHeap) Push(x any)        { *h = append(*h, x.(windowEnd)) }
func (h *windowHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = windowEnd{}
	*h = old[:len(old)-1]
	return x
}

// expireCountersLocked removes every counter whose window has ended.
func (s *Store) expireCountersLocked(now time.Time) {
	for len(s.windowEnds) > 0 && !now.Before(s.windowEnds[0].c.end) {
		w := heap.Pop(&s.windowEnds).(windowEnd)
		if s.counters[w.key] == w.c {
			delete(s.counters, w.key)
		}
	}
}
