// Package ginauth is the Gin adapter of Authenik8: native middleware and the
// mountable auth routes, thin translations of package core.
//
//	r := gin.New()
//	ginauth.Mount(r.Group("/auth"), a)                 // SPEC §6 routes
//	api := r.Group("/api", ginauth.Authenticate(a))
//	api.GET("/admin", ginauth.RequireAdmin(), handler)
//	api.GET("/reports", ginauth.RequirePermission("reports:read"), handler)
//
// Handlers read the verified claims with Claims(c) or, from any code given
// the request's context, core.FromContext(c.Request.Context()).
//
// Every status, header and body comes from core, so Gin answers exactly as
// the Echo and Fiber adapters do. The client IP recorded with a session is
// c.ClientIP(): configure Gin's trusted proxies (Engine.SetTrustedProxies)
// so that it cannot be spoofed.
package ginauth
