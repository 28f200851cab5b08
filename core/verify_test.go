package core_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/core/memstore"
)

var (
	accessSecret  = []byte("core test access secret, at least 32 bytes")
	refreshSecret = []byte("core test refresh secret, at least 32 bytes")
)

func hmacKey(t testing.TB) core.Key {
	k, err := core.NewHMACKey(accessSecret)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newAuth(t testing.TB, mod func(*core.Config)) *core.Auth {
	t.Helper()
	cfg := core.Config{Store: memstore.New(), AccessKeys: []core.Key{hmacKey(t)}, RefreshSecret: refreshSecret}
	if mod != nil {
		mod(&cfg)
	}
	a, err := core.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func issue(t testing.TB, a *core.Auth, roles ...string) *core.TokenPair {
	t.Helper()
	p, err := a.IssueSession(context.Background(), core.User{ID: "user-1", Roles: roles}, core.Client{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// parts decodes a compact JWS into its header and claims.
func parts(t testing.TB, token string) (map[string]any, map[string]any) {
	t.Helper()
	seg := strings.Split(token, ".")
	var h, c map[string]any
	for i, dst := range []*map[string]any{&h, &c} {
		b, err := base64.RawURLEncoding.DecodeString(seg[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, dst); err != nil {
			t.Fatal(err)
		}
	}
	return h, c
}

func encodeSeg(t testing.TB, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// hs256 signs header.claims with HMAC-SHA256 over key, whatever the header
// says: the forger's view.
func hs256(t testing.TB, header, claims map[string]any, key []byte) string {
	input := encodeSeg(t, header) + "." + encodeSeg(t, claims)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func clone(m map[string]any) map[string]any {
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// TestVerifyRejects covers the access-token verification rules, one forged or
// broken token each, next to a control that the untouched token verifies.
func TestVerifyRejects(t *testing.T) {
	a := newAuth(t, nil)
	p := issue(t, a, "user")
	ctx := context.Background()
	if _, err := a.Verify(ctx, p.AccessToken); err != nil {
		t.Fatalf("control: the genuine token fails: %v", err)
	}
	header, claims := parts(t, p.AccessToken)
	if header["typ"] != "at+jwt" || header["kid"] != hmacKey(t).ID() || header["alg"] != "HS256" {
		t.Fatalf("header %v", header)
	}
	// Re-signing the untouched parts must verify: the forgeries below differ
	// from it by exactly what they test.
	if _, err := a.Verify(ctx, hs256(t, header, claims, accessSecret)); err != nil {
		t.Fatalf("control: re-signed genuine parts fail: %v", err)
	}
	with := func(m map[string]any, k string, v any) map[string]any {
		c := clone(m)
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	now := time.Now().Unix()

	rsaKey, err := core.GenerateKey("RS256")
	if err != nil {
		t.Fatal(err)
	}
	rsaAuth := newAuth(t, func(c *core.Config) { c.AccessKeys = []core.Key{rsaKey} })
	rp := issue(t, rsaAuth)
	if _, err := rsaAuth.Verify(ctx, rp.AccessToken); err != nil {
		t.Fatalf("control: RS256 token fails: %v", err)
	}
	rh, rc := parts(t, rp.AccessToken)
	var rsaPub jwk.Key
	{
		set, err := jwk.Parse(rsaAuth.JWKS())
		if err != nil || set.Len() != 1 {
			t.Fatalf("JWKS: %v", err)
		}
		rsaPub, _ = set.Key(0)
	}
	var pub rsa.PublicKey
	if err := rsaPub.Raw(&pub); err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&pub)
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	jwkBytes, _ := json.Marshal(rsaPub)

	otherKey, _ := core.NewHMACKey([]byte("another secret that is long enough!!"))
	foreign := newAuth(t, func(c *core.Config) { c.AccessKeys = []core.Key{otherKey} })

	cases := []struct {
		name  string
		auth  *core.Auth
		token string
		want  error
	}{
		{"alg none", a, encodeSeg(t, with(header, "alg", "none")) + "." + encodeSeg(t, claims) + ".", core.ErrInvalidToken},
		{"alg none with the genuine signature", a, encodeSeg(t, with(header, "alg", "none")) + "." + encodeSeg(t, claims) + "." + strings.Split(p.AccessToken, ".")[2], core.ErrInvalidToken},
		{"alg HS512 label on an HS256 MAC", a, hs256(t, with(header, "alg", "HS512"), claims, accessSecret), core.ErrInvalidToken},
		{"HS256 signed with the RSA public key (PEM)", rsaAuth, hs256(t, with(rh, "alg", "HS256"), rc, pemBytes), core.ErrInvalidToken},
		{"HS256 signed with the RSA public key (DER)", rsaAuth, hs256(t, with(rh, "alg", "HS256"), rc, der), core.ErrInvalidToken},
		{"HS256 signed with the RSA public key (JWK)", rsaAuth, hs256(t, with(rh, "alg", "HS256"), rc, jwkBytes), core.ErrInvalidToken},
		{"unknown kid", a, hs256(t, with(header, "kid", "not-a-key"), claims, accessSecret), core.ErrInvalidToken},
		{"no kid", a, hs256(t, with(header, "kid", nil), claims, accessSecret), core.ErrInvalidToken},
		{"signed by another service's key", a, issue(t, foreign).AccessToken, core.ErrInvalidToken},
		{"typ JWT", a, hs256(t, with(header, "typ", "JWT"), claims, accessSecret), core.ErrInvalidToken},
		{"no typ", a, hs256(t, with(header, "typ", nil), claims, accessSecret), core.ErrInvalidToken},
		{"wrong iss", a, hs256(t, header, with(claims, "iss", "https://evil.example"), accessSecret), core.ErrInvalidToken},
		{"wrong aud", a, hs256(t, header, with(claims, "aud", []string{"another-api"}), accessSecret), core.ErrInvalidToken},
		{"no aud", a, hs256(t, header, with(claims, "aud", nil), accessSecret), core.ErrInvalidToken},
		{"expired", a, hs256(t, header, with(with(claims, "exp", now-3600), "iat", now-7200), accessSecret), core.ErrTokenExpired},
		{"nbf in the future", a, hs256(t, header, with(claims, "nbf", now+3600), accessSecret), core.ErrInvalidToken},
		{"iat in the future", a, hs256(t, header, with(claims, "iat", now+3600), accessSecret), core.ErrInvalidToken},
		{"no exp", a, hs256(t, header, with(claims, "exp", nil), accessSecret), core.ErrInvalidToken},
		{"no sub", a, hs256(t, header, with(claims, "sub", nil), accessSecret), core.ErrInvalidToken},
		{"no sid", a, hs256(t, header, with(claims, "sid", nil), accessSecret), core.ErrInvalidToken},
		{"no jti", a, hs256(t, header, with(claims, "jti", nil), accessSecret), core.ErrInvalidToken},
		{"sid of another user", a, hs256(t, header, with(claims, "sub", "user-2"), accessSecret), core.ErrInvalidToken},
		{"roles not a list of strings", a, hs256(t, header, with(claims, "roles", []any{1, 2}), accessSecret), core.ErrInvalidToken},
		{"a refresh token", a, p.RefreshToken, core.ErrInvalidToken},
		{"tampered payload", a, strings.Split(p.AccessToken, ".")[0] + "." + encodeSeg(t, with(claims, "roles", []string{"admin"})) + "." + strings.Split(p.AccessToken, ".")[2], core.ErrInvalidToken},
		{"tampered signature", a, p.AccessToken[:len(p.AccessToken)-2] + flip(p.AccessToken[len(p.AccessToken)-2:]), core.ErrInvalidToken},
		{"over 8 KiB", a, hs256(t, header, with(claims, "pad", strings.Repeat("x", 8<<10)), accessSecret), core.ErrInvalidToken},
		{"JSON serialization", a, jsonSerialized(t, p.AccessToken), core.ErrInvalidToken},
		{"garbage", a, "not.a.token", core.ErrInvalidToken},
		{"empty", a, "", core.ErrMissingToken},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.auth.Verify(ctx, tc.token)
			if !errors.Is(err, tc.want) || c != nil {
				t.Fatalf("Verify: %v, %v; want %v", c, err, tc.want)
			}
		})
	}
	// The over-8-KiB token is refused before parsing, even with a valid
	// signature: the same claims under the limit verify.
	if _, err := a.Verify(ctx, hs256(t, header, with(claims, "pad", "x"), accessSecret)); err != nil {
		t.Fatalf("control: a small padded token fails: %v", err)
	}
}

// TestVerifyRejectsSpareBits: a base64url segment whose length leaves spare
// bits in its last character has many spellings that decode alike. Only the
// canonical one (spare bits zero) verifies, for the header, the payload and
// the signature alike: jwx verifies what it decoded, so without the check a
// second spelling of a genuine token would pass, and miss the token cache.
func TestVerifyRejectsSpareBits(t *testing.T) {
	a := newAuth(t, nil)
	ctx := context.Background()
	header, claims := parts(t, issue(t, a, "user").AccessToken)
	for i, name := range []string{"header", "payload", "signature"} {
		t.Run(name, func(t *testing.T) {
			// Pad the segment under test until its length leaves spare bits.
			var token string
			for pad := 0; ; pad++ {
				h, c := clone(header), clone(claims)
				if i == 0 {
					h["x"] = strings.Repeat("y", pad)
				} else {
					c["x"] = strings.Repeat("y", pad)
				}
				token = hs256(t, h, c, accessSecret)
				if len(strings.Split(token, ".")[i])%4 != 0 {
					break
				}
			}
			if _, err := a.Verify(ctx, token); err != nil {
				t.Fatalf("control: the canonical token fails: %v", err)
			}
			seg := strings.Split(token, ".")
			seg[i] = setSpareBit(seg[i])
			if _, err := base64.RawURLEncoding.DecodeString(seg[i]); err != nil {
				t.Fatalf("the altered %s no longer decodes leniently: %v", name, err)
			}
			if c, err := a.Verify(ctx, strings.Join(seg, ".")); !errors.Is(err, core.ErrInvalidToken) || c != nil {
				t.Fatalf("Verify with a spare bit set in the %s: %v, %v; want invalid_token", name, c, err)
			}
		})
	}
}

// TestVerifyRejectsHeaderPadding: jwx signs and verifies the header's JSON
// object, and its decoder stops at the object's end, so bytes around the
// object would make a second spelling of a genuine token, signature
// untouched. Each must be refused.
func TestVerifyRejectsHeaderPadding(t *testing.T) {
	a := newAuth(t, nil)
	ctx := context.Background()
	token := issue(t, a, "user").AccessToken
	seg := strings.Split(token, ".")
	header, err := base64.RawURLEncoding.DecodeString(seg[0])
	if err != nil {
		t.Fatal(err)
	}
	// The control: re-encoding the untouched header gives the same token.
	if again := base64.RawURLEncoding.EncodeToString(header) + "." + seg[1] + "." + seg[2]; again != token {
		t.Fatal("control: re-encoding the header changed the token")
	}
	for _, tc := range []struct{ name, before, after string }{
		{"trailing object bytes", "", "}4"},
		{"a second object", "", "{}"},
		{"trailing null", "", "null"},
		{"trailing space", "", " "},
		{"trailing newline", "", "\n"},
		{"leading space", " ", ""},
		{"leading tab", "\t", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forged := base64.RawURLEncoding.EncodeToString([]byte(tc.before+string(header)+tc.after)) + "." + seg[1] + "." + seg[2]
			if c, err := a.Verify(ctx, forged); !errors.Is(err, core.ErrInvalidToken) || c != nil {
				t.Fatalf("Verify: %v, %v; want invalid_token", c, err)
			}
		})
	}
	if _, err := a.Verify(ctx, token); err != nil {
		t.Fatalf("the genuine token fails after the forgeries: %v", err)
	}
}

// setSpareBit sets the lowest spare bit of seg's last character, which a
// lenient decoder ignores.
func setSpareBit(seg string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	v := strings.IndexByte(alphabet, seg[len(seg)-1])
	return seg[:len(seg)-1] + string(alphabet[v|1])
}

func flip(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}

func jsonSerialized(t *testing.T, token string) string {
	msg, err := jws.Parse([]byte(token))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestVerifyLeeway: exp and nbf are checked with the configured leeway.
func TestVerifyLeeway(t *testing.T) {
	a := newAuth(t, func(c *core.Config) { c.Leeway = time.Minute })
	p := issue(t, a)
	header, claims := parts(t, p.AccessToken)
	now := time.Now().Unix()
	within := clone(claims)
	within["exp"], within["nbf"] = now-30, now+30
	if _, err := a.Verify(context.Background(), hs256(t, header, within, accessSecret)); err != nil {
		t.Fatalf("30s past exp with a 1m leeway: %v", err)
	}
	past := clone(claims)
	past["exp"] = now - 90
	if _, err := a.Verify(context.Background(), hs256(t, header, past, accessSecret)); !errors.Is(err, core.ErrTokenExpired) {
		t.Fatalf("90s past exp with a 1m leeway: %v", err)
	}
}

// TestAsymmetricKeysAndRotation: EdDSA, ES256 and RS256 sign and verify,
// their public parts are published, and a verify-only key keeps the tokens
// of the previous signing key valid during a rotation.
func TestAsymmetricKeysAndRotation(t *testing.T) {
	ctx := context.Background()
	for _, alg := range []string{"EdDSA", "ES256", "RS256", "HS256"} {
		t.Run(alg, func(t *testing.T) {
			store := memstore.New()
			oldKey, err := core.GenerateKey(alg)
			if err != nil {
				t.Fatal(err)
			}
			old := newAuth(t, func(c *core.Config) { c.Store = store; c.AccessKeys = []core.Key{oldKey} })
			p := issue(t, old)
			h, _ := parts(t, p.AccessToken)
			if h["alg"] != alg || h["kid"] != oldKey.ID() || oldKey.Algorithm() != alg {
				t.Fatalf("header %v, key %s/%s", h, oldKey.Algorithm(), oldKey.ID())
			}
			set, err := jwk.Parse(old.JWKS())
			if err != nil {
				t.Fatal(err)
			}
			if alg == "HS256" {
				if string(old.JWKS()) != `{"keys":[]}` {
					t.Fatalf("HMAC JWKS = %s", old.JWKS())
				}
			} else {
				k, _ := set.Key(0)
				if set.Len() != 1 || k.KeyID() != oldKey.ID() || k.Algorithm() != jwa.SignatureAlgorithm(alg) {
					t.Fatalf("JWKS = %s", old.JWKS())
				}
				if _, isPrivate := k.(interface{ D() []byte }); isPrivate || strings.Contains(string(old.JWKS()), `"d"`) {
					t.Fatalf("JWKS publishes a private key: %s", old.JWKS())
				}
			}
			newKey, _ := core.GenerateKey("EdDSA")
			rotated := newAuth(t, func(c *core.Config) { c.Store = store; c.AccessKeys = []core.Key{newKey, oldKey} })
			if _, err := rotated.Verify(ctx, p.AccessToken); err != nil {
				t.Fatalf("a token of the previous key fails during rotation: %v", err)
			}
			if h, _ := parts(t, issue(t, rotated).AccessToken); h["kid"] != newKey.ID() {
				t.Fatalf("rotation signs with %v, want the new key", h["kid"])
			}
			retired := newAuth(t, func(c *core.Config) { c.Store = store; c.AccessKeys = []core.Key{newKey} })
			if _, err := retired.Verify(ctx, p.AccessToken); !errors.Is(err, core.ErrInvalidToken) {
				t.Fatalf("a token of a retired key: %v", err)
			}
		})
	}
}

// TestHMACKeyID: every process given the same secret derives the same kid.
func TestHMACKeyID(t *testing.T) {
	k1, _ := core.NewHMACKey(accessSecret)
	k2, _ := core.NewHMACKey(append([]byte(nil), accessSecret...))
	k3, _ := core.NewHMACKey([]byte("a different secret, also 32+ bytes long"))
	if k1.ID() != k2.ID() || k1.ID() == k3.ID() || k1.ID() == "" {
		t.Fatalf("kids %q %q %q", k1.ID(), k2.ID(), k3.ID())
	}
	if strings.Contains(k1.ID(), string(accessSecret[:8])) {
		t.Fatal("the kid shows the secret")
	}
	if _, err := core.NewHMACKey(make([]byte, 31)); err == nil {
		t.Fatal("a 31-byte secret was accepted")
	}
}

func TestParseJWKS(t *testing.T) {
	priv, _ := core.GenerateKey("ES256")
	a := newAuth(t, func(c *core.Config) { c.AccessKeys = []core.Key{priv} })
	keys, err := core.ParseJWKS(a.JWKS())
	if err != nil || len(keys) != 1 || keys[0].CanSign() || keys[0].ID() != priv.ID() || keys[0].Algorithm() != "ES256" {
		t.Fatalf("ParseJWKS of a public set: %v, %v", keys, err)
	}
	// A verifier built from the published JWKS accepts the signer's tokens.
	signer, _ := core.GenerateKey("HS256")
	verifier := newAuth(t, func(c *core.Config) { c.Store = memstore.New(); c.AccessKeys = []core.Key{signer, keys[0]} })
	p := issue(t, a)
	if _, err := verifier.Verify(context.Background(), p.AccessToken); !errors.Is(err, core.ErrTokenRevoked) {
		// The signature verifies; the session lives in the other store.
		t.Fatalf("verify with a JWKS key: %v, want token_revoked (unknown session)", err)
	}
	if _, err := core.ParseJWKS([]byte(`{"keys":[{"kty":"nope"}]}`)); err == nil {
		t.Fatal("a bad JWKS was accepted")
	}
}

// hs256Raw signs header and claims given as JSON text, exactly as written:
// the forger who controls every byte of the signed input.
func hs256Raw(header, claims string, key []byte) string {
	input := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString([]byte(claims))
	m := hmac.New(sha256.New, key)
	m.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// appendMember appends `,"name":value` (value as JSON text) to a JSON object.
func appendMember(t testing.TB, obj map[string]any, name, value string) string {
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return string(b[:len(b)-1]) + `,"` + name + `":` + value + "}"
}

func jsonText(t testing.TB, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestVerifyOneSpelling: tokens signed with the real key but written in a
// way core never writes are refused — a crit header, a member given twice
// in the header or the claims (encoding/json would silently keep the last),
// NumericDates that are not JSON numbers, typed claims of the wrong JSON
// type — each next to a control that the same construction verifies
// without the defect.
func TestVerifyOneSpelling(t *testing.T) {
	a := newAuth(t, nil)
	ctx := context.Background()
	header, claims := parts(t, issue(t, a, "user").AccessToken)
	h, c := jsonText(t, header), jsonText(t, claims)
	if _, err := a.Verify(ctx, hs256Raw(h, c, accessSecret)); err != nil {
		t.Fatalf("control: re-signed genuine parts fail: %v", err)
	}
	exp := int64(claims["exp"].(float64))
	without := func(m map[string]any, k string) map[string]any {
		m = clone(m)
		delete(m, k)
		return m
	}
	refused := []struct{ name, header, claims string }{
		{"crit naming a claim", appendMember(t, header, "crit", `["exp"]`), c},
		{"crit empty", appendMember(t, header, "crit", `[]`), c},
		{"crit null", appendMember(t, header, "crit", `null`), c},
		{"crit b64", appendMember(t, setKey(header, "b64", false), "crit", `["b64"]`), c},
		{"duplicate alg, same value", appendMember(t, header, "alg", `"HS256"`), c},
		{"duplicate kid, the first unknown", appendMember(t, setKey(header, "kid", hmacKey(t).ID()+"x"), "kid", `"`+hmacKey(t).ID()+`"`), c},
		{"duplicate typ", appendMember(t, header, "typ", `"at+jwt"`), c},
		{"duplicate unknown header member", appendMember(t, setKey(header, "x", "1"), "x", `"1"`), c},
		{"duplicate alg, escaped name", appendMember(t, header, `\u0061lg`, `"HS256"`), c},
		{"duplicate sub, same value", h, appendMember(t, claims, "sub", jsonText(t, claims["sub"]))},
		{"duplicate roles, admin last", h, appendMember(t, claims, "roles", `["admin"]`)},
		{"duplicate roles, escaped name", h, appendMember(t, claims, `r\u006fles`, `["admin"]`)},
		{"duplicate exp", h, appendMember(t, claims, "exp", fmt.Sprint(exp+3600))},
		{"duplicate application claim", h, appendMember(t, setKey(claims, "tier", "gold"), "tier", `"platinum"`)},
		{"duplicate member inside an application claim", h, appendMember(t, claims, "app", `{"a":1,"a":2}`)},
		{"exp a string of digits", h, appendMember(t, without(claims, "exp"), "exp", `"`+fmt.Sprint(exp)+`"`)},
		{"exp null", h, appendMember(t, without(claims, "exp"), "exp", `null`)},
		{"exp true", h, appendMember(t, without(claims, "exp"), "exp", `true`)},
		{"exp an array", h, appendMember(t, without(claims, "exp"), "exp", `[`+fmt.Sprint(exp)+`]`)},
		{"exp an object", h, appendMember(t, without(claims, "exp"), "exp", `{}`)},
		{"exp beyond year 9999", h, appendMember(t, without(claims, "exp"), "exp", `1e300`)},
		{"exp negative", h, appendMember(t, without(claims, "exp"), "exp", `-1`)},
		{"nbf a string", h, appendMember(t, claims, "nbf", `"0"`)},
		{"iat a string", h, appendMember(t, without(claims, "iat"), "iat", `"`+fmt.Sprint(exp-900)+`"`)},
		{"iat null", h, appendMember(t, without(claims, "iat"), "iat", `null`)},
		{"email_verified a string", h, appendMember(t, without(claims, "email_verified"), "email_verified", `"true"`)},
		{"email_verified a number", h, appendMember(t, without(claims, "email_verified"), "email_verified", `1`)},
		{"email_verified null", h, appendMember(t, without(claims, "email_verified"), "email_verified", `null`)},
		{"roles null", h, appendMember(t, without(claims, "roles"), "roles", `null`)},
		{"roles holding null", h, appendMember(t, without(claims, "roles"), "roles", `["user",null]`)},
		{"roles a string", h, appendMember(t, without(claims, "roles"), "roles", `"admin"`)},
		{"aud holding a number", h, appendMember(t, without(claims, "aud"), "aud", `["authenik8",1]`)},
		{"sub a number", h, appendMember(t, without(claims, "sub"), "sub", `1`)},
		{"sid null", h, appendMember(t, without(claims, "sid"), "sid", `null`)},
		{"invalid UTF-8 in a claim", h, appendMember(t, claims, "app", "\"\xff\"")},
		{"claims not an object", h, `[` + c + `]`},
		{"claims followed by another object", h, c + `{}`},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			if c, err := a.Verify(ctx, hs256Raw(tc.header, tc.claims, accessSecret)); !errors.Is(err, core.ErrInvalidToken) || c != nil {
				t.Fatalf("Verify: %+v, %v; want invalid_token", c, err)
			}
		})
	}
	// Controls: what the rules allow.
	accepted := []struct {
		name, header, claims string
		check                func(*core.Claims) bool
	}{
		{"an unknown header member", appendMember(t, header, "x", `"y"`), c, nil},
		{"a fractional exp", h, appendMember(t, without(claims, "exp"), "exp", fmt.Sprint(exp)+".5"),
			func(c *core.Claims) bool { return c.ExpiresAt.Equal(time.Unix(exp, 5e8)) }},
		{"exp with an exponent", h, appendMember(t, without(claims, "exp"), "exp", fmt.Sprintf("%.10e", float64(exp))),
			func(c *core.Claims) bool { return c.ExpiresAt.Unix() == exp }},
		{"aud a single string", h, appendMember(t, without(claims, "aud"), "aud", `"authenik8"`), nil},
		{"no email_verified (tokens issued before it existed)", h, jsonText(t, without(claims, "email_verified")),
			func(c *core.Claims) bool { return !c.EmailVerified }},
		{"email_verified true", h, appendMember(t, without(claims, "email_verified"), "email_verified", `true`),
			func(c *core.Claims) bool { return c.EmailVerified }},
		{"a differently cased SUB is an application claim", h, appendMember(t, claims, "SUB", `"someone-else"`),
			func(c *core.Claims) bool { return c.Subject == claims["sub"] && c.Extra["SUB"] == "someone-else" }},
	}
	for _, tc := range accepted {
		t.Run("control/"+tc.name, func(t *testing.T) {
			c, err := a.Verify(ctx, hs256Raw(tc.header, tc.claims, accessSecret))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if tc.check != nil && !tc.check(c) {
				t.Fatalf("claims %+v", c)
			}
		})
	}
}

// setKey returns a copy of m with k set to v.
func setKey(m map[string]any, k string, v any) map[string]any {
	m = clone(m)
	m[k] = v
	return m
}

// TestES256LowS: ES256 signatures are issued with s ≤ n/2 and only those
// are accepted. For every (r, s) that verifies, (r, n−s) verifies too: a
// second spelling of the same token, which crypto/ecdsa accepts (checked
// here as the control) and Verify must refuse.
func TestES256LowS(t *testing.T) {
	key, err := core.GenerateKey("ES256")
	if err != nil {
		t.Fatal(err)
	}
	a := newAuth(t, func(c *core.Config) { c.AccessKeys = []core.Key{key}; c.TokenCacheSize = -1 })
	set, err := jwk.Parse(a.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	jk, _ := set.Key(0)
	var pub ecdsa.PublicKey
	if err := jk.Raw(&pub); err != nil {
		t.Fatal(err)
	}
	n := elliptic.P256().Params().N
	half := new(big.Int).Rsh(n, 1)
	ctx := context.Background()
	// Issued: 64 tokens all low-S; without normalization half would be high
	// (the odds that all 64 are low by chance are 2^-64).
	var token string
	for range 64 {
		token = issue(t, a, "user").AccessToken
		seg := strings.Split(token, ".")
		sig, err := base64.RawURLEncoding.DecodeString(seg[2])
		if err != nil || len(sig) != 64 {
			t.Fatalf("signature %q: %v", seg[2], err)
		}
		if s := new(big.Int).SetBytes(sig[32:]); s.Cmp(half) > 0 {
			t.Fatalf("issued an ES256 signature with s > n/2: %x", sig)
		}
	}
	// Accepted: the high-S twin of a genuine token verifies with
	// crypto/ecdsa, and Verify refuses it.
	seg := strings.Split(token, ".")
	sig, _ := base64.RawURLEncoding.DecodeString(seg[2])
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	high := new(big.Int).Sub(n, s)
	digest := sha256.Sum256([]byte(seg[0] + "." + seg[1]))
	if !ecdsa.Verify(&pub, digest[:], r, s) || !ecdsa.Verify(&pub, digest[:], r, high) {
		t.Fatal("control: crypto/ecdsa does not verify both (r, s) and (r, n-s)")
	}
	twin := make([]byte, 64)
	copy(twin, sig[:32])
	high.FillBytes(twin[32:])
	forged := seg[0] + "." + seg[1] + "." + base64.RawURLEncoding.EncodeToString(twin)
	if c, err := a.Verify(ctx, forged); !errors.Is(err, core.ErrInvalidToken) || c != nil {
		t.Fatalf("Verify of the high-S twin: %+v, %v; want invalid_token", c, err)
	}
	if _, err := a.Verify(ctx, token); err != nil {
		t.Fatalf("control: the genuine low-S token fails: %v", err)
	}
}
