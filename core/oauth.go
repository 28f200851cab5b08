package core

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Sign-in with OAuth 2.0 and OpenID Connect providers. Core owns every
// decision of the flow — the routes, state, nonce and PKCE verifier, their
// binding to the browser, account resolution, login codes, the redirects —
// and a Provider only talks to the provider: github.com/authenik8/authenik8-go/oauth
// implements generic OpenID Connect (discovery), Google and GitHub.
//
//	GET  /oauth/{provider}/start     302 to the provider, with a flow cookie
//	GET  /oauth/{provider}/callback  302 to OAuthConfig.RedirectURL?login_code=… (or ?error=…)
//	POST /oauth/exchange             {"login_code"} → the token response

// Provider is one OAuth 2.0 or OpenID Connect identity provider, for
// OAuthConfig.Providers. Implementations use the authorization code flow
// with PKCE S256 and hold no per-flow state: core hands them the state,
// nonce and verifier of each flow.
type Provider interface {
	// AuthCodeURL returns the URL of the provider's authorization endpoint
	// that starts flow f: response_type=code, f.RedirectURL, f.State, the
	// S256 challenge of f.Verifier and, for OpenID Connect, f.Nonce.
	AuthCodeURL(ctx context.Context, f OAuthFlow) (string, error)
	// Exchange trades the authorization code of flow f for the user's
	// identity: it sends f.Verifier (PKCE) and f.RedirectURL with the code
	// and, for OpenID Connect, fully verifies the ID token — signature,
	// issuer, audience, expiry and that its nonce is f.Nonce — failing with
	// an error that wraps ErrInvalidIDToken when it does not pass.
	Exchange(ctx context.Context, f OAuthFlow, code string) (Identity, error)
}

// OAuthFlow is what a Provider needs of one sign-in flow.
type OAuthFlow struct {
	// RedirectURL is the callback registered with the provider:
	// OAuthConfig.BaseURL + "/oauth/{provider}/callback".
	RedirectURL string
	// State binds the provider's answer to this flow (RFC 6749 §10.12).
	State string
	// Nonce binds the ID token to this flow (OpenID Connect); providers
	// without ID tokens ignore it.
	Nonce string
	// Verifier is the PKCE code verifier (RFC 7636): 43 characters; its
	// S256 challenge goes in the authorization URL, the verifier with the
	// code.
	Verifier string
}

// Identity is a user as a provider vouches for them.
type Identity struct {
	// Subject is the user's stable, unique id at the provider (the ID
	// token's sub; GitHub's numeric user id). Required.
	Subject string
	// Email is the user's address at the provider, "" when it gave none.
	Email string
	// EmailVerified says the provider verified Email. An identity without
	// a verified email never creates or links an account.
	EmailVerified bool
}

// ErrInvalidIDToken is wrapped by Provider.Exchange when the ID token fails
// verification (signature, issuer, audience, expiry, nonce): the callback
// then ends with ?error=invalid_id_token.
var ErrInvalidIDToken = errors.New("authenik8: the ID token failed verification")

// OAuthConfig turns on sign-in with OAuth 2.0 and OpenID Connect providers
// (Config.OAuth): the routes /oauth/{provider}/start,
// /oauth/{provider}/callback and /oauth/exchange. Config.Users must
// implement IdentityStore and LinkTokenStore (memstore.Users,
// redisstore.Users and pgstore.Users do), and Config.Store Limiter
// (memstore and redisstore do): each flow is single use across every
// process sharing it.
type OAuthConfig struct {
	// Providers by the name in their routes: "google" serves
	// /oauth/google/start. Names are 1 to 32 lower-case letters, digits, '-'
	// and '_'. At least one.
	Providers map[string]Provider
	// BaseURL is the external URL of the auth routes' mount point, such as
	// "https://api.example.com/auth": the callback to register with
	// provider p is BaseURL + "/oauth/" + p + "/callback". The flow cookie
	// is Secure unless BaseURL is http (local development). Required.
	BaseURL string
	// RedirectURL is the application's page where every callback ends:
	// with ?login_code=… on success, which the page trades for tokens at
	// POST /oauth/exchange, or with ?error=… (the OAuthError… codes). An
	// absolute http(s) URL, or a path on this host. Required.
	RedirectURL string
	// Roles are given to accounts created at a first sign-in. Default
	// Config.DefaultRoles.
	Roles []string
	// Timeout bounds the code exchange with the provider. Default 10
	// seconds.
	Timeout time.Duration
	// CookieName names the flow cookie. Default "a8_oauth".
	CookieName string
	// OnError, when set, is called for every callback that ends with
	// ?error=…, with the code and the cause (a provider's answer, an ID
	// token's defect): the browser only learns the code, so log the cause
	// here. Optional.
	OnError func(ctx context.Context, provider, code string, cause error)
}

// The codes a callback sends to OAuthConfig.RedirectURL as ?error=. Each
// ends the flow without a login code: no account is created or linked and
// no session is opened.
const (
	// The user, or the provider, refused (the provider answered
	// error=access_denied).
	OAuthErrorAccessDenied = "access_denied"
	// The provider answered another error, the code exchange failed, or the
	// provider could not be reached.
	OAuthErrorProvider = "provider_error"
	// The flow cookie is missing, expired or forged, the state does not
	// match it, or this flow's callback was already used (a replay).
	OAuthErrorInvalidState = "invalid_state"
	// The ID token failed verification: signature, issuer, audience,
	// expiry or nonce.
	OAuthErrorInvalidIDToken = "invalid_id_token"
	// The identity is not linked to an account yet and the provider
	// vouched for no verified, valid email address: nothing is created.
	OAuthErrorEmailNotVerified = "email_not_verified"
	// An account with the provider's email exists but its own email is not
	// verified: linking it would hand the account to whoever registered
	// the address first. The user signs in with the password, verifies the
	// email, and then signs in with the provider.
	OAuthErrorAccountExists = "account_exists"
	// The account is disabled.
	OAuthErrorAccountDisabled = "account_disabled"
	// The store could not answer.
	OAuthErrorUnavailable = "store_unavailable"
)

// MaxSubjectBytes bounds the subject of an identity (OpenID Connect: at
// most 255 ASCII characters).
const MaxSubjectBytes = 255

// Lifetimes of a flow and of its login code.
const (
	OAuthFlowTTL  = 10 * time.Minute
	LoginCodeTTL  = 60 * time.Second
	loginPurpose  = "login"
	defaultOAuthT = 10 * time.Second
)

// oauthState is OAuthConfig resolved by New.
type oauthState struct {
	providers  map[string]Provider
	base       string // BaseURL without a trailing slash
	redirect   *url.URL
	roles      []string
	timeout    time.Duration
	cookieName string
	cookiePath string
	secure     bool
	onError    func(context.Context, string, string, error)
	idents     IdentityStore
	byEmail    userByEmail // nil: no linking by email
	once       Limiter
}

// userByEmail is the part of AccountStore that linking by email needs.
type userByEmail interface {
	UserByEmail(ctx context.Context, email string) (User, error)
}

func newOAuth(cfg Config) (*oauthState, error) {
	o := cfg.OAuth
	if o == nil {
		return nil, nil
	}
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("authenik8: Config.OAuth."+format, args...))
	}
	s := &oauthState{
		providers: make(map[string]Provider, len(o.Providers)),
		roles:     slices.Clone(o.Roles), timeout: o.Timeout, cookieName: o.CookieName, onError: o.OnError,
	}
	if len(o.Providers) == 0 {
		bad("Providers is empty")
	}
	for name, p := range o.Providers {
		if !validProviderName(name) {
			bad("Providers: %q is not a provider name (1 to 32 of a-z, 0-9, '-', '_')", name)
		}
		if p == nil {
			bad("Providers[%q] is nil", name)
		}
		s.providers[name] = p
	}
	base, err := url.Parse(o.BaseURL)
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" || base.RawQuery != "" || base.Fragment != "" || base.User != nil {
		bad("BaseURL %q is not the absolute http(s) URL of the auth routes, such as \"https://api.example.com/auth\"", RedactURL(o.BaseURL))
	} else {
		s.base = strings.TrimSuffix(base.String(), "/")
		s.secure = base.Scheme == "https"
		s.cookiePath = strings.TrimSuffix(base.EscapedPath(), "/") + "/oauth/"
	}
	s.redirect, err = url.Parse(o.RedirectURL)
	if err != nil || o.RedirectURL == "" || s.redirect.Fragment != "" || s.redirect.User != nil ||
		!(s.redirect.IsAbs() && (s.redirect.Scheme == "https" || s.redirect.Scheme == "http") && s.redirect.Host != "" ||
			!s.redirect.IsAbs() && s.redirect.Host == "" && strings.HasPrefix(s.redirect.Path, "/")) {
		bad("RedirectURL %q is neither an absolute http(s) URL nor a path on this host", RedactURL(o.RedirectURL))
	}
	if s.roles == nil {
		s.roles = slices.Clone(cfg.DefaultRoles)
	}
	if s.timeout == 0 {
		s.timeout = defaultOAuthT
	}
	if s.timeout < 0 {
		bad("Timeout must not be negative")
	}
	if s.cookieName == "" {
		s.cookieName = "a8_oauth"
	}
	var ok bool
	if s.idents, ok = cfg.Users.(IdentityStore); !ok {
		bad("needs Config.Users to implement core.IdentityStore")
	}
	if _, ok = cfg.Users.(LinkTokenStore); !ok {
		bad("needs Config.Users to implement core.LinkTokenStore (login codes)")
	}
	if accounts, ok := cfg.Users.(AccountStore); ok {
		s.byEmail = accounts
	}
	if s.once, ok = cfg.Store.(Limiter); !ok {
		bad("needs Config.Store to implement core.Limiter (single-use flows)")
	}
	return s, errors.Join(errs...)
}

func validProviderName(name string) bool {
	if name == "" || len(name) > 32 {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// OAuthCallbackURL is the callback URL to register with the provider of
// that name: OAuthConfig.BaseURL + "/oauth/" + provider + "/callback"; ""
// when OAuth is off.
func (a *Auth) OAuthCallbackURL(provider string) string {
	if a.oauth == nil {
		return ""
	}
	return a.oauth.base + "/oauth/" + provider + "/callback"
}

// oauthRoutes are the OAuth routes, when OAuth is on.
func (a *Auth) oauthRoutes() []Route {
	if a.oauth == nil {
		return nil
	}
	return []Route{
		{RouteOAuthStart, "GET", "/oauth/:provider/start", a.handleOAuthStart},
		{RouteOAuthCallback, "GET", "/oauth/:provider/callback", a.handleOAuthCallback},
		{RouteOAuthExchange, "POST", "/oauth/exchange", a.handleOAuthExchange},
	}
}

// handleOAuthStart sends the browser to the provider with a fresh flow,
// bound to this browser by the flow cookie.
func (a *Auth) handleOAuthStart(ctx context.Context, r *Request) *Response {
	name := r.ID
	p, ok := a.oauth.providers[name]
	if !ok {
		return ErrorResponse(ErrNotFound)
	}
	seed := make([]byte, flowSeed)
	rand.Read(seed)
	cookie := a.mintFlow(name, a.now().Add(OAuthFlowTTL), seed)
	f := a.flowParams(name, a.refresh.keys[0], seed)
	target, err := p.AuthCodeURL(ctx, f)
	if err != nil {
		return a.oauthFail(ctx, name, OAuthErrorProvider, fmt.Errorf("authorization URL: %w", err))
	}
	return &Response{Status: http.StatusFound, Header: []Header{
		{"Location", target}, hdrNoStore, hdrNoReferrer,
		{"Set-Cookie", a.flowCookie(cookie, int(OAuthFlowTTL/time.Second))},
	}}
}

// handleOAuthCallback finishes a flow: the provider's answer is checked
// against the flow cookie, the code exchanged and the account resolved;
// the browser ends on RedirectURL with a login code or an error code. The
// flow cookie is cleared whatever the outcome.
func (a *Auth) handleOAuthCallback(ctx context.Context, r *Request) *Response {
	name := r.ID
	p, ok := a.oauth.providers[name]
	if !ok {
		return ErrorResponse(ErrNotFound)
	}
	query := func(k string) string {
		if r.Query == nil {
			return ""
		}
		return r.Query(k)
	}
	// The provider's own refusal. Its error string is the caller's to
	// choose: only access_denied is passed on as such.
	if e := query("error"); e != "" {
		code := OAuthErrorProvider
		if e == "access_denied" {
			code = OAuthErrorAccessDenied
		}
		return a.oauthFail(ctx, name, code, fmt.Errorf("the provider answered error=%.64q", e))
	}
	var cookie string
	if r.Cookie != nil {
		cookie = r.Cookie(a.oauth.cookieName)
	}
	f, err := a.parseFlow(cookie, name, query("state"))
	if err != nil {
		return a.oauthFail(ctx, name, OAuthErrorInvalidState, err)
	}
	// Single use, across every process sharing the store: a replayed
	// callback fails here even if the provider would take its code twice.
	first, _, err := a.oauth.once.Hit(ctx, "oauth-flow:"+f.State, 1, OAuthFlowTTL+a.cfg.Leeway)
	if err != nil {
		return a.oauthFail(ctx, name, OAuthErrorUnavailable, storeErr(err))
	}
	if !first {
		return a.oauthFail(ctx, name, OAuthErrorInvalidState, errors.New("this flow's callback was already used"))
	}
	code := query("code")
	if code == "" {
		return a.oauthFail(ctx, name, OAuthErrorProvider, errors.New("the callback has no code"))
	}
	xctx, cancel := context.WithTimeout(ctx, a.oauth.timeout)
	id, err := p.Exchange(xctx, f, strings.Clone(code))
	cancel()
	switch {
	case errors.Is(err, ErrInvalidIDToken):
		return a.oauthFail(ctx, name, OAuthErrorInvalidIDToken, err)
	case err != nil:
		return a.oauthFail(ctx, name, OAuthErrorProvider, err)
	case id.Subject == "" || len(id.Subject) > MaxSubjectBytes || !utf8.ValidString(id.Subject):
		return a.oauthFail(ctx, name, OAuthErrorProvider, fmt.Errorf("the provider named no usable subject (%d bytes)", len(id.Subject)))
	}
	u, failure, err := a.resolveIdentity(ctx, name, id)
	if failure != "" {
		return a.oauthFail(ctx, name, failure, err)
	}
	login, err := a.NewLinkToken(ctx, u.ID, loginPurpose, LoginCodeTTL)
	if err != nil {
		return a.oauthFail(ctx, name, OAuthErrorUnavailable, err)
	}
	return a.oauthRedirect("login_code", login)
}

// resolveIdentity finds or makes the account of a provider's identity: the
// account linked to (provider, subject); else the account whose verified
// email is the identity's verified email, which gets linked; else a new
// account. It returns the account, or the callback's error code and its
// cause.
func (a *Auth) resolveIdentity(ctx context.Context, provider string, id Identity) (User, string, error) {
	o := a.oauth
	// Two callbacks may race to link or create one account: the loser finds
	// the winner's work on its next round.
	for range 3 {
		u, err := o.idents.UserByIdentity(ctx, provider, id.Subject)
		switch {
		case err == nil:
			if u.Disabled {
				return User{}, OAuthErrorAccountDisabled, ErrAccountDisabled
			}
			return u, "", nil
		case !errors.Is(err, ErrUserNotFound):
			return User{}, OAuthErrorUnavailable, storeErr(err)
		}
		email := NormalizeEmail(id.Email)
		if !id.EmailVerified || email == "" || CheckEmail(email) != nil {
			return User{}, OAuthErrorEmailNotVerified, fmt.Errorf("the provider vouched for no verified email address (email %q, verified %v)", truncate(id.Email, 64), id.EmailVerified)
		}
		if o.byEmail != nil {
			u, err = o.byEmail.UserByEmail(ctx, email)
			switch {
			case err == nil && !u.EmailVerified:
				return User{}, OAuthErrorAccountExists, errors.New("an account with this email exists and its email is not verified")
			case err == nil && u.Disabled:
				return User{}, OAuthErrorAccountDisabled, ErrAccountDisabled
			case err == nil:
				err = o.idents.LinkIdentity(ctx, u.ID, provider, id.Subject)
				if err == nil {
					return u, "", nil
				}
				if errors.Is(err, ErrUserExists) || errors.Is(err, ErrUserNotFound) {
					continue // linked elsewhere, or deleted, meanwhile
				}
				return User{}, OAuthErrorUnavailable, storeErr(err)
			case !errors.Is(err, ErrUserNotFound):
				return User{}, OAuthErrorUnavailable, storeErr(err)
			}
		}
		u, err = o.idents.RegisterIdentity(ctx, email, o.roles, provider, id.Subject)
		switch {
		case err == nil:
			return u, "", nil
		case errors.Is(err, ErrUserExists):
			if o.byEmail == nil {
				return User{}, OAuthErrorAccountExists, errors.New("an account with this email exists and the user store cannot look it up to link it")
			}
			continue
		default:
			return User{}, OAuthErrorUnavailable, storeErr(err)
		}
	}
	return User{}, OAuthErrorUnavailable, errors.New("the account changed under three attempts to resolve it")
}

// handleOAuthExchange trades a login code for a session: 400 invalid_grant
// for a code that is unknown, expired or used, in one atomic store step.
func (a *Auth) handleOAuthExchange(ctx context.Context, r *Request) *Response {
	var in struct {
		LoginCode string `json:"login_code"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return ErrorResponse(err)
	}
	if in.LoginCode == "" {
		return ErrorResponse(ErrInvalidRequest.WithDescription("login_code is required"))
	}
	pair, err := a.ExchangeLoginCode(ctx, in.LoginCode, r.Client)
	if err != nil {
		return ErrorResponse(err)
	}
	return a.tokenResponse(pair)
}

// ExchangeLoginCode opens a session for the account an OAuth callback
// handed a login code to. The code is single use and expires after
// LoginCodeTTL: an unknown, expired or used code is ErrInvalidGrant. A
// disabled account gets ErrAccountDisabled and no session.
func (a *Auth) ExchangeLoginCode(ctx context.Context, code string, client Client) (*TokenPair, error) {
	if a.oauth == nil {
		return nil, ErrNotFound.WithDescription("OAuth sign-in is not enabled.")
	}
	// A login code is a link token of purpose "login": MAC'd, so a forged
	// one costs no store call, and spent in one atomic store step.
	uid, err := a.RedeemLinkToken(ctx, loginPurpose, code)
	if err != nil {
		return nil, err
	}
	u, err := a.cfg.Users.User(ctx, uid)
	switch {
	case errors.Is(err, ErrUserNotFound):
		return nil, ErrInvalidGrant
	case err != nil:
		return nil, storeErr(err)
	case u.Disabled:
		return nil, ErrAccountDisabled
	}
	pair, err := a.IssueSession(ctx, u, client)
	if err != nil {
		return nil, err
	}
	a.emit(ctx, a.cfg.Hooks.OnLogin, Event{UserID: u.ID, SessionID: pair.SessionID, Email: u.Email, IP: client.IP, UserAgent: client.UserAgent})
	return pair, nil
}

// oauthFail ends a callback on RedirectURL?error=code, clearing the flow
// cookie, and reports the cause to OnError.
func (a *Auth) oauthFail(ctx context.Context, provider, code string, cause error) *Response {
	if a.oauth.onError != nil {
		a.oauth.onError(ctx, provider, code, cause)
	}
	return a.oauthRedirect("error", code)
}

// oauthRedirect is the 302 to RedirectURL with one query parameter added,
// the flow cookie cleared.
func (a *Auth) oauthRedirect(key, value string) *Response {
	u := *a.oauth.redirect
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return &Response{Status: http.StatusFound, Header: []Header{
		{"Location", u.String()}, hdrNoStore, hdrNoReferrer,
		{"Set-Cookie", a.flowCookie("", -1)},
	}}
}

// hdrNoReferrer keeps the URLs of a flow, which carry its state and codes,
// out of Referer headers.
var hdrNoReferrer = Header{"Referrer-Policy", "no-referrer"}

// flowCookie binds a flow to the browser: HttpOnly, scoped to the OAuth
// routes, and SameSite=Lax, so that the browser sends it on the
// provider's top-level redirect to the callback (Strict would not) and on
// no cross-site subrequest.
func (a *Auth) flowCookie(value string, maxAge int) string {
	ck := &http.Cookie{
		Name: a.oauth.cookieName, Value: value, Path: a.oauth.cookiePath, MaxAge: maxAge,
		HttpOnly: true, Secure: a.oauth.secure, SameSite: http.SameSiteLaxMode,
	}
	if maxAge < 0 {
		ck.Expires = time.Unix(0, 0)
	}
	return ck.String()
}

// The flow cookie is
//
//	base64url( version | expiry (unix seconds, 8 bytes) | 32-byte seed | provider | HMAC-SHA256 )
//
// MAC'd with the refresh secret. The flow's state, nonce and PKCE verifier
// are derived from the seed with the same key, so the cookie alone does
// not give away the verifier, and nothing of a flow is stored until its
// callback marks it used.
const (
	flowVersion = 1
	flowSeed    = 32
	flowHeader  = 1 + 8 + flowSeed
)

var flowDomain = []byte("authenik8 oauth flow v1\x00")

func (a *Auth) mintFlow(provider string, expiry time.Time, seed []byte) string {
	raw := make([]byte, flowHeader, flowHeader+len(provider)+sha256.Size)
	raw[0] = flowVersion
	binary.BigEndian.PutUint64(raw[1:9], uint64(expiry.Unix()))
	copy(raw[9:flowHeader], seed)
	raw = append(raw, provider...)
	raw = append(raw, macWith(a.refresh.keys[0], flowDomain, raw)...)
	return base64.RawURLEncoding.EncodeToString(raw)
}

// parseFlow checks a flow cookie — form, MAC, provider, expiry — and that
// state is the one derived from it; it returns the flow's parameters.
func (a *Auth) parseFlow(cookie, provider, state string) (OAuthFlow, error) {
	if cookie == "" {
		return OAuthFlow{}, errors.New("no flow cookie")
	}
	if len(cookie) > 512 {
		return OAuthFlow{}, errors.New("malformed flow cookie")
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(cookie)
	if err != nil || len(raw) < flowHeader+sha256.Size || raw[0] != flowVersion {
		return OAuthFlow{}, errors.New("malformed flow cookie")
	}
	body, sum := raw[:len(raw)-sha256.Size], raw[len(raw)-sha256.Size:]
	var key []byte
	for _, k := range a.refresh.keys {
		if hmac.Equal(macWith(k, flowDomain, body), sum) {
			key = k
			break
		}
	}
	switch {
	case key == nil:
		return OAuthFlow{}, errors.New("forged flow cookie")
	case string(body[flowHeader:]) != provider:
		return OAuthFlow{}, fmt.Errorf("the flow cookie is for provider %q", body[flowHeader:])
	case a.now().Unix() > int64(binary.BigEndian.Uint64(body[1:9])):
		return OAuthFlow{}, errors.New("the flow expired")
	}
	f := a.flowParams(provider, key, body[9:flowHeader])
	if !hmac.Equal([]byte(f.State), []byte(state)) {
		return OAuthFlow{}, errors.New("the state does not match the flow cookie")
	}
	return f, nil
}

// flowParams derives a flow's parameters from its seed.
func (a *Auth) flowParams(provider string, key, seed []byte) OAuthFlow {
	derive := func(label string) string {
		return base64.RawURLEncoding.EncodeToString(macWith(key, []byte("authenik8 oauth "+label+" v1\x00"), seed))
	}
	return OAuthFlow{
		RedirectURL: a.OAuthCallbackURL(provider),
		State:       derive("state"),
		Nonce:       derive("nonce"),
		Verifier:    derive("pkce"),
	}
}

func macWith(key, domain, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(domain)
	m.Write(body)
	return m.Sum(nil)
}
