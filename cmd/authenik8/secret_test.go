package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/core/memstore"
)

func TestSecretLines(t *testing.T) {
	r := cli(t, nil, "secret")
	if r.code != exitOK {
		t.Fatal(r)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "JWT_SECRET=") || !strings.HasPrefix(lines[1], "REFRESH_SECRET=") {
		t.Fatalf("secret printed %q", r.stdout)
	}
	jwt, refresh := strings.TrimPrefix(lines[0], "JWT_SECRET="), strings.TrimPrefix(lines[1], "REFRESH_SECRET=")
	for _, s := range []string{jwt, refresh} {
		if b, err := base64.StdEncoding.DecodeString(s); err != nil || len(b) != 32 {
			t.Errorf("secret %q: %d bytes, %v; want 32 random bytes in base64", s, len(b), err)
		}
	}
	if jwt == refresh {
		t.Error("the two secrets are equal")
	}
	// Fresh every time.
	if again := cli(t, nil, "secret"); again.stdout == r.stdout {
		t.Error("two runs printed the same secrets")
	}
	// core takes them as they are.
	key, err := core.NewHMACKey([]byte(jwt))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := core.New(core.Config{Store: memstore.New(), AccessKeys: []core.Key{key}, RefreshSecret: []byte(refresh)}); err != nil {
		t.Fatal(err)
	}
}

func TestSecretRaw(t *testing.T) {
	r := cli(t, nil, "secret", "--raw", "--bytes", "48")
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(r.stdout))
	if r.code != exitOK || err != nil || len(b) != 48 {
		t.Fatalf("secret --raw --bytes 48: %v (%d bytes, %v)", r, len(b), err)
	}
	if r := cli(t, nil, "secret", "--bytes", "16"); r.code != exitUsage || !strings.Contains(r.stderr, "at least 32") {
		t.Errorf("secret --bytes 16: %v", r)
	}
	if r := cli(t, nil, "secret", "--raw", "--jwks", "ed25519"); r.code != exitUsage {
		t.Errorf("secret --raw --jwks: %v", r)
	}
	if r := cli(t, nil, "secret", "--jwks", "rsa"); r.code != exitUsage || !strings.Contains(r.stderr, "want ed25519 or p256") {
		t.Errorf("secret --jwks rsa: %v", r)
	}
}

// TestSecretJWKS: the JWK set parses with core.ParseJWKS, signs access
// tokens that verify, publishes only the public half, and carries the RFC
// 7638 thumbprint as kid.
func TestSecretJWKS(t *testing.T) {
	for kind, alg := range map[string]string{"ed25519": "EdDSA", "p256": "ES256"} {
		t.Run(kind, func(t *testing.T) {
			r := cli(t, nil, "secret", "--jwks", kind)
			if r.code != exitOK {
				t.Fatal(r)
			}
			var set struct {
				Keys []map[string]string `json:"keys"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &set); err != nil || len(set.Keys) != 1 {
				t.Fatalf("not a JWK set of one key: %v\n%s", err, r.stdout)
			}
			jk := set.Keys[0]
			if jk["d"] == "" || jk["kid"] == "" || jk["alg"] != alg || jk["use"] != "sig" {
				t.Errorf("key %v", jk)
			}

			keys, err := core.ParseJWKS([]byte(r.stdout))
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) != 1 || !keys[0].CanSign() || keys[0].Algorithm() != alg || keys[0].ID() != jk["kid"] {
				t.Fatalf("ParseJWKS: %d keys, sign %v, alg %s, kid %s", len(keys), keys[0].CanSign(), keys[0].Algorithm(), keys[0].ID())
			}
			if kind == "ed25519" { // the kid is the thumbprint core derives itself
				x, _ := base64.RawURLEncoding.DecodeString(jk["x"])
				vk, err := core.NewVerifyKey(ed25519.PublicKey(x), "")
				if err != nil || vk.ID() != jk["kid"] {
					t.Errorf("kid %s, core's thumbprint %s (%v)", jk["kid"], vk.ID(), err)
				}
			}

			a, err := core.New(core.Config{Store: memstore.New(), AccessKeys: keys, RefreshSecret: []byte(newSecret(32))})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			pair, err := a.IssueSession(ctx, core.User{ID: "u1", Roles: []string{"user"}}, core.Client{})
			if err != nil {
				t.Fatal(err)
			}
			if c, err := a.Verify(ctx, pair.AccessToken); err != nil || c.Subject != "u1" {
				t.Fatalf("Verify: %v %v", c, err)
			}
			pub := string(a.JWKS())
			if !strings.Contains(pub, jk["kid"]) || strings.Contains(pub, `"d"`) {
				t.Errorf("published JWKS %s", pub)
			}
		})
	}
}
