package core

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkVerifyRemote: a token verified from scratch (the cache disabled)
// by a verify-only Auth whose EdDSA key came from the issuer's JWKS, beside
// the same token verified by the issuer itself: the remote key set must
// cost the cold path nothing once fetched.
func BenchmarkVerifyRemote(b *testing.B) {
	key, err := GenerateKey("EdDSA")
	if err != nil {
		b.Fatal(err)
	}
	issuer := testAuth(b, func(c *Config) { c.TokenCacheSize = -1; c.AccessKeys = []Key{key} })
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { WriteHTTP(w, issuer.JWKSResponse()) }))
	defer srv.Close()
	rk, err := RemoteKeys(srv.URL)
	if err != nil {
		b.Fatal(err)
	}
	defer rk.Close()
	verifier, err := New(Config{Store: aliveStore{}, RemoteKeys: rk, TokenCacheSize: -1})
	if err != nil {
		b.Fatal(err)
	}
	tok := issueFor(b, issuer, "u1").AccessToken
	if _, err := verifier.parseAccess(tok); err != nil { // the one fetch
		b.Fatal(err)
	}
	b.Run("issuer", func(b *testing.B) { benchVerifyToken(b, issuer, tok) })
	b.Run("remote", func(b *testing.B) { benchVerifyToken(b, verifier, tok) })
}
