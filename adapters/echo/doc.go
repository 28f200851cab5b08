// Package echoauth is the Echo v4 adapter of Authenik8: native middleware
// and the mountable auth routes, thin translations of package core.
//
//	e := echo.New()
//	m := echoauth.New(a)                   // options resolved once
//	m.Mount(e.Group("/auth"))              // the auth API
//	api := e.Group("/api", m.Authenticate())
//	api.GET("/admin", handler, m.RequireAdmin())
//	api.GET("/reports", handler, m.RequirePermission("reports:read"))
//
// The package-level Authenticate(a, opts...), Mount(r, a, opts...),
// Require("admin")… do the same with core's answers to refusals; a
// Middleware's Require family answers with its WithErrorHandler.
//
// Handlers read the verified claims with Claims(c) or, from any code given
// the request's context, core.FromContext(c.Request().Context()).
//
// Every status, header and body comes from core, so Echo answers exactly as
// the other adapters do: the middleware writes core's answer itself
// and returns nil rather than an error for Echo's HTTPErrorHandler (use
// WithErrorHandler to answer differently).
//
// The client IP recorded with a session and counted by the per-IP login and
// registration limits is the connection's unless WithTrustedProxy names a
// proxy header. echoauth does not use c.RealIP() or e.IPExtractor (without
// an extractor, RealIP believes X-Forwarded-For from anyone): the policy is
// the same on every adapter.
//
// Middleware given to e.Group runs for every path under the group's prefix,
// unknown ones included (Echo registers a catch-all for them), so a group
// behind Authenticate answers 401 rather than 404 to an anonymous request
// for a path it does not have.
package echoauth
