package echoauth

import (
	"net/netip"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/authenik8/authenik8-go/core"
)

// Option configures New (and Authenticate, Optional and Mount, which call
// it).
type Option func(*config)

type config struct {
	core      core.AdapterOptions
	onError   func(echo.Context, error) error
	onSuccess func(echo.Context, *core.Claims) error
	skip      func(echo.Context) bool
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
// The default writes core.ErrorResponse(err). The handler must write the
// answer, for example with c.JSON; the error it returns goes to Echo's
// HTTPErrorHandler as any handler's would. The mounted routes always answer
// core's responses.
func WithErrorHandler(h func(c echo.Context, err error) error) Option {
	return func(c *config) { c.onError = h }
}

// WithSuccessHandler calls h after Authenticate or Optional verified a
// token, with the claims (already on the request's context). An error it
// returns refuses the request as any refusal is (WithErrorHandler, else
// core.ErrorResponse: a core error answers its own row, any other 500).
func WithSuccessHandler(h func(c echo.Context, claims *core.Claims) error) Option {
	return func(c *config) { c.onSuccess = h }
}

// WithSkipper lets requests for which skip returns true through Authenticate
// and Optional untouched, with no claims (a Require after them still
// refuses them): echo-jwt's Skipper.
func WithSkipper(skip func(c echo.Context) bool) Option {
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
// client IP is the connection's: Echo's RealIP and IPExtractor are not used.
func WithTrustedProxy(header string, proxies ...netip.Prefix) Option {
	return func(c *config) { c.core.TrustedProxy = core.TrustedProxy{Header: header, Proxies: proxies} }
}

// WithoutRoutes leaves routes out of Mount: for example
// WithoutRoutes(core.RouteRegister) for an application that creates
// accounts itself.
func WithoutRoutes(routes ...core.RouteID) Option {
	return func(c *config) { c.core.DisabledRoutes = append(c.core.DisabledRoutes, routes...) }
}

// Middleware is the adapter configured once: its Authenticate, Optional,
// Require… and Mount share the options given to New, so the Require family
// answers refusals with the same error handler without depending on which
// middleware ran before it.
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
// answers 401 (or 503 when the store is down) and stops the chain when they
// are not valid. Handlers after it read the claims with Claims(c) or
// core.FromContext(c.Request().Context()).
func (m *Middleware) Authenticate() echo.MiddlewareFunc { return (&gate{m: m}).middleware }

// Optional is Authenticate for routes that also serve anonymous requests: a
// request without a token passes with no claims; a token that is sent must
// be valid.
func (m *Middleware) Optional() echo.MiddlewareFunc {
	return (&gate{m: m, optional: true}).middleware
}

// Require lets through requests whose claims carry at least one of roles;
// others get 403 (401 without Authenticate before it).
func (m *Middleware) Require(roles ...string) echo.MiddlewareFunc {
	return m.RequireRule(core.AnyRole(roles...))
}

// RequireAll lets through requests whose claims carry every one of roles.
func (m *Middleware) RequireAll(roles ...string) echo.MiddlewareFunc {
	return m.RequireRule(core.AllRoles(roles...))
}

// RequireAdmin lets through requests whose claims carry the admin role.
func (m *Middleware) RequireAdmin() echo.MiddlewareFunc { return m.RequireRule(core.Admin()) }

// RequireVerifiedEmail lets through requests whose claims say the user's
// email address is verified (email_verified); others get 403
// email_not_verified.
func (m *Middleware) RequireVerifiedEmail() echo.MiddlewareFunc {
	return m.RequireRule(core.VerifiedEmail())
}

// RequirePermission lets through requests whose roles grant at least one of
// perms (core.Config.Permissions).
func (m *Middleware) RequirePermission(perms ...string) echo.MiddlewareFunc {
	return m.RequireRule(core.Permission(perms...))
}

// RequireAllPermissions lets through requests whose roles grant every one
// of perms.
func (m *Middleware) RequireAllPermissions(perms ...string) echo.MiddlewareFunc {
	return m.RequireRule(core.AllPermissions(perms...))
}

// RequireRule lets through requests whose claims rule allows.
func (m *Middleware) RequireRule(rule core.Rule) echo.MiddlewareFunc {
	return (&guard{m: m, rule: rule}).middleware
}

// Router is where Mount registers the routes: *echo.Echo and *echo.Group.
type Router interface {
	Add(method, path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route
}

var (
	_ Router = (*echo.Echo)(nil)
	_ Router = (*echo.Group)(nil)
)

// Mount registers the auth API (register, login, refresh, logout,
// logout-all, me, sessions, jwks.json; less WithoutRoutes) on r, typically
// a group such as e.Group("/auth"). Middleware of a group r applies to
// these routes too.
func (m *Middleware) Mount(r Router) {
	for _, rt := range m.ad.Routes() {
		r.Add(rt.Method, rt.Path, (&route{m: m, rt: rt}).serve)
	}
}

// Authenticate is New(a, opts...).Authenticate().
func Authenticate(a *core.Auth, opts ...Option) echo.MiddlewareFunc {
	return New(a, opts...).Authenticate()
}

// Optional is New(a, opts...).Optional().
func Optional(a *core.Auth, opts ...Option) echo.MiddlewareFunc {
	return New(a, opts...).Optional()
}

// Mount is New(a, opts...).Mount(r).
func Mount(r Router, a *core.Auth, opts ...Option) { New(a, opts...).Mount(r) }

// Require, RequireAll, RequireAdmin, RequireVerifiedEmail, RequirePermission,
// RequireAllPermissions and RequireRule are the Middleware methods of the
// same names with core's answers to refusals (no error handler).
func Require(roles ...string) echo.MiddlewareFunc    { return plain.Require(roles...) }
func RequireAll(roles ...string) echo.MiddlewareFunc { return plain.RequireAll(roles...) }
func RequireAdmin() echo.MiddlewareFunc              { return plain.RequireAdmin() }
func RequireVerifiedEmail() echo.MiddlewareFunc      { return plain.RequireVerifiedEmail() }
func RequireRule(rule core.Rule) echo.MiddlewareFunc { return plain.RequireRule(rule) }
func RequirePermission(perms ...string) echo.MiddlewareFunc {
	return plain.RequirePermission(perms...)
}
func RequireAllPermissions(perms ...string) echo.MiddlewareFunc {
	return plain.RequireAllPermissions(perms...)
}

var plain = New(nil)

// Claims returns the claims Authenticate or Optional verified. They live on
// the request's context.Context (no per-request map in the echo.Context), so
// Claims(c) and core.FromContext(c.Request().Context()) always agree.
func Claims(c echo.Context) (*core.Claims, bool) {
	return core.FromContext(c.Request().Context())
}

// Write copies a core.Response to the client — status, headers in order,
// body — for answers of your own built by core (core.ErrorResponse,
// Auth.JWKSResponse). A Response without a body gets no Content-Type
// either. It returns the error of writing the body, like c.Blob.
func Write(c echo.Context, r *core.Response) error { return core.WriteHTTP(c.Response(), r) }

// gate is Authenticate or Optional. Echo applies route and group
// middleware anew on every request, so the closure its middleware returns
// captures as little as possible.
type gate struct {
	m        *Middleware
	optional bool
}

func (g *gate) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		m := g.m
		if m.cfg.skip != nil && m.cfg.skip(c) {
			return next(c)
		}
		r := core.HTTPRequest{R: c.Request()}
		var claims *core.Claims
		var err error
		if g.optional {
			claims, err = m.ad.Optional(r.R.Context(), r)
		} else {
			claims, err = m.ad.Authenticate(r.R.Context(), r)
		}
		return m.pass(c, next, claims, err)
	}
}

// pass continues the chain with the claims on the request's context, or
// refuses the request.
func (m *Middleware) pass(c echo.Context, next echo.HandlerFunc, claims *core.Claims, err error) error {
	if err != nil {
		return m.fail(c, err)
	}
	if claims != nil {
		r := c.Request()
		c.SetRequest(r.WithContext(core.NewContext(r.Context(), claims)))
		if m.cfg.onSuccess != nil {
			if err := m.cfg.onSuccess(c, claims); err != nil {
				return m.fail(c, err)
			}
		}
	}
	return next(c)
}

// fail answers a refused request with the error handler, or core's answer.
func (m *Middleware) fail(c echo.Context, err error) error {
	if m.cfg.onError != nil {
		return m.cfg.onError(c, err)
	}
	_ = Write(c, core.ErrorResponse(err))
	return nil
}

// guard is a RequireRule. Its middleware runs on every request (Echo
// applies route middleware anew each time): the closure holds two words.
type guard struct {
	m    *Middleware
	rule core.Rule
}

func (g *guard) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		claims, _ := Claims(c)
		if err := g.rule(claims); err != nil {
			return g.m.fail(c, err)
		}
		return next(c)
	}
}

type route struct {
	m  *Middleware
	rt core.Route
}

func (rt *route) serve(c echo.Context) error {
	r := c.Request()
	// A failed write means the client is gone: nothing is left to answer,
	// and an error would only reach Echo's HTTPErrorHandler.
	_ = Write(c, rt.m.ad.Serve(r.Context(), rt.rt, reader{core.HTTPRequest{R: r}, c}))
	return nil
}

// reader is core's view of the request: net/http's, with Echo's path
// parameters.
type reader struct {
	core.HTTPRequest
	c echo.Context
}

// PathParam is the path parameter, percent-decoded. Echo routes on the
// escaped path (URL.RawPath) when there is one and then hands out the
// parameter as sent; Gin and Fiber hand it out decoded.
func (r reader) PathParam(name string) string {
	v := r.c.Param(name)
	if v != "" && r.R.URL.RawPath != "" {
		if dec, err := url.PathUnescape(v); err == nil {
			return dec
		}
	}
	return v
}
