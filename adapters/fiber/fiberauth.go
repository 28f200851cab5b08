package fiberauth

import (
	"bytes"
	"context"
	"io"
	"net/netip"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"github.com/authenik8/authenik8-go/core"
)

// Option configures New (and Authenticate, Optional and Mount, which call
// it).
type Option func(*config)

type config struct {
	core      core.AdapterOptions
	onError   func(*fiber.Ctx, error) error
	onSuccess func(*fiber.Ctx, *core.Claims) error
	skip      func(*fiber.Ctx) bool
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
// The default writes core.ErrorResponse(err). The chain stops either way;
// the handler writes the answer, or returns an error for the app's
// fiber.Config ErrorHandler. The mounted routes always answer core's
// responses.
func WithErrorHandler(h func(c *fiber.Ctx, err error) error) Option {
	return func(c *config) { c.onError = h }
}

// WithSuccessHandler calls h after Authenticate or Optional verified a
// token, with the claims (already in c.Locals and c.UserContext()). An
// error it returns refuses the request as any refusal is (WithErrorHandler,
// else core.ErrorResponse: a core error answers its own row, any other
// 500). Unlike jwtware's SuccessHandler it does not call c.Next.
func WithSuccessHandler(h func(c *fiber.Ctx, claims *core.Claims) error) Option {
	return func(c *config) { c.onSuccess = h }
}

// WithSkipper lets requests for which skip returns true through Authenticate
// and Optional untouched, with no claims (a Require after them still
// refuses them): jwtware's Filter, the Next of Fiber's middleware.
func WithSkipper(skip func(c *fiber.Ctx) bool) Option {
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
// client IP is the connection's: Fiber's c.IP(), ProxyHeader and
// TrustedProxies are not used.
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
// core.FromContext(c.UserContext()).
func (m *Middleware) Authenticate() fiber.Handler { return (&gate{m: m}).serve }

// Optional is Authenticate for routes that also serve anonymous requests: a
// request without a token passes with no claims; a token that is sent must
// be valid.
func (m *Middleware) Optional() fiber.Handler { return (&gate{m: m, optional: true}).serve }

// Require lets through requests whose claims carry at least one of roles;
// others get 403 (401 without Authenticate before it).
func (m *Middleware) Require(roles ...string) fiber.Handler {
	return m.RequireRule(core.AnyRole(roles...))
}

// RequireAll lets through requests whose claims carry every one of roles.
func (m *Middleware) RequireAll(roles ...string) fiber.Handler {
	return m.RequireRule(core.AllRoles(roles...))
}

// RequireAdmin lets through requests whose claims carry the admin role.
func (m *Middleware) RequireAdmin() fiber.Handler { return m.RequireRule(core.Admin()) }

// RequireVerifiedEmail lets through requests whose claims say the user's
// email address is verified (email_verified); others get 403
// email_not_verified.
func (m *Middleware) RequireVerifiedEmail() fiber.Handler {
	return m.RequireRule(core.VerifiedEmail())
}

// RequirePermission lets through requests whose roles grant at least one of
// perms (core.Config.Permissions).
func (m *Middleware) RequirePermission(perms ...string) fiber.Handler {
	return m.RequireRule(core.Permission(perms...))
}

// RequireAllPermissions lets through requests whose roles grant every one
// of perms.
func (m *Middleware) RequireAllPermissions(perms ...string) fiber.Handler {
	return m.RequireRule(core.AllPermissions(perms...))
}

// RequireRule lets through requests whose claims rule allows.
func (m *Middleware) RequireRule(rule core.Rule) fiber.Handler {
	return func(c *fiber.Ctx) error {
		claims, _ := Claims(c)
		if err := rule(claims); err != nil {
			return m.fail(c, err)
		}
		return c.Next()
	}
}

// Mount registers the auth API (register, login, refresh, logout,
// logout-all, me, sessions, jwks.json; less WithoutRoutes) on r, typically
// a group such as app.Group("/auth").
func (m *Middleware) Mount(r fiber.Router) {
	for _, rt := range m.ad.Routes() {
		r.Add(rt.Method, rt.Path, m.route(rt))
	}
}

// Authenticate is New(a, opts...).Authenticate().
func Authenticate(a *core.Auth, opts ...Option) fiber.Handler {
	return New(a, opts...).Authenticate()
}

// Optional is New(a, opts...).Optional().
func Optional(a *core.Auth, opts ...Option) fiber.Handler { return New(a, opts...).Optional() }

// Mount is New(a, opts...).Mount(r).
func Mount(r fiber.Router, a *core.Auth, opts ...Option) { New(a, opts...).Mount(r) }

// Require, RequireAll, RequireAdmin, RequireVerifiedEmail, RequirePermission,
// RequireAllPermissions and RequireRule are the Middleware methods of the
// same names with core's answers to refusals (no error handler).
func Require(roles ...string) fiber.Handler    { return plain.Require(roles...) }
func RequireAll(roles ...string) fiber.Handler { return plain.RequireAll(roles...) }
func RequireAdmin() fiber.Handler              { return plain.RequireAdmin() }
func RequireVerifiedEmail() fiber.Handler      { return plain.RequireVerifiedEmail() }
func RequireRule(rule core.Rule) fiber.Handler { return plain.RequireRule(rule) }
func RequirePermission(perms ...string) fiber.Handler {
	return plain.RequirePermission(perms...)
}
func RequireAllPermissions(perms ...string) fiber.Handler {
	return plain.RequireAllPermissions(perms...)
}

var plain = New(nil)

// claimsKey is where the middleware keeps the claims in c.Locals.
const claimsKey = "authenik8.claims"

// Claims returns the claims Authenticate or Optional verified.
func Claims(c *fiber.Ctx) (*core.Claims, bool) {
	claims, ok := c.Locals(claimsKey).(*core.Claims)
	return claims, ok && claims != nil
}

// gate is the handler of Authenticate and Optional.
type gate struct {
	m        *Middleware
	optional bool
}

func (g *gate) serve(c *fiber.Ctx) error {
	m := g.m
	if m.cfg.skip != nil && m.cfg.skip(c) {
		return c.Next()
	}
	var claims *core.Claims
	var err error
	ctx := c.UserContext() // once: Fiber keeps it among the user values, found by a scan
	if g.optional {
		claims, err = m.ad.Optional(ctx, (*reader)(c))
	} else {
		claims, err = m.ad.Authenticate(ctx, (*reader)(c))
	}
	return m.pass(c, ctx, claims, err)
}

// pass continues the chain with the claims in c.Locals and the user
// context (ctx, the one core was given, with the claims), or refuses the
// request.
func (m *Middleware) pass(c *fiber.Ctx, ctx context.Context, claims *core.Claims, err error) error {
	if err != nil {
		return m.fail(c, err)
	}
	if claims != nil {
		c.Locals(claimsKey, claims)
		c.SetUserContext(core.NewContext(ctx, claims))
		if m.cfg.onSuccess != nil {
			if err := m.cfg.onSuccess(c, claims); err != nil {
				return m.fail(c, err)
			}
		}
	}
	return c.Next()
}

// fail answers a refused request with the error handler, or core's answer.
// The chain stops: the caller does not call c.Next.
func (m *Middleware) fail(c *fiber.Ctx, err error) error {
	if m.cfg.onError != nil {
		return m.cfg.onError(c, err)
	}
	return Write(c, core.ErrorResponse(err))
}

func (m *Middleware) route(rt core.Route) fiber.Handler {
	return func(c *fiber.Ctx) error {
		return Write(c, m.ad.Serve(c.UserContext(), rt, (*reader)(c)))
	}
}

// reader is core's view of the request. Its strings alias fasthttp's
// buffers, valid until the handler returns and then reused for the next
// request on the connection: core copies what it keeps (the user agent,
// the client IP, the session id of the path), and the body is read as
// sent.
type reader fiber.Ctx

func (r *reader) ctx() *fiber.Ctx { return (*fiber.Ctx)(r) }

func (r *reader) Header(name string) string {
	switch vs := r.ctx().Request().Header.PeekAll(name); len(vs) {
	case 0:
		return ""
	case 1:
		return utils.UnsafeString(vs[0])
	default:
		return string(bytes.Join(vs, []byte(", ")))
	}
}

func (r *reader) Cookie(name string) string    { return r.ctx().Cookies(name) }
func (r *reader) Query(name string) string     { return r.ctx().Query(name) }
func (r *reader) PathParam(name string) string { return r.ctx().Params(name) }
func (r *reader) Host() string                 { return utils.UnsafeString(r.ctx().Request().Host()) }
func (r *reader) RemoteAddr() string           { return r.ctx().Context().RemoteAddr().String() }
func (r *reader) TLS() bool                    { return r.ctx().Context().IsTLS() }
func (r *reader) Body(limit int64) ([]byte, bool) {
	return readBody(r.ctx(), limit)
}

// readBody returns the request body when it is at most limit bytes. It
// takes the body as sent: c.Body would first inflate a Content-Encoding'd
// body, unbounded, which net/http-based adapters do not do either.
func readBody(c *fiber.Ctx, limit int64) ([]byte, bool) {
	req := c.Request()
	n := req.Header.ContentLength() // -1: chunked
	if n == 0 {
		return nil, false
	}
	if req.IsBodyStream() {
		return readStream(c, int64(n), limit)
	}
	b := req.Body()
	switch {
	case int64(len(b)) > limit:
		return nil, true
	case len(b) == 0:
		return nil, false
	}
	return b, false
}

// readStream reads a body that fiber.Config.StreamRequestBody left in the
// connection, at most limit+1 bytes of it. fasthttp neither drains what a
// handler leaves of such a body nor closes the connection, so the next
// request on the connection would be read from the middle of this one: a
// body not read to its end closes the connection after the answer, as
// net/http does for a large unread body. A read error leaves a truncated
// body, which core refuses as malformed.
func readStream(c *fiber.Ctx, n, limit int64) ([]byte, bool) {
	if n > limit {
		c.Context().SetConnectionClose()
		return nil, true
	}
	b, err := io.ReadAll(io.LimitReader(c.Request().BodyStream(), limit+1))
	if err != nil || int64(len(b)) > limit {
		c.Context().SetConnectionClose()
	}
	switch {
	case int64(len(b)) > limit:
		return nil, true
	case len(b) == 0:
		return nil, false
	}
	return b, false
}

// Write copies a core.Response to the client — status, headers in order,
// body — for answers of your own built by core (core.ErrorResponse,
// Auth.JWKSResponse). It does not call c.Next. The body is handed to
// fasthttp without a copy: core's bodies are immutable. A Response without
// a body gets no Content-Type either.
func Write(c *fiber.Ctx, r *core.Response) error {
	for _, kv := range r.Header {
		c.Set(kv.Key, kv.Value) // fasthttp keeps Set-Cookie per cookie name: several cookies survive Set
	}
	c.Status(r.Status)
	if r.Body == nil {
		// No body, no Content-Type. fasthttp gives every response a
		// default one (text/plain; charset=utf-8): v1.51 leaves it off
		// the wire for an empty body, but middleware reading
		// Header.ContentType() (caches, compression, loggers) would see
		// and may replay it. fasthttp resets the flag for every request.
		c.Response().Header.SetNoDefaultContentType(true)
		return nil
	}
	return c.Send(r.Body)
}
