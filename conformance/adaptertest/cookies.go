package adaptertest

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authenik8/authenik8-go/core"
)

// cookies parses a response's Set-Cookie headers by name.
func (r *result) cookies() map[string]*http.Cookie {
	out := map[string]*http.Cookie{}
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		out[c.Name] = c
	}
	return out
}

// testCookieMode: with Config.Cookies the refresh token lives in an HttpOnly
// cookie scoped to the auth routes; a refresh or logout by cookie needs the
// site's (or a trusted) Origin and the double-submit CSRF token; logout
// clears the cookies; body-token clients keep working.
func testCookieMode(t *testing.T, h Harness) {
	e := newEnv(t, h, ServerConfig{}, func(c *core.Config) {
		c.Cookies = &core.CookieConfig{Path: "/auth", TrustedOrigins: []string{"https://app.example.com"}}
	})
	e.register("jar@example.com")
	r := e.do("POST", "/auth/login", jsonBody(map[string]string{"email": "jar@example.com", "password": password}))
	wantStatus(t, "login", r, 200)
	if m := r.object(t); m["refresh_token"] != nil || m["access_token"] == "" || m["refresh_expires_in"] == nil {
		t.Fatalf("cookie-mode token response %s: the refresh token must stay out of the body", r.Body)
	}
	jar := r.cookies()
	rc, csrf := jar["a8_refresh"], jar["a8_csrf"]
	if rc == nil || csrf == nil {
		t.Fatalf("login set cookies %v", r.Header.Values("Set-Cookie"))
	}
	if !rc.HttpOnly || !rc.Secure || rc.SameSite != http.SameSiteStrictMode || rc.Path != "/auth" || rc.MaxAge <= 0 {
		t.Fatalf("refresh cookie %q: want HttpOnly; Secure; SameSite=Strict; Path=/auth", rc.String())
	}
	if csrf.HttpOnly || !csrf.Secure || csrf.SameSite != http.SameSiteStrictMode || csrf.Path != "/" || csrf.Value == "" {
		t.Fatalf("CSRF cookie %q: want readable by scripts, Secure, SameSite=Strict, Path=/", csrf.String())
	}

	self := "http://" + strings.TrimPrefix(e.base, "http://")
	send := func(path, origin, csrfHeader string, extra ...reqOpt) *result {
		opts := []reqOpt{cookie(rc.Name, rc.Value), cookie(csrf.Name, csrf.Value)}
		if origin != "" {
			opts = append(opts, header("Origin", origin))
		}
		if csrfHeader != "" {
			opts = append(opts, header("X-CSRF-Token", csrfHeader))
		}
		return e.do("POST", path, append(opts, extra...)...)
	}
	wantError(t, "cross-site refresh without the CSRF token", send("/auth/refresh", self, ""), core.ErrCSRF)
	wantError(t, "refresh with a wrong CSRF token", send("/auth/refresh", self, csrf.Value+"x"), core.ErrCSRF)
	wantError(t, "refresh from a foreign Origin", send("/auth/refresh", "https://evil.example", csrf.Value), core.ErrCSRF)
	wantError(t, "refresh from a foreign Referer", send("/auth/refresh", "", csrf.Value, header("Referer", "https://evil.example/page")), core.ErrCSRF)
	wantError(t, `refresh from Origin "null"`, send("/auth/refresh", "null", csrf.Value), core.ErrCSRF)
	wantError(t, "logout from a foreign Origin", send("/auth/logout", "https://evil.example", csrf.Value), core.ErrCSRF)

	// Same site: the refused attempts changed nothing.
	r = send("/auth/refresh", self, csrf.Value)
	wantStatus(t, "same-site refresh", r, 200)
	jar = r.cookies()
	if jar["a8_refresh"] == nil || jar["a8_refresh"].Value == rc.Value || jar["a8_csrf"] == nil {
		t.Fatalf("refresh did not rotate the cookies: %v", r.Header.Values("Set-Cookie"))
	}
	old := rc
	rc, csrf = jar["a8_refresh"], jar["a8_csrf"]
	// A trusted origin may call too.
	r = send("/auth/refresh", "https://app.example.com", csrf.Value)
	wantStatus(t, "refresh from a trusted origin", r, 200)
	rc, csrf = r.cookies()["a8_refresh"], r.cookies()["a8_csrf"]
	// The replaced cookie is a replayed refresh token like any other.
	wantError(t, "replay of the replaced cookie", e.do("POST", "/auth/refresh", cookie(old.Name, old.Value), cookie(csrf.Name, csrf.Value), header("Origin", self), header("X-CSRF-Token", csrf.Value)), core.ErrRefreshTokenReused)

	// Clients that send the refresh token in the body need no CSRF token.
	e.register("mobile@example.com")
	body := e.do("POST", "/auth/login", jsonBody(map[string]string{"email": "mobile@example.com", "password": password}))
	mc := body.cookies()["a8_refresh"]
	wantStatus(t, "body refresh in cookie mode", e.refresh(mc.Value), 200)

	// Logout by cookie clears both cookies.
	e.register("out@example.com")
	r = e.do("POST", "/auth/login", jsonBody(map[string]string{"email": "out@example.com", "password": password}))
	rc, csrf = r.cookies()["a8_refresh"], r.cookies()["a8_csrf"]
	access := r.object(t)["access_token"].(string)
	r = send("/auth/logout", self, csrf.Value)
	wantStatus(t, "logout by cookie", r, 204)
	cleared := r.cookies()
	for _, name := range []string{"a8_refresh", "a8_csrf"} {
		if c := cleared[name]; c == nil || c.MaxAge >= 0 || c.Value != "" {
			t.Fatalf("logout did not clear %s: %v", name, r.Header.Values("Set-Cookie"))
		}
	}
	wantError(t, "access token after cookie logout", e.do("GET", "/auth/me", bearer(access)), core.ErrTokenRevoked)
	wantError(t, "refresh cookie after logout", send("/auth/refresh", self, csrf.Value), core.ErrInvalidRefreshToken)
}

// testCookieTokenCSRF: with the access token read from a cookie, every
// state-changing mounted route checks CSRF — not only refresh and logout by
// refresh cookie — while a GET needs no CSRF token.
func testCookieTokenCSRF(t *testing.T, h Harness) {
	e := newEnv(t, h, ServerConfig{TokenLookup: []core.TokenSource{core.FromCookie("access_token")}}, func(c *core.Config) {
		c.Cookies = &core.CookieConfig{Path: "/auth"}
	})
	e.register("csrf@example.com")
	type session struct {
		access, csrf, sid string
	}
	login := func() session {
		r := e.do("POST", "/auth/login", jsonBody(map[string]string{"email": "csrf@example.com", "password": password}))
		wantStatus(t, "login", r, 200)
		s := session{access: r.object(t)["access_token"].(string), csrf: r.cookies()["a8_csrf"].Value}
		me := e.do("GET", "/auth/me", cookie("access_token", s.access))
		wantStatus(t, "GET with the cookie, no CSRF token", me, 200)
		s.sid = me.object(t)["sid"].(string)
		return s
	}
	a, b, c := login(), login(), login()
	self := e.base
	send := func(method, path string, s session, origin, csrfHeader string) *result {
		opts := []reqOpt{cookie("access_token", s.access), cookie("a8_csrf", s.csrf)}
		if origin != "" {
			opts = append(opts, header("Origin", origin))
		}
		if csrfHeader != "" {
			opts = append(opts, header("X-CSRF-Token", csrfHeader))
		}
		return e.do(method, path, opts...)
	}
	alive := func(what string, ss ...session) {
		t.Helper()
		for _, s := range ss {
			wantStatus(t, what, e.do("GET", "/auth/me", cookie("access_token", s.access)), 200)
		}
	}
	routes := []struct{ method, path string }{
		{"POST", "/auth/logout"}, {"POST", "/auth/logout-all"}, {"DELETE", "/auth/sessions/" + b.sid},
	}
	for _, rt := range routes {
		what := rt.method + " " + rt.path
		wantError(t, what+" without the CSRF token", send(rt.method, rt.path, a, self, ""), core.ErrCSRF)
		wantError(t, what+" without Origin or CSRF token", send(rt.method, rt.path, a, "", ""), core.ErrCSRF)
		wantError(t, what+" with a wrong CSRF token", send(rt.method, rt.path, a, self, a.csrf+"x"), core.ErrCSRF)
		wantError(t, what+" from a foreign Origin", send(rt.method, rt.path, a, "https://evil.example", a.csrf), core.ErrCSRF)
		alive(what+" refused: every session lives", a, b, c)
	}
	// The same token in the Authorization header needs no CSRF token: the
	// browser does not send it by itself. (The lookup here reads cookies
	// only, so it is not a credential at all.)
	wantError(t, "bearer with a cookie-only lookup", e.do("POST", "/auth/logout-all", bearer(a.access)), core.ErrMissingToken)
	wantStatus(t, "DELETE of another session, same site", send("DELETE", "/auth/sessions/"+b.sid, a, self, a.csrf), 204)
	wantError(t, "the deleted session", e.do("GET", "/auth/me", cookie("access_token", b.access)), core.ErrTokenRevoked)
	wantStatus(t, "logout, same site", send("POST", "/auth/logout", a, self, a.csrf), 204)
	wantError(t, "the logged-out session", e.do("GET", "/auth/me", cookie("access_token", a.access)), core.ErrTokenRevoked)
	alive("the third session", c)
	wantStatus(t, "logout-all, same site", send("POST", "/auth/logout-all", c, self, c.csrf), 204)
	wantError(t, "after logout-all", e.do("GET", "/auth/me", cookie("access_token", c.access)), core.ErrTokenRevoked)
}

// testOriginScheme: the CSRF check compares the Origin's scheme too; the
// request's scheme is the connection's, or what a trusted proxy says.
func testOriginScheme(t *testing.T, h Harness) {
	cookies := func(c *core.Config) { c.Cookies = &core.CookieConfig{Path: "/auth"} }
	refresh := func(e *env, email string, extra ...reqOpt) func(origin string) *result {
		r := e.do("POST", "/auth/login", jsonBody(map[string]string{"email": email, "password": password}))
		wantStatus(t, "login", r, 200)
		rc, csrf := r.cookies()["a8_refresh"], r.cookies()["a8_csrf"]
		return func(origin string) *result {
			opts := append([]reqOpt{cookie(rc.Name, rc.Value), cookie(csrf.Name, csrf.Value), header("Origin", origin), header("X-CSRF-Token", csrf.Value)}, extra...)
			r := e.do("POST", "/auth/refresh", opts...)
			if r.Status == 200 {
				rc, csrf = r.cookies()["a8_refresh"], r.cookies()["a8_csrf"]
			}
			return r
		}
	}
	e := newEnv(t, h, ServerConfig{}, cookies)
	e.register("scheme@example.com")
	addr := strings.TrimPrefix(e.base, "http://")
	plain := refresh(e, "scheme@example.com")
	wantError(t, "https Origin to an http server", plain("https://"+addr), core.ErrCSRF)
	wantError(t, "another port", plain("http://"+strings.Replace(addr, ":", ":1", 1)), core.ErrCSRF)
	wantStatus(t, "the server's own origin", plain("http://"+addr), 200)
	// A spoofed X-Forwarded-Proto from a peer that is no trusted proxy
	// changes nothing.
	spoofed := refresh(e, "scheme@example.com", header("X-Forwarded-Proto", "https"))
	wantError(t, "https Origin, X-Forwarded-Proto from anyone", spoofed("https://"+addr), core.ErrCSRF)

	p := newEnv(t, h, ServerConfig{TrustedProxy: core.TrustedProxy{Header: "X-Forwarded-For"}}, cookies)
	p.register("scheme@example.com")
	paddr := strings.TrimPrefix(p.base, "http://")
	tls := refresh(p, "scheme@example.com", header("X-Forwarded-Proto", "https"))
	wantError(t, "behind a TLS proxy: http Origin", tls("http://"+paddr), core.ErrCSRF)
	wantStatus(t, "behind a TLS proxy: https Origin", tls("https://"+paddr), 200)
	noProto := refresh(p, "scheme@example.com")
	wantError(t, "behind a proxy that says nothing: https Origin", noProto("https://"+paddr), core.ErrCSRF)
}

// testRateLimits: the login and registration limits answer 429 with Retry-After and
// RateLimit headers, per account and per IP, and lift after the window.
func testRateLimits(t *testing.T, h Harness) {
	const window = time.Second
	e := newEnv(t, h, ServerConfig{}, func(c *core.Config) {
		c.RateLimits = core.RateLimits{
			LoginPerAccount: core.Limit{Max: 3, Window: window},
			LoginPerIP:      core.Limit{Max: 100, Window: window},
			RegisterPerIP:   core.Limit{Max: 2, Window: window},
		}
	})
	e.register("one@example.com")
	e.register("two@example.com")
	r := e.do("POST", "/auth/register", jsonBody(map[string]string{"email": "three@example.com", "password": password}))
	wantRateLimited(t, "3rd registration from one IP", r, 2)
	for range 3 {
		wantError(t, "wrong password", e.do("POST", "/auth/login", jsonBody(map[string]string{"email": "one@example.com", "password": "wrong password"})), core.ErrInvalidCredentials)
	}
	r = e.do("POST", "/auth/login", jsonBody(map[string]string{"email": "one@example.com", "password": password}))
	wantRateLimited(t, "4th login attempt on the account, right password", r, 3)
	e.login("two@example.com") // other accounts are not limited
	time.Sleep(window + 200*time.Millisecond)
	e.login("one@example.com")
	e.register("three@example.com")
}

func wantRateLimited(t *testing.T, what string, r *result, limit int) {
	t.Helper()
	wantStatus(t, what, r, 429)
	if r.object(t)["error"] != "rate_limited" {
		t.Fatalf("%s: %s", what, r.Body)
	}
	if r.Header.Get("Retry-After") == "" || r.Header.Get("RateLimit-Remaining") != "0" ||
		r.Header.Get("RateLimit-Limit") != strconv.Itoa(limit) || r.Header.Get("RateLimit-Reset") == "" {
		t.Fatalf("%s: headers %v", what, r.Header)
	}
}
