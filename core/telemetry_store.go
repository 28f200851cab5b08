package core

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// New wraps Config.Store and Config.Users once in the decorators of this
// file, so that every call is timed (authenik8_store_duration_seconds{op})
// and traced without touching the call sites. A decorator implements
// exactly the optional interfaces of what it wraps — core asks a Store for
// Limiter and UserRotator, a UserStore for UserRegistrar, AccountStore,
// LinkTokenStore and IdentityStore — so type assertions see through it
// (TestInstrumentedCapabilities checks each combination, and that every
// assertion in core is on this list).
//
// SessionAlive runs on every authenticated request: it is timed only while
// the histogram is enabled (an SDK is installed) — two monotonic clock
// reads, most of what an SDK adds per request — and gets no span, which
// would cost allocations (a context and a span) on the hottest path.

// storeOp names a Store or UserStore call: the op label and the span name.
type storeOp uint8

const (
	opCreateSession storeOp = iota
	opRotate
	opSessionAlive
	opRevokeSession
	opRevokeUser
	opRevokeOtherSessions
	opListSessions
	opPing
	opLimitHit
	opLimitPeek
	opLimitUndo
	opLimitReset
	opAuthenticate
	opUser
	opRegister
	opUserByEmail
	opSetPassword
	opSetDisabled
	opSetEmailVerified
	opPutLinkToken
	opRedeemLinkToken
	opUserByIdentity
	opLinkIdentity
	opRegisterIdentity
	nStoreOps
)

var storeOpNames = [nStoreOps]string{
	"create_session", "rotate", "session_alive", "revoke_session", "revoke_user", "revoke_other_sessions", "list_sessions", "ping",
	"limit_hit", "limit_peek", "limit_undo", "limit_reset",
	"authenticate", "user", "register", "user_by_email", "set_password", "set_disabled", "set_email_verified",
	"put_link_token", "redeem_link_token", "user_by_identity", "link_identity", "register_identity",
}

// storeSpanNames are "authenik8.store.<op>" for Store calls and
// "authenik8.users.<op>" for UserStore calls.
var storeSpanNames = func() (names [nStoreOps]string) {
	for op, n := range storeOpNames {
		if storeOp(op) < opAuthenticate {
			names[op] = "authenik8.store." + n
		} else {
			names[op] = "authenik8.users." + n
		}
	}
	return names
}()

// Span attributes beyond the op: what the call decided, never whom it was
// about.
var (
	attrOutcome = attribute.Key("authenik8.outcome")
	attrEnded   = attribute.Key("authenik8.sessions_ended")
)

// storeCall is one timed and traced call.
type storeCall struct {
	t     *telemetry
	op    storeOp
	ctx   context.Context
	span  trace.Span
	start time.Duration // monotonic, since clockBase
}

// clockBase makes durations from the monotonic clock alone: time.Since of
// it reads one clock where time.Now reads two (the wall clock too), and
// on a VM's kvm-clock each read costs about 100 ns.
var clockBase = time.Now()

func (t *telemetry) begin(ctx context.Context, op storeOp) storeCall {
	ctx, span := t.tracer.Start(ctx, storeSpanNames[op], t.opSpanOpts[op]...)
	return storeCall{t: t, op: op, ctx: ctx, span: span, start: time.Since(clockBase)}
}

// end records the call's duration and ends its span. err marks the span as
// failed by its kind only: store errors may quote ids (redisstore names the
// session it refused), which spans must not carry.
func (c storeCall) end(err error) {
	c.t.storeDuration.Record(c.ctx, (time.Since(clockBase) - c.start).Seconds(), c.t.opRecordOpts[c.op]...)
	if err != nil {
		switch {
		case errors.Is(err, ErrInvalidCredentials), errors.Is(err, ErrUserNotFound), errors.Is(err, ErrUserExists):
			// Answers, not failures of the store.
			c.span.SetAttributes(attrOutcome.String(userOutcome(err)))
		default:
			c.span.SetStatus(codes.Error, "store error")
		}
	}
	c.span.End()
}

func userOutcome(err error) string {
	switch {
	case errors.Is(err, ErrInvalidCredentials):
		return "invalid_credentials"
	case errors.Is(err, ErrUserNotFound):
		return "user_not_found"
	}
	return "user_exists"
}

// sessionAlive times SessionAlive while the histogram is enabled.
func (t *telemetry) sessionAlive(ctx context.Context, s Store, userID, sessionID string) (bool, error) {
	if !t.storeDuration.Enabled(ctx) {
		return s.SessionAlive(ctx, userID, sessionID)
	}
	start := time.Since(clockBase)
	ok, err := s.SessionAlive(ctx, userID, sessionID)
	t.storeDuration.Record(ctx, (time.Since(clockBase) - start).Seconds(), t.opRecordOpts[opSessionAlive]...)
	return ok, err
}

// instrumentStore returns s decorated, with s's optional interfaces; nil
// for nil.
func (t *telemetry) instrumentStore(s Store) Store {
	if s == nil {
		return nil
	}
	base := tracedStore{s, t}
	l, isLimiter := s.(Limiter)
	r, isRotator := s.(UserRotator)
	switch {
	case isLimiter && isRotator:
		return struct {
			tracedStore
			tracedLimiter
			tracedRotator
		}{base, tracedLimiter{l, t}, tracedRotator{r}}
	case isLimiter:
		return struct {
			tracedStore
			tracedLimiter
		}{base, tracedLimiter{l, t}}
	case isRotator:
		return struct {
			tracedStore
			tracedRotator
		}{base, tracedRotator{r}}
	}
	return base
}

// instrumentUsers returns u decorated, with u's optional interfaces; nil
// for nil.
func (t *telemetry) instrumentUsers(u UserStore) UserStore {
	if u == nil {
		return nil
	}
	const (
		reg = 1 << iota
		acct
		link
		ident
	)
	base := tracedUsers{u, t}
	r, isReg := u.(UserRegistrar)
	a, isAcct := u.(AccountStore)
	l, isLink := u.(LinkTokenStore)
	i, isIdent := u.(IdentityStore)
	tr, ta, tl, ti := tracedRegistrar{r, t}, tracedAccounts{a, t}, tracedLinks{l, t}, tracedIdentities{i, t}
	mask := 0
	if isReg {
		mask |= reg
	}
	if isAcct {
		mask |= acct
	}
	if isLink {
		mask |= link
	}
	if isIdent {
		mask |= ident
	}
	// One composite per combination: Go has no other way to give a value
	// exactly the methods of another.
	switch mask {
	case reg:
		return struct {
			tracedUsers
			tracedRegistrar
		}{base, tr}
	case acct:
		return struct {
			tracedUsers
			tracedAccounts
		}{base, ta}
	case link:
		return struct {
			tracedUsers
			tracedLinks
		}{base, tl}
	case ident:
		return struct {
			tracedUsers
			tracedIdentities
		}{base, ti}
	case reg | acct:
		return struct {
			tracedUsers
			tracedRegistrar
			tracedAccounts
		}{base, tr, ta}
	case reg | link:
		return struct {
			tracedUsers
			tracedRegistrar
			tracedLinks
		}{base, tr, tl}
	case reg | ident:
		return struct {
			tracedUsers
			tracedRegistrar
			tracedIdentities
		}{base, tr, ti}
	case acct | link:
		return struct {
			tracedUsers
			tracedAccounts
			tracedLinks
		}{base, ta, tl}
	case acct | ident:
		return struct {
			tracedUsers
			tracedAccounts
			tracedIdentities
		}{base, ta, ti}
	case link | ident:
		return struct {
			tracedUsers
			tracedLinks
			tracedIdentities
		}{base, tl, ti}
	case reg | acct | link:
		return struct {
			tracedUsers
			tracedRegistrar
			tracedAccounts
			tracedLinks
		}{base, tr, ta, tl}
	case reg | acct | ident:
		return struct {
			tracedUsers
			tracedRegistrar
			tracedAccounts
			tracedIdentities
		}{base, tr, ta, ti}
	case reg | link | ident:
		return struct {
			tracedUsers
			tracedRegistrar
			tracedLinks
			tracedIdentities
		}{base, tr, tl, ti}
	case acct | link | ident:
		return struct {
			tracedUsers
			tracedAccounts
			tracedLinks
			tracedIdentities
		}{base, ta, tl, ti}
	case reg | acct | link | ident:
		return struct {
			tracedUsers
			tracedRegistrar
			tracedAccounts
			tracedLinks
			tracedIdentities
		}{base, tr, ta, tl, ti}
	}
	return base
}

// tracedStore decorates the Store methods.
type tracedStore struct {
	s Store
	t *telemetry
}

func (d tracedStore) CreateSession(ctx context.Context, n NewSession) (Session, error) {
	c := d.t.begin(ctx, opCreateSession)
	s, err := d.s.CreateSession(c.ctx, n)
	if s.Evicted > 0 {
		c.span.SetAttributes(attrEnded.Int(s.Evicted))
	}
	c.end(err)
	return s, err
}

func (d tracedStore) Rotate(ctx context.Context, r Rotation) (RotateResult, error) {
	c := d.t.begin(ctx, opRotate)
	res, err := d.s.Rotate(c.ctx, r)
	if err == nil {
		c.span.SetAttributes(attrOutcome.String(res.Outcome.String()))
	}
	c.end(err)
	return res, err
}

func (d tracedStore) SessionAlive(ctx context.Context, userID, sessionID string) (bool, error) {
	return d.t.sessionAlive(ctx, d.s, userID, sessionID)
}

func (d tracedStore) RevokeSession(ctx context.Context, userID, sessionID string) (bool, error) {
	c := d.t.begin(ctx, opRevokeSession)
	found, err := d.s.RevokeSession(c.ctx, userID, sessionID)
	if found {
		c.span.SetAttributes(attrEnded.Int(1))
	}
	c.end(err)
	return found, err
}

func (d tracedStore) RevokeUser(ctx context.Context, userID string) (int, error) {
	c := d.t.begin(ctx, opRevokeUser)
	n, err := d.s.RevokeUser(c.ctx, userID)
	c.span.SetAttributes(attrEnded.Int(n))
	c.end(err)
	return n, err
}

func (d tracedStore) RevokeOtherSessions(ctx context.Context, userID, keep string) (int, error) {
	c := d.t.begin(ctx, opRevokeOtherSessions)
	n, err := d.s.RevokeOtherSessions(c.ctx, userID, keep)
	c.span.SetAttributes(attrEnded.Int(n))
	c.end(err)
	return n, err
}

func (d tracedStore) ListSessions(ctx context.Context, userID string) ([]Session, error) {
	c := d.t.begin(ctx, opListSessions)
	list, err := d.s.ListSessions(c.ctx, userID)
	c.end(err)
	return list, err
}

func (d tracedStore) Ping(ctx context.Context) error {
	c := d.t.begin(ctx, opPing)
	err := d.s.Ping(c.ctx)
	c.end(err)
	return err
}

// tracedLimiter decorates a Store's Limiter.
type tracedLimiter struct {
	l Limiter
	t *telemetry
}

func (d tracedLimiter) Hit(ctx context.Context, key string, limit int64, window time.Duration) (bool, time.Duration, error) {
	c := d.t.begin(ctx, opLimitHit)
	counted, left, err := d.l.Hit(c.ctx, key, limit, window)
	c.end(err)
	return counted, left, err
}

func (d tracedLimiter) Peek(ctx context.Context, key string) (int64, time.Duration, error) {
	c := d.t.begin(ctx, opLimitPeek)
	n, left, err := d.l.Peek(c.ctx, key)
	c.end(err)
	return n, left, err
}

func (d tracedLimiter) Undo(ctx context.Context, key string) error {
	c := d.t.begin(ctx, opLimitUndo)
	err := d.l.Undo(c.ctx, key)
	c.end(err)
	return err
}

func (d tracedLimiter) Reset(ctx context.Context, key string) error {
	c := d.t.begin(ctx, opLimitReset)
	err := d.l.Reset(c.ctx, key)
	c.end(err)
	return err
}

// tracedRotator passes HoldsUsers through, unwrapping a decorated
// UserStore: the store recognizes its own users by their concrete type.
type tracedRotator struct{ r UserRotator }

func (d tracedRotator) HoldsUsers(u UserStore) bool { return d.r.HoldsUsers(undecorated(u)) }

// undecorated returns the UserStore a decorator wraps, or u itself.
func undecorated(u UserStore) UserStore {
	if d, ok := u.(interface{ decorated() UserStore }); ok {
		return d.decorated()
	}
	return u
}

// tracedUsers decorates the UserStore methods.
type tracedUsers struct {
	u UserStore
	t *telemetry
}

func (d tracedUsers) decorated() UserStore { return d.u }

func (d tracedUsers) Authenticate(ctx context.Context, email, password string) (User, error) {
	c := d.t.begin(ctx, opAuthenticate)
	u, err := d.u.Authenticate(c.ctx, email, password)
	c.end(err)
	return u, err
}

func (d tracedUsers) User(ctx context.Context, id string) (User, error) {
	c := d.t.begin(ctx, opUser)
	u, err := d.u.User(c.ctx, id)
	c.end(err)
	return u, err
}

// tracedRegistrar decorates a UserRegistrar.
type tracedRegistrar struct {
	r UserRegistrar
	t *telemetry
}

func (d tracedRegistrar) Register(ctx context.Context, email, password string, roles []string) (User, error) {
	c := d.t.begin(ctx, opRegister)
	u, err := d.r.Register(c.ctx, email, password, roles)
	c.end(err)
	return u, err
}

// tracedAccounts decorates the methods AccountStore adds to UserStore.
type tracedAccounts struct {
	a AccountStore
	t *telemetry
}

func (d tracedAccounts) UserByEmail(ctx context.Context, email string) (User, error) {
	c := d.t.begin(ctx, opUserByEmail)
	u, err := d.a.UserByEmail(c.ctx, email)
	c.end(err)
	return u, err
}

func (d tracedAccounts) SetPassword(ctx context.Context, id, password string) error {
	c := d.t.begin(ctx, opSetPassword)
	err := d.a.SetPassword(c.ctx, id, password)
	c.end(err)
	return err
}

func (d tracedAccounts) SetDisabled(ctx context.Context, id string, disabled bool) error {
	c := d.t.begin(ctx, opSetDisabled)
	err := d.a.SetDisabled(c.ctx, id, disabled)
	c.end(err)
	return err
}

func (d tracedAccounts) SetEmailVerified(ctx context.Context, id string) error {
	c := d.t.begin(ctx, opSetEmailVerified)
	err := d.a.SetEmailVerified(c.ctx, id)
	c.end(err)
	return err
}

// tracedLinks decorates a LinkTokenStore.
type tracedLinks struct {
	l LinkTokenStore
	t *telemetry
}

func (d tracedLinks) PutLinkToken(ctx context.Context, userID, purpose, hash string, ttl time.Duration) error {
	c := d.t.begin(ctx, opPutLinkToken)
	err := d.l.PutLinkToken(c.ctx, userID, purpose, hash, ttl)
	c.end(err)
	return err
}

func (d tracedLinks) RedeemLinkToken(ctx context.Context, userID, purpose, hash string) (bool, error) {
	c := d.t.begin(ctx, opRedeemLinkToken)
	ok, err := d.l.RedeemLinkToken(c.ctx, userID, purpose, hash)
	c.end(err)
	return ok, err
}

// tracedIdentities decorates an IdentityStore.
type tracedIdentities struct {
	i IdentityStore
	t *telemetry
}

func (d tracedIdentities) UserByIdentity(ctx context.Context, provider, subject string) (User, error) {
	c := d.t.begin(ctx, opUserByIdentity)
	u, err := d.i.UserByIdentity(c.ctx, provider, subject)
	c.end(err)
	return u, err
}

func (d tracedIdentities) LinkIdentity(ctx context.Context, userID, provider, subject string) error {
	c := d.t.begin(ctx, opLinkIdentity)
	err := d.i.LinkIdentity(c.ctx, userID, provider, subject)
	c.end(err)
	return err
}

func (d tracedIdentities) RegisterIdentity(ctx context.Context, email string, roles []string, provider, subject string) (User, error) {
	c := d.t.begin(ctx, opRegisterIdentity)
	u, err := d.i.RegisterIdentity(c.ctx, email, roles, provider, subject)
	c.end(err)
	return u, err
}
