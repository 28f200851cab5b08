package core

import (
	"bytes"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/big"
	"strings"
	"sync/atomic"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/lestrrat-go/jwx/v2/jwa"
)

// MaxTokenBytes bounds access and refresh tokens; longer ones are refused
// before any parsing.
const MaxTokenBytes = 8 << 10

// ErrReservedClaim is returned (wrapped, naming the claim) by Login,
// IssueSession and Refresh when the user's application claims hold a
// reserved name. Nothing is stored or signed then.
var ErrReservedClaim = errors.New("authenik8: reserved claim name in User.Claims")

// accessTyp is the JWT header type of access tokens (RFC 9068).
const accessTyp = "at+jwt"

// reservedClaims may not be set as application claims (User.Claims), at
// login, IssueSession or refresh: encodeSession refuses them, in any letter
// case, so that no application data can stand in for what core or a
// standard gives meaning to.
//   - The registered JWT claims (RFC 7519): iss sub aud exp nbf iat jti.
//   - What core writes: sid, roles, email_verified.
//   - The JOSE header names typ, kid and alg, which some readers merge with
//     the claims.
//   - Claims that other services read as authorization or authentication
//     facts: scope and client_id (RFC 9068, RFC 8693), cnf (RFC 7800: a
//     token bound to a key), azp, auth_time, acr and amr (OpenID Connect:
//     "amr":["mfa"] would claim a second factor nobody checked), act and
//     may_act (RFC 8693 delegation). Core does not write them today; when it
//     does, it alone will.
var reservedClaims = map[string]bool{
	"iss": true, "sub": true, "aud": true, "exp": true, "nbf": true, "iat": true, "jti": true,
	"sid": true, "roles": true, "email_verified": true,
	"typ": true, "kid": true, "alg": true,
	"scope": true, "client_id": true, "cnf": true, "azp": true, "auth_time": true, "acr": true, "amr": true,
	"act": true, "may_act": true,
}

// isReservedClaim reports whether name may not be an application claim.
// Letter case is ignored, with Unicode's simple folding: claim names are
// case-sensitive, but a reader decoding with encoding/json's
// case-insensitive matching would take "SUB", or "ſub" with a long s, for
// "sub".
func isReservedClaim(name string) bool {
	if reservedClaims[name] {
		return true
	}
	for r := range reservedClaims {
		if strings.EqualFold(name, r) {
			return true
		}
	}
	return false
}

// sessionClaims is what an access token says about its session.
type sessionClaims struct {
	userID, sessionID string
	roles             []string
	extra             map[string]any
	emailVerified     bool
}

// signAccess mints an access token for the session: the claims encoded
// once, signed by jwx's signer for the key, with the header the key ring
// encoded in advance.
func (a *Auth) signAccess(s sessionClaims, now time.Time) (string, error) {
	payload, err := json.Marshal(accessPayload{
		Iss: a.cfg.Issuer, Sub: s.userID, Aud: [1]string{a.cfg.Audience},
		Exp: now.Add(a.cfg.AccessTTL).Unix(), Iat: now.Unix(),
		Jti: randomString(16), Sid: s.sessionID, Roles: nonNil(s.roles), EmailVerified: s.emailVerified,
	})
	if err != nil {
		return "", fmt.Errorf("authenik8: encode access token: %w", err)
	}
	if len(s.extra) > 0 {
		// Application claims go first: a lenient reader that keeps the last
		// of duplicated names would still see core's claims, were a reserved
		// name ever to slip past encodeSession (this verifier refuses
		// duplicates outright).
		extra, err := json.Marshal(s.extra)
		if err != nil {
			return "", fmt.Errorf("authenik8: encode application claims: %w", err)
		}
		payload = append(append(extra[:len(extra)-1], ','), payload[1:]...)
	}
	k := &a.keys.signer
	b64 := base64.RawURLEncoding
	buf := make([]byte, 0, len(k.header)+b64.EncodedLen(len(payload))+2+b64.EncodedLen(512))
	buf = append(buf, k.header...)
	buf = append(buf, '.')
	buf = b64.AppendEncode(buf, payload)
	sig, err := k.signer.Sign(buf, k.sign)
	if err != nil {
		return "", fmt.Errorf("authenik8: sign access token: %w", err)
	}
	if k.alg == jwa.ES256 {
		lowS(sig)
	}
	buf = append(buf, '.')
	return string(b64.AppendEncode(buf, sig)), nil
}

// accessPayload is what core writes in every access token.
type accessPayload struct {
	Iss           string    `json:"iss"`
	Sub           string    `json:"sub"`
	Aud           [1]string `json:"aud"`
	Exp           int64     `json:"exp"`
	Iat           int64     `json:"iat"`
	Jti           string    `json:"jti"`
	Sid           string    `json:"sid"`
	Roles         []string  `json:"roles"`
	EmailVerified bool      `json:"email_verified"`
}

// parseAccess checks an access token's form, signature and claims — all but
// the session, which Verify asks the store about. It verifies the signature
// with jwx against the key the kid names, then decodes the claims once into
// a typed struct: building jwx's generic jwt.Token cost several times the
// time and over ten times the allocations (BenchmarkVerify).
func (a *Auth) parseAccess(token string) (*Claims, error) {
	if len(token) > MaxTokenBytes {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrInvalidToken, MaxTokenBytes)
	}
	// Compact serialization only: base64url and two dots. No JSON form
	// (several signatures, unprotected headers), no whitespace.
	dot1, dot2 := strings.IndexByte(token, '.'), strings.LastIndexByte(token, '.')
	if dot1 < 0 || dot1 == dot2 || strings.IndexByte(token[dot1+1:dot2], '.') >= 0 || strings.IndexFunc(token, notBase64URL) >= 0 {
		return nil, fmt.Errorf("%w: not a compact JWS", ErrInvalidToken)
	}
	// One spelling per token: the signature covers the header and payload
	// as written, and each segment must be canonical base64url (spare bits
	// zero), or "…fX" for "…fQ" would be a second spelling of one signature.
	// One allocation holds the signing input and the three decoded
	// segments; nothing decoded from them keeps a reference to it.
	b64 := base64.RawURLEncoding.Strict()
	buf := make([]byte, dot2, dot2+b64.DecodedLen(dot1)+b64.DecodedLen(dot2-dot1-1)+b64.DecodedLen(len(token)-dot2-1))
	copy(buf, token[:dot2])
	signed, rest := buf, buf[dot2:cap(buf)]
	decode := func(seg string) ([]byte, error) {
		n, err := b64.Decode(rest, []byte(seg))
		out := rest[:n:n]
		rest = rest[n:]
		return out, err
	}
	header, err1 := decode(token[:dot1])
	payload, err2 := decode(token[dot1+1 : dot2])
	sig, err3 := decode(token[dot2+1:])
	if err1 != nil || err2 != nil || err3 != nil {
		return nil, fmt.Errorf("%w: not canonical base64url", ErrInvalidToken)
	}
	// The header is exactly one JSON object: no bytes around it, no
	// duplicated member (encoding/json would keep the last), no crit.
	h, seen := a.headers.get(token[:dot1])
	if !seen {
		if len(header) < 2 || header[0] != '{' || header[len(header)-1] != '}' {
			return nil, fmt.Errorf("%w: the header is not exactly one JSON object", ErrInvalidToken)
		}
		if err := jsonv2.Unmarshal(header, &h); err != nil {
			return nil, fmt.Errorf("%w: header: %w", ErrInvalidToken, err)
		}
	}
	// crit names extensions the verifier must understand (RFC 7515 §4.1.11);
	// core understands none, so any crit is refused.
	if h.Crit {
		return nil, fmt.Errorf("%w: crit header", ErrInvalidToken)
	}
	if !strings.EqualFold(h.Typ, accessTyp) && !strings.EqualFold(h.Typ, "application/"+accessTyp) {
		return nil, fmt.Errorf("%w: typ %q is not %q", ErrInvalidToken, h.Typ, accessTyp)
	}
	// The key is pinned by kid, and the algorithm by the key: a header alg
	// that differs (none, HS256 keyed with an RSA public key…) is refused.
	k, ok := a.keys.byID[h.Kid]
	if !ok && a.remote == nil {
		return nil, fmt.Errorf("%w: unknown kid %q", ErrInvalidToken, h.Kid)
	}
	if !ok {
		var err error
		if k, err = a.remote.key(h.Kid); err != nil {
			return nil, err
		}
	}
	if h.Alg != k.alg.String() {
		return nil, fmt.Errorf("%w: alg %q does not match key %q (%s)", ErrInvalidToken, h.Alg, k.id, k.alg)
	}
	// ECDSA's (r, n−s) verifies wherever (r, s) does: accept low S only, as
	// signAccess issues it.
	if k.alg == jwa.ES256 && len(sig) == 64 && bytes.Compare(sig[32:], p256HalfOrder[:]) > 0 {
		return nil, fmt.Errorf("%w: ES256 signature not in low-S form", ErrInvalidToken)
	}
	if err := k.verifier.Verify(signed, sig, k.verify); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	// Remember the header once one of our own keys has signed it: headers
	// that no signature vouches for cannot fill the memo's few places.
	if !seen && ok {
		a.headers.add(token[:dot1], h)
	}

	// The payload is signed; decode it once. jsonv2 refuses duplicated
	// members at any depth, invalid UTF-8, and a value of the wrong JSON
	// type (a string exp, a number in roles); names match exactly.
	var p tokenClaims
	if err := jsonv2.Unmarshal(payload, &p); err != nil {
		return nil, fmt.Errorf("%w: claims: %w", ErrInvalidToken, err)
	}
	now := a.now()
	leeway := a.cfg.Leeway
	switch {
	case !p.Exp.set:
		return nil, fmt.Errorf("%w: no exp", ErrInvalidToken)
	case !now.Before(p.Exp.time().Add(leeway)):
		return nil, fmt.Errorf("%w: expired at %v", ErrTokenExpired, p.Exp.time())
	case p.Nbf.set && now.Before(p.Nbf.time().Add(-leeway)):
		return nil, fmt.Errorf("%w: not valid before %v", ErrInvalidToken, p.Nbf.time())
	case p.Iat.set && now.Before(p.Iat.time().Add(-leeway)):
		return nil, fmt.Errorf("%w: issued in the future (%v)", ErrInvalidToken, p.Iat.time())
	case p.Iss != a.cfg.Issuer:
		return nil, fmt.Errorf("%w: iss %q", ErrInvalidToken, p.Iss)
	case !p.Aud.has(a.cfg.Audience):
		return nil, fmt.Errorf("%w: aud does not name %q", ErrInvalidToken, a.cfg.Audience)
	case p.Sub == "" || p.Sid == "" || p.Jti == "":
		return nil, fmt.Errorf("%w: sub, sid and jti are required", ErrInvalidToken)
	}
	// The session id names its user: a token whose sid belongs to someone
	// else was not minted here.
	if uid, ok := SessionUser(p.Sid); !ok || uid != p.Sub {
		return nil, fmt.Errorf("%w: sid does not match sub", ErrInvalidToken)
	}
	c := &Claims{
		Subject:       p.Sid[:len(p.Sub)], // shares the sid's bytes: one string less per cached token
		SessionID:     p.Sid,
		TokenID:       p.Jti,
		Roles:         p.Roles.list,
		Extra:         p.Extra,
		EmailVerified: bool(p.EmailVerified),
		ExpiresAt:     p.Exp.time(),
		perms:         a.perms,
	}
	if p.Iat.set {
		c.IssuedAt = p.Iat.time()
	}
	return c, nil
}

// headerMemo remembers the decoded headers of tokens under the Auth's own
// keys: every token signed with one key has the same header, so decoding it
// once saves the JSON decoding of each new token's header. What a decoding
// proves is a function of the encoded segment alone; the checks on the
// decoded header (crit, typ, kid, alg) still run for every token. At most
// maxMemoHeaders are kept, copied on write: a reader takes no lock, and
// headers an attacker varies under a known kid cannot grow it.
type headerMemo struct {
	m atomic.Pointer[map[string]tokenHeader]
}

const maxMemoHeaders = 8

func (hm *headerMemo) get(segment string) (tokenHeader, bool) {
	if m := hm.m.Load(); m != nil {
		h, ok := (*m)[segment]
		return h, ok
	}
	return tokenHeader{}, false
}

// add keeps a copy of segment (it may alias a request buffer).
func (hm *headerMemo) add(segment string, h tokenHeader) {
	for {
		old := hm.m.Load()
		var m map[string]tokenHeader
		if old != nil {
			if len(*old) >= maxMemoHeaders {
				return
			}
			m = maps.Clone(*old)
		} else {
			m = map[string]tokenHeader{}
		}
		m[strings.Clone(segment)] = h
		if hm.m.CompareAndSwap(old, &m) {
			return
		}
	}
}

// tokenHeader is the JOSE header of an access token. Other members are
// ignored (but still checked for duplicates).
type tokenHeader struct {
	Alg  string  `json:"alg"`
	Kid  string  `json:"kid"`
	Typ  string  `json:"typ"`
	Crit present `json:"crit"`
}

// tokenClaims are an access token's claims as decoded: the members core
// knows, typed, and the application's in Extra.
type tokenClaims struct {
	Iss           string         `json:"iss"`
	Sub           string         `json:"sub"`
	Aud           audience       `json:"aud"`
	Exp           numericDate    `json:"exp"`
	Nbf           numericDate    `json:"nbf"`
	Iat           numericDate    `json:"iat"`
	Jti           string         `json:"jti"`
	Sid           string         `json:"sid"`
	Roles         stringArray    `json:"roles"`
	EmailVerified jsonBool       `json:"email_verified"`
	Extra         map[string]any `json:",unknown"`
}

// present records that a member was there, whatever its value (even null).
type present bool

func (p *present) UnmarshalJSONFrom(d *jsontext.Decoder) error {
	*p = true
	return d.SkipValue()
}

// maxNumericDate is 9999-12-31T23:59:59Z: later dates, and dates before
// 1970, are refused rather than converted with overflow.
const maxNumericDate = 253402300799

// numericDate is a JWT NumericDate: a JSON number of seconds since the
// epoch. A string, null or any other JSON type is refused. Fractions are
// accepted and kept (RFC 7519 §2 allows them; core writes whole seconds).
type numericDate struct {
	set bool
	sec float64
}

func (n *numericDate) UnmarshalJSONFrom(d *jsontext.Decoder) error {
	tok, err := d.ReadToken()
	if err != nil {
		return err
	}
	if tok.Kind() != '0' {
		return errors.New("a NumericDate must be a JSON number")
	}
	v := tok.Float()
	if !(v >= 0 && v <= maxNumericDate) {
		return errors.New("NumericDate out of range")
	}
	n.set, n.sec = true, v
	return nil
}

func (n numericDate) time() time.Time {
	sec, frac := math.Modf(n.sec)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC()
}

// stringArray is a JSON array of strings: null, or null in the array, is
// refused (jsonv2 would take null for "").
type stringArray struct{ list []string }

func (s *stringArray) UnmarshalJSONFrom(d *jsontext.Decoder) error {
	list, err := readStrings(d)
	s.list = list
	return err
}

// audience is the aud claim: one string or an array of strings.
type audience struct{ list []string }

func (a *audience) UnmarshalJSONFrom(d *jsontext.Decoder) error {
	if d.PeekKind() == '"' {
		tok, err := d.ReadToken()
		if err != nil {
			return err
		}
		a.list = []string{tok.String()}
		return nil
	}
	list, err := readStrings(d)
	a.list = list
	return err
}

// readStrings reads a JSON array of strings, never nil.
func readStrings(d *jsontext.Decoder) ([]string, error) {
	if tok, err := d.ReadToken(); err != nil || tok.Kind() != '[' {
		return nil, errors.New("not an array of strings")
	}
	list := []string{}
	for {
		tok, err := d.ReadToken()
		switch {
		case err != nil:
			return nil, err
		case tok.Kind() == ']':
			return list, nil
		case tok.Kind() != '"':
			return nil, errors.New("not an array of strings")
		}
		list = append(list, tok.String())
	}
}

func (a audience) has(aud string) bool {
	for _, s := range a.list {
		if s == aud {
			return true
		}
	}
	return false
}

// jsonBool is a JSON true or false; null and every other type are refused.
type jsonBool bool

func (b *jsonBool) UnmarshalJSONFrom(d *jsontext.Decoder) error {
	tok, err := d.ReadToken()
	if err != nil {
		return err
	}
	if k := tok.Kind(); k != 't' && k != 'f' {
		return errors.New("not a JSON boolean")
	}
	*b = jsonBool(tok.Bool())
	return nil
}

// p256HalfOrder is ⌊n/2⌋ for P-256's group order n, big-endian in 32 bytes:
// an ES256 signature's s is low when its 32 bytes compare ≤ these.
var p256HalfOrder = func() (b [32]byte) {
	new(big.Int).Rsh(elliptic.P256().Params().N, 1).FillBytes(b[:])
	return b
}()

// lowS rewrites an ES256 signature r‖s in place to r‖(n−s) when s > n/2:
// both verify, and core issues and accepts only the low one.
func lowS(sig []byte) {
	if len(sig) != 64 || bytes.Compare(sig[32:], p256HalfOrder[:]) <= 0 {
		return
	}
	s := new(big.Int).SetBytes(sig[32:])
	s.Sub(elliptic.P256().Params().N, s).FillBytes(sig[32:])
}

func notBase64URL(r rune) bool {
	return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_' || r == '.')
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
