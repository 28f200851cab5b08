// Package oauthtest helps test sign-in with OAuth 2.0 and OpenID Connect
// providers without a network: Provider is a scripted core.Provider that
// checks PKCE and the nonce as a real provider does, and Accounts an
// in-memory user store with everything core's OAuth flow uses. Tests
// against a real OpenID Connect server live in the oauth module.
package oauthtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"sync"

	"github.com/authenik8/authenik8-go/core"
)

// AuthorizeURL is where Provider's authorization URLs point.
const AuthorizeURL = "https://provider.test/authorize"

// Provider is a scripted OAuth 2.0 provider. The test queues the identity
// of the next sign-in with Next, plays the browser at the provider with
// Authorize, and follows the callback URL it returns. It is safe for
// concurrent use.
type Provider struct {
	mu     sync.Mutex
	queue  []core.Identity
	grants map[string]*grant
	fail   error
	// ReuseCodes makes Exchange accept a code more than once, as a careless
	// provider might: core's single-use flows must not depend on the
	// provider refusing a replay.
	ReuseCodes bool
	exchanges  int
}

type grant struct {
	id                               core.Identity
	redirect, nonce, challenge, meth string
	used                             bool
}

// NewProvider returns a Provider with nothing queued.
func NewProvider() *Provider { return &Provider{grants: map[string]*grant{}} }

// Next queues the identity that the next Authorize signs in.
func (p *Provider) Next(id core.Identity) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.queue = append(p.queue, id)
}

// FailNext makes the next Exchange fail with err (wrap
// core.ErrInvalidIDToken for an ID token that does not verify).
func (p *Provider) FailNext(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fail = err
}

// Exchanges counts the calls to Exchange.
func (p *Provider) Exchanges() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exchanges
}

// AuthCodeURL implements core.Provider.
func (p *Provider) AuthCodeURL(_ context.Context, f core.OAuthFlow) (string, error) {
	q := url.Values{
		"response_type": {"code"}, "client_id": {"oauthtest"}, "redirect_uri": {f.RedirectURL},
		"state": {f.State}, "nonce": {f.Nonce},
		"code_challenge": {challenge(f.Verifier)}, "code_challenge_method": {"S256"},
	}
	return AuthorizeURL + "?" + q.Encode(), nil
}

// Authorize is the user at the provider: it reads an authorization URL
// and returns the URL the provider redirects the browser to —
// redirect_uri?code=…&state=… — binding the queued identity, the nonce
// and the PKCE challenge to the code.
func (p *Provider) Authorize(authURL string) (string, error) {
	u, err := url.Parse(authURL)
	if err != nil {
		return "", err
	}
	q := u.Query()
	if q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("state") == "" {
		return "", fmt.Errorf("oauthtest: not a code flow with PKCE S256 and a state: %s", authURL)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.queue) == 0 {
		return "", errors.New("oauthtest: no identity queued (Provider.Next)")
	}
	g := &grant{id: p.queue[0], redirect: q.Get("redirect_uri"), nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), meth: "S256"}
	p.queue = p.queue[1:]
	code := random()
	p.grants[code] = g
	cb, err := url.Parse(g.redirect)
	if err != nil {
		return "", err
	}
	cq := cb.Query()
	cq.Set("code", code)
	cq.Set("state", q.Get("state"))
	cb.RawQuery = cq.Encode()
	return cb.String(), nil
}

// Exchange implements core.Provider: the code must be one Authorize gave
// (once, unless ReuseCodes), for the same redirect URL, with the verifier
// of its challenge; the nonce must be the one the authorization carried.
func (p *Provider) Exchange(_ context.Context, f core.OAuthFlow, code string) (core.Identity, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.exchanges++
	if err := p.fail; err != nil {
		p.fail = nil
		return core.Identity{}, err
	}
	g := p.grants[code]
	switch {
	case g == nil || (g.used && !p.ReuseCodes):
		return core.Identity{}, errors.New("oauthtest: invalid_grant: unknown or used code")
	case g.redirect != f.RedirectURL:
		return core.Identity{}, errors.New("oauthtest: invalid_grant: redirect_uri differs")
	case challenge(f.Verifier) != g.challenge:
		return core.Identity{}, errors.New("oauthtest: invalid_grant: the PKCE verifier does not match")
	case g.nonce != f.Nonce:
		return core.Identity{}, fmt.Errorf("%w: nonce %q is not the flow's", core.ErrInvalidIDToken, g.nonce)
	}
	g.used = true
	return g.id, nil
}

func challenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func random() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
