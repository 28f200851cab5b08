// Package fiberauth is the Fiber v2 adapter of Authenik8: native middleware
// and the mountable auth routes, thin translations of package core.
//
//	app := fiber.New(fiber.Config{ReadBufferSize: 16 << 10})
//	fiberauth.Mount(app.Group("/auth"), a)             // SPEC §6 routes
//	api := app.Group("/api")
//	auth := fiberauth.Authenticate(a)
//	api.Get("/profile", auth, handler)
//	api.Get("/admin", auth, fiberauth.RequireAdmin(), handler)
//	api.Get("/reports", auth, fiberauth.RequirePermission("reports:read"), handler)
//
// Handlers read the verified claims with Claims(c) or, from any code given
// the request's context, core.FromContext(c.UserContext()). The middleware
// passes c.UserContext() to core and sets the context carrying the claims
// with c.SetUserContext.
//
// Every status, header and body comes from core, so Fiber answers exactly as
// the Gin and Echo adapters do; Write copies other core answers
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
//   - Client IP: the IP recorded with a session, and used for the per-IP
//     login and registration limits, is c.IP(). Behind a proxy set
//     fiber.Config's ProxyHeader together with EnableTrustedProxyCheck and
//     TrustedProxies (without the check, every client may set the header),
//     and EnableIPValidation; prefer a header the proxy overwrites, such as
//     X-Real-IP, to X-Forwarded-For, whose first entry the client chooses.
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
