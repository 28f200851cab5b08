package oauth

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/authenik8/authenik8-go/core"
)

// Option configures a provider.
type Option func(*options)

type options struct {
	client *http.Client
	scopes []string
	web    string // GitHub: the site, for the authorize and token endpoints
	api    string // GitHub: the REST API
}

// WithHTTPClient makes the provider's requests — discovery, the code
// exchange, the provider's keys and API — with c. Default: an http.Client
// with a 10-second timeout.
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.client = c } }

// WithScopes replaces the scopes asked for. Defaults: "openid email" for
// OpenID Connect (openid is added when missing), "read:user user:email"
// for GitHub.
func WithScopes(scopes ...string) Option {
	return func(o *options) { o.scopes = slices.Clone(scopes) }
}

// WithGitHubURLs points GitHub at another site and API: GitHub Enterprise
// Server ("https://github.example.com", "https://github.example.com/api/v3"),
// or a test server. Defaults: "https://github.com", "https://api.github.com".
func WithGitHubURLs(site, api string) Option {
	return func(o *options) {
		o.web, o.api = strings.TrimSuffix(site, "/"), strings.TrimSuffix(api, "/")
	}
}

func newOptions(opts []Option) options {
	var o options
	for _, f := range opts {
		f(&o)
	}
	if o.client == nil {
		o.client = &http.Client{Timeout: 10 * time.Second}
	}
	return o
}

// OIDCProvider is an OpenID Connect provider: the authorization code flow
// with PKCE S256 and a nonce, and an ID token fully verified — signature by
// the provider's published keys, issuer, audience (and azp when the token
// names several audiences), expiry and nonce. The identity is the ID
// token's sub, email and email_verified.
type OIDCProvider struct {
	issuer       string
	clientID     string
	clientSecret string
	opts         options
	static       *oidc.ProviderConfig // nil: discovery

	mu    sync.Mutex
	ready *oidcReady // nil until discovered
}

// oidcReady is what discovery yields.
type oidcReady struct {
	config   oauth2.Config
	verifier *oidc.IDTokenVerifier
}

// OIDC returns the provider at issuer (such as
// "https://login.example.com/realms/acme"), found by OpenID Connect
// discovery (issuer + "/.well-known/openid-configuration"). It does no
// I/O: discovery runs at the first sign-in, and again after a failure; call
// Discover to check the issuer at start.
func OIDC(issuer, clientID, clientSecret string, opts ...Option) (*OIDCProvider, error) {
	if err := checkClient(clientID, clientSecret); err != nil {
		return nil, err
	}
	if u, err := url.Parse(issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("oauth: the OIDC issuer %q is not an absolute http(s) URL", core.RedactURL(issuer))
	}
	o := newOptions(opts)
	if len(o.scopes) == 0 {
		o.scopes = []string{oidc.ScopeOpenID, "email"}
	} else if !slices.Contains(o.scopes, oidc.ScopeOpenID) {
		o.scopes = append([]string{oidc.ScopeOpenID}, o.scopes...)
	}
	return &OIDCProvider{issuer: issuer, clientID: clientID, clientSecret: clientSecret, opts: o}, nil
}

// Google's OpenID Connect endpoints, as its discovery document lists them.
const (
	googleIssuer = "https://accounts.google.com"
	googleAuth   = "https://accounts.google.com/o/oauth2/v2/auth"
	googleToken  = "https://oauth2.googleapis.com/token"
	googleKeys   = "https://www.googleapis.com/oauth2/v3/certs"
)

// Google returns Google as an OpenID Connect provider, with its endpoints
// built in: no discovery.
func Google(clientID, clientSecret string, opts ...Option) (*OIDCProvider, error) {
	return staticOIDC(&oidc.ProviderConfig{
		IssuerURL: googleIssuer, AuthURL: googleAuth, TokenURL: googleToken, JWKSURL: googleKeys,
		Algorithms: []string{oidc.RS256},
	}, clientID, clientSecret, opts)
}

// staticOIDC is an OpenID Connect provider whose endpoints are known.
func staticOIDC(pc *oidc.ProviderConfig, clientID, clientSecret string, opts []Option) (*OIDCProvider, error) {
	p, err := OIDC(pc.IssuerURL, clientID, clientSecret, opts...)
	if err != nil {
		return nil, err
	}
	p.static = pc
	return p, nil
}

// Discover runs OpenID Connect discovery now (a no-op once it has
// succeeded), to learn at start that the issuer answers.
func (p *OIDCProvider) Discover(ctx context.Context) error {
	_, err := p.discover(ctx)
	return err
}

// Issuer is the provider's issuer URL.
func (p *OIDCProvider) Issuer() string { return p.issuer }

func (p *OIDCProvider) discover(ctx context.Context) (*oidcReady, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ready != nil {
		return p.ready, nil
	}
	// The client serves the provider's key set too, for its whole life.
	ctx = oidc.ClientContext(ctx, p.opts.client)
	var (
		op  *oidc.Provider
		err error
	)
	if p.static != nil {
		op = p.static.NewProvider(ctx)
	} else if op, err = oidc.NewProvider(ctx, p.issuer); err != nil {
		return nil, fmt.Errorf("oauth: discovery of %s: %w", core.RedactURL(p.issuer), err)
	}
	p.ready = &oidcReady{
		config: oauth2.Config{
			ClientID: p.clientID, ClientSecret: p.clientSecret,
			Endpoint: op.Endpoint(), Scopes: p.opts.scopes,
		},
		verifier: op.Verifier(&oidc.Config{ClientID: p.clientID}),
	}
	return p.ready, nil
}

// AuthCodeURL implements core.Provider.
func (p *OIDCProvider) AuthCodeURL(ctx context.Context, f core.OAuthFlow) (string, error) {
	r, err := p.discover(ctx)
	if err != nil {
		return "", err
	}
	c := r.config
	c.RedirectURL = f.RedirectURL
	return c.AuthCodeURL(f.State, oauth2.S256ChallengeOption(f.Verifier), oidc.Nonce(f.Nonce)), nil
}

// Exchange implements core.Provider.
func (p *OIDCProvider) Exchange(ctx context.Context, f core.OAuthFlow, code string) (core.Identity, error) {
	r, err := p.discover(ctx)
	if err != nil {
		return core.Identity{}, err
	}
	c := r.config
	c.RedirectURL = f.RedirectURL
	tok, err := c.Exchange(context.WithValue(ctx, oauth2.HTTPClient, p.opts.client), code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		return core.Identity{}, fmt.Errorf("oauth: code exchange: %w", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return core.Identity{}, fmt.Errorf("%w: the token response has no id_token", core.ErrInvalidIDToken)
	}
	idt, err := r.verifier.Verify(ctx, raw)
	if err != nil {
		return core.Identity{}, fmt.Errorf("%w: %w", core.ErrInvalidIDToken, err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(f.Nonce)) != 1 {
		return core.Identity{}, fmt.Errorf("%w: the nonce is not this flow's", core.ErrInvalidIDToken)
	}
	var claims struct {
		Azp           string     `json:"azp"`
		Email         string     `json:"email"`
		EmailVerified flexibleTF `json:"email_verified"`
	}
	if err := idt.Claims(&claims); err != nil {
		return core.Identity{}, fmt.Errorf("%w: claims: %w", core.ErrInvalidIDToken, err)
	}
	// With several audiences the token must name this client as the party
	// it was issued to (OpenID Connect Core §3.1.3.7).
	if len(idt.Audience) > 1 && claims.Azp != p.clientID {
		return core.Identity{}, fmt.Errorf("%w: several audiences and azp %q is not this client", core.ErrInvalidIDToken, claims.Azp)
	}
	if idt.Subject == "" {
		return core.Identity{}, fmt.Errorf("%w: no sub", core.ErrInvalidIDToken)
	}
	return core.Identity{Subject: idt.Subject, Email: claims.Email, EmailVerified: bool(claims.EmailVerified)}, nil
}

// flexibleTF is email_verified: a JSON boolean, or the strings "true" and
// "false" that some providers send. Anything else is refused.
type flexibleTF bool

func (b *flexibleTF) UnmarshalJSON(data []byte) error {
	switch string(data) {
	case "true", `"true"`:
		*b = true
	case "false", `"false"`, "null":
		*b = false
	default:
		return errors.New("email_verified is not a boolean")
	}
	return nil
}

func checkClient(id, secret string) error {
	if id == "" || secret == "" {
		return errors.New("oauth: the client id and client secret are required")
	}
	return nil
}

// decodeJSON reads a JSON answer of at most 1 MiB.
func decodeJSON(resp *http.Response, v any) error {
	return json.NewDecoder(http.MaxBytesReader(nil, resp.Body, 1<<20)).Decode(v)
}
