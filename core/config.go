package core

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Config configures an Auth. Zero fields take the default in their comment;
// New refuses missing or weak settings rather than guessing.
type Config struct {
	// Store keeps sessions. Required: memstore.New() for one process,
	// redisstore for several.
	Store Store
	// Users holds accounts; needed by Login and the /login and /register
	// routes (which answer 404 without it). Optional.
	Users UserStore

	// AccessKeys sign and verify access tokens. AccessKeys[0] signs; the
	// others only verify (keep the previous key here while rotating).
	// Required.
	AccessKeys []Key
	// RefreshSecret keys the MAC of refresh tokens: at least 32 random bytes,
	// and not the HS256 access secret. Required.
	RefreshSecret []byte
	// PreviousRefreshSecrets still verify refresh tokens while RefreshSecret
	// is being rotated. Optional.
	PreviousRefreshSecrets [][]byte

	// Issuer is the `iss` of access tokens. Default "authenik8".
	Issuer string
	// Audience is the `aud` of access tokens. Default "authenik8".
	Audience string

	// AccessTTL is the lifetime of access tokens. Default 15 minutes.
	AccessTTL time.Duration
	// IdleTTL ends a session this long after its last refresh. Default 7 days.
	IdleTTL time.Duration
	// AbsoluteTTL ends a session this long after login, however active.
	// Default 30 days.
	AbsoluteTTL time.Duration
	// ReuseGrace is how long after a rotation the replaced refresh token
	// answers refresh_conflict instead of revoking the session (two tabs
	// refreshing at once). Default 5 seconds; negative for none.
	ReuseGrace time.Duration
	// Leeway tolerates clock skew when checking exp, nbf and iat. Default 10
	// seconds; at most 5 minutes.
	Leeway time.Duration

	// AdminRole is the role RequireAdmin asks for. Default "admin".
	AdminRole string
	// DefaultRoles are given to users created through Register. Default
	// ["user"].
	DefaultRoles []string
	// Permissions maps a role to the permissions it grants (RequirePermission).
	// A role granted "*" has every permission. Optional.
	Permissions map[string][]string

	// ReloadUser re-reads the user's roles and claims from Users at every
	// refresh, so that a role change takes effect at the next refresh and a
	// deleted user's sessions end then. When the Store holds Users itself
	// (redisstore with its own Users: see UserRotator) the user is read
	// inside the rotation, and a refresh stays one round trip; otherwise
	// Users.User is called first (two steps, e.g. users in PostgreSQL).
	// Needs Users; not with UserLoader. Default false: roles and claims
	// carry over from login.
	ReloadUser bool
	// UserLoader, when set, is called on every refresh to re-read the user's
	// roles and claims from elsewhere (a custom loader; ReloadUser covers
	// Users), so that a role change takes effect at the next refresh.
	// Returning ErrUserNotFound ends the session. A refresh then costs the
	// loader's call and the rotation. Optional.
	UserLoader func(ctx context.Context, userID string) (User, error)

	// MaxSessionsPerUser bounds the live sessions of one user: opening one
	// more ends the least recently used (opened or refreshed longest ago),
	// its access tokens with it, so that one account cannot flood the store.
	// Listing and logging out everywhere cost work bounded by it. Default
	// 100.
	MaxSessionsPerUser int

	// Hooks receive audit events. Optional.
	Hooks Hooks

	// MeterProvider and TracerProvider receive core's metrics (logins,
	// refreshes, verifications, revocations, the token cache, store
	// latency) and its spans around store calls; see the README's
	// Observability section. Default: the global providers of
	// go.opentelemetry.io/otel, which record nothing unless the
	// application installs an SDK.
	MeterProvider  metric.MeterProvider
	TracerProvider trace.TracerProvider

	// RateLimits bound failed logins and registrations; the Store must
	// implement Limiter (memstore and redisstore do). See RateLimits for the
	// defaults.
	RateLimits RateLimits

	// MaxConcurrentHashes bounds the argon2id computations (password checks
	// at login, hashes at registration) running at once in this process,
	// each holding its memory (19 MiB by default) while it runs. Default
	// runtime.GOMAXPROCS(0).
	MaxConcurrentHashes int
	// MaxHashWait is how long a login or registration waits for one of those
	// slots before it is answered 503 server_busy with Retry-After. Default
	// 2 seconds.
	MaxHashWait time.Duration

	// Mailer sends password-reset and email-verification links; with it
	// POST /password/forgot and POST /email/verify/send are on (they answer
	// 404 without). Needs AppURL, and Users that are a core.AccountStore
	// and a core.LinkTokenStore (memstore, redisstore and pgstore Users
	// are). Optional: core/mailer has an SMTP one and a log one for
	// development.
	Mailer Mailer
	// AppURL is the base URL of the application's pages the mailed links
	// open: AppURL+"/reset-password?token=…" and
	// AppURL+"/verify-email?token=…", which read the token and call POST
	// /password/reset or POST /email/verify. An absolute http or https URL;
	// required with Mailer.
	AppURL string
	// MailQueue bounds the mails waiting to be sent: /password/forgot and
	// /email/verify/send answer at once and leave the account lookup and
	// the mail to a background queue, so that neither the answer nor its
	// timing tells whether an account exists. When it is full they answer
	// 503 server_busy. Default 256.
	MailQueue int
	// RequireVerifiedEmail refuses logins of accounts whose email address
	// is not verified, with 403 email_not_verified. Default false.
	RequireVerifiedEmail bool

	// Cookies, when set, turns on cookie mode: the refresh token travels in
	// an HttpOnly cookie scoped to the auth routes instead of the JSON body,
	// and requests authenticated by that cookie must pass a CSRF check.
	// Optional.
	Cookies *CookieConfig

	// TokenCacheSize bounds the cache of verified access tokens: a token
	// presented again skips signature verification until its exp (its
	// session is still checked on every request). Each entry holds a
	// 128-bit key and the decoded claims, not the token: about 300 bytes
	// with one role and no application claims (at most 400, asserted by a
	// test; application claims add their decoded size), so the default of
	// 10,000 tokens takes about 3 MB and 1,000,000 about 300 MB. Negative
	// disables the cache.
	TokenCacheSize int

	// Now is the clock for token timestamps. Default time.Now. Session expiry
	// uses the store's clock.
	Now func() time.Time

	// OAuth turns on sign-in with OAuth 2.0 and OpenID Connect providers:
	// the routes under /oauth (see OAuthConfig). Optional.
	OAuth *OAuthConfig

	// RemoteKeys makes a verify-only Auth, for a service that checks the
	// access tokens another service issues: they verify with the keys that
	// service publishes at its JWKS URL (see RemoteKeys), so no secret is
	// shared. AccessKeys, RefreshSecret, Users, OAuth and Cookies stay
	// unset; the routes are GET /me and, with a Store, /logout,
	// /logout-all, /sessions and DELETE /sessions/:id; methods that issue
	// tokens answer ErrNotFound. Store is optional: the issuer's shared
	// store (redisstore on the same Redis) makes revocation reach this
	// service; without one verification is stateless, and a token stays
	// valid until its exp whatever becomes of its session. Issuer and
	// Audience must be the issuer's. Optional.
	RemoteKeys *RemoteKeySet
}

// Defaults of Config.
const (
	DefaultIssuer      = "authenik8"
	DefaultAudience    = "authenik8"
	DefaultAccessTTL   = 15 * time.Minute
	DefaultIdleTTL     = 7 * 24 * time.Hour
	DefaultAbsoluteTTL = 30 * 24 * time.Hour
	DefaultReuseGrace  = 5 * time.Second
	DefaultLeeway      = 10 * time.Second
	DefaultAdminRole   = "admin"
	DefaultMaxHashWait = 2 * time.Second
	maxLeeway          = 5 * time.Minute
)

// withDefaults fills zero fields and validates the result.
func (c Config) withDefaults() (Config, error) {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.AccessTTL, DefaultAccessTTL)
	def(&c.IdleTTL, DefaultIdleTTL)
	def(&c.AbsoluteTTL, DefaultAbsoluteTTL)
	def(&c.ReuseGrace, DefaultReuseGrace)
	def(&c.Leeway, DefaultLeeway)
	if c.ReuseGrace < 0 {
		c.ReuseGrace = 0
	}
	if c.Issuer == "" {
		c.Issuer = DefaultIssuer
	}
	if c.Audience == "" {
		c.Audience = DefaultAudience
	}
	if c.AdminRole == "" {
		c.AdminRole = DefaultAdminRole
	}
	if c.DefaultRoles == nil {
		c.DefaultRoles = []string{"user"}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.MaxConcurrentHashes == 0 {
		c.MaxConcurrentHashes = runtime.GOMAXPROCS(0)
	}
	def(&c.MaxHashWait, DefaultMaxHashWait)
	if c.TokenCacheSize == 0 {
		c.TokenCacheSize = DefaultTokenCacheSize
	}
	if c.MaxSessionsPerUser == 0 {
		c.MaxSessionsPerUser = DefaultMaxSessionsPerUser
	}
	if c.MailQueue == 0 {
		c.MailQueue = DefaultMailQueue
	}
	c.AppURL = strings.TrimRight(c.AppURL, "/")

	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("authenik8: "+format, args...)) }
	if c.RemoteKeys != nil {
		// Verify-only: nothing is issued, so nothing to issue with.
		if len(c.AccessKeys) > 0 || len(c.RefreshSecret) > 0 || len(c.PreviousRefreshSecrets) > 0 || c.Users != nil || c.OAuth != nil || c.Cookies != nil {
			bad("Config.RemoteKeys makes a verify-only Auth: leave AccessKeys, RefreshSecret, PreviousRefreshSecrets, Users, OAuth and Cookies unset")
		}
		if c.Store == nil {
			c.Store = statelessStore{}
		}
		c.RateLimits.Disabled = true // nothing to limit: no login, no registration
	}
	if c.Store == nil {
		bad("Config.Store is required (memstore.New() for one process, redisstore for several)")
	}
	if c.RemoteKeys == nil && len(c.RefreshSecret) < MinHMACSecret {
		bad("Config.RefreshSecret is %d bytes; at least %d random bytes are required", len(c.RefreshSecret), MinHMACSecret)
	}
	for i, s := range c.PreviousRefreshSecrets {
		if len(s) < MinHMACSecret {
			bad("Config.PreviousRefreshSecrets[%d] is shorter than %d bytes", i, MinHMACSecret)
		}
	}
	for _, k := range c.AccessKeys {
		if s, ok := k.sign.([]byte); ok && len(c.RefreshSecret) > 0 && bytes.Equal(s, c.RefreshSecret) {
			bad("Config.RefreshSecret must differ from the HS256 access-token secret")
		}
	}
	if c.MaxConcurrentHashes < 0 {
		bad("Config.MaxConcurrentHashes must not be negative")
	}
	for name, d := range map[string]time.Duration{"AccessTTL": c.AccessTTL, "IdleTTL": c.IdleTTL, "AbsoluteTTL": c.AbsoluteTTL, "Leeway": c.Leeway, "MaxHashWait": c.MaxHashWait} {
		if d < 0 {
			bad("Config.%s must not be negative", name)
		}
	}
	if c.IdleTTL > c.AbsoluteTTL {
		bad("Config.IdleTTL (%v) exceeds Config.AbsoluteTTL (%v)", c.IdleTTL, c.AbsoluteTTL)
	}
	if c.MaxSessionsPerUser < 0 {
		bad("Config.MaxSessionsPerUser must not be negative")
	}
	if c.ReloadUser && c.UserLoader != nil {
		bad("Config.ReloadUser and Config.UserLoader are exclusive: ReloadUser reads Users, UserLoader is a custom loader")
	}
	if c.ReloadUser && c.Users == nil {
		bad("Config.ReloadUser needs Config.Users")
	}
	if c.Mailer != nil {
		if u, err := url.Parse(c.AppURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			bad("Config.AppURL %q must be an absolute http or https URL without query (the base of the mailed links)", RedactURL(c.AppURL))
		}
		_, accounts := c.Users.(AccountStore)
		_, links := c.Users.(LinkTokenStore)
		if !accounts || !links {
			bad("Config.Mailer needs Config.Users that implement core.AccountStore and core.LinkTokenStore (memstore, redisstore and pgstore Users do)")
		}
	}
	if c.MailQueue < 0 {
		bad("Config.MailQueue must not be negative")
	}
	if c.Leeway > maxLeeway {
		bad("Config.Leeway (%v) exceeds %v", c.Leeway, maxLeeway)
	}
	for k := range c.Permissions {
		if k == "" {
			bad("Config.Permissions has an empty role")
		}
	}
	return c, errors.Join(errs...)
}
