package core_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/core/memstore"
)

// jwksServer serves an issuer's JWKS, counting fetches; set down to make it
// answer 503, or body to serve something else.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	issuer  *core.Auth
	body    []byte
	down    bool
	fetches atomic.Int64
}

func newJWKSServer(t *testing.T, issuer *core.Auth) *jwksServer {
	s := &jwksServer{issuer: issuer}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		down, body, issuer := s.down, s.body, s.issuer
		s.mu.Unlock()
		if down {
			w.WriteHeader(503)
			return
		}
		if body != nil {
			w.Header().Set("Content-Type", "application/json")
			w.Write(body)
			return
		}
		core.WriteHTTP(w, issuer.JWKSResponse())
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(f func(s *jwksServer)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func edKey(t *testing.T) core.Key {
	k, _ := edPair(t)
	return k
}

// edPair is a fresh EdDSA signing key and its private key.
func edPair(t *testing.T) (core.Key, ed25519.PrivateKey) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return must(core.NewSigningKey(priv, "")), priv
}

// privateJWKS is a JWK set holding the private key, as `authenik8 secret
// --jwks` writes it.
func privateJWKS(t *testing.T, k core.Key, priv ed25519.PrivateKey) []byte {
	jk := must(jwk.FromRaw(priv))
	must(0, jk.Set(jwk.KeyIDKey, k.ID()))
	set := jwk.NewSet()
	must(0, set.AddKey(jk))
	return must(json.Marshal(set))
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func remoteKeys(t *testing.T, url string, opts ...core.RemoteKeysOption) *core.RemoteKeySet {
	rk, err := core.RemoteKeys(url+"/auth/jwks.json", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rk.Close)
	return rk
}

// TestRemoteKeys: a verify-only Auth accepts the issuer's tokens through
// its JWKS, shares revocation through the issuer's store, and picks up a
// rotated key by its kid.
func TestRemoteKeys(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	first, firstPriv := edPair(t)
	issuer := newAuth(t, func(c *core.Config) { c.Store = store; c.AccessKeys = []core.Key{first} })
	srv := newJWKSServer(t, issuer)
	verifier := must(core.New(core.Config{Store: store, RemoteKeys: remoteKeys(t, srv.URL, core.RemoteKeysMinRefetch(0))}))
	stateless := must(core.New(core.Config{RemoteKeys: remoteKeys(t, srv.URL)}))
	if srv.fetches.Load() != 0 {
		t.Fatal("RemoteKeys fetched before it was needed")
	}

	p := issue(t, issuer, "user")
	for name, a := range map[string]*core.Auth{"verifier": verifier, "stateless": stateless} {
		c, err := a.Verify(ctx, p.AccessToken)
		if err != nil || c.Subject != "user-1" || c.SessionID != p.SessionID {
			t.Fatalf("%s: Verify: %+v, %v", name, c, err)
		}
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches for two key sets", n)
	}
	// Cached: no more fetches for known keys.
	for range 10 {
		must(verifier.Verify(ctx, issue(t, issuer).AccessToken))
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches after verifying known keys", n)
	}

	// Revocation reaches the verifier through the shared store; the
	// stateless one, without a store, cannot know (as documented).
	must(0, issuer.Logout(ctx, p.SessionID))
	if _, err := verifier.Verify(ctx, p.AccessToken); !errors.Is(err, core.ErrTokenRevoked) {
		t.Fatalf("verifier after logout: %v", err)
	}
	if _, err := stateless.Verify(ctx, p.AccessToken); err != nil {
		t.Fatalf("stateless after logout: %v", err)
	}

	// Rotation: the issuer signs with a new key and still publishes the
	// old one; the verifier fetches again on the unknown kid.
	second := edKey(t)
	rotated := newAuth(t, func(c *core.Config) {
		c.Store = store
		c.AccessKeys = []core.Key{second, must(core.NewVerifyKey(firstPriv.Public(), first.ID()))}
	})
	srv.set(func(s *jwksServer) { s.issuer = rotated })
	old, fresh := issue(t, issuer), issue(t, rotated)
	for _, tok := range []string{old.AccessToken, fresh.AccessToken} {
		if _, err := verifier.Verify(ctx, tok); err != nil {
			t.Fatalf("after rotation: %v", err)
		}
	}
	if n := srv.fetches.Load(); n != 3 {
		t.Fatalf("%d fetches after one rotation, want 3", n)
	}

	// A token the issuer never signed is refused, as any forged token.
	stranger := newAuth(t, func(c *core.Config) { c.Store = store; c.AccessKeys = []core.Key{edKey(t)} })
	if _, err := verifier.Verify(ctx, issue(t, stranger).AccessToken); !errors.Is(err, core.ErrInvalidToken) {
		t.Fatalf("a stranger's token: %v", err)
	}

	// Nothing issues tokens.
	if _, err := verifier.IssueSession(ctx, core.User{ID: "u"}, core.Client{}); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("IssueSession on a verify-only Auth: %v", err)
	}
	if _, err := verifier.Refresh(ctx, fresh.RefreshToken); !errors.Is(err, core.ErrInvalidRefreshToken) {
		t.Fatalf("Refresh on a verify-only Auth: %v", err)
	}
	if _, err := rotated.Verify(ctx, fresh.AccessToken); err != nil {
		t.Fatalf("the refused refresh touched the session: %v", err)
	}
	if string(verifier.JWKS()) != `{"keys":[]}` {
		t.Fatalf("a verify-only Auth publishes %s", verifier.JWKS())
	}
}

// TestRemoteKeysUnknownKidFlood: tokens naming unknown key ids cause at
// most one fetch per interval.
func TestRemoteKeysUnknownKidFlood(t *testing.T) {
	ctx := context.Background()
	issuer := newAuth(t, func(c *core.Config) { c.AccessKeys = []core.Key{edKey(t)} })
	srv := newJWKSServer(t, issuer)
	verifier := must(core.New(core.Config{RemoteKeys: remoteKeys(t, srv.URL, core.RemoteKeysMinRefetch(time.Hour))}))
	must(verifier.Verify(ctx, issue(t, issuer).AccessToken))
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stranger := newAuth(t, func(c *core.Config) { c.AccessKeys = []core.Key{edKey(t)} })
			if _, err := verifier.Verify(ctx, issue(t, stranger).AccessToken); !errors.Is(err, core.ErrInvalidToken) {
				t.Errorf("unknown kid: %v", err)
			}
		}()
	}
	wg.Wait()
	// The first fetch, and at most one refetch for the 50 unknown kids.
	if n := srv.fetches.Load(); n > 2 {
		t.Fatalf("%d fetches for 50 tokens of unknown kids", n)
	}
}

// TestRemoteKeysOutage: keys that cannot be fetched fail closed with 503;
// the set recovers by itself; a set fetched once outlives an outage.
func TestRemoteKeysOutage(t *testing.T) {
	ctx := context.Background()
	issuer := newAuth(t, func(c *core.Config) { c.AccessKeys = []core.Key{edKey(t)} })
	srv := newJWKSServer(t, issuer)
	verifier := must(core.New(core.Config{RemoteKeys: remoteKeys(t, srv.URL, core.RemoteKeysMinRefetch(0))}))
	tok := issue(t, issuer).AccessToken
	srv.set(func(s *jwksServer) { s.down = true })
	_, err := verifier.Verify(ctx, tok)
	if !errors.Is(err, core.ErrStoreUnavailable) || core.ErrorResponse(err).Status != 503 || strings.Contains(err.Error(), srv.URL) == false {
		t.Fatalf("Verify with the JWKS down: %v", err)
	}
	srv.set(func(s *jwksServer) { s.down = false })
	must(verifier.Verify(ctx, tok))
	srv.set(func(s *jwksServer) { s.down = true })
	must(verifier.Verify(ctx, issue(t, issuer).AccessToken)) // the same key, from the cache
}

// TestRemoteKeysTakesPublicKeysOnly: an HMAC secret or a private key in a
// fetched set never becomes a key that verifies (or signs).
func TestRemoteKeysTakesPublicKeysOnly(t *testing.T) {
	ctx := context.Background()
	hs := hmacKey(t)
	hsIssuer := newAuth(t, nil)
	srv := newJWKSServer(t, hsIssuer)
	// The HS256 secret published as an "oct" key under the issuer's kid.
	secret := `{"keys":[{"kty":"oct","kid":"` + hs.ID() + `","alg":"HS256","k":"` + b64(accessSecret) + `"}]}`
	srv.set(func(s *jwksServer) { s.body = []byte(secret) })
	verifier := must(core.New(core.Config{RemoteKeys: remoteKeys(t, srv.URL)}))
	if _, err := verifier.Verify(ctx, issue(t, hsIssuer).AccessToken); !errors.Is(err, core.ErrInvalidToken) {
		t.Fatalf("a token verified with a secret from a URL: %v", err)
	}
	// A private JWK set served by mistake: its public halves verify.
	ed, edPriv := edPair(t)
	edIssuer := newAuth(t, func(c *core.Config) { c.AccessKeys = []core.Key{ed} })
	priv := privateJWKS(t, ed, edPriv)
	srv2 := newJWKSServer(t, edIssuer)
	srv2.set(func(s *jwksServer) { s.body = priv })
	v2 := must(core.New(core.Config{RemoteKeys: remoteKeys(t, srv2.URL)}))
	must(v2.Verify(ctx, issue(t, edIssuer).AccessToken))
}

// TestVerifyOnlyConfigAndRoutes: what a verify-only Auth refuses to be
// given, and the routes it mounts.
func TestVerifyOnlyConfigAndRoutes(t *testing.T) {
	rk := must(core.RemoteKeys("https://issuer.example/auth/jwks.json"))
	t.Cleanup(rk.Close)
	for name, cfg := range map[string]core.Config{
		"keys":           {RemoteKeys: rk, AccessKeys: []core.Key{hmacKey(t)}},
		"refresh secret": {RemoteKeys: rk, RefreshSecret: refreshSecret},
		"users":          {RemoteKeys: rk, Users: memstore.NewUsers(nil)},
		"cookies":        {RemoteKeys: rk, Cookies: &core.CookieConfig{Path: "/auth"}},
	} {
		if _, err := core.New(cfg); err == nil || !strings.Contains(err.Error(), "verify-only") {
			t.Fatalf("%s: %v", name, err)
		}
	}
	for _, bad := range []string{"", "/auth/jwks.json", "ftp://x/jwks.json", "https://"} {
		if _, err := core.RemoteKeys(bad); err == nil {
			t.Fatalf("RemoteKeys(%q) accepted", bad)
		}
	}
	paths := func(a *core.Auth) string {
		var ps []string
		for _, rt := range a.Routes() {
			ps = append(ps, rt.Method+" "+rt.Path)
		}
		return strings.Join(ps, ", ")
	}
	if got := paths(must(core.New(core.Config{RemoteKeys: rk}))); got != "GET /me" {
		t.Fatalf("stateless verify-only routes: %s", got)
	}
	want := "POST /logout, POST /logout-all, GET /me, GET /sessions, DELETE /sessions/:id"
	if got := paths(must(core.New(core.Config{RemoteKeys: rk, Store: memstore.New()}))); got != want {
		t.Fatalf("verify-only routes with a store: %s; want %s", got, want)
	}
}
