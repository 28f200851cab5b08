package adaptertest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/authenik8/authenik8-go/core"
)

// The options every adapter has under the same names: WithTrustedProxy,
// WithSkipper, WithSuccessHandler, WithErrorHandler, WithoutRoutes.

// testClientIP: the client IP is the connection's, whatever forwarding
// headers say, unless the application trusts a proxy header; then it is
// the header's rightmost address that is not a trusted proxy, and the
// per-IP limits count it.
func testClientIP(t *testing.T, h Harness) {
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	spoof := []reqOpt{header("X-Forwarded-For", "198.51.100.1, 203.0.113.7"), header("X-Real-IP", "203.0.113.8")}
	for _, tc := range []struct {
		name  string
		proxy core.TrustedProxy
		want  string // "" : the connection's address
	}{
		{"no proxy trusted: spoofed headers are ignored", core.TrustedProxy{}, ""},
		{"X-Forwarded-For from a trusted proxy", core.TrustedProxy{Header: "X-Forwarded-For", Proxies: loopback}, "203.0.113.7"},
		{"X-Real-IP, proxies on the local networks by default", core.TrustedProxy{Header: "X-Real-IP"}, "203.0.113.8"},
		{"X-Forwarded-For from a peer that is not the trusted proxy", core.TrustedProxy{Header: "X-Forwarded-For", Proxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, h, ServerConfig{TrustedProxy: tc.proxy}, nil)
			e.register("ip@example.com")
			r := e.do("POST", "/auth/login", append(spoof, jsonBody(map[string]string{"email": "ip@example.com", "password": password}))...)
			tk := decodeTokens(t, r)
			var list struct {
				Sessions []struct {
					IP string `json:"ip"`
				} `json:"sessions"`
			}
			if err := json.Unmarshal(e.do("GET", "/auth/sessions", bearer(tk.AccessToken)).Body, &list); err != nil || len(list.Sessions) != 1 {
				t.Fatalf("sessions: %v %+v", err, list)
			}
			got := list.Sessions[0].IP
			if tc.want == "" && got != "127.0.0.1" && got != "::1" || tc.want != "" && got != tc.want {
				t.Fatalf("session ip %q, want %q (\"\": the connection's)", got, tc.want)
			}
		})
	}
	// The per-IP registration limit counts the trusted proxy's client
	// addresses apart, and a spoofed header from anyone else does not
	// escape it.
	limits := func(c *core.Config) {
		c.RateLimits.RegisterPerIP = core.Limit{Max: 1, Window: time.Minute}
	}
	reg := func(e *env, email, xff string) *result {
		return e.do("POST", "/auth/register", header("X-Forwarded-For", xff), jsonBody(map[string]string{"email": email, "password": password}))
	}
	e := newEnv(t, h, ServerConfig{}, limits)
	wantStatus(t, "first registration", reg(e, "a@example.com", "203.0.113.1"), 201)
	wantStatus(t, "second registration, another spoofed address", reg(e, "b@example.com", "203.0.113.2"), 429)
	p := newEnv(t, h, ServerConfig{TrustedProxy: core.TrustedProxy{Header: "X-Forwarded-For", Proxies: loopback}}, limits)
	wantStatus(t, "behind the proxy: first client", reg(p, "a@example.com", "203.0.113.1"), 201)
	wantStatus(t, "behind the proxy: second client", reg(p, "b@example.com", "203.0.113.2"), 201)
	wantStatus(t, "behind the proxy: first client again", reg(p, "c@example.com", "203.0.113.1"), 429)
}

// testSkipper: a request the skipper picks passes Authenticate and
// Optional with no claims; a Require after a skipped Authenticate still
// refuses it, even with an admin's token.
func testSkipper(t *testing.T, h Harness) {
	skipped := map[string]bool{"/api/profile": true, "/api/admin": true}
	e := newEnv(t, h, ServerConfig{Skip: func(path string) bool { return skipped[path] }}, nil)
	admin := e.withRoles("skip@example.com", "admin")
	r := e.do("GET", "/api/profile")
	wantStatus(t, "skipped Authenticate without a token", r, 200)
	if !bytes.Equal(r.Body, Profile(nil, nil)) {
		t.Fatalf("skipped request has claims: %s", r.Body)
	}
	r = e.do("GET", "/api/profile", bearer(admin.AccessToken))
	if !bytes.Equal(r.Body, Profile(nil, nil)) {
		t.Fatalf("a skipped request's token was verified: %s", r.Body)
	}
	wantError(t, "a Require after a skipped Authenticate", e.do("GET", "/api/admin", bearer(admin.AccessToken)), core.ErrMissingToken)
	wantError(t, "a route the skipper does not pick", e.do("GET", "/api/any"), core.ErrMissingToken)
	wantStatus(t, "a route the skipper does not pick, with a token", e.do("GET", "/api/any", bearer(admin.AccessToken)), 200)
}

// testSuccessHandler: the hook sees the claims of every verified request,
// not anonymous ones; its error refuses the request with core's answer.
func testSuccessHandler(t *testing.T, h Harness) {
	var mu sync.Mutex
	var seen []string
	blocked := "nobody"
	cfg := ServerConfig{OnSuccess: func(c *core.Claims) error {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, c.Subject)
		if c.Subject == blocked {
			return core.ErrForbidden
		}
		return nil
	}}
	e := newEnv(t, h, cfg, nil)
	id := e.register("hook@example.com")
	tk := e.login("hook@example.com")
	wantStatus(t, "verified", e.do("GET", "/api/profile", bearer(tk.AccessToken)), 200)
	wantStatus(t, "optional, anonymous", e.do("GET", "/api/optional"), 200)
	wantStatus(t, "optional, signed in", e.do("GET", "/api/optional", bearer(tk.AccessToken)), 200)
	wantError(t, "refused before the hook", e.do("GET", "/api/profile", bearer("garbage")), core.ErrInvalidToken)
	mu.Lock()
	got := slices.Clone(seen)
	blocked = id
	mu.Unlock()
	if !slices.Equal(got, []string{id, id}) {
		t.Fatalf("the hook saw %q, want the subject twice", got)
	}
	wantError(t, "the hook's error", e.do("GET", "/api/profile", bearer(tk.AccessToken)), core.ErrForbidden)
}

// testErrorHandler: the error handler answers the refusals of Authenticate,
// Optional and the Require family of the same Middleware — whichever ran
// first — but not those of the package-level Require, nor of the mounted
// routes, which answer core's responses.
func testErrorHandler(t *testing.T, h Harness) {
	custom := func(err error) *core.Response {
		var e *core.Error
		errors.As(err, &e)
		b, _ := json.Marshal(map[string]string{"custom": e.Code})
		return &core.Response{Status: 418, Header: []core.Header{{Key: "Content-Type", Value: "application/json"}}, Body: b}
	}
	e := newEnv(t, h, ServerConfig{OnError: custom}, nil)
	e.register("err@example.com")
	user := e.login("err@example.com")
	for _, tc := range []struct {
		what, path, token string
		err               error
	}{
		{"Authenticate without a token", "/api/profile", "", core.ErrMissingToken},
		{"Authenticate with garbage", "/api/profile", "garbage", core.ErrInvalidToken},
		{"Optional with garbage", "/api/optional", "garbage", core.ErrInvalidToken},
		{"RequireAdmin of the Middleware", "/api/admin", user.AccessToken, core.ErrForbidden},
		{"RequireRule of the Middleware", "/api/rule", user.AccessToken, core.ErrForbidden},
	} {
		var opts []reqOpt
		if tc.token != "" {
			opts = append(opts, bearer(tc.token))
		}
		r := e.do("GET", tc.path, opts...)
		want := custom(tc.err)
		if r.Status != 418 || !bytes.Equal(r.Body, want.Body) {
			t.Fatalf("%s: %d %s, want %d %s", tc.what, r.Status, r.Body, want.Status, want.Body)
		}
	}
	wantError(t, "the package-level RequireAdmin", e.do("GET", "/api/plain", bearer(user.AccessToken)), core.ErrForbidden)
	wantError(t, "a mounted route", e.do("GET", "/auth/me"), core.ErrMissingToken)
	wantStatus(t, "an allowed request", e.do("GET", "/api/profile", bearer(user.AccessToken)), 200)
}

// testWithoutRoutes: a disabled route is not mounted (the framework's 404 or
// 405) and does nothing; the others still are.
func testWithoutRoutes(t *testing.T, h Harness) {
	e := newEnv(t, h, ServerConfig{Without: []core.RouteID{core.RouteRegister, core.RouteRevokeSession}}, nil)
	r := e.do("POST", "/auth/register", jsonBody(map[string]string{"email": "off@example.com", "password": password}))
	if r.Status != 404 && r.Status != 405 {
		t.Fatalf("a disabled /register: %d %s", r.Status, r.Body)
	}
	if _, err := e.users.Authenticate(context.Background(), "off@example.com", password); !errors.Is(err, core.ErrInvalidCredentials) {
		t.Fatalf("a disabled /register created the account: %v", err)
	}
	// The application creates accounts itself; the rest of the API works.
	reg, ok := e.users.(core.UserRegistrar)
	if !ok {
		t.Fatal("adaptertest: the user store is not a core.UserRegistrar")
	}
	if _, err := reg.Register(context.Background(), "off@example.com", password, []string{"user"}); err != nil {
		t.Fatal(err)
	}
	tk := e.login("off@example.com")
	sid, _ := e.do("GET", "/auth/me", bearer(tk.AccessToken)).object(t)["sid"].(string)
	r = e.do("DELETE", "/auth/sessions/"+sid, bearer(tk.AccessToken))
	if r.Status != 404 && r.Status != 405 || bytes.Contains(r.Body, []byte("not_found")) {
		t.Fatalf("a disabled DELETE /sessions/:id: %d %s", r.Status, r.Body)
	}
	wantStatus(t, "the session after the disabled DELETE", e.do("GET", "/auth/me", bearer(tk.AccessToken)), 200)
	wantStatus(t, "logout", e.do("POST", "/auth/logout", bearer(tk.AccessToken)), 204)
}
