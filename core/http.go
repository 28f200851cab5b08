package core

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"
)

// This file is the HTTP contract of SPEC §6 without an HTTP library: route
// handlers take a Request and return a Response, and the adapters only copy
// between these and their framework. Every status, header and body is
// decided here, so Gin, Echo and Fiber answer byte for byte alike.

// Header is one response header.
type Header struct{ Key, Value string }

// Response is an HTTP answer. Adapters write Status, every Header in order
// and Body (nil: no body) unchanged.
type Response struct {
	Status int
	Header []Header
	Body   []byte
}

// Request is what a route needs from an HTTP request. Its strings and Body
// may alias the framework's buffers: core copies whatever it keeps beyond
// the call.
type Request struct {
	// Token is the access token the adapter's lookup found ("" for none):
	// by default BearerToken of the Authorization header.
	Token       string
	ContentType string
	// Body is the request body, read up to the adapter's limit;
	// BodyTooLarge is set when the body was longer.
	Body         []byte
	BodyTooLarge bool
	Client       Client
	// ID is the :id path parameter of DELETE /sessions/:id.
	ID string
	// Cookie and Header read the request's cookies and headers, and Host is
	// its Host: cookie mode (Config.Cookies) needs them. Nil reads nothing.
	Cookie func(name string) string
	Header func(name string) string
	Host   string
}

// Route is one endpoint of the mountable auth API. Path is relative to the
// mount point and uses ":id" for the path parameter, which Gin, Echo and
// Fiber all understand.
type Route struct {
	Method string
	Path   string
	Handle func(ctx context.Context, r *Request) *Response
}

// DefaultBodyLimit is the largest request body the routes read (SPEC §6).
const DefaultBodyLimit = 16 << 10

var (
	hdrJSON    = Header{"Content-Type", "application/json"}
	hdrNoStore = Header{"Cache-Control", "no-store"}
	noContent  = &Response{Status: 204, Header: []Header{hdrNoStore}}
)

// Routes returns the auth API (SPEC §6) for an adapter to mount.
func (a *Auth) Routes() []Route {
	return []Route{
		{"POST", "/register", a.handleRegister},
		{"POST", "/login", a.handleLogin},
		{"POST", "/refresh", a.handleRefresh},
		{"POST", "/logout", a.handleLogout},
		{"POST", "/logout-all", a.bearer(a.handleLogoutAll)},
		{"GET", "/me", a.bearer(a.handleMe)},
		{"GET", "/sessions", a.bearer(a.handleSessions)},
		{"DELETE", "/sessions/:id", a.bearer(a.handleRevokeSession)},
		{"GET", "/jwks.json", a.handleJWKS},
	}
}

// BearerToken extracts the token of an "Authorization: Bearer <token>"
// header value; "" when there is none or the scheme is another.
func BearerToken(authorization string) string {
	const scheme = "bearer "
	if len(authorization) < len(scheme) || !strings.EqualFold(authorization[:len(scheme)], scheme) {
		return ""
	}
	return strings.TrimSpace(authorization[len(scheme):])
}

// TokenSource is one place an adapter looks for the access token.
type TokenSource struct {
	From string // "header", "cookie" or "query"
	Name string // header, cookie or query parameter name
}

// FromHeader, FromCookie and FromQuery name token sources, for the
// adapters' WithTokenLookup option.
func FromHeader(name string) TokenSource { return TokenSource{From: "header", Name: name} }
func FromCookie(name string) TokenSource { return TokenSource{From: "cookie", Name: name} }
func FromQuery(name string) TokenSource  { return TokenSource{From: "query", Name: name} }

// DefaultTokenLookup is where the adapters look for the access token when
// not told otherwise: the Authorization header's Bearer token.
func DefaultTokenLookup() []TokenSource { return []TokenSource{FromHeader("Authorization")} }

var defaultLookup = DefaultTokenLookup()

// FindToken is the adapters' token lookup: the token of the first source in
// sources (DefaultTokenLookup when empty) that has one. read returns a
// source's raw value from the request: the header, cookie or query
// parameter that s.From and s.Name name, "" when absent.
func FindToken(sources []TokenSource, read func(s TokenSource) string) string {
	if len(sources) == 0 {
		sources = defaultLookup
	}
	for _, s := range sources {
		if t := s.Token(read(s)); t != "" {
			return t
		}
	}
	return ""
}

// Token turns the raw value read from the source into a token: the
// Authorization header must use the Bearer scheme; other headers may carry
// the token bare or after "Bearer "; cookies and query parameters carry it
// bare.
func (s TokenSource) Token(raw string) string {
	if s.From != "header" {
		return raw
	}
	if t := BearerToken(raw); t != "" || strings.EqualFold(s.Name, "Authorization") {
		return t
	}
	return strings.TrimSpace(raw)
}

// Check is the decision of the Authenticate and Optional middleware: the
// verified claims, or the error to answer with (ErrorResponse gives its
// HTTP form). With optional set, a request without a token passes with no
// claims; a token that was sent must still be valid.
func (a *Auth) Check(ctx context.Context, token string, optional bool) (*Claims, error) {
	if token == "" && optional {
		return nil, nil
	}
	return a.Verify(ctx, token)
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

// handleLogout ends the bearer token's session or, without a bearer token,
// the refresh token's (for a client whose access token has expired) — from
// the body, or in cookie mode from the cookie.
func (a *Auth) handleLogout(ctx context.Context, r *Request) *Response {
	var in refreshBody
	if len(r.Body) > 0 || r.BodyTooLarge {
		if err := decodeJSON(r, &in); err != nil {
			return ErrorResponse(err)
		}
	}
	var sid string
	if r.Token != "" {
		c, err := a.Verify(ctx, r.Token)
		if err != nil {
			return ErrorResponse(err)
		}
		sid = c.SessionID
	}
	if in.RefreshToken == "" && sid == "" {
		t, err := a.cookies.refreshFromCookie(r)
		if err != nil {
			return ErrorResponse(err)
		}
		in.RefreshToken = t
	}
	if in.RefreshToken != "" {
		rt, err := a.refresh.parse(in.RefreshToken)
		if err != nil {
			return ErrorResponse(ErrInvalidRefreshToken)
		}
		if sid != "" && rt.sessionID != sid {
			return ErrorResponse(ErrInvalidRequest.WithDescription("the bearer token and the refresh token belong to different sessions"))
		}
		sid = rt.sessionID
	}
	if sid == "" {
		return ErrorResponse(ErrMissingToken)
	}
	if err := a.Logout(ctx, sid); err != nil {
		return ErrorResponse(err)
	}
	return a.loggedOut()
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
	me := make(map[string]any, len(c.Extra)+3)
	for k, v := range c.Extra {
		me[k] = v
	}
	me["sub"], me["sid"], me["roles"] = c.Subject, c.SessionID, nonNil(c.Roles)
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
