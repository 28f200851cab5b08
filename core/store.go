package core

import (
	"context"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
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
	// When the user already has s.MaxSessions live sessions, the least
	// recently used ones (opened or rotated longest ago) end first, exactly
	// as RevokeSession would end them, so that the new one makes
	// s.MaxSessions; Session.Evicted says how many. Its work is bounded by
	// s.MaxSessions.
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
	//
	// With r.End (logout by refresh token) the first two cases delete the
	// session instead, Outcome Ended; the others are as above.
	//
	// With r.LoadUser (only asked of a UserRotator that holds the user
	// store) the first case also reads the user in the same step: Outcome
	// Rotated with RotateResult.User, or, when there is no such user, the
	// session is deleted and the Outcome is NoUser, or, when the user is
	// disabled, the session is deleted and the Outcome is Disabled.
	Rotate(ctx context.Context, r Rotation) (RotateResult, error)

	// SessionAlive reports whether the session exists and has not expired. It
	// runs on every authenticated request: it should not cost a network round
	// trip in the steady state. Once RevokeSession, RevokeUser, an eviction
	// by CreateSession or a Rotate that deleted the session has returned, the
	// same Store must report false.
	SessionAlive(ctx context.Context, userID, sessionID string) (bool, error)

	// RevokeSession deletes one session; false when there was none.
	RevokeSession(ctx context.Context, userID, sessionID string) (bool, error)

	// RevokeUser deletes every session of the user and returns how many.
	RevokeUser(ctx context.Context, userID string) (int, error)

	// RevokeOtherSessions deletes every session of the user but keep (a
	// password change ends the others, the caller's survives) in one
	// atomic step, and returns how many it deleted. A keep that is not one
	// of the user's live sessions keeps nothing.
	RevokeOtherSessions(ctx context.Context, userID, keep string) (int, error)

	// ListSessions returns the user's live sessions, oldest first.
	ListSessions(ctx context.Context, userID string) ([]Session, error)

	// Ping reports whether the store can answer.
	Ping(ctx context.Context) error
}

// UserRotator is a Store that keeps the accounts of a UserStore beside the
// sessions (redisstore with its own Users) and can read one inside Rotate
// (Rotation.LoadUser). With Config.ReloadUser, core then reloads roles and
// claims in the rotation itself: a refresh stays one atomic step, one round
// trip. Other stores get the user from Config.Users first, in a step of its
// own.
type UserRotator interface {
	Store
	// HoldsUsers reports whether Rotate can load the users of u.
	HoldsUsers(u UserStore) bool
}

// NewSession is what CreateSession stores.
type NewSession struct {
	ID, UserID    string
	Data          []byte // roles and claims, encoded by core; opaque to stores
	UserAgent, IP string // at most MaxUserAgentBytes and MaxIPBytes
	TokenHash     string
	IdleTTL       time.Duration // the session ends this long after its last use…
	AbsoluteTTL   time.Duration // …and this long after its creation at the latest
	// MaxSessions bounds the user's live sessions, this one included (see
	// CreateSession). Zero or less means DefaultMaxSessionsPerUser.
	MaxSessions int
}

// Session is a stored session, as stores return it.
type Session struct {
	ID, UserID    string
	Data          []byte
	UserAgent, IP string
	CreatedAt     time.Time
	LastUsedAt    time.Time
	ExpiresAt     time.Time // the earlier of the idle and the absolute expiry
	// Evicted is set by CreateSession only: how many of the user's live
	// sessions it ended to respect NewSession.MaxSessions (a metric).
	Evicted int
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
	// End asks to end the session instead of rotating (logout by refresh
	// token): Outcome Ended where a rotation or a conflict would have been.
	End bool
	// LoadUser asks a UserRotator to read the user with the rotation and
	// return it in RotateResult.User (Outcome NoUser when it is gone).
	LoadUser bool
}

// Outcome is the result of a Rotate. The values are fixed: stores may pass
// them over the wire (redisstore's Lua scripts return them as numbers).
type Outcome int

const (
	Invalid  Outcome = 0 // unknown, expired or forged: nothing changed
	Rotated  Outcome = 1 // the presented token was current and is now replaced
	Conflict Outcome = 2 // the presented token was replaced within the grace
	Reused   Outcome = 3 // a superseded token: the session is deleted
	Ended    Outcome = 4 // Rotation.End: the session is deleted (logout)
	NoUser   Outcome = 5 // Rotation.LoadUser: the user is gone, so is the session
	Disabled Outcome = 6 // Rotation.LoadUser: the user is disabled; the session is deleted
)

var outcomeNames = [...]string{"invalid", "rotated", "conflict", "reused", "ended", "no_user", "disabled"}

func (o Outcome) String() string {
	if o >= 0 && int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "outcome(" + strconv.Itoa(int(o)) + ")"
}

// RotateResult is what Rotate returns. Session is set when Outcome is
// Rotated; User too when the Rotation asked to LoadUser.
type RotateResult struct {
	Outcome Outcome
	Session Session
	User    User
}

// What a session keeps of the client. A user agent is cut to its first and
// last bytes (the platform and the browser's product tokens) so that a
// session stays small in the store; see CompactUserAgent.
const (
	MaxUserAgentBytes = 64
	MaxIPBytes        = 64
)

// DefaultMaxSessionsPerUser is the default of Config.MaxSessionsPerUser.
const DefaultMaxSessionsPerUser = 100

// CompactUserAgent returns a copy of ua that is at most MaxUserAgentBytes of
// valid UTF-8: a longer one keeps its head and its tail around "…", e.g.
// "Mozilla/5.0 (Windows NT 10.0; … Chrome/120.0.0.0 Safari/537.36". It copies
// even when nothing is cut: adapters may pass strings that alias a request
// buffer (Fiber), and stores keep these.
func CompactUserAgent(ua string) string {
	if len(ua) <= MaxUserAgentBytes {
		return strings.ToValidUTF8(strings.Clone(ua), "")
	}
	const ellipsis = "…"
	head := (MaxUserAgentBytes - len(ellipsis)) / 2
	tail := MaxUserAgentBytes - len(ellipsis) - head
	h, t := ua[:head], ua[len(ua)-tail:]
	for len(t) > 0 && !utf8.RuneStart(t[0]) { // a rune cut at the start of the tail
		t = t[1:]
	}
	return strings.ToValidUTF8(h, "") + ellipsis + strings.ToValidUTF8(t, "")
}
