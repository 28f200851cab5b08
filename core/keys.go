package core

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// Key is one access-token key. Every key verifies; a key holding a secret or
// private part also signs. The zero Key is invalid.
type Key struct {
	id     string
	alg    jwa.SignatureAlgorithm
	sign   any     // []byte, ed25519.PrivateKey, *ecdsa.PrivateKey, *rsa.PrivateKey; nil when verify-only
	verify any     // []byte, ed25519.PublicKey, *ecdsa.PublicKey, *rsa.PublicKey
	public jwk.Key // published in the JWKS; nil for HMAC
}

// MinHMACSecret is the shortest HS256 secret accepted.
const MinHMACSecret = 32

// NewHMACKey returns an HS256 key. The secret must be at least 32 bytes. Its
// key id is derived from the secret, so every process given the same secret
// agrees on it without configuration.
func NewHMACKey(secret []byte) (Key, error) {
	if len(secret) < MinHMACSecret {
		return Key{}, fmt.Errorf("authenik8: HS256 secret is %d bytes; at least %d are required", len(secret), MinHMACSecret)
	}
	s := append([]byte(nil), secret...)
	sum := sha256.Sum256(append([]byte("authenik8 hs256 kid\x00"), s...))
	return Key{id: "hs-" + base64.RawURLEncoding.EncodeToString(sum[:12]), alg: jwa.HS256, sign: s, verify: s}, nil
}

// NewSigningKey returns an asymmetric signing key: an ed25519.PrivateKey
// (EdDSA), a P-256 *ecdsa.PrivateKey (ES256) or an *rsa.PrivateKey of at
// least 2048 bits (RS256). Its key id is the RFC 7638 thumbprint of the
// public key unless kid is given.
func NewSigningKey(private crypto.Signer, kid string) (Key, error) {
	k, err := newVerifyKey(private.Public(), kid)
	if err != nil {
		return Key{}, err
	}
	switch p := private.(type) {
	case ed25519.PrivateKey, *ecdsa.PrivateKey, *rsa.PrivateKey:
		k.sign = p
	default:
		return Key{}, fmt.Errorf("authenik8: unsupported private key type %T", private)
	}
	return k, nil
}

// NewVerifyKey returns a verification-only key for a public key of another
// signer (ed25519.PublicKey, P-256 *ecdsa.PublicKey, *rsa.PublicKey): tokens
// it signed keep verifying after a key rotation.
func NewVerifyKey(public crypto.PublicKey, kid string) (Key, error) {
	return newVerifyKey(public, kid)
}

func newVerifyKey(public crypto.PublicKey, kid string) (Key, error) {
	var alg jwa.SignatureAlgorithm
	switch p := public.(type) {
	case ed25519.PublicKey:
		alg = jwa.EdDSA
	case *ecdsa.PublicKey:
		if p.Curve != elliptic.P256() {
			return Key{}, errors.New("authenik8: ECDSA keys must use P-256 (ES256)")
		}
		alg = jwa.ES256
	case *rsa.PublicKey:
		if p.N.BitLen() < 2048 {
			return Key{}, fmt.Errorf("authenik8: RSA key is %d bits; at least 2048 are required", p.N.BitLen())
		}
		alg = jwa.RS256
	default:
		return Key{}, fmt.Errorf("authenik8: unsupported public key type %T", public)
	}
	pub, err := jwk.FromRaw(public)
	if err != nil {
		return Key{}, fmt.Errorf("authenik8: %w", err)
	}
	if kid == "" {
		tp, err := pub.Thumbprint(crypto.SHA256)
		if err != nil {
			return Key{}, fmt.Errorf("authenik8: %w", err)
		}
		kid = base64.RawURLEncoding.EncodeToString(tp)
	}
	for _, kv := range [][2]any{{jwk.KeyIDKey, kid}, {jwk.AlgorithmKey, alg}, {jwk.KeyUsageKey, "sig"}} {
		if err := pub.Set(kv[0].(string), kv[1]); err != nil {
			return Key{}, fmt.Errorf("authenik8: %w", err)
		}
	}
	return Key{id: kid, alg: alg, verify: public, public: pub}, nil
}

// GenerateKey makes a fresh signing key for alg: "HS256", "EdDSA", "ES256"
// or "RS256". Useful for tests and development; production keys come from
// configuration so that every process shares them.
func GenerateKey(alg string) (Key, error) {
	switch alg {
	case "HS256":
		s := make([]byte, 32)
		rand.Read(s)
		return NewHMACKey(s)
	case "EdDSA":
		_, p, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return Key{}, err
		}
		return NewSigningKey(p, "")
	case "ES256":
		p, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return Key{}, err
		}
		return NewSigningKey(p, "")
	case "RS256":
		p, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return Key{}, err
		}
		return NewSigningKey(p, "")
	}
	return Key{}, fmt.Errorf("authenik8: unsupported algorithm %q", alg)
}

// ParseJWKS reads keys from a JSON Web Key or JWK set (as written by
// `authenik8 secret --jwks`). Private keys sign and verify; public keys only
// verify. Symmetric ("oct") keys become HS256 keys.
func ParseJWKS(data []byte) ([]Key, error) {
	set, err := jwk.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("authenik8: parse JWKS: %w", err)
	}
	keys := make([]Key, 0, set.Len())
	for i := 0; i < set.Len(); i++ {
		jk, _ := set.Key(i)
		var raw any
		if err := jk.Raw(&raw); err != nil {
			return nil, fmt.Errorf("authenik8: JWKS key %d: %w", i, err)
		}
		var k Key
		switch r := raw.(type) {
		case []byte:
			k, err = NewHMACKey(r)
		case crypto.Signer:
			k, err = NewSigningKey(r, jk.KeyID())
		default:
			k, err = NewVerifyKey(r, jk.KeyID())
		}
		if err != nil {
			return nil, fmt.Errorf("JWKS key %d: %w", i, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// ID is the key id written to the `kid` header.
func (k Key) ID() string { return k.id }

// Algorithm is the JWS algorithm this key signs and verifies with.
func (k Key) Algorithm() string { return k.alg.String() }

// CanSign reports whether the key holds a secret or private part.
func (k Key) CanSign() bool { return k.sign != nil }

// keyRing holds the access-token keys: one signs, all verify.
type keyRing struct {
	signer   ringKey
	byID     map[string]*ringKey
	jwks     []byte    // public keys, marshalled once
	jwksResp *Response // GET /jwks.json
}

// ringKey is a Key with what signing and verifying with it need, made once:
// jwx's signer and verifier for its algorithm, and the token header it
// writes, already encoded.
type ringKey struct {
	Key
	signer   jws.Signer   // nil when verify-only
	verifier jws.Verifier // stateless: safe for concurrent use
	header   string       // base64url of {"alg","kid","typ"}
}

func newKeyRing(keys []Key) (*keyRing, error) {
	if len(keys) == 0 {
		return nil, errors.New("authenik8: Config.AccessKeys is empty; give at least one signing key (for example core.NewHMACKey)")
	}
	if !keys[0].CanSign() {
		return nil, errors.New("authenik8: Config.AccessKeys[0] must be able to sign (a secret or private key)")
	}
	r := &keyRing{byID: make(map[string]*ringKey, len(keys))}
	set := jwk.NewSet()
	for i, k := range keys {
		if k.id == "" || k.verify == nil {
			return nil, fmt.Errorf("authenik8: Config.AccessKeys[%d] is not a valid key; build keys with core.NewHMACKey, NewSigningKey or NewVerifyKey", i)
		}
		if _, dup := r.byID[k.id]; dup {
			return nil, fmt.Errorf("authenik8: Config.AccessKeys has two keys with id %q", k.id)
		}
		rk, err := newRingKey(k)
		if err != nil {
			return nil, fmt.Errorf("authenik8: Config.AccessKeys[%d]: %w", i, err)
		}
		r.byID[k.id] = rk
		if i == 0 {
			r.signer = *rk
		}
		if k.public != nil {
			set.AddKey(k.public)
		}
	}
	var err error
	if set.Len() == 0 {
		r.jwks = []byte(`{"keys":[]}`)
	} else if r.jwks, err = json.Marshal(set); err != nil {
		return nil, fmt.Errorf("authenik8: marshal JWKS: %w", err)
	}
	r.jwksResp = &Response{Status: 200, Header: []Header{hdrJSON, {"Cache-Control", "public, max-age=300"}}, Body: r.jwks}
	return r, nil
}

func newRingKey(k Key) (*ringKey, error) {
	rk := &ringKey{Key: k}
	var err error
	if rk.verifier, err = jws.NewVerifier(k.alg); err != nil {
		return nil, err
	}
	if k.sign != nil {
		if rk.signer, err = jws.NewSigner(k.alg); err != nil {
			return nil, err
		}
	}
	h, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}{k.alg.String(), k.id, accessTyp})
	if err != nil {
		return nil, err
	}
	rk.header = base64.RawURLEncoding.EncodeToString(h)
	return rk, nil
}
