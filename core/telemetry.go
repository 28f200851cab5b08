package core

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
)

// Core records metrics and traces through the OpenTelemetry API only
// (Config.MeterProvider, Config.TracerProvider): it depends on no SDK, and
// records nothing until the application installs one. The instruments, as
// the OpenTelemetry Prometheus exporter names them:
//
//	authenik8_logins_total{outcome}         Login
//	authenik8_refreshes_total{outcome}      Refresh
//	authenik8_verifications_total{outcome}  Verify (every authenticated request)
//	authenik8_revocations_total{reason}     sessions ended, by why
//	authenik8_token_cache_hits_total        Verify served from the token cache
//	authenik8_token_cache_misses_total      Verify that parsed the token
//	authenik8_store_duration_seconds{op}    each Store and UserStore call
//
// Every series of a counter is created at zero by New, so that the first
// event shows as an increase. Labels take values from fixed lists (below):
// their attribute sets and measurement options are built once, so recording
// allocates nothing per request.
//
// Spans cover the Store and UserStore calls (telemetry_store.go), except the
// per-request SessionAlive, and carry the operation and its outcome only:
// never a token or its hash, a password, an email, a user id or a session
// id. User ids are the application's choice (an email is a valid one) and a
// session id names its user; traces are often shipped to third parties.
//
// To record an event from a new place in core, call the method of its
// instrument once where the operation returns: a.tel.login(ctx, err) for a
// login path, a.tel.revoked(ctx, reason, n) for sessions that end (the
// reasons password_change, password_reset, disabled and logout_others exist
// already for the account routes).

// InstrumentationName names the meter and the tracer of core (the
// otel_scope_name label of its Prometheus series).
const InstrumentationName = "github.com/authenik8/authenik8-go/core"

// storeDurationBuckets are the bucket bounds, in seconds, of
// authenik8_store_duration_seconds: a session check served from a client
// cache takes microseconds, a Redis round trip a fraction of a millisecond,
// a password check tens of milliseconds, a store in trouble seconds.
var storeDurationBuckets = []float64{
	0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
}

// Outcomes of a login (authenik8_logins_total{outcome}).
type loginOutcome uint8

const (
	loginSuccess loginOutcome = iota
	loginInvalidCredentials
	loginRateLimited
	loginAccountDisabled
	loginServerBusy
	loginStoreUnavailable
	loginInvalidRequest
	loginOther
	nLoginOutcomes
)

var loginOutcomeNames = [nLoginOutcomes]string{
	"success", "invalid_credentials", "rate_limited", "account_disabled", "server_busy", "store_unavailable",
	"invalid_request", "other",
}

func classifyLogin(err error) loginOutcome {
	if err == nil {
		return loginSuccess
	}
	switch errorCode(err) {
	case ErrInvalidCredentials.Code:
		return loginInvalidCredentials
	case ErrRateLimited.Code:
		return loginRateLimited
	case ErrAccountDisabled.Code:
		return loginAccountDisabled
	case ErrServerBusy.Code:
		return loginServerBusy
	case ErrStoreUnavailable.Code:
		return loginStoreUnavailable
	case ErrInvalidRequest.Code:
		return loginInvalidRequest
	}
	return loginOther
}

// Outcomes of a refresh (authenik8_refreshes_total{outcome}).
type refreshOutcome uint8

const (
	refreshRotated refreshOutcome = iota
	refreshConflict
	refreshReused
	refreshInvalid
	refreshStoreUnavailable
	refreshOther
	nRefreshOutcomes
)

var refreshOutcomeNames = [nRefreshOutcomes]string{"rotated", "conflict", "reused", "invalid", "store_unavailable", "other"}

func classifyRefresh(err error) refreshOutcome {
	if err == nil {
		return refreshRotated
	}
	switch errorCode(err) {
	case ErrRefreshConflict.Code:
		return refreshConflict
	case ErrRefreshTokenReused.Code:
		return refreshReused
	case ErrInvalidRefreshToken.Code:
		return refreshInvalid
	case ErrStoreUnavailable.Code:
		return refreshStoreUnavailable
	}
	return refreshOther
}

// Outcomes of a verification (authenik8_verifications_total{outcome}).
type verifyOutcome uint8

const (
	verifyOK verifyOutcome = iota
	verifyMissingToken
	verifyInvalidToken
	verifyTokenExpired
	verifyTokenRevoked
	verifyStoreUnavailable
	verifyOther
	nVerifyOutcomes
)

var verifyOutcomeNames = [nVerifyOutcomes]string{"ok", "missing_token", "invalid_token", "token_expired", "token_revoked", "store_unavailable", "other"}

func classifyVerify(err error) verifyOutcome {
	if err == nil {
		return verifyOK
	}
	switch errorCode(err) {
	case ErrMissingToken.Code:
		return verifyMissingToken
	case ErrInvalidToken.Code:
		return verifyInvalidToken
	case ErrTokenExpired.Code:
		return verifyTokenExpired
	case ErrTokenRevoked.Code:
		return verifyTokenRevoked
	case ErrStoreUnavailable.Code:
		return verifyStoreUnavailable
	}
	return verifyOther
}

// errorCode is the code of the *Error that ErrorResponse answers err with
// (the first in errors.As order), "" for none: an outcome is what the
// client was told. It walks the chain itself, as errors.As would, so as not
// to allocate.
func errorCode(err error) string {
	switch e := err.(type) {
	case nil:
		return ""
	case *Error:
		return e.Code
	case interface{ Unwrap() error }:
		return errorCode(e.Unwrap())
	case interface{ Unwrap() []error }:
		for _, w := range e.Unwrap() {
			if c := errorCode(w); c != "" {
				return c
			}
		}
	}
	return ""
}

// revocationReason says why sessions ended (authenik8_revocations_total{reason}).
type revocationReason uint8

const (
	revokedLogout         revocationReason = iota // Logout, LogoutRefreshToken
	revokedLogoutAll                              // LogoutAll
	revokedLogoutOthers                           // every session but the caller's
	revokedRevoke                                 // RevokeSession (DELETE /sessions/:id)
	revokedReuse                                  // a superseded refresh token came back
	revokedEvicted                                // Config.MaxSessionsPerUser made room
	revokedUserDeleted                            // a refresh found the user gone
	revokedPasswordChange                         // the password was changed
	revokedPasswordReset                          // the password was reset
	revokedDisabled                               // the account was disabled
	nRevocationReasons
)

var revocationReasonNames = [nRevocationReasons]string{
	"logout", "logout_all", "logout_others", "revoke", "reuse", "evicted", "user_deleted",
	"password_change", "password_reset", "disabled",
}

// telemetry holds core's instruments and, for each label value, the
// measurement options that carry it: recording passes a prebuilt slice, so
// it allocates nothing.
type telemetry struct {
	tracer trace.Tracer

	logins, refreshes, verifications, revocations metric.Int64Counter
	cacheHits, cacheMisses                        metric.Int64Counter
	storeDuration                                 metric.Float64Histogram

	loginOpts      [nLoginOutcomes][]metric.AddOption
	refreshOpts    [nRefreshOutcomes][]metric.AddOption
	verifyOpts     [nVerifyOutcomes][]metric.AddOption
	revocationOpts [nRevocationReasons][]metric.AddOption
	opRecordOpts   [nStoreOps][]metric.RecordOption
	opSpanOpts     [nStoreOps][]trace.SpanStartOption
}

// newTelemetry creates core's instruments with the providers of cfg (the
// global ones when unset). A provider's error is reported with otel.Handle,
// the API's convention, and an instrument it did not return is a no-op:
// telemetry never stops authentication.
func newTelemetry(cfg Config) *telemetry {
	mp, tp := cfg.MeterProvider, cfg.TracerProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	m := mp.Meter(InstrumentationName)
	t := &telemetry{tracer: tp.Tracer(InstrumentationName)}
	var errs []error
	counter := func(name, desc string) metric.Int64Counter {
		c, err := m.Int64Counter(name, metric.WithDescription(desc))
		errs = append(errs, err)
		if c == nil {
			return noop.Int64Counter{}
		}
		return c
	}
	t.logins = counter("authenik8.logins", "Password logins, by outcome.")
	t.refreshes = counter("authenik8.refreshes", "Refresh-token rotations, by outcome.")
	t.verifications = counter("authenik8.verifications", "Access-token verifications (authenticated requests), by outcome.")
	t.revocations = counter("authenik8.revocations", "Sessions ended, by reason.")
	t.cacheHits = counter("authenik8.token_cache.hits", "Access tokens served from the verified-token cache.")
	t.cacheMisses = counter("authenik8.token_cache.misses", "Access tokens parsed and verified in full.")
	h, err := m.Float64Histogram("authenik8.store.duration",
		metric.WithDescription("Duration of Store and UserStore calls, by operation."),
		metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(storeDurationBuckets...))
	t.storeDuration = h
	if h == nil {
		t.storeDuration = noop.Float64Histogram{}
	}
	if err = errors.Join(append(errs, err)...); err != nil {
		otel.Handle(err)
	}

	build := func(key string, names []string, dst [][]metric.AddOption) {
		for i, n := range names {
			dst[i] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String(key, n)))}
		}
	}
	build("outcome", loginOutcomeNames[:], t.loginOpts[:])
	build("outcome", refreshOutcomeNames[:], t.refreshOpts[:])
	build("outcome", verifyOutcomeNames[:], t.verifyOpts[:])
	build("reason", revocationReasonNames[:], t.revocationOpts[:])
	for op, name := range storeOpNames {
		kv := attribute.String("op", name)
		t.opRecordOpts[op] = []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(kv))}
		t.opSpanOpts[op] = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(attribute.String("authenik8.op", name))}
	}

	return t
}

// startAtZero creates every series of the counters at zero (see above);
// New calls it once the configuration is valid.
func (t *telemetry) startAtZero() {
	ctx := context.Background()
	zero := func(c metric.Int64Counter, opts [][]metric.AddOption) {
		for _, o := range opts {
			c.Add(ctx, 0, o...)
		}
	}
	zero(t.logins, t.loginOpts[:])
	zero(t.refreshes, t.refreshOpts[:])
	zero(t.verifications, t.verifyOpts[:])
	zero(t.revocations, t.revocationOpts[:])
	t.cacheHits.Add(ctx, 0)
	t.cacheMisses.Add(ctx, 0)
}

// login counts a login by the error it returned.
func (t *telemetry) login(ctx context.Context, err error) {
	t.logins.Add(ctx, 1, t.loginOpts[classifyLogin(err)]...)
}

// refresh counts a refresh by the error it returned.
func (t *telemetry) refresh(ctx context.Context, err error) {
	t.refreshes.Add(ctx, 1, t.refreshOpts[classifyRefresh(err)]...)
}

// verify counts a verification by the error it returned.
func (t *telemetry) verify(ctx context.Context, err error) {
	t.verifications.Add(ctx, 1, t.verifyOpts[classifyVerify(err)]...)
}

// revoked counts n sessions ended for reason; n <= 0 records nothing.
func (t *telemetry) revoked(ctx context.Context, reason revocationReason, n int) {
	if n > 0 {
		t.revocations.Add(ctx, int64(n), t.revocationOpts[reason]...)
	}
}

// countCacheLookup counts a lookup in the verified-token cache, if there
// is one.
func (a *Auth) countCacheLookup(ctx context.Context, hit bool) {
	switch {
	case a.tokens == nil:
	case hit:
		a.tel.cacheHits.Add(ctx, 1)
	default:
		a.tel.cacheMisses.Add(ctx, 1)
	}
}

// one is 1 for true: a session that was found and ended.
func one(ended bool) int {
	if ended {
		return 1
	}
	return 0
}
