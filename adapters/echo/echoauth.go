package echoauth

import (
	"context"
	"net/textproto"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/authenik8/authenik8-go/core"
)

// onErrorKey is where Authenticate and Optional leave a WithErrorHandler
// handler in the echo.Context, for the Require family after them.
const onErrorKey = "authenik8.onError"

// Option configures Authenticate, Optional and Mount.
type Option func(*config)

type config struct {
	lookup    []core.TokenSource
	onError   func(echo.Context, error) error
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
// writes core.ErrorResponse(err). The handler must write the answer, for
// example with c.JSON; the error it returns goes to Echo's HTTPErrorHandler
// as any handler's would.
func WithErrorHandler(h func(c echo.Context, err error) error) Option {
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
	// A copy, with header names canonical once here rather than by
	// Header.Get on every request.
	lookup := make([]core.TokenSource, len(c.lookup))
	for i, src := range c.lookup {
		if src.From == "header" {
			src.Name = textproto.CanonicalMIMEHeaderKey(src.Name)
		}
		lookup[i] = src
	}
	c.lookup = lookup
	return c
}

// Authenticate verifies the request's access token and its session; it
// answers 401 (or 503 when the store is down) and stops the chain when they
// are not valid. Handlers after it read the claims with Claims(c) or
// core.FromContext(c.Request().Context()).
func Authenticate(a *core.Auth, opts ...Option) echo.MiddlewareFunc {
	return (&authenticator{auth: a, cfg: newConfig(opts)}).middleware
}

// Optional is Authenticate for routes that also serve anonymous requests: a
// request without a token passes with no claims; a token that is sent must
// be valid.
func Optional(a *core.Auth, opts ...Option) echo.MiddlewareFunc {
	return (&authenticator{auth: a, cfg: newConfig(opts), optional: true}).middleware
}

type authenticator struct {
	auth     *core.Auth
	cfg      *config
	optional bool
}

// middleware is the echo.MiddlewareFunc. Echo applies route and group
// middleware anew on every request, so the closure it returns captures as
// little as possible.
func (m *authenticator) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if m.cfg.onError != nil {
			// For the Require family after this middleware.
			c.Set(onErrorKey, m.cfg.onError)
		}
		r := c.Request()
		claims, err := m.auth.Check(r.Context(), m.cfg.token(c), m.optional)
		if err != nil {
			return fail(c, err)
		}
		if claims != nil {
			c.SetRequest(r.WithContext(core.NewContext(r.Context(), claims)))
		}
		return next(c)
	}
}

// Require lets through requests whose claims carry at least one of roles;
// others get 403 (401 without Authenticate before it).
func Require(roles ...string) echo.MiddlewareFunc { return authorize(core.AnyRole(roles...)) }

// RequireAll lets through requests whose claims carry every one of roles.
func RequireAll(roles ...string) echo.MiddlewareFunc { return authorize(core.AllRoles(roles...)) }

// RequireAdmin lets through requests whose claims carry the admin role.
func RequireAdmin() echo.MiddlewareFunc { return authorize(core.Admin()) }

// RequirePermission lets through requests whose roles grant perm
// (core.Config.Permissions).
func RequirePermission(perm string) echo.MiddlewareFunc {
	return authorize(core.Permission(perm))
}

func authorize(rule core.Rule) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			claims, _ := Claims(c)
			if err := rule(claims); err != nil {
				return fail(c, err)
			}
			return next(c)
		}
	}
}

// Claims returns the claims Authenticate or Optional verified. They live on
// the request's context.Context (no per-request map in the echo.Context), so
// Claims(c) and core.FromContext(c.Request().Context()) always agree.
func Claims(c echo.Context) (*core.Claims, bool) {
	return core.FromContext(c.Request().Context())
}

// Router is where Mount registers the routes: *echo.Echo and *echo.Group.
type Router interface {
	Add(method, path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route
}

var (
	_ Router = (*echo.Echo)(nil)
	_ Router = (*echo.Group)(nil)
)

// Mount registers the auth API of SPEC §6 (register, login, refresh,
// logout, logout-all, me, sessions, jwks.json) on r, typically a group such
// as e.Group("/auth"). Middleware of a group r applies to these routes too.
func Mount(r Router, a *core.Auth, opts ...Option) {
	cfg := newConfig(opts)
	for _, rt := range a.Routes() {
		r.Add(rt.Method, rt.Path, (&route{cfg: cfg, handle: rt.Handle}).serve)
	}
}

// clientIP is c.RealIP() when the application set an Echo.IPExtractor, and
// the connection's address otherwise: without an extractor Echo believes
// X-Forwarded-For and X-Real-IP from anyone, which would let any client
// choose the IP that the per-IP login and registration limits count.
func clientIP(c echo.Context) string {
	if c.Echo().IPExtractor == nil {
		return echo.ExtractIPDirect()(c.Request())
	}
	return c.RealIP()
}

type route struct {
	cfg    *config
	handle func(ctx context.Context, r *core.Request) *core.Response
}

func (rt *route) serve(c echo.Context) error {
	r := c.Request()
	req := core.Request{
		Token:       rt.cfg.token(c),
		ContentType: r.Header.Get(echo.HeaderContentType),
		Client:      core.Client{UserAgent: r.UserAgent(), IP: clientIP(c)},
		ID:          pathID(c),
		Cookie: func(name string) string {
			if ck, err := c.Cookie(name); err == nil {
				return ck.Value
			}
			return ""
		},
		Header: r.Header.Get,
		Host:   r.Host,
	}
	req.Body, req.BodyTooLarge = core.ReadBody(r.Body, r.ContentLength, rt.cfg.bodyLimit)
	// A failed write means the client is gone: nothing is left to answer,
	// and an error would only reach Echo's HTTPErrorHandler.
	_ = Write(c, rt.handle(r.Context(), &req))
	return nil
}

// pathID is the :id path parameter, percent-decoded. Echo routes on the
// escaped path (URL.RawPath) when there is one and then hands out the
// parameter as sent; Gin and Fiber hand it out decoded.
func pathID(c echo.Context) string {
	id := c.Param("id")
	if id != "" && c.Request().URL.RawPath != "" {
		if dec, err := url.PathUnescape(id); err == nil {
			return dec
		}
	}
	return id
}

// token reads the access token from the first source that has one.
func (cfg *config) token(c echo.Context) string {
	return core.FindToken(cfg.lookup, func(src core.TokenSource) string {
		switch src.From {
		case "cookie":
			if ck, err := c.Cookie(src.Name); err == nil {
				return ck.Value
			}
			return ""
		case "query":
			return c.QueryParam(src.Name)
		case "header":
			return c.Request().Header.Get(src.Name)
		}
		return ""
	})
}

// fail answers a refused request with the configured error handler, or
// core's answer.
func fail(c echo.Context, err error) error {
	if h, ok := c.Get(onErrorKey).(func(echo.Context, error) error); ok && h != nil {
		return h(c, err)
	}
	_ = Write(c, core.ErrorResponse(err))
	return nil
}

// Write copies a core.Response to the client — status, headers in order,
// body — for answers of your own built by core (core.ErrorResponse,
// Auth.JWKSResponse). A Response without a body gets no Content-Type
// either. It returns the error of writing the body, like c.Blob.
func Write(c echo.Context, r *core.Response) error {
	w := c.Response()
	h := w.Header()
	for i, kv := range r.Header {
		if i > 0 && r.Header[i-1].Key == kv.Key {
			h.Add(kv.Key, kv.Value) // repeated headers (Set-Cookie) are adjacent
		} else {
			h.Set(kv.Key, kv.Value)
		}
	}
	w.WriteHeader(r.Status)
	if r.Body == nil {
		return nil
	}
	_, err := w.Write(r.Body)
	return err
}
