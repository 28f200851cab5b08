package core

import (
	"cmp"
	"context"
	"crypto"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

// RemoteKeySet is the access-token verification keys of another service,
// fetched from its JWKS URL (GET /jwks.json of the auth routes) and cached:
// a service that only verifies tokens needs no shared secret. Give it to
// Config.RemoteKeys. Build it with RemoteKeys; Close stops its refreshes.
//
// The set is fetched when a token first needs it, refreshed in the
// background (every DefaultRemoteKeysRefresh, or the response's
// Cache-Control max-age when longer), and fetched again when a token names a key id the
// set lacks — a signing key was rotated — at most once per
// RemoteKeysMinRefetch (default DefaultRemoteKeysMinRefetch), so that tokens with made-up key ids cannot flood
// the JWKS endpoint. Only public keys are used: EdDSA, ES256 (P-256) and
// RS256 (at least 2048 bits); HMAC keys and private parts in the set are
// ignored.
type RemoteKeySet struct {
	url    string
	client *http.Client
	cache  *jwk.Cache
	stop   context.CancelFunc

	ring     atomic.Pointer[keyRing] // nil until the first fetch
	minGap   time.Duration
	mu       sync.Mutex // one refetch at a time
	lastTry  time.Time  // guarded by mu
	lastFail error      // guarded by mu
}

// RemoteKeysOption configures RemoteKeys.
type RemoteKeysOption func(*RemoteKeySet)

// Defaults of RemoteKeys.
const (
	// DefaultRemoteKeysRefresh is how often the set is refreshed in the
	// background.
	DefaultRemoteKeysRefresh = 10 * time.Minute
	// DefaultRemoteKeysMinRefetch is the least time between two fetches
	// caused by unknown key ids.
	DefaultRemoteKeysMinRefetch = 30 * time.Second
	// defaultJWKSTimeout bounds one fetch.
	defaultJWKSTimeout = 10 * time.Second
)

// RemoteKeysHTTPClient fetches the set with c. Default: an http.Client with
// a 10-second timeout.
func RemoteKeysHTTPClient(c *http.Client) RemoteKeysOption {
	return func(s *RemoteKeySet) { s.client = c }
}

// RemoteKeysMinRefetch sets the least time between two fetches caused by
// unknown key ids. Default DefaultRemoteKeysMinRefetch.
func RemoteKeysMinRefetch(d time.Duration) RemoteKeysOption {
	return func(s *RemoteKeySet) { s.minGap = d }
}

// RemoteKeys returns the key set served at jwksURL, an absolute http(s)
// URL such as "https://auth.example.com/auth/jwks.json". It does no I/O:
// the first token to verify fetches the set.
func RemoteKeys(jwksURL string, opts ...RemoteKeysOption) (*RemoteKeySet, error) {
	u, err := url.Parse(jwksURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("authenik8: RemoteKeys: %q is not an absolute http(s) URL", RedactURL(jwksURL))
	}
	s := &RemoteKeySet{url: jwksURL, minGap: DefaultRemoteKeysMinRefetch}
	for _, o := range opts {
		o(s)
	}
	if s.client == nil {
		s.client = &http.Client{Timeout: defaultJWKSTimeout}
	}
	if s.minGap < 0 {
		return nil, errors.New("authenik8: RemoteKeysMinRefetch must not be negative")
	}
	ctx, stop := context.WithCancel(context.Background())
	s.stop = stop
	// The background refresh checks every minute for a set that is due.
	s.cache = jwk.NewCache(ctx, jwk.WithRefreshWindow(time.Minute))
	err = s.cache.Register(jwksURL,
		jwk.WithHTTPClient(s.client),
		jwk.WithMinRefreshInterval(DefaultRemoteKeysRefresh),
		// Every successful fetch, background or on demand, installs its keys.
		jwk.WithPostFetcher(jwk.PostFetchFunc(func(_ string, set jwk.Set) (jwk.Set, error) {
			ring, err := remoteRing(set)
			if err != nil {
				return nil, err
			}
			s.ring.Store(ring)
			return set, nil
		})))
	if err != nil {
		stop()
		return nil, fmt.Errorf("authenik8: RemoteKeys: %w", err)
	}
	return s, nil
}

// Close stops the background refresh. Verification goes on with the keys
// already fetched, and fetches on demand.
func (s *RemoteKeySet) Close() { s.stop() }

// URL is the JWKS URL the set is fetched from.
func (s *RemoteKeySet) URL() string { return s.url }

// Refresh fetches the set now, for a readiness check at start. It is not
// needed otherwise.
func (s *RemoteKeySet) Refresh(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastTry = time.Now()
	_, err := s.cache.Refresh(ctx, s.url)
	s.lastFail = err
	return err
}

// errKeysUnavailable: the key a token names is unknown and the set could
// not be fetched to look for it. Fail closed, as for a store.
var errKeysUnavailable = ErrStoreUnavailable.WithDescription("The verification keys could not be fetched; retry later.")

// key returns the key of id: from the cached set, or, when the set lacks
// it, from a new fetch if none was tried within the least refetch gap.
func (s *RemoteKeySet) key(kid string) (*ringKey, error) {
	if r := s.ring.Load(); r != nil {
		if k, ok := r.byID[kid]; ok {
			return k, nil
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Another goroutine may have fetched while this one waited.
	r := s.ring.Load()
	if r != nil {
		if k, ok := r.byID[kid]; ok {
			return k, nil
		}
	}
	if r == nil || time.Since(s.lastTry) >= s.minGap {
		s.lastTry = time.Now()
		// Not the request's context: a client that gives up must not
		// abort the fetch that the requests waiting behind it need.
		ctx, cancel := context.WithTimeout(context.Background(), cmp.Or(s.client.Timeout, defaultJWKSTimeout)+time.Second)
		_, s.lastFail = s.cache.Refresh(ctx, s.url)
		cancel()
		if r = s.ring.Load(); r != nil {
			if k, ok := r.byID[kid]; ok {
				return k, nil
			}
		}
	}
	if r == nil || s.lastFail != nil {
		return nil, fmt.Errorf("%w: %s: %v", errKeysUnavailable, RedactURL(s.url), s.lastFail)
	}
	return nil, fmt.Errorf("%w: unknown kid %q", ErrInvalidToken, kid)
}

// remoteRing builds a verify-only key ring from a fetched set: its public
// asymmetric keys, each under its kid (its RFC 7638 thumbprint when it has
// none, as NewSigningKey names keys).
func remoteRing(set jwk.Set) (*keyRing, error) {
	r := &keyRing{byID: make(map[string]*ringKey, set.Len())}
	for i := 0; i < set.Len(); i++ {
		jk, _ := set.Key(i)
		var raw any
		if err := jk.Raw(&raw); err != nil {
			continue
		}
		if signer, ok := raw.(crypto.Signer); ok {
			raw = signer.Public() // a private key published by mistake: its public half only
		}
		if _, symmetric := raw.([]byte); symmetric {
			continue // a shared secret never comes from a URL
		}
		k, err := newVerifyKey(raw, jk.KeyID())
		if err != nil {
			continue // a key this project does not sign with
		}
		rk, err := newRingKey(k)
		if err != nil {
			continue
		}
		if _, dup := r.byID[k.id]; !dup {
			r.byID[k.id] = rk
		}
	}
	return r, nil
}

// verifyOnlyRing is the key ring of a verify-only Auth: nothing signs, and
// its own JWKS is empty (the keys are the issuer's to publish).
var verifyOnlyRing = &keyRing{
	byID:     map[string]*ringKey{},
	jwks:     []byte(`{"keys":[]}`),
	jwksResp: &Response{Status: 200, Header: []Header{hdrJSON, {"Cache-Control", "public, max-age=300"}}, Body: []byte(`{"keys":[]}`)},
}

// errVerifyOnly answers what would issue tokens on a verify-only Auth.
var errVerifyOnly = ErrNotFound.WithDescription("This service only verifies tokens.")

// statelessStore is the Store of a verify-only Auth without one: every
// session counts as alive, so a token is valid until its exp.
type statelessStore struct{}

var errNoSessions = errors.New("authenik8: a verify-only Auth without a Store keeps no sessions")

func (statelessStore) CreateSession(context.Context, NewSession) (Session, error) {
	return Session{}, errNoSessions
}
func (statelessStore) Rotate(context.Context, Rotation) (RotateResult, error) {
	return RotateResult{}, errNoSessions
}
func (statelessStore) SessionAlive(context.Context, string, string) (bool, error) { return true, nil }
func (statelessStore) RevokeSession(context.Context, string, string) (bool, error) {
	return false, errNoSessions
}
func (statelessStore) RevokeUser(context.Context, string) (int, error) { return 0, errNoSessions }
func (statelessStore) ListSessions(context.Context, string) ([]Session, error) {
	return nil, errNoSessions
}
func (statelessStore) Ping(context.Context) error { return nil }

// RevokeOtherSessions is the account lifecycle's addition to Store.
func (statelessStore) RevokeOtherSessions(context.Context, string, string) (int, error) {
	return 0, errNoSessions
}

// notVerifyOnly reports whether a verify-only Auth leaves rt out: every
// route that issues tokens, and, without a Store, every route but /me.
func (a *Auth) notVerifyOnly(rt Route) bool {
	switch rt.ID {
	case RouteMe:
		return false
	case RouteLogout, RouteLogoutAll, RouteSessions, RouteRevokeSession:
		return a.stateless
	}
	return true
}
