package fiberauth_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/authenik8/authenik8-go/adapters/fiber"
	"github.com/authenik8/authenik8-go/conformance/adaptertest"
	"github.com/authenik8/authenik8-go/conformance/redistest"
	"github.com/authenik8/authenik8-go/conformance/storetest"
	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/core/memstore"
	"github.com/authenik8/authenik8-go/redisstore/redisstoretest"
)

func TestMain(m *testing.M) {
	redistest.Main(m)
}

// newApp is the Fiber app of the tests: headers up to 16 KiB, since access
// tokens may be up to 8 KiB (Fiber's default ReadBufferSize is 4 KiB).
func newApp() *fiber.App {
	return fiber.New(fiber.Config{ReadBufferSize: 16 << 10, DisableStartupMessage: true})
}

// listen serves app on a loopback listener until t's cleanup and returns its
// base URL.
func listen(t testing.TB, app *fiber.App) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go app.Listener(l)
	t.Cleanup(func() {
		app.Shutdown()
		l.Close() // in case Shutdown ran before Listener took it
	})
	return "http://" + l.Addr().String()
}

// options turns what the suite asks for into fiberauth options.
func options(cfg adaptertest.ServerConfig) []fiberauth.Option {
	opts := []fiberauth.Option{
		fiberauth.WithTokenLookup(cfg.TokenLookup...),
		fiberauth.WithBodyLimit(cfg.BodyLimit),
		fiberauth.WithTrustedProxy(cfg.TrustedProxy.Header, cfg.TrustedProxy.Proxies...),
		fiberauth.WithoutRoutes(cfg.Without...),
	}
	if cfg.Skip != nil {
		opts = append(opts, fiberauth.WithSkipper(func(c *fiber.Ctx) bool { return cfg.Skip(c.Path()) }))
	}
	if cfg.OnSuccess != nil {
		opts = append(opts, fiberauth.WithSuccessHandler(func(_ *fiber.Ctx, claims *core.Claims) error { return cfg.OnSuccess(claims) }))
	}
	if cfg.OnError != nil {
		opts = append(opts, fiberauth.WithErrorHandler(func(c *fiber.Ctx, err error) error { return fiberauth.Write(c, cfg.OnError(err)) }))
	}
	return opts
}

// serve is the suite's server (routes in the adaptertest package doc). The
// app sets Fiber's ProxyHeader to X-Forwarded-For with no trusted-proxy
// check, so that c.IP() believes anyone: fiberauth must not use it.
func serve(t testing.TB, a *core.Auth, cfg adaptertest.ServerConfig) string {
	app := fiber.New(fiber.Config{ReadBufferSize: 16 << 10, DisableStartupMessage: true, ProxyHeader: fiber.HeaderXForwardedFor})
	m := fiberauth.New(a, options(cfg)...)
	m.Mount(app.Group("/auth"))
	profile := func(c *fiber.Ctx) error {
		claims, _ := fiberauth.Claims(c)
		fromCtx, _ := core.FromContext(c.UserContext())
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.Send(adaptertest.Profile(claims, fromCtx))
	}
	ok := func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.Send(adaptertest.OK)
	}
	// Authenticate is passed per route: a Fiber group's handlers are prefix
	// middleware, which would also run for /api/optional and /api/unguarded.
	auth := m.Authenticate()
	api := app.Group("/api")
	api.Get("/profile", auth, profile)
	api.Get("/optional", m.Optional(), profile)
	api.Get("/admin", auth, m.RequireAdmin(), ok)
	api.Get("/any", auth, m.Require("editor", "admin"), ok)
	api.Get("/all", auth, m.RequireAll("user", "editor"), ok)
	api.Get("/perm", auth, m.RequirePermission("reports:read", "reports:write"), ok)
	api.Get("/perm-all", auth, m.RequireAllPermissions("reports:read", "reports:export"), ok)
	api.Get("/rule", auth, m.RequireRule(adaptertest.TenantRule), ok)
	api.Get("/plain", auth, fiberauth.RequireAdmin(), ok)
	api.Get("/verified", auth, m.RequireVerifiedEmail(), ok)
	api.Get("/unguarded", fiberauth.RequireAdmin(), ok)
	return listen(t, app)
}

func TestMemstore(t *testing.T) {
	adaptertest.Run(t, adaptertest.Harness{
		Serve:  serve,
		Stores: adaptertest.MemoryStores,
	})
}

func TestRedis(t *testing.T) {
	adaptertest.Run(t, adaptertest.Harness{Serve: serve, Stores: redisstoretest.Stores})
}

// newAuth is an Auth on the in-memory stores, with tokens for a user and an
// admin.
func newAuth(t *testing.T) (a *core.Auth, user, admin string) {
	t.Helper()
	s, u := memstore.New(), memstore.NewUsers(storetest.FastHasher)
	a = adaptertest.NewAuth(t, s, u, nil)
	issue := func(id string, roles ...string) string {
		p, err := a.IssueSession(context.Background(), core.User{ID: id, Roles: roles}, core.Client{})
		if err != nil {
			t.Fatal(err)
		}
		return p.AccessToken
	}
	return a, issue("u1", "user"), issue("u2", "admin")
}

// do sends one request through app.Test and returns its answer, body read.
func do(t *testing.T, app *fiber.App, method, path, token string) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestWithErrorHandler(t *testing.T) {
	a, user, admin := newAuth(t)
	var calls []error
	onError := fiberauth.WithErrorHandler(func(c *fiber.Ctx, err error) error {
		calls = append(calls, err)
		var e *core.Error
		if !errors.As(err, &e) {
			t.Errorf("error %v is not a *core.Error", err)
		}
		// Returned errors go to the app's ErrorHandler.
		return fiber.NewError(fiber.StatusTeapot, "custom "+e.Code)
	})
	app := newApp()
	ok := func(c *fiber.Ctx) error { return c.SendString("ok") }
	m := fiberauth.New(a, onError)
	m.Mount(app.Group("/auth"))
	app.Get("/profile", m.Authenticate(), ok)
	app.Get("/optional", m.Optional(), ok)
	app.Get("/admin", m.Authenticate(), m.RequireAdmin(), ok)
	app.Get("/plain", fiberauth.Authenticate(a), fiberauth.RequireAdmin(), ok)

	for _, tc := range []struct {
		name, path, token string
		want              error // nil: allowed, the handler is not called
	}{
		{"no token", "/profile", "", core.ErrMissingToken},
		{"garbage token", "/profile", "garbage", core.ErrInvalidToken},
		{"signed in", "/profile", user, nil},
		{"optional anonymous", "/optional", "", nil},
		{"optional garbage", "/optional", "garbage", core.ErrInvalidToken},
		{"optional signed in", "/optional", user, nil},
		{"require, no token", "/admin", "", core.ErrMissingToken},
		{"require refused", "/admin", user, core.ErrForbidden},
		{"require allowed", "/admin", admin, nil},
	} {
		calls = nil
		resp, body := do(t, app, "GET", tc.path, tc.token)
		if tc.want == nil {
			if len(calls) != 0 || resp.StatusCode != 200 || body != "ok" {
				t.Fatalf("%s: %d %q, handler calls %v", tc.name, resp.StatusCode, body, calls)
			}
			continue
		}
		if len(calls) != 1 || !errors.Is(calls[0], tc.want) {
			t.Fatalf("%s: handler calls %v, want one with %v", tc.name, calls, tc.want)
		}
		if resp.StatusCode != fiber.StatusTeapot || body != "custom "+tc.want.(*core.Error).Code {
			t.Fatalf("%s: %d %q, want the custom answer", tc.name, resp.StatusCode, body)
		}
	}

	// Without the option, Require answers core's 403; the mounted routes
	// answer core's responses even when given the option.
	calls = nil
	for _, tc := range []struct {
		path, token string
		want        error
	}{
		{"/plain", user, core.ErrForbidden},
		{"/auth/me", "", core.ErrMissingToken},
		{"/auth/me", "garbage", core.ErrInvalidToken},
	} {
		resp, body := do(t, app, "GET", tc.path, tc.token)
		want := core.ErrorResponse(tc.want)
		if resp.StatusCode != want.Status || body != string(want.Body) {
			t.Fatalf("%s: %d %s, want %d %s", tc.path, resp.StatusCode, body, want.Status, want.Body)
		}
	}
	if len(calls) != 0 {
		t.Fatalf("handler called %v", calls)
	}
}

// TestNoContent: a 204 has neither a body nor a Content-Type. fasthttp
// gives every response a default Content-Type (text/plain; charset=utf-8):
// it leaves it off the wire for an empty body, but middleware reading
// c.Response().Header.ContentType() (caches, compression, loggers) sees
// it. The suppression does not leak to the next response on the
// connection.
func TestNoContent(t *testing.T) {
	a, user, _ := newAuth(t)
	app := newApp()
	var seen []string // the Content-Type middleware sees after each handler
	app.Use(func(c *fiber.Ctx) error {
		err := c.Next()
		seen = append(seen, string(c.Response().Header.ContentType()))
		return err
	})
	fiberauth.Mount(app.Group("/auth"), a)
	app.Get("/text", func(c *fiber.Ctx) error { return c.SendString("text") })
	base := listen(t, app)

	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	roundTrip := func(req string) (*http.Response, []byte) {
		t.Helper()
		if _, err := io.WriteString(conn, req); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}

	resp, body := roundTrip("POST /auth/logout HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + user + "\r\nContent-Length: 0\r\n\r\n")
	if resp.StatusCode != 204 || len(body) != 0 {
		t.Fatalf("logout: %d %q", resp.StatusCode, body)
	}
	if v, ok := resp.Header["Content-Type"]; ok {
		t.Fatalf("204 with Content-Type %q", v)
	}
	if got := resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Fatalf("204 Cache-Control %q", got)
	}

	// Same connection: fasthttp's default is back for the next response.
	resp, body = roundTrip("GET /text HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.StatusCode != 200 || string(body) != "text" || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Fatalf("next response: %d %q %v", resp.StatusCode, body, resp.Header)
	}

	// A refused logout still carries core's JSON Content-Type.
	resp, _ = roundTrip("POST /auth/logout HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + user + "\r\nContent-Length: 0\r\n\r\n")
	if resp.StatusCode != 401 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("second logout: %d %v", resp.StatusCode, resp.Header)
	}
	if want := []string{"", "text/plain; charset=utf-8", "application/json"}; !slices.Equal(seen, want) {
		t.Fatalf("Content-Type seen by middleware %q, want %q", seen, want)
	}
}

// BenchmarkAuthenticate measures the middleware against an open route:
// the difference is core's verification and the claims' context.
func BenchmarkAuthenticate(b *testing.B) {
	s, u := memstore.New(), memstore.NewUsers(storetest.FastHasher)
	a := adaptertest.NewAuth(b, s, u, nil)
	p, err := a.IssueSession(context.Background(), core.User{ID: "u1", Roles: []string{"admin"}}, core.Client{})
	if err != nil {
		b.Fatal(err)
	}
	app := newApp()
	ok := func(c *fiber.Ctx) error { return c.SendString("ok") }
	app.Get("/open", ok)
	app.Get("/authed", fiberauth.Authenticate(a), ok)
	app.Get("/admin", fiberauth.Authenticate(a), fiberauth.RequireAdmin(), ok)
	h := app.Handler()
	for _, path := range []string{"/open", "/authed", "/admin"} {
		b.Run(strings.TrimPrefix(path, "/"), func(b *testing.B) {
			var fctx fasthttp.RequestCtx
			fctx.Request.Header.SetMethod("GET")
			fctx.Request.SetRequestURI(path)
			fctx.Request.Header.Set("Authorization", "Bearer "+p.AccessToken)
			b.ReportAllocs()
			for b.Loop() {
				fctx.Response.Reset()
				h(&fctx)
				if fctx.Response.StatusCode() != 200 {
					b.Fatalf("%s: %d %s", path, fctx.Response.StatusCode(), fctx.Response.Body())
				}
			}
		})
	}
}

// TestBody: the routes read the body as sent, within the limit, also when
// Fiber streams request bodies and when the length is not announced.
func TestBody(t *testing.T) {
	login := func(pad int) []byte {
		return []byte(`{"email":"nobody@example.com","password":"12345678","pad":"` + strings.Repeat("x", pad) + `"}`)
	}
	for _, stream := range []bool{false, true} {
		a, _, _ := newAuth(t)
		app := fiber.New(fiber.Config{ReadBufferSize: 16 << 10, DisableStartupMessage: true, StreamRequestBody: stream})
		fiberauth.Mount(app.Group("/auth"), a)
		base := listen(t, app)
		hc := &http.Client{Timeout: 10 * time.Second}
		t.Cleanup(hc.CloseIdleConnections)
		post := func(what string, body io.Reader, length int64, encoding string, want error) {
			t.Helper()
			req, err := http.NewRequest("POST", base+"/auth/login", body)
			if err != nil {
				t.Fatal(err)
			}
			req.ContentLength = length
			req.Header.Set("Content-Type", "application/json")
			if encoding != "" {
				req.Header.Set("Content-Encoding", encoding)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got, _ := io.ReadAll(resp.Body)
			w := core.ErrorResponse(want)
			if resp.StatusCode != w.Status || !bytes.Equal(got, w.Body) {
				t.Fatalf("stream=%v, %s: %d %s, want %d %s", stream, what, resp.StatusCode, got, w.Status, w.Body)
			}
		}
		near, over := login(core.DefaultBodyLimit-100), login(core.DefaultBodyLimit)
		post("under the limit", bytes.NewReader(near), int64(len(near)), "", core.ErrInvalidCredentials)
		post("over the limit", bytes.NewReader(over), int64(len(over)), "", core.ErrPayloadTooLarge)
		// Chunked: no Content-Length.
		post("chunked, under the limit", io.MultiReader(bytes.NewReader(near)), -1, "", core.ErrInvalidCredentials)
		post("chunked, over the limit", io.MultiReader(bytes.NewReader(over)), -1, "", core.ErrPayloadTooLarge)
		// A compressed body is not inflated (c.Body would): it is malformed
		// JSON, as on the net/http adapters.
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(near)
		zw.Close()
		post("gzip", bytes.NewReader(gz.Bytes()), int64(gz.Len()), "gzip", core.ErrInvalidRequest.WithDescription("the body must be a JSON object"))
	}
}

// recordingStore keeps, uncopied, the strings the routes hand to the store.
type recordingStore struct {
	storeLimiter
	mu      sync.Mutex
	agents  []string // CreateSession's user agents
	revoked []string // RevokeSession's session ids
}

func (s *recordingStore) CreateSession(ctx context.Context, n core.NewSession) (core.Session, error) {
	s.mu.Lock()
	s.agents = append(s.agents, n.UserAgent)
	s.mu.Unlock()
	return s.storeLimiter.CreateSession(ctx, n)
}

func (s *recordingStore) RevokeSession(ctx context.Context, uid, sid string) (bool, error) {
	s.mu.Lock()
	s.revoked = append(s.revoked, sid)
	s.mu.Unlock()
	return s.storeLimiter.RevokeSession(ctx, uid, sid)
}

// storeLimiter is what memstore and redisstore implement: the limiter
// stays reachable through the wrapper.
type storeLimiter interface {
	core.Store
	core.Limiter
}

// TestBorrowedStrings: fasthttp lends the handler strings that alias
// buffers it reuses for the next request on the connection. Over one
// keep-alive connection, the user agent a queued hook event and the store
// were given, and the session id the store revoked (redisstore keys its
// revocation tombstones by it), still read right after later requests
// overwrote those buffers.
func TestBorrowedStrings(t *testing.T) {
	for name, stores := range map[string]func(testing.TB) (core.Store, core.UserStore){
		"memstore": adaptertest.MemoryStores, "redis": redisstoretest.Stores,
	} {
		t.Run(name, func(t *testing.T) { testBorrowedStrings(t, stores) })
	}
}

func testBorrowedStrings(t *testing.T, stores func(testing.TB) (core.Store, core.UserStore)) {
	s, u := stores(t)
	rec := &recordingStore{storeLimiter: s.(storeLimiter)}
	var mu sync.Mutex
	var events []core.Event // queued, as an audit log shipper would
	a := adaptertest.NewAuth(t, rec, u, func(c *core.Config) {
		c.Hooks.OnLogin = func(_ context.Context, e core.Event) {
			mu.Lock()
			events = append(events, e)
			mu.Unlock()
		}
	})
	if _, err := u.(core.UserRegistrar).Register(context.Background(), "keepalive@example.com", "correct horse battery", []string{"user"}); err != nil {
		t.Fatal(err)
	}
	app := newApp()
	fiberauth.Mount(app.Group("/auth"), a)
	base := listen(t, app)
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	send := func(method, path, agent, bearer, body string) (int, []byte) {
		t.Helper()
		req := method + " " + path + " HTTP/1.1\r\nHost: x\r\nUser-Agent: " + agent + "\r\n"
		if bearer != "" {
			req += "Authorization: Bearer " + bearer + "\r\n"
		}
		req += "Content-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
		if _, err := io.WriteString(conn, req); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	login := `{"email":"keepalive@example.com","password":"correct horse battery"}`
	type pair struct {
		AccessToken string `json:"access_token"`
	}
	var first, second pair
	for _, x := range []struct {
		agent string
		dst   *pair
	}{{"first-agent/" + strings.Repeat("1", 40), &first}, {"other-agent/" + strings.Repeat("2", 40), &second}} {
		code, b := send("POST", "/auth/login", x.agent, "", login)
		if code != 200 || json.Unmarshal(b, x.dst) != nil {
			t.Fatalf("login: %d %s", code, b)
		}
	}
	c, err := a.Verify(context.Background(), first.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	sid := strings.Clone(c.SessionID)
	if code, b := send("DELETE", "/auth/sessions/"+sid, "deleting-agent", second.AccessToken, ""); code != 204 {
		t.Fatalf("delete: %d %s", code, b)
	}
	// Later requests on the connection, of the same lengths, overwrite the
	// buffers the first ones were read from.
	other := core.NewSessionID("keepalive-other-user")[:len(sid)]
	for range 3 {
		send("DELETE", "/auth/sessions/"+strings.Repeat("z", len(sid)-len(other))+other, "x-agent/"+strings.Repeat("9", 44), second.AccessToken, "")
		send("POST", "/auth/login", "y-agent/"+strings.Repeat("8", 44), "", `{"email":"keepalive@example.com","password":"wrong password!!!!!!!"}`)
	}

	mu.Lock()
	defer mu.Unlock()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(events) < 2 || events[0].UserAgent != "first-agent/"+strings.Repeat("1", 40) || events[1].UserAgent != "other-agent/"+strings.Repeat("2", 40) {
		t.Fatalf("queued login events hold user agents %q", agents(events))
	}
	if len(rec.agents) < 2 || rec.agents[0] != "first-agent/"+strings.Repeat("1", 40) {
		t.Fatalf("the store was given user agents %q", rec.agents)
	}
	if len(rec.revoked) == 0 || rec.revoked[0] != sid {
		t.Fatalf("the store revoked %q, want %q first", rec.revoked, sid)
	}
	if _, err := a.Verify(context.Background(), first.AccessToken); !errors.Is(err, core.ErrTokenRevoked) {
		t.Fatalf("the deleted session: %v", err)
	}
}

func agents(events []core.Event) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.UserAgent)
	}
	return out
}
