package core

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
)

// A refresh token is opaque to clients:
//
//	base64url( version | generation | 32 random bytes | session id | HMAC-SHA256 )
//
// The MAC (keyed with the refresh secret) makes it tamper-evident: a forged or
// garbled token is refused before any session state is read, so knowing a
// session id is not enough to disturb that session. The generation numbers
// the rotations of the session; a MAC-valid token of an older generation is
// proof of reuse. Stores keep only the SHA-256 of the current and previous
// token, never the token.
const (
	refreshVersion = 1
	refreshRandom  = 32
	refreshHeader  = 1 + 4 + refreshRandom
	refreshMAC     = sha256.Size
)

var refreshDomain = []byte("authenik8 refresh token v1\x00")

type refreshCodec struct {
	keys [][]byte // keys[0] mints; all verify
}

// refreshToken is a decoded, MAC-checked refresh token.
type refreshToken struct {
	userID, sessionID string
	generation        uint32
	hash              string // hex SHA-256 of the token bytes
}

// mint returns a new refresh token for the session and its hash.
func (c refreshCodec) mint(sessionID string, gen uint32) (token, hash string) {
	raw := make([]byte, refreshHeader, refreshHeader+len(sessionID)+refreshMAC)
	raw[0] = refreshVersion
	binary.BigEndian.PutUint32(raw[1:5], gen)
	rand.Read(raw[5:refreshHeader])
	raw = append(raw, sessionID...)
	raw = append(raw, c.mac(c.keys[0], raw)...)
	return base64.RawURLEncoding.EncodeToString(raw), hashToken(raw)
}

var errBadRefresh = errors.New("malformed or forged refresh token")

// parse checks form and MAC. It touches no session state.
func (c refreshCodec) parse(token string) (refreshToken, error) {
	// Strict: one spelling per token. The decoder would skip \r and \n and
	// ignore the spare bits of the last character.
	if len(token) > MaxTokenBytes || strings.ContainsAny(token, "\r\n") {
		return refreshToken{}, errBadRefresh
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(raw) < refreshHeader+refreshMAC+1 || raw[0] != refreshVersion {
		return refreshToken{}, errBadRefresh
	}
	body, sum := raw[:len(raw)-refreshMAC], raw[len(raw)-refreshMAC:]
	ok := false
	for _, k := range c.keys {
		ok = ok || hmac.Equal(c.mac(k, body), sum)
	}
	if !ok {
		return refreshToken{}, errBadRefresh
	}
	sid := string(body[refreshHeader:])
	uid, valid := SessionUser(sid)
	if !valid {
		return refreshToken{}, errBadRefresh
	}
	return refreshToken{
		userID:     uid,
		sessionID:  sid,
		generation: binary.BigEndian.Uint32(raw[1:5]),
		hash:       hashToken(raw),
	}, nil
}

func (refreshCodec) mac(key, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(refreshDomain)
	m.Write(body)
	return m.Sum(nil)
}

func hashToken(raw []byte) string {
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// A session id is "<user id>.<random>": the store finds the session, and the
// user's other keys, from the id alone. The random part is base64url (no
// dots), so the user id is everything before the last dot.

// NewSessionID returns a fresh session id for the user.
func NewSessionID(userID string) string {
	return userID + "." + randomString(16)
}

// SessionUser returns the user id embedded in a session id, or false when
// the id is not well formed.
func SessionUser(sid string) (string, bool) {
	i := strings.LastIndexByte(sid, '.')
	if i <= 0 || len(sid)-i-1 != base64.RawURLEncoding.EncodedLen(16) {
		return "", false
	}
	uid := sid[:i]
	return uid, ValidUserID(uid)
}

// MaxUserIDBytes bounds user ids.
const MaxUserIDBytes = 128

// ValidUserID reports whether id can name a user: 1 to 128 bytes of printable
// ASCII other than braces (stores put it inside a Redis Cluster hash tag).
func ValidUserID(id string) bool {
	if id == "" || len(id) > MaxUserIDBytes {
		return false
	}
	for i := 0; i < len(id); i++ {
		if b := id[i]; b <= ' ' || b >= 0x7f || b == '{' || b == '}' {
			return false
		}
	}
	return true
}

// randomString returns n random bytes, base64url-encoded.
func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// NewUserID returns a fresh random user id, for user stores.
func NewUserID() string { return randomString(12) }
