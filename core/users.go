package core

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// User is an account as a UserStore returns it.
type User struct {
	ID        string
	Email     string
	Roles     []string
	Claims    map[string]any // application claims copied into access tokens
	CreatedAt time.Time
	// EmailVerified says the user's email address is verified; access
	// tokens carry it as email_verified.
	EmailVerified bool
	// Disabled accounts cannot log in or open sessions (403
	// account_disabled) until enabled again.
	Disabled bool
}

// UserStore holds accounts. Implementations: memstore.Users and
// redisstore.Users.
type UserStore interface {
	// Authenticate returns the user with this (normalized) email when the
	// password matches, and ErrInvalidCredentials otherwise — the same error,
	// at the same cost, whether or not the email exists.
	Authenticate(ctx context.Context, email, password string) (User, error)
	// User loads a user by id; ErrUserNotFound when there is none.
	User(ctx context.Context, id string) (User, error)
}

// UserRegistrar is a UserStore that can create accounts (POST /register).
type UserRegistrar interface {
	// Register creates a user, atomically per email; ErrUserExists when the
	// email is taken. The email is already normalized and validated.
	Register(ctx context.Context, email, password string, roles []string) (User, error)
}

// AccountStore is a UserStore that manages accounts after registration:
// what password change and reset, email verification, disabling and
// OAuth account linking need. memstore.Users, redisstore.Users and
// pgstore.Users implement it. Every method returns ErrUserNotFound for an
// unknown id or email.
type AccountStore interface {
	UserStore
	// UserByEmail returns the user with this normalized email.
	UserByEmail(ctx context.Context, email string) (User, error)
	// SetPassword replaces the user's password; the store hashes it.
	SetPassword(ctx context.Context, id, password string) error
	// SetDisabled disables (true) or enables (false) the user.
	SetDisabled(ctx context.Context, id string, disabled bool) error
	// SetEmailVerified marks the user's email address verified.
	SetEmailVerified(ctx context.Context, id string) error
}

// LinkTokenStore keeps the single-use tokens core mails or hands out —
// password reset, email verification, OAuth login codes — as hashes: at
// most one per user and purpose, so a newer token voids an older one.
// memstore.Users, redisstore.Users and pgstore.Users implement it.
type LinkTokenStore interface {
	// PutLinkToken stores hash as the user's token for purpose, replacing
	// any earlier one, until ttl has passed.
	PutLinkToken(ctx context.Context, userID, purpose, hash string, ttl time.Duration) error
	// RedeemLinkToken deletes the user's token for purpose if its hash is
	// hash and it has not expired, in one atomic step, and reports whether
	// it did: of two concurrent redemptions of one token, one succeeds.
	RedeemLinkToken(ctx context.Context, userID, purpose, hash string) (bool, error)
}

// IdentityStore links accounts to identities at OAuth 2.0 and OpenID
// Connect providers. memstore.Users, redisstore.Users and pgstore.Users
// implement it.
type IdentityStore interface {
	// UserByIdentity returns the user linked to (provider, subject), or
	// ErrUserNotFound.
	UserByIdentity(ctx context.Context, provider, subject string) (User, error)
	// LinkIdentity links (provider, subject) to the user. Linking a pair
	// already linked to another user is ErrUserExists.
	LinkIdentity(ctx context.Context, userID, provider, subject string) error
	// RegisterIdentity creates an account without a password, its email
	// verified, linked to (provider, subject), atomically per email:
	// ErrUserExists when the email is taken.
	RegisterIdentity(ctx context.Context, email string, roles []string, provider, subject string) (User, error)
}

// Password length bounds, in bytes.
const (
	MinPasswordBytes = 8
	MaxPasswordBytes = 1024
	maxEmailBytes    = 254
)

// NormalizeEmail trims and lower-cases an email address.
func NormalizeEmail(email string) string {
	return strings.ToLower(strings.TrimSpace(email))
}

// CheckEmail validates a normalized email address: one "@" between a local
// part and a dotted domain, at most 254 bytes of UTF-8 without spaces or
// control characters.
func CheckEmail(email string) error {
	at := strings.IndexByte(email, '@')
	if len(email) > maxEmailBytes || at < 1 || strings.Count(email, "@") != 1 || !utf8.ValidString(email) ||
		strings.IndexFunc(email, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }) >= 0 ||
		!strings.Contains(email[at+1:], ".") || strings.HasSuffix(email, ".") {
		return ErrInvalidRequest.WithDescription("email must be a valid address")
	}
	return nil
}

// CheckPassword validates a new password's length.
func CheckPassword(password string) error {
	if len(password) < MinPasswordBytes || len(password) > MaxPasswordBytes {
		return ErrInvalidRequest.WithDescription(fmt.Sprintf("password must be %d to %d bytes", MinPasswordBytes, MaxPasswordBytes))
	}
	return nil
}

// PasswordHasher hashes passwords with argon2id and checks them in constant
// time. The zero value uses DefaultPasswordParams.
type PasswordHasher struct {
	Params PasswordParams
	// OnVerify, when set, is called by Verify and VerifyMissing with the
	// argon2id parameters of each hash they are about to compute, so that
	// the cost of a check can be observed (metrics, or a test that an
	// unknown email costs the same parameters as a known one). Optional.
	OnVerify func(PasswordParams)

	dummyOnce sync.Once
	dummy     string // hash checked for unknown users
}

// PasswordParams are argon2id's cost parameters.
type PasswordParams struct {
	Time      uint32 // iterations
	MemoryKiB uint32
	Threads   uint8
}

// DefaultPasswordParams follow OWASP's argon2id recommendation (19 MiB, two
// iterations, one thread): about 25 ms per hash on this project's CI machine.
var DefaultPasswordParams = PasswordParams{Time: 2, MemoryKiB: 19 * 1024, Threads: 1}

const (
	saltBytes = 16
	keyBytes  = 32
)

func (h *PasswordHasher) params() PasswordParams {
	if h == nil || h.Params == (PasswordParams{}) {
		return DefaultPasswordParams
	}
	return h.Params
}

// Hash returns the PHC string of password:
// $argon2id$v=19$m=…,t=…,p=…$salt$hash.
func (h *PasswordHasher) Hash(password string) (string, error) {
	p := h.params()
	if p.Time == 0 || p.MemoryKiB < 8 || p.Threads == 0 {
		return "", errors.New("authenik8: invalid argon2id parameters")
	}
	salt := make([]byte, saltBytes)
	rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, keyBytes)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Time, p.Threads, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// Verify reports whether password matches the PHC string encoded. The cost
// parameters come from encoded, so hashes made with older settings still
// verify (NeedsRehash tells when to upgrade them).
func (h *PasswordHasher) Verify(encoded, password string) bool {
	p, salt, want, ok := parsePHC(encoded)
	if !ok {
		return false
	}
	if h != nil && h.OnVerify != nil {
		h.OnVerify(p)
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// NeedsRehash reports whether encoded was made otherwise than Hash would
// make it now — other argon2id parameters, salt or key length — so that a
// user store, after a successful check, hashes the password again and saves
// it: raising Params upgrades every account at its next login.
func (h *PasswordHasher) NeedsRehash(encoded string) bool {
	p, salt, key, ok := parsePHC(encoded)
	return !ok || p != h.params() || len(salt) != saltBytes || len(key) != keyBytes
}

// parsePHC reads $argon2id$v=19$m=…,t=…,p=…$salt$hash.
func parsePHC(encoded string) (p PasswordParams, salt, key []byte, ok bool) {
	var (
		v       int
		m, t, n uint32
	)
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return p, nil, nil, false
	}
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, nil, nil, false
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &n); err != nil || t == 0 || n == 0 || n > 255 || m > 4<<20 {
		return p, nil, nil, false
	}
	p = PasswordParams{Time: t, MemoryKiB: m, Threads: uint8(n)}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	key, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(key) == 0 {
		return p, nil, nil, false
	}
	return p, salt, key, true
}

// VerifyMissing spends the time Verify would for an account that does not
// exist, so that a login for an unknown email costs the same as for a known
// one. It always reports false.
func (h *PasswordHasher) VerifyMissing(password string) bool {
	h.dummyOnce.Do(func() { h.dummy, _ = h.Hash(randomString(16)) })
	h.Verify(h.dummy, password)
	return false
}
