package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/authenik8/authenik8-go/core"
)

var _ core.Limiter = (*Store)(nil)

// A limiter window is one counter key <prefix>:{rl:<sha256(key)>} that
// expires with its window. Hashing keeps client-supplied parts (an IP) out of
// key names and hash tags.
func (s *Store) limitKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return s.prefix + ":{rl:" + hex.EncodeToString(sum[:16]) + "}"
}

// Hit implements core.Limiter: INCR, with the window's expiry set by the
// first event, in one script.
func (s *Store) Hit(ctx context.Context, key string, window time.Duration) (int64, time.Duration, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	r, err := hitScript.Exec(ctx, s.c, []string{s.limitKey(key)}, []string{ms(window)}).AsIntSlice()
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
