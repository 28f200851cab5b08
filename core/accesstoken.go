package core

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// MaxTokenBytes bounds access and refresh tokens; longer ones are refused
// before any parsing.
const MaxTokenBytes = 8 << 10

// accessTyp is the JWT header type of access tokens (RFC 9068).
const accessTyp = "at+jwt"

// reservedClaims may not be set as application claims.
var reservedClaims = map[string]bool{
	"iss": true, "sub": true, "aud": true, "exp": true, "nbf": true, "iat": true,
	"jti": true, "sid": true, "roles": true, "typ": true, "kid": true,
}

// sessionClaims is what an access token says about its session.
type sessionClaims struct {
	userID, sessionID string
	roles             []string
	extra             map[string]any
}

// signAccess mints an access token for the session.
func (a *Auth) signAccess(s sessionClaims, now time.Time) (string, error) {
	tok := jwt.New()
	set := func(k string, v any) error { return tok.Set(k, v) }
	errs := []error{
		set(jwt.IssuerKey, a.cfg.Issuer),
		set(jwt.AudienceKey, []string{a.cfg.Audience}),
		set(jwt.SubjectKey, s.userID),
		set("sid", s.sessionID),
		set(jwt.JwtIDKey, randomString(16)),
		set(jwt.IssuedAtKey, now),
		set(jwt.ExpirationKey, now.Add(a.cfg.AccessTTL)),
		set("roles", nonNil(s.roles)),
	}
	for k, v := range s.extra {
		errs = append(errs, set(k, v))
	}
	hdr := jws.NewHeaders()
	errs = append(errs, hdr.Set(jws.TypeKey, accessTyp), hdr.Set(jws.KeyIDKey, a.keys.signer.id))
	if err := errors.Join(errs...); err != nil {
		return "", fmt.Errorf("authenik8: build access token: %w", err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(a.keys.signer.alg, a.keys.signer.sign, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return "", fmt.Errorf("authenik8: sign access token: %w", err)
	}
	return string(signed), nil
}

// parseAccess checks an access token's form, signature and claims — all but
// the session, which Verify asks the store about.
func (a *Auth) parseAccess(token string) (*Claims, error) {
	if len(token) > MaxTokenBytes {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrInvalidToken, MaxTokenBytes)
	}
	// Compact serialization only, base64url and two dots: jwx would also
	// take the JSON form (several signatures, unprotected headers) and
	// tolerate stray whitespace.
	if strings.Count(token, ".") != 2 || strings.IndexFunc(token, notBase64URL) >= 0 {
		return nil, fmt.Errorf("%w: not a compact JWS", ErrInvalidToken)
	}
	// One spelling per token. jwx verifies a signing input it rebuilds from
	// what it decoded, not the text it was given: the payload re-encoded, and
	// the header's JSON object re-encoded without whatever followed it. So it
	// would take a second spelling of a genuine token: spare bits set in a
	// segment's last character ("…fX" for "…fQ"), or bytes after the
	// header's object ("…fX00", that is "}}4"). Canonical base64url and a
	// header that is exactly one object make the text the signed input.
	var header []byte
	for i, seg := range strings.Split(token, ".") {
		b, err := base64.RawURLEncoding.Strict().DecodeString(seg)
		if err != nil {
			return nil, fmt.Errorf("%w: not canonical base64url", ErrInvalidToken)
		}
		if i == 0 {
			header = b
		}
	}
	var obj json.RawMessage
	if json.Unmarshal(header, &obj) != nil || len(obj) != len(header) || header[0] != '{' {
		return nil, fmt.Errorf("%w: the header is not exactly one JSON object", ErrInvalidToken)
	}
	tok, err := jwt.ParseString(token,
		jwt.WithKeyProvider(a.keys),
		jwt.WithValidate(true),
		jwt.WithIssuer(a.cfg.Issuer),
		jwt.WithAudience(a.cfg.Audience),
		jwt.WithAcceptableSkew(a.cfg.Leeway),
		jwt.WithClock(jwt.ClockFunc(a.now)),
		jwt.WithRequiredClaim(jwt.SubjectKey),
		jwt.WithRequiredClaim("sid"),
		jwt.WithRequiredClaim(jwt.JwtIDKey),
		jwt.WithRequiredClaim(jwt.ExpirationKey),
	)
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired()) {
			return nil, fmt.Errorf("%w: %w", ErrTokenExpired, err)
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	c := &Claims{
		Subject:   tok.Subject(),
		TokenID:   tok.JwtID(),
		IssuedAt:  tok.IssuedAt(),
		ExpiresAt: tok.Expiration(),
		perms:     a.perms,
	}
	for k, v := range tok.PrivateClaims() {
		switch k {
		case "sid":
			c.SessionID, _ = v.(string)
		case "roles":
			if c.Roles, err = stringList(v); err != nil {
				return nil, fmt.Errorf("%w: roles: %w", ErrInvalidToken, err)
			}
		default:
			if c.Extra == nil {
				c.Extra = make(map[string]any)
			}
			c.Extra[k] = v
		}
	}
	// The session id names its user: a token whose sid belongs to someone
	// else was not minted here.
	if uid, ok := SessionUser(c.SessionID); !ok || uid != c.Subject {
		return nil, fmt.Errorf("%w: sid does not match sub", ErrInvalidToken)
	}
	return c, nil
}

// FetchKeys pins verification to the key named by `kid` and to that key's
// algorithm, and checks `typ`: jwx's WithKey checks none of them.
func (r *keyRing) FetchKeys(_ context.Context, sink jws.KeySink, sig *jws.Signature, _ *jws.Message) error {
	h := sig.ProtectedHeaders()
	if typ := h.Type(); !strings.EqualFold(typ, accessTyp) && !strings.EqualFold(typ, "application/"+accessTyp) {
		return fmt.Errorf("typ %q is not %q", typ, accessTyp)
	}
	k, ok := r.byID[h.KeyID()]
	if !ok {
		return fmt.Errorf("unknown kid %q", h.KeyID())
	}
	if h.Algorithm() != k.alg {
		return fmt.Errorf("alg %q does not match key %q (%s)", h.Algorithm(), k.id, k.alg)
	}
	sink.Key(k.alg, k.verify)
	return nil
}

func notBase64URL(r rune) bool {
	return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_' || r == '.')
}

func stringList(v any) ([]string, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, errors.New("not an array")
	}
	out := make([]string, len(list))
	for i, e := range list {
		if out[i], ok = e.(string); !ok {
			return nil, errors.New("not an array of strings")
		}
	}
	return out, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
