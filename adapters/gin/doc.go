// Package ginauth is the Gin adapter of Authenik8: native middleware and the
// mountable auth routes, thin translations of package core.
//
//	r := gin.New()
//	m := ginauth.New(a)                       // options resolved once
//	m.Mount(r.Group("/auth"))                 // the auth API
//	api := r.Group("/api", m.Authenticate())
//	api.GET("/admin", m.RequireAdmin(), handler)
//	api.GET("/reports", m.RequirePermission("reports:read"), handler)
//
// The package-level Authenticate(a, opts...), Mount(r, a, opts...),
// Require("admin")… do the same with core's answers to refusals; a
// Middleware's Require family answers with its WithErrorHandler.
//
// Handlers read the verified claims with Claims(c) or, from any code given
// the request's context, core.FromContext(c.Request.Context()).
//
// Every status, header and body comes from core, so Gin answers exactly as
// the other adapters do. The client IP recorded with a session, and counted
// by the per-IP login and registration limits, is the connection's unless
// WithTrustedProxy names a proxy header: ginauth does not use c.ClientIP(),
// whose default trusts X-Forwarded-For from anyone.
package ginauth
