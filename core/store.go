package core

import (
	"context"
	"time"
)

// Store keeps sessions. Implementations: core/memstore (one process) and
// redisstore (the production store, shared by every process).
//
// Each method is one atomic step. Errors that mean "the store could not
// answer" must match ErrStoreUnavailable; core fails closed on any error.
// Expiry is measured on the store's own clock, so that processes sharing a
// store agree on it. Token hashes are opaque strings; stores never see tokens.
//
// conformance/storetest checks an implementation against this contract.
type Store interface {
	// CreateSession stores a new session whose current refresh token has
	// hash s.TokenHash (generation 0), and returns it with its timestamps.
	CreateSession(ctx context.Context, s NewSession) (Session, error)

	// Rotate is the refresh step, atomic against every other call on the
	// session. Given the presented token's generation and hash:
	//
	//   - current generation and hash: install r.NewHash as generation+1,
	//     remember the presented hash as previous, move last-used and the idle
	//     expiry forward (never past the absolute expiry), replace the data if
	//     r.Data is not nil; Outcome Rotated with the updated session.
	//   - the previous generation and hash, rotated at most r.Grace ago:
	//     Outcome Conflict; nothing changes.
	//   - any older generation (the previous one past the grace included):
	//     delete the session; Outcome Reused.
	//   - anything else, or no live session: Outcome Invalid; nothing changes.
	Rotate(ctx context.Context, r Rotation) (RotateResult, error)

	// SessionAlive reports whether the session exists and has not expired. It
	// runs on every authenticated request: it should not cost a network round
	// trip in the steady state. Once RevokeSession, RevokeUser or a Reused
	// rotation has returned, the same Store must report false.
	SessionAlive(ctx context.Context, userID, sessionID string) (bool, error)

	// RevokeSession deletes one session; false when there was none.
	RevokeSession(ctx context.Context, userID, sessionID string) (bool, error)

	// RevokeUser deletes every session of the user and returns how many.
	RevokeUser(ctx context.Context, userID string) (int, error)

	// ListSessions returns the user's live sessions, oldest first.
	ListSessions(ctx context.Context, userID string) ([]Session, error)

	// Ping reports whether the store can answer.
	Ping(ctx context.Context) error
}

// NewSession is what CreateSession stores.
type NewSession struct {
	ID, UserID    string
	Data          []byte // roles and claims, encoded by core; opaque to stores
	UserAgent, IP string
	TokenHash     string
	IdleTTL       time.Duration // the session ends this long after its last use…
	AbsoluteTTL   time.Duration // …and this long after its creation at the latest
}

// Session is a stored session, as stores return it.
type Session struct {
	ID, UserID    string
	Data          []byte
	UserAgent, IP string
	CreatedAt     time.Time
	LastUsedAt    time.Time
	ExpiresAt     time.Time // the earlier of the idle and the absolute expiry
}

// Rotation asks Store.Rotate to replace the session's refresh token.
type Rotation struct {
	UserID, SessionID string
	Generation        uint32 // of the presented token
	TokenHash         string // of the presented token
	NewHash           string // of the token replacing it (generation+1)
	Data              []byte // new session data, or nil to keep it
	IdleTTL           time.Duration
	Grace             time.Duration
}

// Outcome is the result of a Rotate.
type Outcome int

const (
	Invalid  Outcome = iota // unknown, expired or forged: nothing changed
	Rotated                 // the presented token was current and is now replaced
	Conflict                // the presented token was replaced within the grace
	Reused                  // a superseded token: the session is deleted
)

// RotateResult is what Rotate returns. Session is set when Outcome is Rotated.
type RotateResult struct {
	Outcome Outcome
	Session Session
}
