package ginauth

import (
	"github.com/gin-gonic/gin"

	"github.com/authenik8/authenik8-go/core"
)

// onErrorKey is where Authenticate and Optional leave a WithErrorHandler
// handler in the gin.Context, for the Require family after them.
const onErrorKey = "authenik8.onError"

// Option configures Authenticate, Optional and Mount.
type Option func(*config)

type config struct {
	lookup    []core.TokenSource
	onError   func(*gin.Context, error)
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
// writes core.ErrorResponse(err). The handler must end the request, for
// example with c.AbortWithStatusJSON.
func WithErrorHandler(h func(c *gin.Context, err error)) Option {
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
// core.FromContext(c.Request.Context()).
func Authenticate(a *core.Auth, opts ...Option) gin.HandlerFunc {
	return authenticate(a, false, newConfig(opts))
}

// Optional is Authenticate for routes that also serve anonymous requests: a
// request without a token passes with no claims; a token that is sent must
// be valid.
func Optional(a *core.Auth, opts ...Option) gin.HandlerFunc {
	return authenticate(a, true, newConfig(opts))
}

func authenticate(a *core.Auth, optional bool, cfg *config) gin.HandlerFunc {
	return func(c *gin.Context) {
		if cfg.onError != nil {
			c.Set(onErrorKey, cfg.onError)
		}
		claims, err := a.Check(c.Request.Context(), cfg.token(c), optional)
		if err != nil {
			fail(c, err)
			return
		}
		if claims != nil {
			c.Request = c.Request.WithContext(core.NewContext(c.Request.Context(), claims))
		}
		c.Next()
	}
}

// Require lets through requests whose claims carry at least one of roles;
// others get 403 (401 without Authenticate before it).
func Require(roles ...string) gin.HandlerFunc { return authorize(core.AnyRole(roles...)) }

// RequireAll lets through requests whose claims carry every one of roles.
func RequireAll(roles ...string) gin.HandlerFunc { return authorize(core.AllRoles(roles...)) }

// RequireAdmin lets through requests whose claims carry the admin role.
func RequireAdmin() gin.HandlerFunc { return authorize(core.Admin()) }

// RequirePermission lets through requests whose roles grant perm
// (core.Config.Permissions).
func RequirePermission(perm string) gin.HandlerFunc { return authorize(core.Permission(perm)) }

func authorize(rule core.Rule) gin.HandlerFunc {
	return func(c *gin.Context) {
		claims, _ := Claims(c)
		if err := rule(claims); err != nil {
			fail(c, err)
			return
		}
		c.Next()
	}
}

// Claims returns the claims Authenticate or Optional verified. They live on
// the request's context.Context (no per-request map in the gin.Context), so
// Claims(c) and core.FromContext(c.Request.Context()) always agree.
func Claims(c *gin.Context) (*core.Claims, bool) {
	return core.FromContext(c.Request.Context())
}

// Mount registers the auth API of SPEC §6 (register, login, refresh,
// logout, logout-all, me, sessions, jwks.json) on r, typically a group such
// as router.Group("/auth").
func Mount(r gin.IRouter, a *core.Auth, opts ...Option) {
	cfg := newConfig(opts)
	for _, rt := range a.Routes() {
		r.Handle(rt.Method, rt.Path, cfg.route(rt))
	}
}

func (cfg *config) route(rt core.Route) gin.HandlerFunc {
	return func(c *gin.Context) {
		req := core.Request{
			Token:       cfg.token(c),
			ContentType: c.GetHeader("Content-Type"),
			Client:      core.Client{UserAgent: c.Request.UserAgent(), IP: c.ClientIP()},
			ID:          c.Param("id"),
			Cookie:      func(name string) string { v, _ := c.Cookie(name); return v },
			Header:      c.GetHeader,
			Host:        c.Request.Host,
		}
		req.Body, req.BodyTooLarge = core.ReadBody(c.Request.Body, c.Request.ContentLength, cfg.bodyLimit)
		Write(c, rt.Handle(c.Request.Context(), &req))
	}
}

// token reads the access token from the first source that has one.
func (cfg *config) token(c *gin.Context) string {
	return core.FindToken(cfg.lookup, func(src core.TokenSource) string {
		switch src.From {
		case "cookie":
			v, _ := c.Cookie(src.Name)
			return v
		case "query":
			return c.Query(src.Name)
		case "header":
			return c.GetHeader(src.Name)
		}
		return ""
	})
}

// fail answers a refused request with the configured error handler, or
// core's answer.
func fail(c *gin.Context, err error) {
	if h, ok := c.Get(onErrorKey); ok {
		if onError, ok := h.(func(*gin.Context, error)); ok {
			onError(c, err)
			c.Abort()
			return
		}
	}
	Write(c, core.ErrorResponse(err))
}

// Write copies a core.Response to the client — status, headers in order,
// body — and stops the chain. Use it for answers of your own built by core
// (core.ErrorResponse, Auth.JWKSResponse).
func Write(c *gin.Context, r *core.Response) {
	h := c.Writer.Header()
	for i, kv := range r.Header {
		if i > 0 && r.Header[i-1].Key == kv.Key {
			h.Add(kv.Key, kv.Value) // repeated headers (Set-Cookie) are adjacent
		} else {
			h.Set(kv.Key, kv.Value)
		}
	}
	c.Writer.WriteHeader(r.Status)
	if r.Body != nil {
		c.Writer.Write(r.Body)
	} else {
		c.Writer.WriteHeaderNow()
	}
	c.Abort()
}
