// Package httpauth is the net/http adapter of Authenik8: middleware of type
// func(http.Handler) http.Handler and the mountable auth routes, for the
// standard ServeMux, chi and any router built on http.Handler. Like the
// Gin, Echo and Fiber adapters, it is a thin translation of package core.
//
//	mux := http.NewServeMux()
//	mux.Handle("/auth/", http.StripPrefix("/auth", httpauth.Handler(a)))
//	m := httpauth.New(a)
//	mux.Handle("GET /api/profile", m.Authenticate(profile))
//	mux.Handle("GET /api/admin", m.Authenticate(m.RequireAdmin()(admin)))
//
// With chi:
//
//	r := chi.NewRouter()
//	httpauth.Mount(r, "/auth", a)        // or r.Mount("/auth", http.StripPrefix("/auth", httpauth.Handler(a)))
//	r.Group(func(r chi.Router) {
//		r.Use(m.Authenticate)
//		r.Get("/api/profile", profile)
//		r.With(m.RequireAdmin()).Get("/api/admin", admin)
//	})
//
// Handlers read the verified claims with Claims(r), which is
// core.FromContext(r.Context()).
//
// Every status, header and body comes from core, so net/http answers
// exactly as the other adapters do; Write copies other core answers
// (core.ErrorResponse, Auth.JWKSResponse) the same way.
//
// The client IP recorded with a session, and counted by the per-IP login
// and registration limits, is the connection's (r.RemoteAddr) unless
// WithTrustedProxy names the header a reverse proxy sets. A middleware that
// rewrites r.RemoteAddr (chi's middleware.RealIP) is believed like the
// connection itself: leave it out, or use it only behind a proxy that
// overwrites the header it reads.
package httpauth
