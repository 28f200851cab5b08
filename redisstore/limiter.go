package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/authenik8/authenik8-go/core"
)

var _ core.Limiter = (*Store)(nil)

// Hit implements core.Limiter: one script that counts only below the limit,
// the window's expiry set by its first event.
func (s *Store) Hit(ctx context.Context, key string, limit int64, window time.Duration) (bool, time.Duration, error) {
	if limit < 1 || window <= 0 {
		return false, 0, nil // nothing could count: no key either
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	r, err := hitScript.Exec(ctx, s.c, []string{s.limitKey(key)}, []string{strconv.FormatInt(limit, 10), ms(window)}).AsIntSlice()
	if err != nil {
		return false, 0, wrap(err)
	}
	return decodeHit(r)
}

// Peek implements core.Limiter.
func (s *Store) Peek(ctx context.Context, key string) (int64, time.Duration, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	r, err := peekScript.Exec(ctx, s.c, []string{s.limitKey(key)}, nil).AsIntSlice()
	if err != nil {
		return 0, 0, wrap(err)
	}
	if len(r) != 2 {
		return 0, 0, wrap(errMalformed)
	}
	return r[0], time.Duration(r[1]) * time.Millisecond, nil
}

// Undo implements core.Limiter.
func (s *Store) Undo(ctx context.Context, key string) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return wrap(undoScript.Exec(ctx, s.c, []string{s.limitKey(key)}, nil).Error())
}

// Reset implements core.Limiter.
func (s *Store) Reset(ctx context.Context, key string) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return wrap(s.c.Do(ctx, s.c.B().Del().Key(s.limitKey(key)).Build()).Error())
}

// A limiter window is one counter key <prefix>:{rl:<sha256(key)>} that
// expires with its window. Hashing keeps client-supplied parts (an IP) out of
// key names and hash tags.
func (s *Store) limitKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return s.prefix + ":{rl:" + hex.EncodeToString(sum[:16]) + "}"
}

// Outcomes of hitScript, the first number of its reply.
const (
	hitRefused = 0
	hitCounted = 1
)

// decodeHit reads hitScript's reply {outcome, ms left}.
func decodeHit(r []int64) (bool, time.Duration, error) {
	if len(r) != 2 || (r[0] != hitRefused && r[0] != hitCounted) {
		return false, 0, wrap(errMalformed)
	}
	return r[0] == hitCounted, time.Duration(max(r[1], 0)) * time.Millisecond, nil
}
