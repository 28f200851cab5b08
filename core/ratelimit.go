package core

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Limit allows at most Max events per Window.
type Limit struct {
	Max    int
	Window time.Duration
}

// RateLimits bound abuse of login and registration (SPEC §5). Zero fields
// take the default in their comment. The client IP is the one the adapter
// takes from its framework's trusted-proxy setting; requests without one are
// limited per account only.
type RateLimits struct {
	// LoginPerAccount: failed logins per account. Default 10 per 15 minutes.
	// While an account is limited even the right password gets 429; a
	// successful login resets the count.
	LoginPerAccount Limit
	// LoginPerIP: failed logins per client IP. Default 100 per 15 minutes.
	LoginPerIP Limit
	// RegisterPerIP: registration attempts per client IP. Default 20 per hour.
	RegisterPerIP Limit
	// Disabled turns rate limiting off (a proxy in front does it instead).
	Disabled bool
}

func (r RateLimits) withDefaults() RateLimits {
	def := func(l *Limit, max int, window time.Duration) {
		if l.Max == 0 {
			l.Max = max
		}
		if l.Window == 0 {
			l.Window = window
		}
	}
	def(&r.LoginPerAccount, 10, 15*time.Minute)
	def(&r.LoginPerIP, 100, 15*time.Minute)
	def(&r.RegisterPerIP, 20, time.Hour)
	return r
}

// Limiter counts events in fixed windows, atomically across every process
// sharing the store. A Store that implements it (memstore, redisstore)
// enables Config.RateLimits. Keys come from core and are opaque to stores.
type Limiter interface {
	// Hit adds one event to key and returns the count in the current window,
	// this event included, and the time left in the window (which starts at
	// the first event).
	Hit(ctx context.Context, key string, window time.Duration) (count int64, left time.Duration, err error)
	// Undo takes back one event, when it turned out not to count.
	Undo(ctx context.Context, key string) error
	// Reset forgets key's events.
	Reset(ctx context.Context, key string) error
}

// limiter applies RateLimits through the store's Limiter. Every check is a
// Hit first: the count is atomic, so however many attempts arrive at once,
// no more than Max get through.
type limiter struct {
	store  Limiter // nil: limits disabled
	limits RateLimits
}

func newLimiter(s Store, r RateLimits) (limiter, error) {
	if r.Disabled {
		return limiter{}, nil
	}
	for name, l := range map[string]Limit{"LoginPerAccount": r.LoginPerAccount, "LoginPerIP": r.LoginPerIP, "RegisterPerIP": r.RegisterPerIP} {
		if l.Max < 0 || l.Window < 0 {
			return limiter{}, fmt.Errorf("authenik8: Config.RateLimits.%s must not be negative", name)
		}
	}
	lim, ok := s.(Limiter)
	if !ok {
		return limiter{}, errors.New("authenik8: Config.Store does not implement core.Limiter; set Config.RateLimits.Disabled to run without rate limits")
	}
	return limiter{store: lim, limits: r.withDefaults()}, nil
}

// hit counts one event against key and returns ErrRateLimited (429 with
// Retry-After and RateLimit headers) past the limit.
func (l limiter) hit(ctx context.Context, key string, lim Limit) error {
	n, left, err := l.store.Hit(ctx, key, lim.Window)
	if err != nil {
		return storeErr(err)
	}
	if n > int64(lim.Max) {
		return rateLimited(lim, left)
	}
	return nil
}

// undo takes an event back; best effort, like the count it corrects.
func (l limiter) undo(ctx context.Context, key string) {
	if key != "" {
		l.store.Undo(ctx, key)
	}
}

func rateLimited(lim Limit, left time.Duration) *Error {
	secs := strconv.FormatInt(int64((max(left, time.Second)+time.Second-1)/time.Second), 10)
	e := &Error{Status: ErrRateLimited.Status, Code: ErrRateLimited.Code, Description: ErrRateLimited.Description,
		RetryAfter: max(left, time.Second),
		extra: []Header{
			{"RateLimit-Limit", strconv.Itoa(lim.Max)},
			{"RateLimit-Remaining", "0"},
			{"RateLimit-Reset", secs},
			{"RateLimit-Policy", strconv.Itoa(lim.Max) + ";w=" + strconv.FormatInt(int64(lim.Window/time.Second), 10)},
		}}
	e.resp = e.buildResponse()
	return e
}

// Limiter keys. An account is named by a hash of its email, so keys never
// hold addresses.
func accountKey(email string) string {
	sum := sha256.Sum256([]byte(email))
	return "login:acct:" + hex.EncodeToString(sum[:16])
}

func ipKey(kind, ip string) string {
	if ip == "" {
		return ""
	}
	return kind + ":ip:" + truncate(ip, 64)
}
