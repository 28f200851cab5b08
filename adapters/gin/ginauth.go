package ginauth

import (
	"net/netip"

	"github.com/gin-gonic/gin"

	"github.com/authenik8/authenik8-go/core"
)

// Option configures New (and Authenticate, Optional and Mount, which call
// it).
type Option func(*config)

type config struct {
	core      core.AdapterOptions
	onError   func(*gin.Context, error)
	onSuccess func(*gin.Context, *core.Claims) error
	skip      func(*gin.Context) bool
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
// The default writes core.ErrorResponse(err). The handler must end the
// request, for example with c.AbortWithStatusJSON. The mounted routes
// always answer core's responses.
func WithErrorHandler(h func(c *gin.Context, err error)) Option {
	return func(c *config) { c.onError = h }
}

// WithSuccessHandler calls h after Authenticate or Optional verified a
// token, with the claims (already on the request's context). An error it
// returns refuses the request as any refusal is (WithErrorHandler, else
// core.ErrorResponse: a core error answers its own row, any other 500).
func WithSuccessHandler(h func(c *gin.Context, claims *core.Claims) error) Option {
	return func(c *config) { c.onSuccess = h }
}

// WithSkipper lets requests for which skip returns true through Authenticate
// and Optional untouched, with no claims (a Require after them still
// refuses them).
func WithSkipper(skip func(c *gin.Context) bool) Option {
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
// client IP is the connection's: Gin's own ClientIP and trusted-proxy
// settings are not used.
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
// core.FromContext(c.Request.Context()).
func (m *Middleware) Authenticate() gin.HandlerFunc { return (&gate{m: m}).serve }

// Optional is Authenticate for routes that also serve anonymous requests: a
// request without a token passes with no claims; a token that is sent must
// be valid.
func (m *Middleware) Optional() gin.HandlerFunc { return (&gate{m: m, optional: true}).serve }

// Require lets through requests whose claims carry at least one of roles;
// others get 403 (401 without Authenticate before it).
func (m *Middleware) Require(roles ...string) gin.HandlerFunc {
	return m.RequireRule(core.AnyRole(roles...))
}

// RequireAll lets through requests whose claims carry every one of roles.
func (m *Middleware) RequireAll(roles ...string) gin.HandlerFunc {
	return m.RequireRule(core.AllRoles(roles...))
}

// RequireAdmin lets through requests whose claims carry the admin role.
func (m *Middleware) RequireAdmin() gin.HandlerFunc { return m.RequireRule(core.Admin()) }

// RequireVerifiedEmail lets through requests whose claims say the user's
// email address is verified (email_verified); others get 403
// email_not_verified.
func (m *Middleware) RequireVerifiedEmail() gin.HandlerFunc {
	return m.RequireRule(core.VerifiedEmail())
}

// RequirePermission lets through requests whose roles grant at least one of
// perms (core.Config.Permissions).
func (m *Middleware) RequirePermission(perms ...string) gin.HandlerFunc {
	return m.RequireRule(core.Permission(perms...))
}

// RequireAllPermissions lets through requests whose roles grant every one
// of perms.
func (m *Middleware) RequireAllPermissions(perms ...string) gin.HandlerFunc {
	return m.RequireRule(core.AllPermissions(perms...))
}

// RequireRule lets through requests whose claims rule allows.
func (m *Middleware) RequireRule(rule core.Rule) gin.HandlerFunc {
	return func(c *gin.Context) {
		claims, _ := Claims(c)
		if err := rule(claims); err != nil {
			m.fail(c, err)
			return
		}
		c.Next()
	}
}

// Mount registers the auth API (register, login, refresh, logout,
// logout-all, me, sessions, jwks.json; less WithoutRoutes) on r, typically
// a group such as router.Group("/auth").
func (m *Middleware) Mount(r gin.IRouter) {
	for _, rt := range m.ad.Routes() {
		r.Handle(rt.Method, rt.Path, m.route(rt))
	}
}

// Authenticate is New(a, opts...).Authenticate().
func Authenticate(a *core.Auth, opts ...Option) gin.HandlerFunc {
	return New(a, opts...).Authenticate()
}

// Optional is New(a, opts...).Optional().
func Optional(a *core.Auth, opts ...Option) gin.HandlerFunc { return New(a, opts...).Optional() }

// Mount is New(a, opts...).Mount(r).
func Mount(r gin.IRouter, a *core.Auth, opts ...Option) { New(a, opts...).Mount(r) }

// Require, RequireAll, RequireAdmin, RequireVerifiedEmail, RequirePermission,
// RequireAllPermissions and RequireRule are the Middleware methods of the
// same names with core's answers to refusals (no error handler).
func Require(roles ...string) gin.HandlerFunc    { return plain.Require(roles...) }
func RequireAll(roles ...string) gin.HandlerFunc { return plain.RequireAll(roles...) }
func RequireAdmin() gin.HandlerFunc              { return plain.RequireAdmin() }
func RequireVerifiedEmail() gin.HandlerFunc      { return plain.RequireVerifiedEmail() }
func RequireRule(rule core.Rule) gin.HandlerFunc { return plain.RequireRule(rule) }
func RequirePermission(perms ...string) gin.HandlerFunc {
	return plain.RequirePermission(perms...)
}
func RequireAllPermissions(perms ...string) gin.HandlerFunc {
	return plain.RequireAllPermissions(perms...)
}

var plain = New(nil)

// Claims returns the claims Authenticate or Optional verified. They live on
// the request's context.Context (no per-request map in the gin.Context), so
// Claims(c) and core.FromContext(c.Request.Context()) always agree.
func Claims(c *gin.Context) (*core.Claims, bool) {
	return core.FromContext(c.Request.Context())
}

// Write copies a core.Response to the client — status, headers in order,
// body — and stops the chain. Use it for answers of your own built by core
// (core.ErrorResponse, Auth.JWKSResponse).
func Write(c *gin.Context, r *core.Response) {
	core.WriteHTTP(c.Writer, r)
	c.Writer.WriteHeaderNow() // Gin defers the status line until a body is written
	c.Abort()
}

// gate is the handler of Authenticate and Optional.
type gate struct {
	m        *Middleware
	optional bool
}

func (g *gate) serve(c *gin.Context) {
	m := g.m
	if m.cfg.skip != nil && m.cfg.skip(c) {
		c.Next()
		return
	}
	r := core.HTTPRequest{R: c.Request}
	var claims *core.Claims
	var err error
	if g.optional {
		claims, err = m.ad.Optional(c.Request.Context(), r)
	} else {
		claims, err = m.ad.Authenticate(c.Request.Context(), r)
	}
	m.pass(c, claims, err)
}

// pass continues the chain with the claims on the request's context, or
// refuses the request.
func (m *Middleware) pass(c *gin.Context, claims *core.Claims, err error) {
	if err != nil {
		m.fail(c, err)
		return
	}
	if claims != nil {
		c.Request = c.Request.WithContext(core.NewContext(c.Request.Context(), claims))
		if m.cfg.onSuccess != nil {
			if err := m.cfg.onSuccess(c, claims); err != nil {
				m.fail(c, err)
				return
			}
		}
	}
	if !c.IsAborted() {
		c.Next()
	}
}

// fail answers a refused request with the error handler, or core's answer.
func (m *Middleware) fail(c *gin.Context, err error) {
	if m.cfg.onError != nil {
		m.cfg.onError(c, err)
		c.Abort()
		return
	}
	Write(c, core.ErrorResponse(err))
}

func (m *Middleware) route(rt core.Route) gin.HandlerFunc {
	return func(c *gin.Context) {
		Write(c, m.ad.Serve(c.Request.Context(), rt, reader{core.HTTPRequest{R: c.Request}, c}))
	}
}

// reader is core's view of the request: net/http's, with Gin's path
// parameters.
type reader struct {
	core.HTTPRequest
	c *gin.Context
}

func (r reader) PathParam(name string) string { return r.c.Param(name) }
