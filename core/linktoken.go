package core

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Purposes of the link tokens core mints. Each has a MAC key of its own, so
// a token of one purpose is refused as another.
const (
	PurposePasswordReset     = "password_reset"
	PurposeEmailVerification = "email_verification"
)

// Lifetimes of the link tokens core mails.
const (
	PasswordResetTTL     = 30 * time.Minute
	EmailVerificationTTL = 24 * time.Hour
)

// NewLinkToken mints a single-use token that names the user, for purpose
// (lower-case letters, digits and underscores, at most 32 bytes: "password_reset",
// or one of the application's), valid for ttl. Its hash replaces the user's
// earlier token of that purpose in Config.Users, which must be a
// LinkTokenStore: a newer token voids an older one. RedeemLinkToken spends
// it. Password reset and email verification mail such tokens; another login
// method may hand them out (one-time login codes).
func (a *Auth) NewLinkToken(ctx context.Context, userID, purpose string, ttl time.Duration) (string, error) {
	store, ok := a.cfg.Users.(LinkTokenStore)
	switch {
	case !ok:
		return "", errors.New("authenik8: Config.Users does not implement core.LinkTokenStore")
	case !ValidUserID(userID):
		return "", fmt.Errorf("authenik8: user id %q is not valid", userID)
	case ttl <= 0:
		return "", errors.New("authenik8: a link token needs a positive lifetime")
	}
	tok, hash, err := a.links.mint(userID, purpose)
	if err != nil {
		return "", err
	}
	if err := store.PutLinkToken(ctx, userID, purpose, hash, ttl); err != nil {
		return "", storeErr(err)
	}
	return tok, nil
}

// RedeemLinkToken spends a token NewLinkToken minted for purpose, in one
// atomic store step, and returns the user it names. A forged, garbled,
// unknown, expired, replaced or already spent token — or one of another
// purpose — is ErrInvalidGrant (400 invalid_grant); of two concurrent
// redemptions of one token exactly one succeeds.
func (a *Auth) RedeemLinkToken(ctx context.Context, purpose, token string) (string, error) {
	store, ok := a.cfg.Users.(LinkTokenStore)
	if !ok {
		return "", errors.New("authenik8: Config.Users does not implement core.LinkTokenStore")
	}
	lt, err := a.links.parse(purpose, token)
	if err != nil {
		return "", err
	}
	return lt.userID, lt.redeem(ctx, store, purpose)
}

// A link token is opaque to its holder:
//
//	base64url( version | 32 random bytes | user id | HMAC-SHA256 )
//
// The MAC key is derived from the refresh secret with HKDF-SHA256, one key
// per purpose, so a token is tamper-evident (a forged or garbled one is
// refused before the store is asked) and good for its purpose only. The
// user id in it lets the store find the token by (user, purpose); the store
// keeps only the token's SHA-256.
const (
	linkVersion = 1
	linkRandom  = 32
	linkHeader  = 1 + linkRandom
	linkMAC     = sha256.Size
	maxPurpose  = 32
	// maxLinkToken bounds what parse decodes: a header, the longest user
	// id and a MAC, base64url-encoded.
	maxLinkToken = (linkHeader + MaxUserIDBytes + linkMAC + 2) / 3 * 4
)

type linkCodec struct {
	secrets [][]byte // the refresh secrets: [0] mints; all verify
}

// linkToken is a decoded, MAC-checked link token.
type linkToken struct {
	userID string
	hash   string // hex SHA-256 of the token bytes
}

// mint returns a new token for the user and purpose, and its hash.
func (c linkCodec) mint(userID, purpose string) (token, hash string, err error) {
	key, err := c.key(c.secrets[0], purpose)
	if err != nil {
		return "", "", err
	}
	raw := make([]byte, linkHeader, linkHeader+len(userID)+linkMAC)
	raw[0] = linkVersion
	rand.Read(raw[1:linkHeader])
	raw = append(raw, userID...)
	m := hmac.New(sha256.New, key)
	m.Write(raw)
	raw = m.Sum(raw)
	return base64.RawURLEncoding.EncodeToString(raw), hashToken(raw), nil
}

// errBadLink is what every refused token answers: invalid_grant, whatever
// was wrong with it.
var errBadLink = ErrInvalidGrant

// parse checks a token's form and MAC for purpose; it touches no store.
func (c linkCodec) parse(purpose, token string) (linkToken, error) {
	// One spelling per token, as for refresh tokens.
	if len(token) > maxLinkToken || strings.ContainsAny(token, "\r\n") {
		return linkToken{}, errBadLink
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(raw) < linkHeader+1+linkMAC || raw[0] != linkVersion {
		return linkToken{}, errBadLink
	}
	body, sum := raw[:len(raw)-linkMAC], raw[len(raw)-linkMAC:]
	ok := false
	for _, s := range c.secrets {
		key, err := c.key(s, purpose)
		if err != nil {
			return linkToken{}, errBadLink
		}
		m := hmac.New(sha256.New, key)
		m.Write(body)
		ok = hmac.Equal(m.Sum(nil), sum) || ok
	}
	uid := string(body[linkHeader:])
	if !ok || !ValidUserID(uid) {
		return linkToken{}, errBadLink
	}
	return linkToken{userID: uid, hash: hashToken(raw)}, nil
}

// redeem spends the token in the store: ErrInvalidGrant when the store has
// no such live token.
func (lt linkToken) redeem(ctx context.Context, store LinkTokenStore, purpose string) error {
	ok, err := store.RedeemLinkToken(ctx, lt.userID, purpose, lt.hash)
	switch {
	case err != nil:
		return storeErr(err)
	case !ok:
		return ErrInvalidGrant
	}
	return nil
}

// key derives the MAC key of purpose from a refresh secret.
func (linkCodec) key(secret []byte, purpose string) ([]byte, error) {
	if !validPurpose(purpose) {
		return nil, fmt.Errorf("authenik8: link token purpose %q: use 1 to %d lower-case letters, digits and underscores", purpose, maxPurpose)
	}
	return hkdf.Key(sha256.New, secret, nil, "authenik8 link token v1 "+purpose, sha256.Size)
}

func validPurpose(p string) bool {
	if p == "" || len(p) > maxPurpose {
		return false
	}
	for i := 0; i < len(p); i++ {
		if b := p[i]; !(b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '_') {
			return false
		}
	}
	return true
}
