// Package fiberauth is the Fiber v2 adapter of Authenik8: native middleware
// and the mountable auth routes, thin translations of package core.
//
//	app := fiber.New(fiber.Config{ReadBufferSize: 16 << 10})
//	m := fiberauth.New(a)                  // options resolved once
//	m.Mount(app.Group("/auth"))            // the auth API
//	api := app.Group("/api")
//	auth := m.Authenticate()
//	api.Get("/profile", auth, handler)
//	api.Get("/admin", auth, m.RequireAdmin(), handler)
//	api.Get("/reports", auth, m.RequirePermission("reports:read"), handler)
//
// The package-level Authenticate(a, opts...), Mount(r, a, opts...),
// Require("admin")… do the same with core's answers to refusals; a
// Middleware's Require family answers with its WithErrorHandler.
//
// Handlers read the verified claims with Claims(c) or, from any code given
// the request's context, core.FromContext(c.UserContext()). The middleware
// passes c.UserContext() to core and sets the context carrying the claims
// with c.SetUserContext.
//
// Every status, header and body comes from core, so Fiber answers exactly as
// the other adapters do; Write copies other core answers
// (core.ErrorResponse, Auth.JWKSResponse) the same way. WithErrorHandler
// replaces the middleware's answer to a refusal; an error it returns goes
// to fiber.Config.ErrorHandler.
//
// Fiber-specific configuration:
//
//   - ReadBufferSize: Fiber's default (4096 bytes) is also its limit on the
//     size of the request headers; a request with more is refused with 431
//     before any middleware runs. Access tokens may be up to 8 KiB, so set
//     fiber.Config.ReadBufferSize to 16 KiB or more (16 << 10).
//   - Client IP: the IP recorded with a session, and counted by the per-IP
//     login and registration limits, is the connection's unless
//     WithTrustedProxy names a proxy header; fiberauth does not use c.IP()
//     nor fiber.Config's ProxyHeader and TrustedProxies, so the policy is
//     the same on every adapter.
//   - Borrowed strings: fasthttp's strings are valid only until the
//     handler returns. The user agent, client IP and session id that the
//     routes hand to the store and the hooks are copies.
//   - Body size: the auth routes answer 413 past WithBodyLimit (16 KiB by
//     default). Bodies over fiber.Config.BodyLimit (4 MiB by default) are
//     refused by Fiber itself before any handler runs, with a text/plain
//     413 from its ErrorHandler (which may answer with
//     Write(c, core.ErrorResponse(core.ErrPayloadTooLarge)) instead).
//     Bodies are read as sent: a Content-Encoding is not inflated.
//     With StreamRequestBody, at most the limit is read, and a body left
//     unread closes the connection after the answer (fasthttp would
//     otherwise read the next request from the rest of it).
//   - Context: core gets c.UserContext(), context.Background() unless an
//     earlier handler set one; fasthttp does not cancel it when the client
//     goes away.
//   - Groups: app.Group("/api", fiberauth.Authenticate(a)) is a prefix
//     middleware, like app.Use("/api", …): it runs for every request under
//     /api that no route registered before it answered, including requests
//     no route matches (401 rather than 404).
//     Passing the middleware per route, as above, avoids surprises.
package fiberauth
