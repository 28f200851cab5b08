package httpauth

import (
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/authenik8/authenik8-go/core"
)

// Option configures New (and Authenticate, Optional, Handler and Mount,
// which call it).
type Option func(*config)

type config struct {
	core      core.AdapterOptions
	onError   func(http.ResponseWriter, *http.Request, error)
	onSuccess func(*http.Request, *core.Claims) error
	skip      func(*http.Request) bool
}

// WithTokenLookup sets where the access token is read, in order: for example
// WithTokenLookup(core.FromCookie("access_token"), core.FromHeader("Authorization")).
// Default: the Authorization header's Bearer token. A token read from a
// cookie makes the mounted state-changing routes check CSRF.
func WithTokenLookup(sources ...core.TokenSource) Option {
	return func(c *config) { c.core.TokenLookup = sources }
}

// WithErrorHandler replaces how the middleware answers a refused request
// (Authenticate, Optional and the Require family of the same Middleware).
// The default writes core.ErrorResponse(err). The handler writes the
// answer; the chain stops either way. The mounted routes always answer
// core's responses.
func WithErrorHandler(h func(w http.ResponseWriter, r *http.Request, err error)) Option {
	return func(c *config) { c.onError = h }
}

// WithSuccessHandler calls h after Authenticate or Optional verified a
// token, with the request carrying the claims on its context. An error it
// returns refuses the request as any refusal is (WithErrorHandler, else
// core.ErrorResponse: a core error answers its own row, any other 500).
func WithSuccessHandler(h func(r *http.Request, claims *core.Claims) error) Option {
	return func(c *config) { c.onSuccess = h }
}

// WithSkipper lets requests for which skip returns true through Authenticate
// and Optional untouched, with no claims (a Require after them still
// refuses them).
func WithSkipper(skip func(r *http.Request) bool) Option {
	return func(c *config) { c.skip = skip }
}

// WithBodyLimit sets the largest request body the mounted routes read.
// Default core.DefaultBodyLimit (16 KiB); larger bodies get 413.
func WithBodyLimit(n int64) Option {
	return func(c *config) { c.core.BodyLimit = n }
}

// WithTrustedProxy takes the client IP from header (X-Forwarded-For,
// X-Real-IP…) when the connection comes from one of proxies (none listed:
// loopback and private networks), walking its addresses right to left past
// trusted proxies, and the scheme from X-Forwarded-Proto. Without it the
// client IP is the connection's, r.RemoteAddr.
func WithTrustedProxy(header string, proxies ...netip.Prefix) Option {
	return func(c *config) { c.core.TrustedProxy = core.TrustedProxy{Header: header, Proxies: proxies} }
}

// WithoutRoutes leaves routes out of Handler and Mount: for example
// WithoutRoutes(core.RouteRegister) for an application that creates
// accounts itself.
func WithoutRoutes(routes ...core.RouteID) Option {
	return func(c *config) { c.core.DisabledRoutes = append(c.core.DisabledRoutes, routes...) }
}

// Middleware is the adapter configured once: its Authenticate, Optional,
// Require…, Handler and Mount share the options given to New, so the
// Require family answers refusals with the same error handler without
// depending on which middleware ran before it.
type Middleware struct {
	ad  *core.Adapter
	cfg config
}

// New resolves the options for a.
func New(a *core.Auth, opts ...Option) *Middleware {
	m := &Middleware{}
	for _, o := range opts {
		o(&m.cfg)
	}
	m.ad = core.NewAdapter(a, m.cfg.core)
	return m
}

// Authenticate verifies the request's access token and its session; it
// answers 401 (or 503 when the store is down) and does not call next when
// they are not valid. Handlers after it read the claims with Claims(r) or
// core.FromContext(r.Context()). Its type is func(http.Handler)
// http.Handler, for chi's Use and With.
func (m *Middleware) Authenticate(next http.Handler) http.Handler {
	return &authenticator{m: m, next: next}
}

// Optional is Authenticate for routes that also serve anonymous requests: a
// request without a token passes with no claims; a token that is sent must
// be valid.
func (m *Middleware) Optional(next http.Handler) http.Handler {
	return &authenticator{m: m, next: next, optional: true}
}

// Require lets through requests whose claims carry at least one of roles;
// others get 403 (401 without Authenticate before it).
func (m *Middleware) Require(roles ...string) func(http.Handler) http.Handler {
	return m.RequireRule(core.AnyRole(roles...))
}

// RequireAll lets through requests whose claims carry every one of roles.
func (m *Middleware) RequireAll(roles ...string) func(http.Handler) http.Handler {
	return m.RequireRule(core.AllRoles(roles...))
}

// RequireAdmin lets through requests whose claims carry the admin role.
func (m *Middleware) RequireAdmin() func(http.Handler) http.Handler {
	return m.RequireRule(core.Admin())
}

// RequireVerifiedEmail lets through requests whose claims say the user's
// email address is verified (email_verified); others get 403
// email_not_verified.
func (m *Middleware) RequireVerifiedEmail() func(http.Handler) http.Handler {
	return m.RequireRule(core.VerifiedEmail())
}

// RequirePermission lets through requests whose roles grant at least one of
// perms (core.Config.Permissions).
func (m *Middleware) RequirePermission(perms ...string) func(http.Handler) http.Handler {
	return m.RequireRule(core.Permission(perms...))
}

// RequireAllPermissions lets through requests whose roles grant every one
// of perms.
func (m *Middleware) RequireAllPermissions(perms ...string) func(http.Handler) http.Handler {
	return m.RequireRule(core.AllPermissions(perms...))
}

// RequireRule lets through requests whose claims rule allows.
func (m *Middleware) RequireRule(rule core.Rule) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			claims, _ := Claims(r)
			if err := rule(claims); err != nil {
				m.fail(w, r, err)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// Handler serves the auth API (register, login, refresh, logout,
// logout-all, me, sessions, jwks.json; less WithoutRoutes) relative to
// where it is mounted, with the prefix stripped:
//
//	mux.Handle("/auth/", http.StripPrefix("/auth", m.Handler()))
func (m *Middleware) Handler() http.Handler {
	mux := http.NewServeMux()
	m.Mount(mux, "")
	return mux
}

// Router is where Mount registers the routes: *http.ServeMux, chi.Router,
// or any router whose Handle takes "METHOD /path/{param}" patterns.
type Router interface {
	Handle(pattern string, h http.Handler)
}

// Mount registers the auth API on r under prefix ("/auth", or "" for a
// router already mounted there, such as a chi.Router given to r.Route), in
// the standard ServeMux's pattern syntax, which chi also reads.
func (m *Middleware) Mount(r Router, prefix string) {
	prefix = strings.TrimSuffix(prefix, "/")
	for _, rt := range m.ad.Routes() {
		r.Handle(rt.Method+" "+prefix+muxPattern(rt.Path), &route{m: m, rt: rt})
	}
}

// Authenticate is New(a, opts...).Authenticate.
func Authenticate(a *core.Auth, opts ...Option) func(http.Handler) http.Handler {
	return New(a, opts...).Authenticate
}

// Optional is New(a, opts...).Optional.
func Optional(a *core.Auth, opts ...Option) func(http.Handler) http.Handler {
	return New(a, opts...).Optional
}

// Handler is New(a, opts...).Handler().
func Handler(a *core.Auth, opts ...Option) http.Handler { return New(a, opts...).Handler() }

// Mount is New(a, opts...).Mount(r, prefix).
func Mount(r Router, prefix string, a *core.Auth, opts ...Option) {
	New(a, opts...).Mount(r, prefix)
}

// Require, RequireAll, RequireAdmin, RequireVerifiedEmail, RequirePermission,
// RequireAllPermissions and RequireRule are the Middleware methods of the
// same names with core's answers to refusals (no error handler).
func Require(roles ...string) func(http.Handler) http.Handler    { return plain.Require(roles...) }
func RequireAll(roles ...string) func(http.Handler) http.Handler { return plain.RequireAll(roles...) }
func RequireAdmin() func(http.Handler) http.Handler              { return plain.RequireAdmin() }
func RequireVerifiedEmail() func(http.Handler) http.Handler      { return plain.RequireVerifiedEmail() }
func RequireRule(rule core.Rule) func(http.Handler) http.Handler { return plain.RequireRule(rule) }
func RequirePermission(perms ...string) func(http.Handler) http.Handler {
	return plain.RequirePermission(perms...)
}
func RequireAllPermissions(perms ...string) func(http.Handler) http.Handler {
	return plain.RequireAllPermissions(perms...)
}

var plain = New(nil)

// Claims returns the claims Authenticate or Optional verified:
// core.FromContext(r.Context()).
func Claims(r *http.Request) (*core.Claims, bool) { return core.FromContext(r.Context()) }

// Write copies a core.Response to the client — status, headers in order,
// body — for answers of your own built by core (core.ErrorResponse,
// Auth.JWKSResponse). A Response without a body gets no Content-Type
// either. It returns the error of writing the body.
func Write(w http.ResponseWriter, r *core.Response) error { return core.WriteHTTP(w, r) }

// authenticator is the handler of Authenticate and Optional: one value per
// wrapped handler, built when the chain is.
type authenticator struct {
	m        *Middleware
	next     http.Handler
	optional bool
}

func (h *authenticator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m := h.m
	if m.cfg.skip != nil && m.cfg.skip(r) {
		h.next.ServeHTTP(w, r)
		return
	}
	var claims *core.Claims
	var err error
	if h.optional {
		claims, err = m.ad.Optional(r.Context(), core.HTTPRequest{R: r})
	} else {
		claims, err = m.ad.Authenticate(r.Context(), core.HTTPRequest{R: r})
	}
	if err != nil {
		m.fail(w, r, err)
		return
	}
	if claims != nil {
		r = r.WithContext(core.NewContext(r.Context(), claims))
		if m.cfg.onSuccess != nil {
			if err := m.cfg.onSuccess(r, claims); err != nil {
				m.fail(w, r, err)
				return
			}
		}
	}
	h.next.ServeHTTP(w, r)
}

// fail answers a refused request with the error handler, or core's answer.
func (m *Middleware) fail(w http.ResponseWriter, r *http.Request, err error) {
	if m.cfg.onError != nil {
		m.cfg.onError(w, r, err)
		return
	}
	Write(w, core.ErrorResponse(err))
}

type route struct {
	m  *Middleware
	rt core.Route
}

func (rt *route) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	Write(w, rt.m.ad.Serve(r.Context(), rt.rt, reader{core.HTTPRequest{R: r}, rt.rt.Path}))
}

// muxPattern writes a route's ":name" parameter as "{name}".
func muxPattern(path string) string {
	segs := strings.Split(path, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, ":") {
			segs[i] = "{" + s[1:] + "}"
		}
	}
	return strings.Join(segs, "/")
}

// reader is core's view of the request, with the route's path parameter
// read from the path itself: routers disagree on whether they decode it
// (the ServeMux does, chi does not when the path has escapes).
type reader struct {
	core.HTTPRequest
	pattern string // the route's Path, relative to the mount point
}

// PathParam is the segment of the escaped path at the parameter's place,
// counted from the end (the mount prefix is unknown here), decoded.
func (r reader) PathParam(name string) string {
	segs := strings.Split(r.pattern, "/")
	fromEnd := -1
	for i, s := range segs {
		if s == ":"+name {
			fromEnd = len(segs) - 1 - i
		}
	}
	path := strings.Split(r.R.URL.EscapedPath(), "/")
	if fromEnd < 0 || fromEnd >= len(path) {
		return ""
	}
	v, err := url.PathUnescape(path[len(path)-1-fromEnd])
	if err != nil {
		return ""
	}
	return v
}
