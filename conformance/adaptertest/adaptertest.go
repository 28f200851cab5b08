// Package adaptertest is the HTTP conformance suite for the framework
// adapters. It drives a real server on a loopback listener, black-box, and
// checks every route, status, code, body field and header of the auth API.
//
// An adapter's test calls Run with a Harness whose Serve starts the
// framework's server. It builds one Middleware, m := New(a, options), with
// the options the ServerConfig asks for, and serves:
//
//	/auth/*             m.Mount (ServeMux: Handler under http.StripPrefix)
//	GET /api/profile    m.Authenticate → 200 Profile(accessor claims, core.FromContext claims)
//	GET /api/optional   m.Optional → 200 Profile(…) (empty sub when anonymous)
//	GET /api/admin      m.Authenticate, m.RequireAdmin() → 200 OK
//	GET /api/any        m.Authenticate, m.Require("editor", "admin") → 200 OK
//	GET /api/all        m.Authenticate, m.RequireAll("user", "editor") → 200 OK
//	GET /api/perm       m.Authenticate, m.RequirePermission("reports:read", "reports:write") → 200 OK
//	GET /api/perm-all   m.Authenticate, m.RequireAllPermissions("reports:read", "reports:export") → 200 OK
//	GET /api/rule       m.Authenticate, m.RequireRule(TenantRule) → 200 OK
//	GET /api/plain      m.Authenticate, the package-level RequireAdmin() → 200 OK
//	GET /api/unguarded  the package-level RequireAdmin() alone → must refuse
//	GET /api/verified   m.Authenticate, m.RequireVerifiedEmail() → 200 OK
//
// The server trusts no proxy unless the ServerConfig says so: by default the
// client IP is the connection's, whatever X-Forwarded-For or X-Real-IP say.
package adaptertest

import (
	"encoding/json"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/core/memstore"
)

// Harness tells the suite how to run an adapter.
type Harness struct {
	// Stores returns a fresh session store and user store (which must also
	// be a core.UserRegistrar) for one test. Required.
	Stores func(t testing.TB) (core.Store, core.UserStore)
	// Serve starts the adapter's server for a on a loopback listener, with
	// the routes of the package documentation, and returns its base URL
	// ("http://127.0.0.1:port"). The server stops at t's cleanup. Required.
	Serve func(t testing.TB, a *core.Auth, cfg ServerConfig) string
}

// ServerConfig is what a test asks of the server, to pass to the adapter's
// New as its options. Zero fields: the adapter's defaults.
type ServerConfig struct {
	TokenLookup  []core.TokenSource // WithTokenLookup
	BodyLimit    int64              // WithBodyLimit
	TrustedProxy core.TrustedProxy  // WithTrustedProxy(Header, Proxies...) when Header is set
	Without      []core.RouteID     // WithoutRoutes
	// Skip, when set, is the WithSkipper test of a request's URL path.
	Skip func(path string) bool
	// OnSuccess, when set, is called by the WithSuccessHandler hook with
	// the claims; its error is the hook's.
	OnSuccess func(*core.Claims) error
	// OnError, when set, is the WithErrorHandler handler: it answers with
	// Write(OnError(err)).
	OnError func(error) *core.Response
}

// OK is the body of the RBAC probe routes.
var OK = []byte(`{"ok":true}`)

// TenantRule is the application rule of GET /api/rule: the application
// claim "tenant" must be "acme".
var TenantRule = core.Allow(func(c *core.Claims) bool {
	app, err := core.ExtraAs[struct {
		Tenant string `json:"tenant"`
	}](c)
	return err == nil && app.Tenant == "acme"
})

// Profile is the body of /api/profile and /api/optional: the claims as the
// framework's accessor gave them, and the subject found on the request's
// context.Context, which must agree.
func Profile(fromAccessor, fromContext *core.Claims) []byte {
	p := struct {
		Sub        string   `json:"sub"`
		Sid        string   `json:"sid"`
		Roles      []string `json:"roles"`
		ContextSub string   `json:"ctx_sub"`
	}{Roles: []string{}}
	if fromAccessor != nil {
		p.Sub, p.Sid, p.Roles = fromAccessor.Subject, fromAccessor.SessionID, fromAccessor.Roles
	}
	if fromContext != nil {
		p.ContextSub = fromContext.Subject
	}
	b, _ := json.Marshal(p)
	return b
}

// Keys of every Auth the suite builds.
var (
	accessSecret  = []byte("adaptertest access secret, 32+ bytes....")
	refreshSecret = []byte("adaptertest refresh secret, 32+ bytes...")
)

// Grace is the ReuseGrace of the suite's Auth: short, so the replay tests
// can wait it out.
const Grace = 300 * time.Millisecond

// NewAuth builds the Auth the suite serves: HS256, the given stores, a
// permission map for the RBAC routes, a short reuse grace and high rate
// limits.
func NewAuth(t testing.TB, s core.Store, u core.UserStore, mod func(*core.Config)) *core.Auth {
	t.Helper()
	key, err := core.NewHMACKey(accessSecret)
	if err != nil {
		t.Fatal(err)
	}
	cfg := core.Config{
		Store: s, Users: u, AccessKeys: []core.Key{key}, RefreshSecret: refreshSecret,
		ReuseGrace:  Grace,
		Permissions: map[string][]string{"analyst": {"reports:read"}, "exporter": {"reports:read", "reports:export"}},
		// Every request of the suite comes from one loopback IP: limits high
		// enough not to get in the way; RateLimits tests its own.
		RateLimits: core.RateLimits{
			LoginPerAccount:        core.Limit{Max: 1000, Window: time.Minute},
			LoginPerIP:             core.Limit{Max: 10000, Window: time.Minute},
			RegisterPerIP:          core.Limit{Max: 10000, Window: time.Minute},
			ForgotPerAccount:       core.Limit{Max: 1000, Window: time.Minute},
			ForgotPerIP:            core.Limit{Max: 10000, Window: time.Minute},
			VerificationPerAccount: core.Limit{Max: 1000, Window: time.Minute},
			VerificationPerIP:      core.Limit{Max: 10000, Window: time.Minute},
		},
	}
	if mod != nil {
		mod(&cfg)
	}
	a, err := core.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// MemoryStores is a Harness.Stores on the in-memory stores, with cheap
// password hashing.
func MemoryStores(testing.TB) (core.Store, core.UserStore) {
	return memstore.New(), memstore.NewUsers(fastHasher)
}

var fastHasher = &core.PasswordHasher{Params: core.PasswordParams{Time: 1, MemoryKiB: 64, Threads: 1}}

// ServeHTTP serves h on a loopback listener until t's cleanup and returns
// its base URL: Serve for net/http-based frameworks (Gin, Echo, net/http).
func ServeHTTP(t testing.TB, h http.Handler) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return "http://" + l.Addr().String()
}
