package main

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
)

// minSecretBytes is the shortest secret core accepts (core.MinHMACSecret).
const minSecretBytes = 32

func cmdSecret(args []string, std *stdio) int {
	flags := flag.NewFlagSet("secret", flag.ContinueOnError)
	flags.SetOutput(std.stderr)
	raw := flags.Bool("raw", false, "print one bare secret instead of JWT_SECRET=… and REFRESH_SECRET=… lines")
	n := flags.Int("bytes", 32, "random bytes per secret (at least 32); printed in base64")
	jwks := flags.String("jwks", "", "print a private JWK set with one signing key instead: ed25519 (EdDSA) or p256 (ES256)")
	flags.Usage = func() {
		fmt.Fprint(flags.Output(), `Usage: authenik8 secret [--raw] [--bytes n]
       authenik8 secret --jwks ed25519|p256

Prints fresh secrets for .env, or a private JWK set for asymmetric access
tokens (JWT_JWKS in a generated project; its public half is served at
/.well-known/jwks.json).

`)
		flags.PrintDefaults()
	}
	rest, err := parseArgs(flags, args)
	if err != nil {
		return flagExit(err)
	}
	if len(rest) > 0 {
		fmt.Fprintf(std.stderr, "authenik8 secret: unexpected argument %q\n", rest[0])
		return exitUsage
	}
	if *n < minSecretBytes {
		fmt.Fprintf(std.stderr, "authenik8 secret: --bytes %d is too short; at least %d are required\n", *n, minSecretBytes)
		return exitUsage
	}

	if *jwks != "" {
		if *raw {
			fmt.Fprintln(std.stderr, "authenik8 secret: --raw and --jwks do not go together")
			return exitUsage
		}
		set, err := newJWKS(*jwks)
		if err != nil {
			fmt.Fprintf(std.stderr, "authenik8 secret: %v\n", err)
			return exitUsage
		}
		fmt.Fprintln(std.stdout, string(set))
		if std.interactive {
			fmt.Fprintln(std.stderr, "\nKeep it private. In a generated project, put it on one line in .env as JWT_JWKS='<the JSON>'.")
		}
		return exitOK
	}
	if *raw {
		fmt.Fprintln(std.stdout, newSecret(*n))
		return exitOK
	}
	fmt.Fprintf(std.stdout, "JWT_SECRET=%s\nREFRESH_SECRET=%s\n", newSecret(*n), newSecret(*n))
	return exitOK
}

// newSecret returns n random bytes in standard base64 (44 characters for
// 32 bytes). Secrets are used as the bytes of their text, as the generated
// projects and the examples read them from the environment.
func newSecret(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return base64.StdEncoding.EncodeToString(b)
}

// jwk is a private JSON Web Key (RFC 7517, 8037) of the two kinds the
// command makes.
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y,omitempty"`
	D   string `json:"d"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// newJWKS returns a private JWK set of one fresh key for kind "ed25519"
// (EdDSA) or "p256" (ES256). Its kid is the RFC 7638 thumbprint of the
// public key, the kid core would derive for the key itself.
func newJWKS(kind string) ([]byte, error) {
	b64 := base64.RawURLEncoding.EncodeToString
	var k jwk
	switch kind {
	case "ed25519", "Ed25519", "eddsa", "EdDSA":
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		k = jwk{Kty: "OKP", Crv: "Ed25519", X: b64(pub), D: b64(priv.Seed()), Alg: "EdDSA"}
		k.Kid = thumbprint(fmt.Sprintf(`{"crv":"Ed25519","kty":"OKP","x":"%s"}`, k.X))
	case "p256", "P256", "P-256", "es256", "ES256":
		priv, err := ecdh.P256().GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		pub := priv.PublicKey().Bytes() // 0x04 ‖ X ‖ Y, 32 bytes each
		k = jwk{Kty: "EC", Crv: "P-256", X: b64(pub[1:33]), Y: b64(pub[33:]), D: b64(priv.Bytes()), Alg: "ES256"}
		k.Kid = thumbprint(fmt.Sprintf(`{"crv":"P-256","kty":"EC","x":"%s","y":"%s"}`, k.X, k.Y))
	default:
		return nil, fmt.Errorf("--jwks %q: want ed25519 or p256", kind)
	}
	k.Use = "sig"
	return json.Marshal(struct {
		Keys []jwk `json:"keys"`
	}{[]jwk{k}})
}

// thumbprint is the RFC 7638 JWK thumbprint of the canonical members.
func thumbprint(canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
