package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Auth issues, refreshes, verifies and revokes tokens. It is safe for
// concurrent use; build one per process with New and share it.
type Auth struct {
	cfg     Config
	keys    *keyRing
	refresh refreshCodec
	perms   *permissions
	now     func() time.Time
	tokens  *tokenCache // nil when disabled
	headers headerMemo
	limits  limiter
	cookies *CookieConfig // nil: cookie mode off
	// loadUser: Config.ReloadUser, served inside Rotate by a UserRotator.
	loadUser  bool
	links     linkCodec
	mail      *mailQueue    // nil without Config.Mailer
	oauth     *oauthState   // nil: OAuth sign-in off
	remote    *RemoteKeySet // verify-only: nil when this Auth issues tokens
	stateless bool          // verify-only without a Store: no sessions to check or end
	tel       *telemetry
}

// New validates cfg, fills its defaults and returns an Auth. It returns an
// error, never panics, for a missing store, missing or weak keys and
// inconsistent lifetimes.
func New(cfg Config) (*Auth, error) {
	cfg, err := cfg.withDefaults()
	tel := newTelemetry(cfg)
	_, stateless := cfg.Store.(statelessStore) // before the decorator hides it
	cfg.Store, cfg.Users = tel.instrumentStore(cfg.Store), tel.instrumentUsers(cfg.Users)
	keys, kerr := newKeyRing(cfg.AccessKeys)
	if cfg.RemoteKeys != nil {
		keys, kerr = verifyOnlyRing, nil
	}
	limits, lerr := newLimiter(cfg)
	cookies, cerr := cfg.Cookies.withDefaults()
	oauth, oerr := newOAuth(cfg)
	if err = errors.Join(err, kerr, lerr, cerr, oerr); err != nil {
		return nil, err
	}
	refreshKeys := [][]byte{append([]byte(nil), cfg.RefreshSecret...)}
	for _, s := range cfg.PreviousRefreshSecrets {
		refreshKeys = append(refreshKeys, append([]byte(nil), s...))
	}
	ur, rotates := cfg.Store.(UserRotator)
	tel.startAtZero()
	a := &Auth{
		cfg:       cfg,
		keys:      keys,
		refresh:   refreshCodec{keys: refreshKeys},
		perms:     newPermissions(cfg.AdminRole, cfg.Permissions),
		now:       cfg.Now,
		tokens:    newTokenCache(cfg.TokenCacheSize, cfg.Leeway),
		limits:    limits,
		cookies:   cookies,
		loadUser:  cfg.ReloadUser && rotates && ur.HoldsUsers(cfg.Users),
		links:     linkCodec{secrets: refreshKeys},
		oauth:     oauth,
		remote:    cfg.RemoteKeys,
		stateless: stateless,
		tel:       tel,
	}
	if cfg.Mailer != nil {
		a.mail = newMailQueue(cfg.MailQueue, a.runMailJob)
	}
	return a, nil
}

// Client describes where a request comes from; it is recorded with the
// session and used for rate limits.
type Client struct {
	UserAgent string
	IP        string
}

// TokenPair is the token response of RFC 6749 §5.1, as /login and /refresh
// answer it.
type TokenPair struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int64  `json:"expires_in"`
	RefreshToken     string `json:"refresh_token"`
	RefreshExpiresIn int64  `json:"refresh_expires_in"`

	UserID    string `json:"-"`
	SessionID string `json:"-"`
}

// sessionData is what core keeps in Session.Data.
type sessionData struct {
	Roles         []string       `json:"r"`
	Claims        map[string]any `json:"c,omitempty"`
	EmailVerified bool           `json:"v,omitempty"`
}

// Register creates an account with Config.DefaultRoles. The email is
// normalized; email and password are validated (ErrInvalidRequest).
// Registrations are limited per client IP (ErrRateLimited), and their
// password hashing is bounded (ErrServerBusy).
func (a *Auth) Register(ctx context.Context, email, password string, client Client) (User, error) {
	reg, ok := a.cfg.Users.(UserRegistrar)
	if !ok {
		return User{}, ErrNotFound.WithDescription("Registration is not enabled.")
	}
	email = NormalizeEmail(email)
	if err := CheckEmail(email); err != nil {
		return User{}, err
	}
	if err := CheckPassword(password); err != nil {
		return User{}, err
	}
	attempt, err := a.limits.beginRegister(ctx, client.IP)
	if err != nil {
		return User{}, err
	}
	var u User
	err = a.limits.withHashSlot(ctx, func() (err error) {
		u, err = reg.Register(ctx, email, password, a.cfg.DefaultRoles)
		return err
	})
	switch {
	case err == nil, errors.Is(err, ErrUserExists):
		return u, err // a taken email counts: the limit bounds that oracle
	case errors.Is(err, ErrServerBusy):
		attempt.abandoned(ctx)
		return User{}, err
	default:
		attempt.abandoned(ctx)
		return User{}, storeErr(err)
	}
}

// Login checks an email and password with Config.Users and opens a session.
// Wrong email and wrong password give the same ErrInvalidCredentials.
// Attempts are limited per account and per client IP (ErrRateLimited), and
// their password hashing is bounded (ErrServerBusy).
func (a *Auth) Login(ctx context.Context, email, password string, client Client) (pair *TokenPair, err error) {
	defer func() { a.tel.login(ctx, err) }()
	if a.cfg.Users == nil {
		return nil, ErrNotFound.WithDescription("Password login is not enabled.")
	}
	email = NormalizeEmail(email)
	if email == "" || password == "" || len(password) > MaxPasswordBytes {
		return nil, ErrInvalidRequest.WithDescription("email and password are required; a password is at most 1024 bytes")
	}
	attempt, err := a.limits.beginLogin(ctx, email, client.IP)
	if err != nil {
		return nil, err
	}
	var u User
	err = a.limits.withHashSlot(ctx, func() (err error) {
		u, err = a.cfg.Users.Authenticate(ctx, email, password)
		return err
	})
	switch {
	case errors.Is(err, ErrInvalidCredentials):
		attempt.failed()
		a.emit(ctx, a.cfg.Hooks.OnLoginFailed, Event{Email: email, IP: client.IP, UserAgent: client.UserAgent})
		return nil, ErrInvalidCredentials
	case errors.Is(err, ErrServerBusy):
		attempt.abandoned(ctx)
		return nil, err
	case err != nil:
		attempt.abandoned(ctx)
		return nil, storeErr(err)
	}
	if err := attempt.succeeded(ctx); err != nil {
		return nil, err
	}
	// The password was right: the refusals below may say so.
	switch {
	case u.Disabled:
		return nil, ErrAccountDisabled
	case a.cfg.RequireVerifiedEmail && !u.EmailVerified:
		return nil, ErrEmailNotVerified
	}
	pair, err = a.IssueSession(ctx, u, client)
	if err != nil {
		return nil, err
	}
	if err := a.stillEnabled(ctx, u.ID, pair.SessionID); err != nil {
		return nil, err
	}
	a.emit(ctx, a.cfg.Hooks.OnLogin, Event{UserID: u.ID, SessionID: pair.SessionID, Email: email, IP: client.IP, UserAgent: client.UserAgent})
	return pair, nil
}

// stillEnabled reads the account again once its new session exists, and
// ends that session if the account was disabled (or deleted) meanwhile: a
// login racing DisableUser either sees the flag here or opened its session
// before DisableUser ended every session. Only for an AccountStore, which
// can be disabled.
func (a *Auth) stillEnabled(ctx context.Context, userID, sessionID string) error {
	accounts, ok := a.cfg.Users.(AccountStore)
	if !ok {
		return nil
	}
	u, err := accounts.User(ctx, userID)
	switch {
	case err == nil && !u.Disabled:
		return nil
	case err == nil || errors.Is(err, ErrUserNotFound):
		err = ErrAccountDisabled
	default:
		err = storeErr(err)
	}
	// Best effort, even when the client gave up: the session must not
	// outlive the refusal.
	a.cfg.Store.RevokeSession(context.WithoutCancel(ctx), userID, sessionID)
	return err
}

// IssueSession opens a session for a user the application has already
// authenticated (single sign-on, magic links…) and returns its first tokens.
// A disabled user (User.Disabled) gets ErrAccountDisabled.
func (a *Auth) IssueSession(ctx context.Context, u User, client Client) (*TokenPair, error) {
	if a.remote != nil {
		return nil, errVerifyOnly
	}
	if !ValidUserID(u.ID) {
		return nil, fmt.Errorf("authenik8: user id %q is not valid (1-128 printable ASCII bytes, no braces)", u.ID)
	}
	if u.Disabled {
		return nil, ErrAccountDisabled
	}
	data, err := encodeSession(u)
	if err != nil {
		return nil, err
	}
	sid := NewSessionID(u.ID)
	refresh, hash := a.refresh.mint(sid, 0)
	s, err := a.cfg.Store.CreateSession(ctx, NewSession{
		ID: sid, UserID: u.ID, Data: data,
		UserAgent: CompactUserAgent(client.UserAgent), IP: truncate(client.IP, MaxIPBytes),
		TokenHash: hash, IdleTTL: a.cfg.IdleTTL, AbsoluteTTL: a.cfg.AbsoluteTTL,
		MaxSessions: a.cfg.MaxSessionsPerUser,
	})
	if err != nil {
		return nil, storeErr(err)
	}
	a.tel.revoked(ctx, revokedEvicted, s.Evicted)
	return a.pair(s, sessionClaims{userID: u.ID, sessionID: sid, roles: u.Roles, extra: u.Claims, emailVerified: u.EmailVerified}, refresh)
}

// Refresh rotates a refresh token: one atomic store step. It returns a new
// pair, or ErrInvalidRefreshToken, ErrRefreshConflict (lost a concurrent
// refresh; nothing revoked) or ErrRefreshTokenReused (a superseded token:
// the session is now revoked). With Config.ReloadUser or a UserLoader the
// roles and claims are read anew; a user that no longer exists ends the
// session (ErrInvalidRefreshToken), a disabled one too (ErrAccountDisabled).
func (a *Auth) Refresh(ctx context.Context, token string) (_ *TokenPair, err error) {
	defer func() { a.tel.refresh(ctx, err) }()
	rt, err := a.refresh.parse(token)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRefreshToken, err)
	}
	var data []byte
	if loader := a.userLoader(); loader != nil {
		u, err := loader(ctx, rt.userID)
		if errors.Is(err, ErrUserNotFound) || (err == nil && u.Disabled) {
			found, err := a.cfg.Store.RevokeSession(ctx, rt.userID, rt.sessionID)
			if err != nil {
				return nil, storeErr(err)
			}
			if found {
				reason := revokedUserDeleted
				if u.Disabled {
					reason = revokedDisabled
				}
				a.tel.revoked(ctx, reason, 1)
			}
			if u.Disabled && found {
				return nil, ErrAccountDisabled
			}
			if u.Disabled { // as the rotation would: a session already gone is just invalid
				return nil, ErrInvalidRefreshToken
			}
			return nil, fmt.Errorf("%w: user %q no longer exists", ErrInvalidRefreshToken, rt.userID)
		}
		if err != nil {
			return nil, storeErr(err)
		}
		if data, err = encodeSession(u); err != nil {
			return nil, err
		}
	}
	next, nextHash := a.refresh.mint(rt.sessionID, rt.generation+1)
	res, err := a.cfg.Store.Rotate(ctx, Rotation{
		UserID: rt.userID, SessionID: rt.sessionID,
		Generation: rt.generation, TokenHash: rt.hash, NewHash: nextHash,
		Data: data, IdleTTL: a.cfg.IdleTTL, Grace: a.cfg.ReuseGrace,
		LoadUser: a.loadUser,
	})
	if err != nil {
		return nil, storeErr(err)
	}
	ev := Event{UserID: rt.userID, SessionID: rt.sessionID}
	switch res.Outcome {
	case Rotated:
		if a.loadUser {
			// The store read the user with the rotation; its roles and
			// claims go through the same checks and encoding as at login.
			if res.Session.Data, err = encodeSession(res.User); err != nil {
				return nil, err
			}
		}
		var d sessionData
		if err := json.Unmarshal(res.Session.Data, &d); err != nil {
			return nil, fmt.Errorf("authenik8: session %s holds undecodable data: %w", rt.sessionID, err)
		}
		pair, err := a.pair(res.Session, sessionClaims{userID: rt.userID, sessionID: rt.sessionID, roles: d.Roles, extra: d.Claims, emailVerified: d.EmailVerified}, next)
		if err == nil {
			a.emit(ctx, a.cfg.Hooks.OnRefresh, ev)
		}
		return pair, err
	case Conflict:
		return nil, ErrRefreshConflict
	case Reused:
		a.tel.revoked(ctx, revokedReuse, 1)
		a.emit(ctx, a.cfg.Hooks.OnReuseDetected, ev)
		return nil, ErrRefreshTokenReused
	case NoUser:
		a.tel.revoked(ctx, revokedUserDeleted, 1)
		return nil, fmt.Errorf("%w: user %q no longer exists", ErrInvalidRefreshToken, rt.userID)
	case Disabled:
		return nil, ErrAccountDisabled
	}
	return nil, ErrInvalidRefreshToken
}

// userLoader is what Refresh calls before the rotation to re-read the user:
// the custom UserLoader, or Users.User for ReloadUser when the store cannot
// read the user inside the rotation; nil for none.
func (a *Auth) userLoader() func(context.Context, string) (User, error) {
	switch {
	case a.cfg.UserLoader != nil:
		return a.cfg.UserLoader
	case a.cfg.ReloadUser && !a.loadUser:
		return a.cfg.Users.User
	}
	return nil
}

// Verify checks an access token — signature, algorithm, type, issuer,
// audience, lifetime — and that its session is still alive. It returns
// ErrMissingToken (empty token), ErrInvalidToken, ErrTokenExpired,
// ErrTokenRevoked or ErrStoreUnavailable.
func (a *Auth) Verify(ctx context.Context, token string) (_ *Claims, err error) {
	defer func() { a.tel.verify(ctx, err) }()
	if token == "" {
		return nil, ErrMissingToken
	}
	now := a.now()
	c := a.tokens.get(token, now)
	a.countCacheLookup(ctx, c != nil)
	if c == nil {
		var err error
		if c, err = a.parseAccess(token); err != nil {
			return nil, err
		}
		a.tokens.put(token, c)
	}
	alive, err := a.cfg.Store.SessionAlive(ctx, c.Subject, c.SessionID)
	if err != nil {
		return nil, storeErr(err)
	}
	if !alive {
		return nil, ErrTokenRevoked
	}
	return c, nil
}

// Logout ends one session: its refresh token and access tokens stop working.
// Ending a session that already ended is not an error.
func (a *Auth) Logout(ctx context.Context, sessionID string) error {
	uid, ok := SessionUser(sessionID)
	if !ok {
		return ErrNotFound
	}
	found, err := a.cfg.Store.RevokeSession(ctx, uid, sessionID)
	if err != nil {
		return storeErr(err)
	}
	a.tel.revoked(ctx, revokedLogout, one(found))
	a.emit(ctx, a.cfg.Hooks.OnLogout, Event{UserID: uid, SessionID: sessionID, Sessions: 1})
	return nil
}

// LogoutRefreshToken ends the session a refresh token belongs to, for a
// client whose access token has expired. It follows rotation, in one atomic
// store step: the current token, or the one just replaced within
// Config.ReuseGrace, ends the session (nil; OnLogout fires); a superseded
// token is reuse: the session is revoked, OnReuseDetected fires, and the
// answer is ErrRefreshTokenReused. A forged token, or one whose session has
// already ended, is ErrInvalidRefreshToken and changes nothing.
func (a *Auth) LogoutRefreshToken(ctx context.Context, token string) error {
	rt, err := a.refresh.parse(token)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidRefreshToken, err)
	}
	res, err := a.cfg.Store.Rotate(ctx, Rotation{
		UserID: rt.userID, SessionID: rt.sessionID,
		Generation: rt.generation, TokenHash: rt.hash,
		Grace: a.cfg.ReuseGrace, End: true,
	})
	if err != nil {
		return storeErr(err)
	}
	switch res.Outcome {
	case Ended:
		a.tel.revoked(ctx, revokedLogout, 1)
		a.emit(ctx, a.cfg.Hooks.OnLogout, Event{UserID: rt.userID, SessionID: rt.sessionID, Sessions: 1})
		return nil
	case Reused:
		a.tel.revoked(ctx, revokedReuse, 1)
		a.emit(ctx, a.cfg.Hooks.OnReuseDetected, Event{UserID: rt.userID, SessionID: rt.sessionID})
		return ErrRefreshTokenReused
	}
	return ErrInvalidRefreshToken
}

// LogoutAll ends every session of the user and returns how many ended.
func (a *Auth) LogoutAll(ctx context.Context, userID string) (int, error) {
	n, err := a.cfg.Store.RevokeUser(ctx, userID)
	if err != nil {
		return 0, storeErr(err)
	}
	a.tel.revoked(ctx, revokedLogoutAll, n)
	a.emit(ctx, a.cfg.Hooks.OnLogout, Event{UserID: userID, Sessions: n})
	return n, nil
}

// RevokeSession ends a session on behalf of actor, who must own it or be an
// admin. Any other case — unknown id, someone else's session — is ErrNotFound,
// so the answer never tells which.
func (a *Auth) RevokeSession(ctx context.Context, actor *Claims, sessionID string) error {
	uid, ok := SessionUser(sessionID)
	if !ok || actor == nil || (uid != actor.Subject && !actor.IsAdmin()) {
		return ErrNotFound
	}
	found, err := a.cfg.Store.RevokeSession(ctx, uid, sessionID)
	if err != nil {
		return storeErr(err)
	}
	if !found {
		return ErrNotFound
	}
	a.tel.revoked(ctx, revokedRevoke, 1)
	a.emit(ctx, a.cfg.Hooks.OnRevoke, Event{UserID: uid, SessionID: sessionID, Sessions: 1})
	return nil
}

// SessionInfo describes a live session to its user.
type SessionInfo struct {
	ID         string    `json:"id"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"`
	UserAgent  string    `json:"user_agent"`
	IP         string    `json:"ip"`
	Current    bool      `json:"current"`
}

// Sessions lists the user's live sessions, oldest first, marking current.
func (a *Auth) Sessions(ctx context.Context, userID, current string) ([]SessionInfo, error) {
	list, err := a.cfg.Store.ListSessions(ctx, userID)
	if err != nil {
		return nil, storeErr(err)
	}
	out := make([]SessionInfo, len(list))
	for i, s := range list {
		out[i] = SessionInfo{
			ID: s.ID, CreatedAt: s.CreatedAt.UTC(), LastUsedAt: s.LastUsedAt.UTC(),
			UserAgent: s.UserAgent, IP: s.IP, Current: s.ID == current,
		}
	}
	return out, nil
}

// JWKS returns the public access-token keys as a JWK set: {"keys":[]} when
// every key is HMAC.
func (a *Auth) JWKS() []byte { return a.keys.jwks }

// Ready reports whether the store answers, for readiness probes.
func (a *Auth) Ready(ctx context.Context) error { return storeErr(a.cfg.Store.Ping(ctx)) }

// pair signs an access token for the session and assembles the response.
func (a *Auth) pair(s Session, sc sessionClaims, refresh string) (*TokenPair, error) {
	now := a.now()
	access, err := a.signAccess(sc, now)
	if err != nil {
		return nil, err
	}
	return &TokenPair{
		AccessToken:      access,
		TokenType:        "Bearer",
		ExpiresIn:        int64(a.cfg.AccessTTL / time.Second),
		RefreshToken:     refresh,
		RefreshExpiresIn: max(0, int64(s.ExpiresAt.Sub(now)/time.Second)),
		UserID:           sc.userID,
		SessionID:        sc.sessionID,
	}, nil
}

// encodeSession is the one place application claims are checked: login,
// IssueSession and refresh through Config.UserLoader all pass here before
// anything is stored or signed.
func encodeSession(u User) ([]byte, error) {
	for k := range u.Claims {
		if isReservedClaim(k) {
			return nil, fmt.Errorf("%w: %q", ErrReservedClaim, k)
		}
	}
	data, err := json.Marshal(sessionData{Roles: nonNil(u.Roles), Claims: u.Claims, EmailVerified: u.EmailVerified})
	if err != nil {
		return nil, fmt.Errorf("authenik8: encode session: %w", err)
	}
	return data, nil
}

// truncate bounds a client-supplied string and copies it: adapters may pass
// strings that alias a request buffer (Fiber), and stores keep these.
func truncate(s string, n int) string {
	if len(s) > n {
		return strings.ToValidUTF8(s[:n], "")
	}
	return strings.Clone(s)
}
