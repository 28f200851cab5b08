package core_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/core/memstore"
)

// fakeRequest is a RequestReader over maps, for the adapter decisions.
type fakeRequest struct {
	headers, cookies, query map[string]string
	remote, host            string
	tls                     bool
}

func (f *fakeRequest) Header(name string) string         { return f.headers[http.CanonicalHeaderKey(name)] }
func (f *fakeRequest) Cookie(name string) string         { return f.cookies[name] }
func (f *fakeRequest) Query(name string) string          { return f.query[name] }
func (f *fakeRequest) PathParam(string) string           { return "" }
func (f *fakeRequest) Host() string                      { return f.host }
func (f *fakeRequest) RemoteAddr() string                { return f.remote }
func (f *fakeRequest) TLS() bool                         { return f.tls }
func (f *fakeRequest) Body(int64) (b []byte, large bool) { return nil, false }

// TestTokenLookup: the first source with a token wins; the Authorization
// header needs the Bearer scheme, another header may carry the token bare;
// a source whose value is not a token (Basic credentials) is passed over;
// the default is the Authorization header; only a cookie source counts as
// a cookie credential.
func TestTokenLookup(t *testing.T) {
	if d := core.DefaultTokenLookup(); len(d) != 1 || d[0] != core.FromHeader("authorization") {
		t.Fatalf("default lookup %v", d)
	}
	r := &fakeRequest{
		headers: map[string]string{"Authorization": "Basic dXNlcjpwdw==", "X-Token": "Bearer from-x"},
		cookies: map[string]string{"at": "from-cookie"},
		query:   map[string]string{"access_token": "from-query"},
	}
	for _, tc := range []struct {
		sources    []core.TokenSource
		want       string
		fromCookie bool
	}{
		{[]core.TokenSource{core.FromQuery("access_token"), core.FromCookie("at")}, "from-query", false},
		{[]core.TokenSource{core.FromHeader("Authorization"), core.FromCookie("at")}, "from-cookie", true},
		{[]core.TokenSource{core.FromHeader("x-token")}, "from-x", false},
		{[]core.TokenSource{core.FromHeader("X-Other")}, "", false},
		{nil, "", false},
	} {
		ad := core.NewAdapter(nil, core.AdapterOptions{TokenLookup: tc.sources})
		if got, c := ad.Token(r); got != tc.want || c != tc.fromCookie {
			t.Errorf("Token(%v) = %q, %v; want %q, %v", tc.sources, got, c, tc.want, tc.fromCookie)
		}
	}
	for raw, want := range map[string]string{"Bearer abc": "abc", "bearer  abc ": "abc", "Basic abc": "", "abc": "", "Bearer ": ""} {
		r.headers["Authorization"] = raw
		if got, _ := core.NewAdapter(nil, core.AdapterOptions{}).Token(r); got != want {
			t.Errorf("Authorization %q: token %q, want %q", raw, got, want)
		}
	}
	r.headers["X-Token"] = " bare "
	if got, _ := core.NewAdapter(nil, core.AdapterOptions{TokenLookup: []core.TokenSource{core.FromHeader("X-Token")}}).Token(r); got != "bare" {
		t.Errorf("bare token in X-Token: %q", got)
	}
}

// TestClientIP: the connection's address unless a trusted proxy sent the
// configured header; then the rightmost address that is not a trusted
// proxy.
func TestClientIP(t *testing.T) {
	pfx := netip.MustParsePrefix
	xff := core.TrustedProxy{Header: "X-Forwarded-For", Proxies: []netip.Prefix{pfx("10.0.0.0/8")}}
	for _, tc := range []struct {
		name   string
		proxy  core.TrustedProxy
		remote string
		header string // X-Forwarded-For
		want   string
	}{
		{"no option: the header is ignored", core.TrustedProxy{}, "198.51.100.1:4000", "203.0.113.9", "198.51.100.1"},
		{"IPv6 peer", core.TrustedProxy{}, "[2001:db8::1]:4000", "", "2001:db8::1"},
		{"IPv4-mapped peer", core.TrustedProxy{}, "[::ffff:198.51.100.1]:4000", "", "198.51.100.1"},
		{"peer without a port", core.TrustedProxy{}, "198.51.100.1", "", "198.51.100.1"},
		{"no peer address", core.TrustedProxy{}, "@", "", ""},
		{"untrusted peer: the header is ignored", xff, "198.51.100.1:4000", "203.0.113.9", "198.51.100.1"},
		{"trusted peer", xff, "10.0.0.2:4000", "203.0.113.9", "203.0.113.9"},
		{"trusted peer, spoofed entries to the left", xff, "10.0.0.2:4000", "6.6.6.6, 203.0.113.9", "203.0.113.9"},
		{"trusted hops are skipped", xff, "10.0.0.2:4000", "6.6.6.6, 203.0.113.9,10.1.1.1 , 10.2.2.2", "203.0.113.9"},
		{"all hops trusted: the leftmost", xff, "10.0.0.2:4000", "10.3.3.3, 10.1.1.1", "10.3.3.3"},
		{"trusted peer, no header", xff, "10.0.0.2:4000", "", "10.0.0.2"},
		{"garbage hop: the peer", xff, "10.0.0.2:4000", "203.0.113.9, garbage", "10.0.0.2"},
		{"empty hop: the peer", xff, "10.0.0.2:4000", "203.0.113.9,", "10.0.0.2"},
		{"hop with a port", xff, "10.0.0.2:4000", "[2001:db8::7]:555", "2001:db8::7"},
		{"no proxies listed: private networks", core.TrustedProxy{Header: "X-Forwarded-For"}, "192.168.1.1:4000", "203.0.113.9", "203.0.113.9"},
		{"no proxies listed: loopback", core.TrustedProxy{Header: "X-Forwarded-For"}, "127.0.0.1:4000", "203.0.113.9", "203.0.113.9"},
		{"no proxies listed: a public peer is not trusted", core.TrustedProxy{Header: "X-Forwarded-For"}, "198.51.100.1:4000", "203.0.113.9", "198.51.100.1"},
	} {
		r := &fakeRequest{remote: tc.remote, headers: map[string]string{"X-Forwarded-For": tc.header}}
		if got := core.NewAdapter(nil, core.AdapterOptions{TrustedProxy: tc.proxy}).ClientIP(r); got != tc.want {
			t.Errorf("%s: ClientIP = %q, want %q", tc.name, got, tc.want)
		}
	}
	// Another header name, in any case.
	r := &fakeRequest{remote: "10.0.0.2:1", headers: map[string]string{"X-Real-Ip": "203.0.113.5"}}
	ad := core.NewAdapter(nil, core.AdapterOptions{TrustedProxy: core.TrustedProxy{Header: "x-real-ip", Proxies: []netip.Prefix{pfx("10.0.0.0/8")}}})
	if got := ad.ClientIP(r); got != "203.0.113.5" {
		t.Errorf("X-Real-IP: %q", got)
	}
}

// TestScheme: TLS, or X-Forwarded-Proto from a trusted proxy only.
func TestScheme(t *testing.T) {
	proxy := core.AdapterOptions{TrustedProxy: core.TrustedProxy{Header: "X-Forwarded-For", Proxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}}
	for _, tc := range []struct {
		name   string
		opts   core.AdapterOptions
		remote string
		tls    bool
		proto  string
		want   string
	}{
		{"plain", core.AdapterOptions{}, "10.0.0.2:1", false, "https", "http"},
		{"TLS", core.AdapterOptions{}, "198.51.100.1:1", true, "", "https"},
		{"trusted proxy says https", proxy, "10.0.0.2:1", false, "https", "https"},
		{"trusted proxies, the nearest says http", proxy, "10.0.0.2:1", false, "https, http", "http"},
		{"untrusted peer says https", proxy, "198.51.100.1:1", false, "https", "http"},
	} {
		r := &fakeRequest{remote: tc.remote, tls: tc.tls, headers: map[string]string{"X-Forwarded-Proto": tc.proto}}
		if got := core.NewAdapter(nil, tc.opts).Scheme(r); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestHTTPRequestHeader: a header sent on several lines reads as one
// comma-separated value, so the proxy walk sees every hop.
func TestHTTPRequestHeader(t *testing.T) {
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Add("X-Forwarded-For", "6.6.6.6")
	req.Header.Add("X-Forwarded-For", "203.0.113.9")
	req.RemoteAddr = "10.0.0.2:1"
	r := core.HTTPRequest{R: req}
	if got := r.Header("X-Forwarded-For"); got != "6.6.6.6, 203.0.113.9" {
		t.Fatalf("joined header %q", got)
	}
	if got := r.Header("x-forwarded-for"); got != "6.6.6.6, 203.0.113.9" {
		t.Fatalf("joined header by a non-canonical name %q", got)
	}
	ad := core.NewAdapter(nil, core.AdapterOptions{TrustedProxy: core.TrustedProxy{Header: "X-Forwarded-For"}})
	if got := ad.ClientIP(r); got != "203.0.113.9" {
		t.Fatalf("ClientIP %q", got)
	}
}

// TestDisabledRoutes: a disabled route is not mounted; the others are.
func TestDisabledRoutes(t *testing.T) {
	a := newAuth(t, nil)
	all := core.NewAdapter(a, core.AdapterOptions{}).Routes()
	some := core.NewAdapter(a, core.AdapterOptions{DisabledRoutes: []core.RouteID{core.RouteRegister, core.RouteRevokeSession}}).Routes()
	if len(all) != 10 || len(some) != 8 {
		t.Fatalf("%d routes, %d with two disabled", len(all), len(some))
	}
	for _, rt := range some {
		if rt.ID == core.RouteRegister || rt.ID == core.RouteRevokeSession || rt.Path == "/register" {
			t.Fatalf("disabled route %s %s is mounted", rt.Method, rt.Path)
		}
	}
}

// TestOrigins: the CSRF check compares scheme, host and port.
func TestOrigins(t *testing.T) {
	a := newAuth(t, func(c *core.Config) {
		c.Cookies = &core.CookieConfig{Path: "/auth", TrustedOrigins: []string{"https://App.Example.com/"}}
	})
	p := issue(t, a)
	logout := route(t, a, "/logout")
	for _, tc := range []struct {
		origin, scheme, host string
		ok                   bool
	}{
		{"https://api.example.com", "https", "api.example.com", true},
		{"https://api.example.com:443", "https", "api.example.com", true},
		{"https://API.example.com", "https", "api.example.com:443", true},
		{"http://api.example.com", "https", "api.example.com", false},
		{"https://api.example.com", "http", "api.example.com", false},
		{"https://api.example.com", "", "api.example.com", false},
		{"http://api.example.com", "", "api.example.com", true},
		{"https://api.example.com:8443", "https", "api.example.com", false},
		{"https://evil.example", "https", "api.example.com", false},
		{"https://app.example.com", "http", "api.example.com", true},
		{"http://app.example.com", "https", "api.example.com", false},
		{"null", "https", "api.example.com", false},
		{"https://api.example.com/path", "https", "api.example.com", false},
	} {
		req := &core.Request{
			Token: "x", TokenFromCookie: true, Host: tc.host, Scheme: tc.scheme,
			Cookie: func(string) string { return "csrf" },
			Header: http.Header{"Origin": {tc.origin}, "X-Csrf-Token": {"csrf"}}.Get,
		}
		resp := logout(context.Background(), req)
		refused := resp.Status == 403 && strings.Contains(string(resp.Body), "csrf_failed")
		if refused == tc.ok {
			t.Errorf("Origin %q for %s://%s: %d %s", tc.origin, tc.scheme, tc.host, resp.Status, resp.Body)
		}
	}
	if _, err := a.Verify(context.Background(), p.AccessToken); err != nil {
		t.Fatalf("a refused or garbage-token logout ended a session: %v", err)
	}
	if _, err := core.New(core.Config{Store: memstore.New(), AccessKeys: mustKeys(t), RefreshSecret: refreshSecret,
		Cookies: &core.CookieConfig{Path: "/auth", TrustedOrigins: []string{"app.example.com"}}}); err == nil {
		t.Fatal("a trusted origin without a scheme was accepted")
	}
}

func route(t *testing.T, a *core.Auth, path string) func(context.Context, *core.Request) *core.Response {
	for _, rt := range a.Routes() {
		if rt.Path == path {
			return rt.Handle
		}
	}
	t.Fatalf("no route %s", path)
	return nil
}

func mustKeys(t *testing.T) []core.Key {
	k, err := core.NewHMACKey([]byte("an HS256 secret of at least 32 bytes!"))
	if err != nil {
		t.Fatal(err)
	}
	return []core.Key{k}
}

// TestExtraAs decodes the application claims into a struct.
func TestExtraAs(t *testing.T) {
	type app struct {
		Tenant string   `json:"tenant"`
		Plan   int      `json:"plan"`
		Tags   []string `json:"tags"`
	}
	c := &core.Claims{Extra: map[string]any{"tenant": "acme", "plan": float64(3), "tags": []any{"a", "b"}, "other": true}}
	got, err := core.ExtraAs[app](c)
	if err != nil || got.Tenant != "acme" || got.Plan != 3 || strings.Join(got.Tags, ",") != "a,b" {
		t.Fatalf("ExtraAs: %+v, %v", got, err)
	}
	if got, err := core.ExtraAs[app](&core.Claims{}); err != nil || got.Tenant != "" {
		t.Fatalf("no claims: %+v, %v", got, err)
	}
	if got, err := core.ExtraAs[app](nil); err != nil || got.Tenant != "" {
		t.Fatalf("nil claims: %+v, %v", got, err)
	}
	if _, err := core.ExtraAs[app](&core.Claims{Extra: map[string]any{"plan": "three"}}); err == nil {
		t.Fatal("a claim of the wrong type decoded")
	}
}

// TestPermissionRules: Permission is any of, AllPermissions all of; Allow
// wraps a check with the same answers.
func TestPermissionRules(t *testing.T) {
	a := newAuth(t, func(c *core.Config) {
		c.Permissions = map[string][]string{"analyst": {"reports:read"}, "editor": {"posts:write"}, "root": {"*"}}
	})
	claims := func(roles ...string) *core.Claims {
		p, err := a.IssueSession(context.Background(), core.User{ID: "u1", Roles: roles}, core.Client{})
		if err != nil {
			t.Fatal(err)
		}
		c, err := a.Verify(context.Background(), p.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	analyst, both, root := claims("analyst"), claims("analyst", "editor"), claims("root")
	for _, tc := range []struct {
		name string
		rule core.Rule
		c    *core.Claims
		want error
	}{
		{"any: one of two", core.Permission("posts:write", "reports:read"), analyst, nil},
		{"any: none", core.Permission("posts:write"), analyst, core.ErrForbidden},
		{"all: both", core.AllPermissions("posts:write", "reports:read"), both, nil},
		{"all: one missing", core.AllPermissions("posts:write", "reports:read"), analyst, core.ErrForbidden},
		{"all: wildcard", core.AllPermissions("posts:write", "reports:read"), root, nil},
		{"no claims", core.AllPermissions("posts:write"), nil, core.ErrMissingToken},
		{"allow: yes", core.Allow(func(c *core.Claims) bool { return c.Subject == "u1" }), analyst, nil},
		{"allow: no", core.Allow(func(c *core.Claims) bool { return false }), analyst, core.ErrForbidden},
		{"allow: no claims", core.Allow(func(c *core.Claims) bool { return true }), nil, core.ErrMissingToken},
	} {
		if err := tc.rule(tc.c); !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}
