package core

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Error is a failure with its HTTP form: status, machine-readable code, human
// description and WWW-Authenticate challenge. The sentinels below are the
// only codes the project answers with; adapters write ErrorResponse(err) and
// never decide a status or body themselves.
//
// Compare with errors.Is against a sentinel: an Error carrying a custom
// description (see WithDescription) still matches its sentinel.
type Error struct {
	Status      int
	Code        string
	Description string
	// Challenge is the WWW-Authenticate value sent with the error, "" for none.
	Challenge string
	// RetryAfter, when positive, is sent as a Retry-After header.
	RetryAfter time.Duration

	extra []Header  // more headers (RateLimit-*)
	resp  *Response // built once
}

// The error table, documented in docs/protocol.md §7. Each row: status,
// code, description, challenge. ErrorTable lists every row.
var (
	ErrInvalidRequest      = newError(400, "invalid_request", "The request is malformed, or a field is missing or invalid.", "")
	ErrMissingToken        = newError(401, "missing_token", "A bearer token is required.", challengeBearer)
	ErrInvalidToken        = newError(401, "invalid_token", "The access token is invalid.", challengeInvalidToken)
	ErrTokenExpired        = newError(401, "token_expired", "The access token has expired.", challengeInvalidToken)
	ErrTokenRevoked        = newError(401, "token_revoked", "The session of this access token has ended.", challengeInvalidToken)
	ErrInvalidRefreshToken = newError(401, "invalid_refresh_token", "The refresh token is invalid or expired.", challengeBearer)
	ErrRefreshTokenReused  = newError(401, "refresh_token_reused", "The refresh token was already used; the session has been revoked.", challengeBearer)
	ErrRefreshConflict     = newError(401, "refresh_conflict", "The refresh token was just rotated by a concurrent request; use the newest token.", challengeBearer)
	ErrInvalidCredentials  = newError(401, "invalid_credentials", "The email or password is incorrect.", challengeBearer)
	ErrForbidden           = newError(403, "forbidden", "You do not have permission to do this.", challengeInsufficientScope)
	ErrCSRF                = newError(403, "csrf_failed", "The request failed the cross-site request forgery check.", "")
	ErrNotFound            = newError(404, "not_found", "The resource was not found.", "")
	ErrUserExists          = newError(409, "user_exists", "An account with this email already exists.", "")
	ErrPayloadTooLarge     = newError(413, "payload_too_large", "The request body is too large.", "")
	ErrInvalidGrant        = newError(400, "invalid_grant", "The token or code is unknown, expired or already used.", "")
	ErrAccountDisabled     = newError(403, "account_disabled", "This account is disabled.", "")
	ErrEmailNotVerified    = newError(403, "email_not_verified", "The email address of this account is not verified.", "")
	ErrRateLimited         = newError(429, "rate_limited", "Too many attempts; retry later.", "")
	ErrStoreUnavailable    = newError(503, "store_unavailable", "The session store is unavailable; retry later.", "")
	ErrServerBusy          = newError(503, "server_busy", "The server is busy; retry shortly.", "")
	// ErrInternal answers errors nothing else maps; reaching it is a bug.
	ErrInternal = newError(500, "server_error", "An internal error occurred.", "")
)

// ErrUserNotFound is returned by UserStore.User for an unknown id. It never
// reaches a client as such: core turns it into the error of the operation.
var ErrUserNotFound = errors.New("authenik8: user not found")

const (
	challengeBearer            = `Bearer`
	challengeInvalidToken      = `Bearer error="invalid_token"`
	challengeInsufficientScope = `Bearer error="insufficient_scope"`
)

// errorTable holds every sentinel newError made, in the order the package
// initialized them: a new row is listed by being made.
var errorTable []*Error

// ErrorTable returns every row of the error table: each sentinel core
// answers with, ErrInternal and the token endpoint's
// ErrUnsupportedGrantType included. Errors derived with WithDescription or
// WithRetryAfter share their sentinel's row. The slice is the caller's; the
// errors are shared: do not modify them.
func ErrorTable() []*Error { return slices.Clone(errorTable) }

func newError(status int, code, desc, challenge string) *Error {
	e := &Error{Status: status, Code: code, Description: desc, Challenge: challenge}
	e.resp = e.buildResponse()
	errorTable = append(errorTable, e)
	return e
}

func (e *Error) Error() string { return "authenik8: " + e.Code + ": " + e.Description }

// Is makes errors derived from a sentinel (same code) match it.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// WithDescription returns a copy of e with another human description, for
// example naming the invalid field. It still matches e with errors.Is.
func (e *Error) WithDescription(desc string) *Error {
	return newDerived(e, desc, e.RetryAfter)
}

// WithRetryAfter returns a copy of e that sends Retry-After.
func (e *Error) WithRetryAfter(d time.Duration) *Error {
	return newDerived(e, e.Description, d)
}

func newDerived(e *Error, desc string, retry time.Duration) *Error {
	c := &Error{Status: e.Status, Code: e.Code, Description: desc, Challenge: e.Challenge, RetryAfter: retry}
	c.resp = c.buildResponse()
	return c
}

func (e *Error) buildResponse() *Response {
	body, _ := json.Marshal(struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}{e.Code, e.Description})
	h := []Header{hdrJSON, hdrNoStore}
	if e.Challenge != "" {
		h = append(h, Header{"WWW-Authenticate", e.Challenge})
	}
	if e.RetryAfter > 0 {
		secs := int64((e.RetryAfter + time.Second - 1) / time.Second)
		h = append(h, Header{"Retry-After", strconv.FormatInt(secs, 10)})
	}
	h = append(h, e.extra...)
	return &Response{Status: e.Status, Header: h, Body: body}
}

// ErrorResponse is the HTTP answer for err: the table row of the *Error it
// wraps, or 500 server_error for an error outside the table. The returned
// Response is shared; do not modify it.
func ErrorResponse(err error) *Response {
	var e *Error
	if errors.As(err, &e) {
		return e.resp
	}
	return ErrInternal.resp
}

// storeErr makes any error from a Store match ErrStoreUnavailable: when the
// store cannot answer, authentication fails closed.
func storeErr(err error) error {
	if err == nil || errors.Is(err, ErrStoreUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrStoreUnavailable, err)
}
