package core

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"time"
)

// Limit allows at most Max events per Window.
type Limit struct {
	Max    int
	Window time.Duration
}

// RateLimits bound abuse of login and registration. Zero fields take the
// default in their comment. The client IP is the one the adapter hands to
// core; requests without one are limited per account only. A request
// refused by a limit writes nothing to the store.
type RateLimits struct {
	// LoginPerAccount: failed logins per account. Default 10 per 15 minutes.
	// While an account is limited even the right password gets 429; a
	// successful login resets the count.
	LoginPerAccount Limit
	// LoginPerIP: failed logins per client IP. Default 100 per 15 minutes.
	LoginPerIP Limit
	// RegisterPerIP: registration attempts per client IP. Default 20 per hour.
	RegisterPerIP Limit
	// ForgotPerAccount: POST /password/forgot per email address, counted
	// alike whether or not an account has it, so a 429 tells nothing about
	// accounts. Default 5 per hour.
	ForgotPerAccount Limit
	// ForgotPerIP: POST /password/forgot per client IP. Default 20 per hour.
	ForgotPerIP Limit
	// VerificationPerAccount: POST /email/verify/send per account. Default 5
	// per hour.
	VerificationPerAccount Limit
	// VerificationPerIP: POST /email/verify/send per client IP. Default 20
	// per hour.
	VerificationPerIP Limit
	// IPv6Prefix is the prefix length by which IPv6 clients are counted: one
	// subscriber usually holds a whole /64, so counting single addresses
	// would give it 2^64 allowances. Default 64; at most 128. IPv4 clients
	// (IPv4-mapped IPv6 included) are counted per address.
	IPv6Prefix int
	// Disabled turns rate limiting off (a proxy in front does it instead).
	Disabled bool
}

// DefaultIPv6Prefix is the default of RateLimits.IPv6Prefix.
const DefaultIPv6Prefix = 64

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
	def(&r.ForgotPerAccount, 5, time.Hour)
	def(&r.ForgotPerIP, 20, time.Hour)
	def(&r.VerificationPerAccount, 5, time.Hour)
	def(&r.VerificationPerIP, 20, time.Hour)
	if r.IPv6Prefix == 0 {
		r.IPv6Prefix = DefaultIPv6Prefix
	}
	return r
}

// Limiter counts events in fixed windows, atomically across every process
// sharing the store. A Store that implements it (memstore, redisstore)
// enables Config.RateLimits. Keys come from core and are opaque to stores.
//
// A window starts at its key's first event and its counter is gone when the
// window ends. A refused Hit, a Peek, and an Undo or Reset of a missing key
// create nothing, so a limit that is tripped costs the store no memory
// however many requests it refuses.
type Limiter interface {
	// Hit counts one event against key unless the current window already
	// holds limit events. It reports whether the event counted, and the time
	// left in the window (0 when there is none).
	Hit(ctx context.Context, key string, limit int64, window time.Duration) (counted bool, left time.Duration, err error)
	// Peek returns key's count in the current window and the time left in
	// it; 0, 0 when there is no window.
	Peek(ctx context.Context, key string) (count int64, left time.Duration, err error)
	// Undo takes back one event, when it turned out not to count. A window
	// whose count falls to zero is forgotten.
	Undo(ctx context.Context, key string) error
	// Reset forgets key's window.
	Reset(ctx context.Context, key string) error
}

// limiter applies RateLimits through the store's Limiter, and bounds the
// password hashing that logins and registrations cause.
type limiter struct {
	store  Limiter // nil: rate limits disabled
	limits RateLimits

	hashSlots chan struct{} // one token per argon2id computation in flight
	hashWait  time.Duration
}

func newLimiter(cfg Config) (limiter, error) {
	l := limiter{hashSlots: make(chan struct{}, max(cfg.MaxConcurrentHashes, 1)), hashWait: cfg.MaxHashWait}
	r := cfg.RateLimits
	if r.Disabled || cfg.Store == nil {
		return l, nil
	}
	for name, lim := range map[string]Limit{"LoginPerAccount": r.LoginPerAccount, "LoginPerIP": r.LoginPerIP, "RegisterPerIP": r.RegisterPerIP,
		"ForgotPerAccount": r.ForgotPerAccount, "ForgotPerIP": r.ForgotPerIP, "VerificationPerAccount": r.VerificationPerAccount, "VerificationPerIP": r.VerificationPerIP} {
		if lim.Max < 0 || lim.Window < 0 {
			return l, fmt.Errorf("authenik8: Config.RateLimits.%s must not be negative", name)
		}
	}
	if r.IPv6Prefix < 0 || r.IPv6Prefix > 128 {
		return l, fmt.Errorf("authenik8: Config.RateLimits.IPv6Prefix is %d; want 1 to 128 (0 for the default, %d)", r.IPv6Prefix, DefaultIPv6Prefix)
	}
	lim, ok := cfg.Store.(Limiter)
	if !ok {
		return l, errors.New("authenik8: Config.Store does not implement core.Limiter; set Config.RateLimits.Disabled to run without rate limits")
	}
	l.store, l.limits = lim, r.withDefaults()
	return l, nil
}

// attempt is what one login or registration counted against the limits:
// the keys it counted ("" for none), so that its outcome can settle them.
type attempt struct {
	store    Limiter // nil: nothing was counted
	acct, ip string
}

// beginLogin counts a login attempt against the account and the client IP
// before the password is checked, so that concurrent attempts cannot slip
// past a limit. It writes nothing when either limit refuses: an account at
// its limit is refused on a read, before the IP's count is touched, and a
// Hit at the limit does not count.
func (l limiter) beginLogin(ctx context.Context, email, ip string) (attempt, error) {
	if l.store == nil {
		return attempt{}, nil
	}
	acct := accountKey(email)
	ipk := l.clientKey("login", ip)
	if ipk != "" {
		if err := l.peek(ctx, acct, l.limits.LoginPerAccount); err != nil {
			return attempt{}, err
		}
		if err := l.hit(ctx, ipk, l.limits.LoginPerIP); err != nil {
			return attempt{}, err
		}
	}
	if err := l.hit(ctx, acct, l.limits.LoginPerAccount); err != nil {
		// The account filled up since the peek: give back the IP's count.
		attempt{store: l.store, ip: ipk}.abandoned(ctx)
		return attempt{}, err
	}
	return attempt{store: l.store, acct: acct, ip: ipk}, nil
}

// beginRegister counts a registration attempt against the client IP.
func (l limiter) beginRegister(ctx context.Context, ip string) (attempt, error) {
	if l.store == nil || ip == "" {
		return attempt{}, nil
	}
	ipk := l.clientKey("register", ip)
	if err := l.hit(ctx, ipk, l.limits.RegisterPerIP); err != nil {
		return attempt{}, err
	}
	return attempt{store: l.store, ip: ipk}, nil
}

// beginMail counts a request that sends mail (/password/forgot,
// /email/verify/send) against the account (acct, already a key) and the
// client IP, as beginLogin does: nothing is written when either limit
// refuses. The counts stay: every such request is an attempt.
func (l limiter) beginMail(ctx context.Context, kind, acct string, acctLim, ipLim Limit, ip string) (attempt, error) {
	if l.store == nil {
		return attempt{}, nil
	}
	ipk := l.clientKey(kind, ip)
	if ipk != "" {
		if err := l.peek(ctx, acct, acctLim); err != nil {
			return attempt{}, err
		}
		if err := l.hit(ctx, ipk, ipLim); err != nil {
			return attempt{}, err
		}
	}
	if err := l.hit(ctx, acct, acctLim); err != nil {
		attempt{store: l.store, ip: ipk}.abandoned(ctx)
		return attempt{}, err
	}
	return attempt{store: l.store, acct: acct, ip: ipk}, nil
}

// failed settles a wrong password: the attempt stays counted.
func (attempt) failed() {}

// succeeded settles a login that passed: the account's count starts over,
// and the IP keeps only its failures.
func (a attempt) succeeded(ctx context.Context) error {
	if a.store == nil {
		return nil
	}
	if a.acct != "" {
		if err := a.store.Reset(ctx, a.acct); err != nil {
			return storeErr(err)
		}
	}
	a.undo(ctx, a.ip)
	return nil
}

// abandoned settles an attempt that was not the client's doing (the server
// was busy, a store failed): every count it took is given back.
func (a attempt) abandoned(ctx context.Context) {
	if a.store != nil {
		a.undo(ctx, a.acct)
		a.undo(ctx, a.ip)
	}
}

// undo is best effort, like the count it corrects. It runs even when the
// request's context has ended (a client that gave up while waiting for a
// hashing slot): the store's own deadline bounds it.
func (a attempt) undo(ctx context.Context, key string) {
	if key != "" {
		a.store.Undo(context.WithoutCancel(ctx), key)
	}
}

// hit counts one event against key, or returns ErrRateLimited (429 with
// Retry-After and RateLimit headers) when the window is full.
func (l limiter) hit(ctx context.Context, key string, lim Limit) error {
	counted, left, err := l.store.Hit(ctx, key, int64(lim.Max), lim.Window)
	if err != nil {
		return storeErr(err)
	}
	if !counted {
		return rateLimited(lim, left)
	}
	return nil
}

// peek returns ErrRateLimited when key's window is full, without counting.
func (l limiter) peek(ctx context.Context, key string, lim Limit) error {
	n, left, err := l.store.Peek(ctx, key)
	if err != nil {
		return storeErr(err)
	}
	if n >= int64(lim.Max) {
		return rateLimited(lim, left)
	}
	return nil
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

// errServerBusy is the answer when no hashing slot frees up in time.
var errServerBusy = ErrServerBusy.WithRetryAfter(time.Second)

// withHashSlot runs fn, which hashes or verifies a password, once one of the
// Config.MaxConcurrentHashes slots is free: each argon2id computation holds
// its memory (19 MiB by default) while it runs, so the slots bound a
// process's memory however many logins arrive at once. A request that waits
// longer than Config.MaxHashWait, or whose context ends first, gets
// ErrServerBusy with Retry-After; fn does not run.
func (l limiter) withHashSlot(ctx context.Context, fn func() error) error {
	select {
	case l.hashSlots <- struct{}{}:
	default:
		t := time.NewTimer(l.hashWait)
		select {
		case l.hashSlots <- struct{}{}:
			t.Stop()
		case <-t.C:
			return errServerBusy
		case <-ctx.Done():
			t.Stop()
			return errServerBusy
		}
	}
	defer func() { <-l.hashSlots }()
	return fn()
}

// Limiter keys. An account is named by a hash of its email (or id), so keys
// never hold addresses.
func accountKey(email string) string { return hashedKey("login:acct:", email) }

func hashedKey(kind, name string) string {
	sum := sha256.Sum256([]byte(name))
	return kind + hex.EncodeToString(sum[:16])
}

// clientKey names the bucket of a client IP: the address for IPv4 (and
// IPv4-mapped IPv6), the RateLimits.IPv6Prefix network for IPv6. A string
// that is no IP address (adapters pass the framework's idea of the client)
// is a bucket of its own, bounded in length.
func (l limiter) clientKey(kind, ip string) string {
	if ip == "" {
		return ""
	}
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		ap, perr := netip.ParseAddrPort(ip)
		if perr != nil {
			return kind + ":raw:" + truncate(ip, 64)
		}
		addr = ap.Addr()
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is4() {
		return kind + ":ip:" + addr.String()
	}
	p, _ := addr.Prefix(l.limits.IPv6Prefix) // 1…128: checked by New
	return kind + ":ip:" + p.String()
}
