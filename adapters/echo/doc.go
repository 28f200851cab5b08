// Package echoauth is the Echo v4 adapter of Authenik8: native middleware
// and the mountable auth routes, thin translations of package core.
//
//	e := echo.New()
//	e.IPExtractor = echo.ExtractIPDirect() // or ExtractIPFromXFFHeader(...) behind a proxy
//	echoauth.Mount(e.Group("/auth"), a)    // SPEC §6 routes
//	api := e.Group("/api", echoauth.Authenticate(a))
//	api.GET("/admin", handler, echoauth.RequireAdmin())
//	api.GET("/reports", handler, echoauth.RequirePermission("reports:read"))
//
// Handlers read the verified claims with Claims(c) or, from any code given
// the request's context, core.FromContext(c.Request().Context()).
//
// Every status, header and body comes from core, so Echo answers exactly as
// the Gin and Fiber adapters do: the middleware writes core's answer itself
// and returns nil rather than an error for Echo's HTTPErrorHandler (use
// WithErrorHandler to answer differently).
//
// The client IP recorded with a session and used for the per-IP login and
// registration limits is c.RealIP() as given by e.IPExtractor. Without an
// IPExtractor, Echo's RealIP would believe X-Forwarded-For and X-Real-IP as
// sent by anyone, so the adapter takes the connection's address instead.
// Behind a proxy, set e.IPExtractor to echo.ExtractIPFromXFFHeader or
// ExtractIPFromRealIPHeader with the proxies you trust (echo.TrustIPRange).
//
// Middleware given to e.Group runs for every path under the group's prefix,
// unknown ones included (Echo registers a catch-all for them), so a group
// behind Authenticate answers 401 rather than 404 to an anonymous request
// for a path it does not have.
package echoauth
