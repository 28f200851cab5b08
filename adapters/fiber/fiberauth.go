package fiberauth

import (
	"io"

	"github.com/gofiber/fiber/v2"

	"github.com/authenik8/authenik8-go/core"
)

// Keys under which the middleware stores its state in c.Locals.
const (
	claimsKey  = "authenik8.claims"
	onErrorKey = "authenik8.onError"
)

// Option configures Authenticate, Optional and Mount.
type Option func(*config)

// errorHandler is the type stored under onErrorKey.
type errorHandler = func(*fiber.Ctx, error) error

type config struct {
	lookup    []core.TokenSource
	onError   errorHandler
	bodyLimit int64
}

// WithTokenLookup sets where the access token is read, in order: for example
// WithTokenLookup(core.FromCookie("access_token"), core.FromHeader("Authorization")).
// Default: the Authorization header's Bearer token.
func WithTokenLookup(sources ...core.TokenSource) Option {
	return func(c *config) { c.lookup = sources }
}

// WithErrorHandler replaces how the middleware answers a refused request
// (Authenticate, Optional and the Require family after them). The default
// writes core.ErrorResponse(err). The chain stops either way; the handler
// writes the answer, or returns an error for the app's fiber.Config
// ErrorHandler. The mounted auth routes always answer core's responses.
func WithErrorHandler(h func(c *fiber.Ctx, err error) error) Option {
	return func(c *config) { c.onError = h }
}

// WithBodyLimit sets the largest request body the mounted routes read.
// Default core.DefaultBodyLimit (16 KiB); larger bodies get 413.
func WithBodyLimit(n int64) Option {
	return func(c *config) { c.bodyLimit = n }
}

func newConfig(opts []Option) *config {
	c := &config{bodyLimit: core.DefaultBodyLimit}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Authenticate verifies the request's access token and its session; it
// answers 401 (or 503 when the store is down) and stops the chain when they
// are not valid. Handlers after it read the claims with Claims(c) or
// core.FromContext(c.UserContext()).
func Authenticate(a *core.Auth, opts ...Option) fiber.Handler {
	return authenticate(a, false, newConfig(opts))
}

// Optional is Authenticate for routes that also serve anonymous requests: a
// request without a token passes with no claims; a token that is sent must
// be valid.
func Optional(a *core.Auth, opts ...Option) fiber.Handler {
	return authenticate(a, true, newConfig(opts))
}

func authenticate(a *core.Auth, optional bool, cfg *config) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if cfg.onError != nil {
			c.Locals(onErrorKey, cfg.onError)
		}
		ctx := c.UserContext()
		claims, err := a.Check(ctx, cfg.token(c), optional)
		if err != nil {
			return fail(c, err)
		}
		if claims != nil {
			c.Locals(claimsKey, claims)
			c.SetUserContext(core.NewContext(ctx, claims))
		}
		return c.Next()
	}
}

// Require lets through requests whose claims carry at least one of roles;
// others get 403 (401 without Authenticate before it).
func Require(roles ...string) fiber.Handler { return authorize(core.AnyRole(roles...)) }

// RequireAll lets through requests whose claims carry every one of roles.
func RequireAll(roles ...string) fiber.Handler { return authorize(core.AllRoles(roles...)) }

// RequireAdmin lets through requests whose claims carry the admin role.
func RequireAdmin() fiber.Handler { return authorize(core.Admin()) }

// RequirePermission lets through requests whose roles grant perm
// (core.Config.Permissions).
func RequirePermission(perm string) fiber.Handler { return authorize(core.Permission(perm)) }

func authorize(rule core.Rule) fiber.Handler {
	return func(c *fiber.Ctx) error {
		claims, _ := Claims(c)
		if err := rule(claims); err != nil {
			return fail(c, err)
		}
		return c.Next()
	}
}

// Claims returns the claims Authenticate or Optional verified.
func Claims(c *fiber.Ctx) (*core.Claims, bool) {
	claims, ok := c.Locals(claimsKey).(*core.Claims)
	return claims, ok && claims != nil
}

// Mount registers the auth API of SPEC §6 (register, login, refresh,
// logout, logout-all, me, sessions, jwks.json) on r, typically a group such
// as app.Group("/auth").
func Mount(r fiber.Router, a *core.Auth, opts ...Option) {
	cfg := newConfig(opts)
	for _, rt := range a.Routes() {
		r.Add(rt.Method, rt.Path, cfg.route(rt))
	}
}

func (cfg *config) route(rt core.Route) fiber.Handler {
	return func(c *fiber.Ctx) error {
		// The strings alias fasthttp's buffers, valid until the handler
		// returns; core copies what it keeps.
		req := core.Request{
			Token:       cfg.token(c),
			ContentType: c.Get(fiber.HeaderContentType),
			Client:      core.Client{UserAgent: c.Get(fiber.HeaderUserAgent), IP: c.IP()},
			ID:          c.Params("id"),
			Cookie:      func(name string) string { return c.Cookies(name) },
			Header:      func(name string) string { return c.Get(name) },
			Host:        string(c.Request().Host()),
		}
		req.Body, req.BodyTooLarge = readBody(c, cfg.bodyLimit)
		return Write(c, rt.Handle(c.UserContext(), &req))
	}
}

// token reads the access token from the first source that has one.
func (cfg *config) token(c *fiber.Ctx) string {
	return core.FindToken(cfg.lookup, func(src core.TokenSource) string {
		switch src.From {
		case "cookie":
			return c.Cookies(src.Name)
		case "query":
			return c.Query(src.Name)
		case "header":
			return c.Get(src.Name)
		}
		return ""
	})
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

// fail answers a refused request with the configured error handler, or
// core's answer. The chain stops: the caller does not call c.Next.
func fail(c *fiber.Ctx, err error) error {
	if onError, ok := c.Locals(onErrorKey).(errorHandler); ok {
		return onError(c, err)
	}
	return Write(c, core.ErrorResponse(err))
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
