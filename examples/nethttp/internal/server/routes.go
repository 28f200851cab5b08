package server

import (
	"net/http"

	httpauth "github.com/authenik8/authenik8-go/adapters/nethttp"
)

// Handler returns the routes, on the standard library's ServeMux: the auth
// API under /auth, the public keys, the probes, and the application's
// routes under /api. Add yours here.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()

	// Client IPs come from the connection (r.RemoteAddr), or from
	// TRUSTED_PROXIES' header.
	auth := httpauth.New(s.Auth, trustedProxy(s.trustedProxy, httpauth.WithTrustedProxy)...)
	auth.Mount(mux, "/auth")
	mux.HandleFunc("GET /.well-known/jwks.json", func(w http.ResponseWriter, r *http.Request) { httpauth.Write(w, s.Auth.JWKSResponse()) })
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { httpauth.Write(w, s.Healthz()) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) { httpauth.Write(w, s.Readyz(r.Context())) })

	profile := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := httpauth.Claims(r)
		httpauth.Write(w, s.Profile(claims))
	})
	admin := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := httpauth.Claims(r)
		httpauth.Write(w, s.Admin(claims))
	})
	mux.Handle("GET /api/profile", auth.Authenticate(profile))                  // 401 without a valid token of a live session
	mux.Handle("GET /api/admin", auth.Authenticate(auth.RequireAdmin()(admin))) // 403 without role admin
	return mux
}
