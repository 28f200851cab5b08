package core

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"
)

// This file is the HTTP contract of the auth API without an HTTP library:
// route handlers take a Request and return a Response, and the adapters only
// copy between these and their framework. Every status, header and body is
// decided here, so every framework answers byte for byte alike.

// Header is one response header.
type Header struct{ Key, Value string }

// Response is an HTTP answer. Adapters write Status, every Header in order
// and Body (nil: no body) unchanged.
type Response struct {
	Status int
	Header []Header
	Body   []byte
}

// Request is what a route needs from an HTTP request; Adapter.Serve builds
// it from a RequestReader. Its strings and Body may alias the framework's
// buffers: core copies whatever it keeps beyond the call.
type Request struct {
	// Token is the access token the lookup found ("" for none), and
	// TokenFromCookie whether a cookie carried it: then every
	// state-changing route checks CSRF.
	Token           string
	TokenFromCookie bool
	ContentType     string
	// Body is the request body, read up to the adapter's limit;
	// BodyTooLarge is set when the body was longer.
	Body         []byte
	BodyTooLarge bool
	Client       Client
	// ID is the route's path parameter (the :id of DELETE /sessions/:id),
	// "" for a route without one.
	ID string
	// Query reads the request's query parameters. Nil reads nothing.
	Query func(name string) string
	// Cookie and Header read the request's cookies and headers, Host is its
	// Host and Scheme "https" or "http" (""): cookie mode and the CSRF
	// check need them. Nil reads nothing.
	Cookie func(name string) string
	Header func(name string) string
	Host   string
	Scheme string
}

// Route is one endpoint of the mountable auth API. Path is relative to the
// mount point and names its one path parameter, if any, as ":name" (":id"),
// which Gin, Echo and Fiber all understand.
type Route struct {
	ID     RouteID
	Method string
	Path   string
	Handle func(ctx context.Context, r *Request) *Response
}

// RouteID names a route of the auth API, for AdapterOptions.DisabledRoutes
// (the adapters' WithoutRoutes option).
type RouteID uint8

// The routes of the auth API.
const (
	RouteRegister      RouteID = iota + 1 // POST /register
	RouteLogin                            // POST /login
	RouteRefresh                          // POST /refresh
	RouteLogout                           // POST /logout
	RouteLogoutAll                        // POST /logout-all
	RouteMe                               // GET /me
	RouteSessions                         // GET /sessions
	RouteRevokeSession                    // DELETE /sessions/:id
	RouteJWKS                             // GET /jwks.json

	RouteChangePassword   // POST /password
	RouteForgotPassword   // POST /password/forgot
	RouteResetPassword    // POST /password/reset
	RouteSendVerification // POST /email/verify/send
	RouteVerifyEmail      // POST /email/verify
	RouteLogoutOthers     // POST /logout-others
	RouteUserSessions     // GET /users/:id/sessions
	RouteDisableUser      // POST /users/:id/disable
	RouteEnableUser       // POST /users/:id/enable

	RouteToken         // POST /token
	RouteOAuthStart    // GET /oauth/:provider/start
	RouteOAuthCallback // GET /oauth/:provider/callback
	RouteOAuthExchange // POST /oauth/exchange
)

// DefaultBodyLimit is the largest request body the routes read.
const DefaultBodyLimit = 16 << 10

var (
	hdrJSON    = Header{"Content-Type", "application/json"}
	hdrNoStore = Header{"Cache-Control", "no-store"}
	noContent  = &Response{Status: 204, Header: []Header{hdrNoStore}}
)

// Routes returns the auth API for an adapter to mount. A state-changing
// route (any method but GET) reached with an access token from a cookie
// first checks CSRF, as a refresh by cookie does.
func (a *Auth) Routes() []Route {
	routes := []Route{
		{RouteRegister, "POST", "/register", a.handleRegister},
		{RouteLogin, "POST", "/login", a.handleLogin},
		{RouteRefresh, "POST", "/refresh", a.handleRefresh},
		{RouteLogout, "POST", "/logout", a.handleLogout},
		{RouteLogoutAll, "POST", "/logout-all", a.bearer(a.handleLogoutAll)},
		{RouteMe, "GET", "/me", a.bearer(a.handleMe)},
		{RouteSessions, "GET", "/sessions", a.bearer(a.handleSessions)},
		{RouteRevokeSession, "DELETE", "/sessions/:id", a.bearer(a.handleRevokeSession)},
		{RouteJWKS, "GET", "/jwks.json", a.handleJWKS},
		{RouteChangePassword, "POST", "/password", a.bearer(a.handleChangePassword)},
		{RouteForgotPassword, "POST", "/password/forgot", a.handleForgotPassword},
		{RouteResetPassword, "POST", "/password/reset", a.handleResetPassword},
		{RouteSendVerification, "POST", "/email/verify/send", a.bearer(a.handleSendVerification)},
		{RouteVerifyEmail, "POST", "/email/verify", a.handleVerifyEmail},
		{RouteLogoutOthers, "POST", "/logout-others", a.bearer(a.handleLogoutOthers)},
		{RouteUserSessions, "GET", "/users/:id/sessions", a.bearer(a.admin(a.handleUserSessions))},
		{RouteDisableUser, "POST", "/users/:id/disable", a.bearer(a.admin(a.handleDisableUser))},
		{RouteEnableUser, "POST", "/users/:id/enable", a.bearer(a.admin(a.handleEnableUser))},
		{RouteToken, "POST", "/token", a.handleToken},
	}
	routes = append(routes, a.oauthRoutes()...)
	if a.remote != nil {
		routes = slices.DeleteFunc(routes, a.notVerifyOnly)
	}
	for i, rt := range routes {
		if rt.Method != "GET" {
			routes[i].Handle = a.csrfGuard(rt.Handle)
		}
	}
	return routes
}

// Param is the name of the route's path parameter ("id" for
// "/sessions/:id"), "" when it has none.
func (rt Route) Param() string {
	i := strings.IndexByte(rt.Path, ':')
	if i < 0 {
		return ""
	}
	name := rt.Path[i+1:]
	if j := strings.IndexByte(name, '/'); j >= 0 {
		name = name[:j]
	}
	return name
}

func containsRoute(ids []RouteID, id RouteID) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// csrfGuard refuses a request whose access token came from a cookie unless
// it passes the CSRF check: the browser sends a cookie on cross-site
// requests by itself.
func (a *Auth) csrfGuard(h func(context.Context, *Request) *Response) func(context.Context, *Request) *Response {
	return func(ctx context.Context, r *Request) *Response {
		if r.TokenFromCookie && r.Token != "" {
			if err := a.csrfConfig().checkCSRF(r); err != nil {
				return ErrorResponse(err)
			}
		}
		return h(ctx, r)
	}
}

func (a *Auth) bearer(h func(context.Context, *Request, *Claims) *Response) func(context.Context, *Request) *Response {
	return func(ctx context.Context, r *Request) *Response {
		c, err := a.Verify(ctx, r.Token)
		if err != nil {
			return ErrorResponse(err)
		}
		return h(ctx, r, c)
	}
}

type credentials struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

type refreshBody struct {
	RefreshToken string `json:"refresh_token"`
}

func (a *Auth) handleRegister(ctx context.Context, r *Request) *Response {
	var in credentials
	if err := decodeJSON(r, &in); err != nil {
		return ErrorResponse(err)
	}
	u, err := a.Register(ctx, in.Email, in.Password, r.Client)
	if err != nil {
		return ErrorResponse(err)
	}
	return jsonResponse(201, struct {
		ID    string   `json:"id"`
		Email string   `json:"email"`
		Roles []string `json:"roles"`
	}{u.ID, u.Email, nonNil(u.Roles)})
}

func (a *Auth) handleLogin(ctx context.Context, r *Request) *Response {
	var in credentials
	if err := decodeJSON(r, &in); err != nil {
		return ErrorResponse(err)
	}
	pair, err := a.Login(ctx, in.Email, in.Password, r.Client)
	if err != nil {
		return ErrorResponse(err)
	}
	return a.tokenResponse(pair)
}

// tokenResponse answers /login and /refresh: the pair as JSON or, in cookie
// mode, the refresh token as a cookie and out of the body.
func (a *Auth) tokenResponse(p *TokenPair) *Response {
	if a.cookies == nil {
		return jsonResponse(200, p)
	}
	r := jsonResponse(200, struct {
		AccessToken      string `json:"access_token"`
		TokenType        string `json:"token_type"`
		ExpiresIn        int64  `json:"expires_in"`
		RefreshExpiresIn int64  `json:"refresh_expires_in"`
	}{p.AccessToken, p.TokenType, p.ExpiresIn, p.RefreshExpiresIn})
	a.cookies.setCookies(r, p.RefreshToken, p.RefreshExpiresIn)
	return r
}

func (a *Auth) handleRefresh(ctx context.Context, r *Request) *Response {
	var in refreshBody
	// In cookie mode a browser's refresh has no body: the token is the cookie.
	if a.cookies == nil || len(r.Body) > 0 || r.BodyTooLarge {
		if err := decodeJSON(r, &in); err != nil {
			return ErrorResponse(err)
		}
	}
	token := in.RefreshToken
	if token == "" {
		t, err := a.cookies.refreshFromCookie(r)
		if err != nil {
			return ErrorResponse(err)
		}
		token = t
	}
	if token == "" {
		return ErrorResponse(ErrInvalidRequest.WithDescription("refresh_token is required"))
	}
	pair, err := a.Refresh(ctx, token)
	if err != nil {
		return ErrorResponse(err)
	}
	return a.tokenResponse(pair)
}

// handleLogout ends the bearer token's session or, without a valid bearer
// token, the refresh token's (a client whose access token has expired) —
// from the body, or in cookie mode from the cookie. A refresh token goes
// through LogoutRefreshToken, so a superseded one is reuse. A valid bearer
// token and a refresh token must name the same session.
func (a *Auth) handleLogout(ctx context.Context, r *Request) *Response {
	var in refreshBody
	if len(r.Body) > 0 || r.BodyTooLarge {
		if err := decodeJSON(r, &in); err != nil {
			return ErrorResponse(err)
		}
	}
	var claims *Claims
	var bearerErr error
	if r.Token != "" {
		claims, bearerErr = a.Verify(ctx, r.Token)
		if bearerErr != nil && !stale(bearerErr) {
			return ErrorResponse(bearerErr) // the store did not answer: fail closed
		}
	}
	if in.RefreshToken == "" && claims == nil {
		t, err := a.cookies.refreshFromCookie(r)
		if err != nil {
			return ErrorResponse(err)
		}
		in.RefreshToken = t
	}
	var err error
	switch {
	case in.RefreshToken == "" && bearerErr != nil:
		err = bearerErr
	case in.RefreshToken == "" && claims == nil:
		err = ErrMissingToken
	case in.RefreshToken == "":
		err = a.Logout(ctx, claims.SessionID)
	case claims != nil:
		rt, perr := a.refresh.parse(in.RefreshToken)
		switch {
		case perr != nil:
			err = ErrInvalidRefreshToken
		case rt.sessionID != claims.SessionID:
			err = ErrInvalidRequest.WithDescription("the bearer token and the refresh token belong to different sessions")
		default:
			err = a.LogoutRefreshToken(ctx, in.RefreshToken)
		}
	default:
		err = a.LogoutRefreshToken(ctx, in.RefreshToken)
	}
	if err != nil {
		return ErrorResponse(err)
	}
	return a.loggedOut()
}

// stale reports whether a bearer token was refused for itself — invalid,
// expired, its session ended — rather than because the store did not answer.
func stale(err error) bool {
	return errors.Is(err, ErrInvalidToken) || errors.Is(err, ErrTokenExpired) || errors.Is(err, ErrTokenRevoked)
}

func (a *Auth) handleLogoutAll(ctx context.Context, _ *Request, c *Claims) *Response {
	if _, err := a.LogoutAll(ctx, c.Subject); err != nil {
		return ErrorResponse(err)
	}
	return a.loggedOut()
}

// loggedOut is 204, clearing the cookies in cookie mode.
func (a *Auth) loggedOut() *Response {
	if a.cookies == nil {
		return noContent
	}
	return a.cookies.clearCookies(noContent)
}

func (a *Auth) handleMe(_ context.Context, _ *Request, c *Claims) *Response {
	me := make(map[string]any, len(c.Extra)+4)
	for k, v := range c.Extra {
		me[k] = v
	}
	me["sub"], me["sid"], me["roles"], me["email_verified"] = c.Subject, c.SessionID, nonNil(c.Roles), c.EmailVerified
	return jsonResponse(200, me)
}

func (a *Auth) handleSessions(ctx context.Context, _ *Request, c *Claims) *Response {
	list, err := a.Sessions(ctx, c.Subject, c.SessionID)
	if err != nil {
		return ErrorResponse(err)
	}
	return jsonResponse(200, struct {
		Sessions []SessionInfo `json:"sessions"`
	}{list})
}

func (a *Auth) handleRevokeSession(ctx context.Context, r *Request, c *Claims) *Response {
	if err := a.RevokeSession(ctx, c, r.ID); err != nil {
		return ErrorResponse(err)
	}
	return noContent
}

func (a *Auth) handleJWKS(context.Context, *Request) *Response { return a.JWKSResponse() }

// JWKSResponse is the answer of GET /jwks.json, for serving the key set at
// another path too (/.well-known/jwks.json).
func (a *Auth) JWKSResponse() *Response { return a.keys.jwksResp }

// decodeJSON reads a JSON object body into dst: 413 past the limit, 400 for
// another content type, malformed JSON, a field of the wrong type or
// trailing data.
func decodeJSON(r *Request, dst any) error {
	if r.BodyTooLarge {
		return ErrPayloadTooLarge
	}
	if mt, _, err := mime.ParseMediaType(r.ContentType); err != nil || mt != "application/json" {
		return ErrInvalidRequest.WithDescription("Content-Type must be application/json")
	}
	if b := bytes.TrimLeft(r.Body, " \t\r\n"); len(b) == 0 || b[0] != '{' {
		return ErrInvalidRequest.WithDescription("the body must be a JSON object")
	}
	if !utf8.Valid(r.Body) {
		return ErrInvalidRequest.WithDescription("the body must be UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	if err := dec.Decode(dst); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return ErrInvalidRequest.WithDescription(te.Field + " must be a " + te.Type.String())
		}
		return ErrInvalidRequest.WithDescription("the body must be a JSON object")
	}
	if _, err := dec.Token(); err == nil || !errors.Is(err, io.EOF) {
		return ErrInvalidRequest.WithDescription("the body must hold a single JSON object")
	}
	return nil
}

func jsonResponse(status int, v any) *Response {
	body, err := json.Marshal(v)
	if err != nil {
		return ErrInternal.resp
	}
	return &Response{Status: status, Header: []Header{hdrJSON, hdrNoStore}, Body: body}
}

// ReadBody reads a request body for Request.Body: at most limit bytes, with
// tooLarge set when there were more. A declared contentLength over the limit
// is refused without reading; otherwise the limit applies to the bytes read,
// so a chunked body, or one replaced by middleware (decompression), is held
// to it too. A read error leaves a truncated body, which the routes refuse
// as malformed.
func ReadBody(body io.Reader, contentLength, limit int64) (b []byte, tooLarge bool) {
	if body == nil || body == http.NoBody || contentLength == 0 {
		return nil, false
	}
	if contentLength > limit {
		return nil, true
	}
	size := int64(512)
	if contentLength > 0 {
		size = contentLength + 1 // room to see EOF without growing
	}
	b = make([]byte, 0, size)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := body.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if int64(len(b)) > limit {
			return nil, true
		}
		if err != nil {
			return b, false
		}
	}
}
