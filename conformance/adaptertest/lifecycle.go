package adaptertest

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authenik8/authenik8-go/core"
)

// AppURL is the core.Config.AppURL of the suite's Auth: the base of the
// links in the mails it sends.
const AppURL = "https://app.example.com"

// mailbox is the suite's core.Mailer: it keeps every mail.
type mailbox struct {
	mu   sync.Mutex
	sent []core.Mail
}

// withMailbox returns a mailbox when the user store can back the mail
// flows (a core.AccountStore and core.LinkTokenStore), else nil.
func withMailbox(u core.UserStore) *mailbox {
	_, accounts := u.(core.AccountStore)
	_, links := u.(core.LinkTokenStore)
	if !accounts || !links {
		return nil
	}
	return &mailbox{}
}

func (m *mailbox) Send(_ context.Context, mail core.Mail) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, mail)
	return nil
}

// mails returns the mails sent to to, after the queue has drained.
func (e *env) mails(to string) []core.Mail {
	e.t.Helper()
	if e.mail == nil {
		e.t.Fatal("adaptertest: the user store is no core.AccountStore and core.LinkTokenStore: no mail")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.auth.FlushMail(ctx); err != nil {
		e.t.Fatal(err)
	}
	e.mail.mu.Lock()
	defer e.mail.mu.Unlock()
	var out []core.Mail
	for _, m := range e.mail.sent {
		if m.To == to {
			out = append(out, m)
		}
	}
	return out
}

// mailedToken returns the token of the last mail of kind to to, checking
// that its text carries the link to the app.
func (e *env) mailedToken(to string, kind core.MailKind) string {
	e.t.Helper()
	path := map[core.MailKind]string{core.MailPasswordReset: "/reset-password", core.MailEmailVerification: "/verify-email"}[kind]
	ms := e.mails(to)
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].Kind != kind {
			continue
		}
		u, err := url.Parse(ms[i].Link)
		tok := u.Query().Get("token")
		if err != nil || tok == "" || ms[i].Link != AppURL+path+"?token="+tok || !strings.Contains(ms[i].Text, ms[i].Link) {
			e.t.Fatalf("%s mail to %s: link %q, text %q", kind, to, ms[i].Link, ms[i].Text)
		}
		return tok
	}
	e.t.Fatalf("no %s mail to %s", kind, to)
	return ""
}

func (e *env) sid(tk tokens) string {
	e.t.Helper()
	sid, _ := e.do("GET", "/auth/me", bearer(tk.AccessToken)).object(e.t)["sid"].(string)
	if sid == "" {
		e.t.Fatal("no sid in /auth/me")
	}
	return sid
}

var wantJSON = &core.Response{Header: []core.Header{{Key: "Content-Type", Value: "application/json"}, {Key: "Cache-Control", Value: "no-store"}}}

// testChangePassword: POST /auth/password changes the password with the
// current one, ends every other session and keeps the caller's; a wrong
// current password is 401 invalid_credentials.
func testChangePassword(t *testing.T, h Harness) {
	e := newEnv(t, h, ServerConfig{}, nil)
	e.register("change@example.com")
	mine, other := e.login("change@example.com"), e.login("change@example.com")
	body := func(cur, next string) reqOpt {
		return jsonBody(map[string]string{"current_password": cur, "new_password": next})
	}
	wantError(t, "no token", e.do("POST", "/auth/password", body(password, "a new password")), core.ErrMissingToken)
	wantError(t, "wrong current password", e.do("POST", "/auth/password", bearer(mine.AccessToken), body("wrong password", "a new password")), core.ErrInvalidCredentials)
	for name, b := range map[string]reqOpt{
		"short new password": body(password, "short"),
		"no new password":    jsonBody(map[string]string{"current_password": password}),
		"no body":            nil,
	} {
		opts := []reqOpt{bearer(mine.AccessToken)}
		if b != nil {
			opts = append(opts, b)
		}
		r := e.do("POST", "/auth/password", opts...)
		wantStatus(t, name, r, 400)
		if r.object(t)["error"] != "invalid_request" {
			t.Fatalf("%s: %s", name, r.Body)
		}
	}
	wantStatus(t, "the other session before", e.do("GET", "/auth/me", bearer(other.AccessToken)), 200)
	r := e.do("POST", "/auth/password", bearer(mine.AccessToken), body(password, "a new password"))
	wantStatus(t, "change", r, 204)
	if len(r.Body) != 0 || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("change: body %q, headers %v", r.Body, r.Header)
	}
	wantStatus(t, "the caller's session", e.do("GET", "/auth/me", bearer(mine.AccessToken)), 200)
	wantError(t, "the other session", e.do("GET", "/auth/me", bearer(other.AccessToken)), core.ErrTokenRevoked)
	wantError(t, "the other session's refresh", e.refresh(other.RefreshToken), core.ErrInvalidRefreshToken)
	wantStatus(t, "the caller refreshes", e.refresh(mine.RefreshToken), 200)
	wantError(t, "the old password", e.do("POST", "/auth/login", jsonBody(map[string]string{"email": "change@example.com", "password": password})), core.ErrInvalidCredentials)
	wantStatus(t, "the new password", e.do("POST", "/auth/login", jsonBody(map[string]string{"email": "change@example.com", "password": "a new password"})), 200)
}

// testForgotAndReset: POST /auth/password/forgot answers 202 {} alike for
// a known and an unknown address and mails a reset link for the known one
// only; POST /auth/password/reset with its token sets the password and ends
// every session; the token works once; a refused password does not spend
// it.
func testForgotAndReset(t *testing.T, h Harness) {
	e := newEnv(t, h, ServerConfig{}, nil)
	e.register("forgot@example.com")
	a, b := e.login("forgot@example.com"), e.login("forgot@example.com")
	known := e.do("POST", "/auth/password/forgot", jsonBody(map[string]string{"email": " Forgot@Example.com"}))
	unknown := e.do("POST", "/auth/password/forgot", jsonBody(map[string]string{"email": "nobody@example.com"}))
	for name, r := range map[string]*result{"known": known, "unknown": unknown} {
		wantStatus(t, "forgot for the "+name+" address", r, 202)
		wantHeaders(t, "forgot for the "+name+" address", r, wantJSON)
		if string(r.Body) != "{}" {
			t.Fatalf("forgot for the %s address: body %s", name, r.Body)
		}
	}
	for _, k := range []string{"Content-Type", "Content-Length", "Cache-Control", "Set-Cookie"} {
		if known.Header.Get(k) != unknown.Header.Get(k) {
			t.Fatalf("%s differs: %q vs %q", k, known.Header.Get(k), unknown.Header.Get(k))
		}
	}
	tok := e.mailedToken("forgot@example.com", core.MailPasswordReset)
	if n := len(e.mails("nobody@example.com")); n != 0 {
		t.Fatalf("%d mails to an address without an account", n)
	}
	reset := func(tok, pw string) *result {
		return e.do("POST", "/auth/password/reset", jsonBody(map[string]string{"token": tok, "new_password": pw}))
	}
	r := reset(tok, "short")
	wantStatus(t, "reset with a short password", r, 400)
	wantError(t, "reset with a garbled token", reset(tok[:len(tok)-2], "the new password"), core.ErrInvalidGrant)
	wantStatus(t, "sessions before the reset", e.do("GET", "/auth/me", bearer(a.AccessToken)), 200)
	wantStatus(t, "reset (the refusals did not spend the token)", reset(tok, "the new password"), 204)
	wantError(t, "the same token again", reset(tok, "another password"), core.ErrInvalidGrant)
	for _, tk := range []tokens{a, b} {
		wantError(t, "a session after the reset", e.do("GET", "/auth/me", bearer(tk.AccessToken)), core.ErrTokenRevoked)
		wantError(t, "a refresh token after the reset", e.refresh(tk.RefreshToken), core.ErrInvalidRefreshToken)
	}
	wantError(t, "the old password", e.do("POST", "/auth/login", jsonBody(map[string]string{"email": "forgot@example.com", "password": password})), core.ErrInvalidCredentials)
	wantStatus(t, "the new password", e.do("POST", "/auth/login", jsonBody(map[string]string{"email": "forgot@example.com", "password": "the new password"})), 200)

	// A newer link voids the older.
	e.do("POST", "/auth/password/forgot", jsonBody(map[string]string{"email": "forgot@example.com"}))
	older := e.mailedToken("forgot@example.com", core.MailPasswordReset)
	e.do("POST", "/auth/password/forgot", jsonBody(map[string]string{"email": "forgot@example.com"}))
	newer := e.mailedToken("forgot@example.com", core.MailPasswordReset)
	wantError(t, "the older of two links", reset(older, "a third password"), core.ErrInvalidGrant)
	wantStatus(t, "the newer of two links", reset(newer, "a third password"), 204)
}

// testEmailVerification: POST /auth/email/verify/send (bearer) answers 202
// {} and mails a link; POST /auth/email/verify with its token verifies the
// address once; access tokens issued after carry email_verified, which
// /auth/me shows and RequireVerifiedEmail asks for.
func testEmailVerification(t *testing.T, h Harness) {
	e := newEnv(t, h, ServerConfig{}, nil)
	e.register("verify@example.com")
	tk := e.login("verify@example.com")
	if v, ok := e.do("GET", "/auth/me", bearer(tk.AccessToken)).object(t)["email_verified"].(bool); !ok || v {
		t.Fatal("/auth/me: want email_verified false")
	}
	wantError(t, "RequireVerifiedEmail before verification", e.do("GET", "/api/verified", bearer(tk.AccessToken)), core.ErrEmailNotVerified)
	wantError(t, "RequireVerifiedEmail without a token", e.do("GET", "/api/verified"), core.ErrMissingToken)
	wantError(t, "send without a token", e.do("POST", "/auth/email/verify/send"), core.ErrMissingToken)
	r := e.do("POST", "/auth/email/verify/send", bearer(tk.AccessToken))
	wantStatus(t, "send", r, 202)
	wantHeaders(t, "send", r, wantJSON)
	if string(r.Body) != "{}" {
		t.Fatalf("send: body %s", r.Body)
	}
	tok := e.mailedToken("verify@example.com", core.MailEmailVerification)
	verify := func(tok string) *result {
		return e.do("POST", "/auth/email/verify", jsonBody(map[string]string{"token": tok}))
	}
	wantError(t, "verify with a garbage token", verify("garbage"), core.ErrInvalidGrant)
	wantStatus(t, "verify without a token", e.do("POST", "/auth/email/verify", jsonBody(map[string]string{})), 400)
	wantStatus(t, "verify", verify(tok), 204)
	wantError(t, "verify with the same token again", verify(tok), core.ErrInvalidGrant)
	fresh := e.login("verify@example.com")
	if v, _ := e.do("GET", "/auth/me", bearer(fresh.AccessToken)).object(t)["email_verified"].(bool); !v {
		t.Fatal("/auth/me after verification and a new login: want email_verified true")
	}
	r = e.do("GET", "/api/verified", bearer(fresh.AccessToken))
	wantStatus(t, "RequireVerifiedEmail after verification", r, 200)
	if !bytes.Equal(r.Body, OK) {
		t.Fatalf("RequireVerifiedEmail body %s", r.Body)
	}
	// A reset token is no verification token.
	e.do("POST", "/auth/password/forgot", jsonBody(map[string]string{"email": "verify@example.com"}))
	wantError(t, "a reset token on /email/verify", verify(e.mailedToken("verify@example.com", core.MailPasswordReset)), core.ErrInvalidGrant)
}

// testLogoutOthers: POST /auth/logout-others ends every session of the
// user but the caller's.
func testLogoutOthers(t *testing.T, h Harness) {
	e := newEnv(t, h, ServerConfig{}, nil)
	e.register("others@example.com")
	e.register("bystander@example.com")
	mine, o1, o2 := e.login("others@example.com"), e.login("others@example.com"), e.login("others@example.com")
	by := e.login("bystander@example.com")
	wantError(t, "no token", e.do("POST", "/auth/logout-others"), core.ErrMissingToken)
	wantStatus(t, "logout-others", e.do("POST", "/auth/logout-others", bearer(mine.AccessToken)), 204)
	wantStatus(t, "the caller", e.do("GET", "/auth/me", bearer(mine.AccessToken)), 200)
	for _, tk := range []tokens{o1, o2} {
		wantError(t, "another session", e.do("GET", "/auth/me", bearer(tk.AccessToken)), core.ErrTokenRevoked)
	}
	wantStatus(t, "another user's session", e.do("GET", "/auth/me", bearer(by.AccessToken)), 200)
	m := e.do("GET", "/auth/sessions", bearer(mine.AccessToken)).object(t)
	if list, _ := m["sessions"].([]any); len(list) != 1 {
		t.Fatalf("sessions after logout-others: %v", m)
	}
}

// testAdminUserRoutes: an admin lists a user's sessions (shaped like
// /sessions), disables the user — whose tokens are refused at once and
// whose login gets 403 account_disabled — and enables them again. Others
// get 403; unknown users 404.
func testAdminUserRoutes(t *testing.T, h Harness) {
	e := newEnv(t, h, ServerConfig{}, nil)
	admin := e.withRoles("boss@example.com", "admin")
	id := e.register("worker@example.com")
	w1, w2 := e.login("worker@example.com"), e.login("worker@example.com")
	for _, rt := range []struct{ method, path string }{
		{"GET", "/auth/users/" + id + "/sessions"}, {"POST", "/auth/users/" + id + "/disable"}, {"POST", "/auth/users/" + id + "/enable"},
	} {
		wantError(t, rt.path+" as the user", e.do(rt.method, rt.path, bearer(w1.AccessToken)), core.ErrForbidden)
		wantError(t, rt.path+" without a token", e.do(rt.method, rt.path), core.ErrMissingToken)
		unknown := strings.Replace(rt.path, id, "nobody", 1)
		wantError(t, unknown+" as an admin", e.do(rt.method, unknown, bearer(admin.AccessToken)), core.ErrNotFound)
	}
	r := e.do("GET", "/auth/users/"+id+"/sessions", bearer(admin.AccessToken))
	wantStatus(t, "user sessions", r, 200)
	wantHeaders(t, "user sessions", r, wantJSON)
	list, _ := r.object(t)["sessions"].([]any)
	if len(list) != 2 {
		t.Fatalf("user sessions %s", r.Body)
	}
	for _, s := range list {
		m := s.(map[string]any)
		if len(m) != 6 || m["current"] != false || m["user_agent"] != "adaptertest/1" || m["ip"] == "" {
			t.Fatalf("a listed session %v: want the fields of /sessions", m)
		}
		for _, k := range []string{"created_at", "last_used_at"} {
			if _, err := time.Parse(time.RFC3339, fmt.Sprint(m[k])); err != nil {
				t.Fatalf("%s %v", k, m[k])
			}
		}
	}
	wantStatus(t, "disable", e.do("POST", "/auth/users/"+id+"/disable", bearer(admin.AccessToken)), 204)
	for _, tk := range []tokens{w1, w2} {
		wantError(t, "a disabled user's access token", e.do("GET", "/api/profile", bearer(tk.AccessToken)), core.ErrTokenRevoked)
		wantError(t, "a disabled user's refresh token", e.refresh(tk.RefreshToken), core.ErrInvalidRefreshToken)
	}
	login := func() *result {
		return e.do("POST", "/auth/login", jsonBody(map[string]string{"email": "worker@example.com", "password": password}))
	}
	wantError(t, "a disabled user's login", login(), core.ErrAccountDisabled)
	wantError(t, "a disabled user's wrong password", e.do("POST", "/auth/login", jsonBody(map[string]string{"email": "worker@example.com", "password": "wrong password"})), core.ErrInvalidCredentials)
	wantStatus(t, "the admin's own session", e.do("GET", "/auth/me", bearer(admin.AccessToken)), 200)
	wantStatus(t, "enable", e.do("POST", "/auth/users/"+id+"/enable", bearer(admin.AccessToken)), 204)
	tk := decodeTokens(t, login())
	wantStatus(t, "the enabled user's new session", e.do("GET", "/api/profile", bearer(tk.AccessToken)), 200)
}

// testLifecycleStoreUnavailable: the account routes fail closed with 503
// store_unavailable when the stores cannot answer.
func testLifecycleStoreUnavailable(t *testing.T, h Harness) {
	var down failSwitch
	e := newEnv(t, Harness{
		Serve: h.Serve,
		Stores: func(t testing.TB) (core.Store, core.UserStore) {
			s, u := h.Stores(t)
			return &flakyStore{Store: s, down: &down}, &flakyUsers{UserStore: u, down: &down}
		},
	}, ServerConfig{}, nil)
	admin := e.withRoles("root@example.com", "admin")
	id := e.register("flaky@example.com")
	tk := e.login("flaky@example.com")
	down.set(true)
	for _, rq := range []struct {
		method, path string
		token        string
		body         map[string]string
	}{
		{"POST", "/auth/password", tk.AccessToken, map[string]string{"current_password": password, "new_password": "a new password"}},
		{"POST", "/auth/password/forgot", "", map[string]string{"email": "flaky@example.com"}},
		{"POST", "/auth/password/reset", "", map[string]string{"token": "x", "new_password": "a new password"}},
		{"POST", "/auth/email/verify/send", tk.AccessToken, nil},
		{"POST", "/auth/logout-others", tk.AccessToken, nil},
		{"GET", "/auth/users/" + id + "/sessions", admin.AccessToken, nil},
		{"POST", "/auth/users/" + id + "/disable", admin.AccessToken, nil},
		{"POST", "/auth/users/" + id + "/enable", admin.AccessToken, nil},
	} {
		var opts []reqOpt
		if rq.token != "" {
			opts = append(opts, bearer(rq.token))
		}
		if rq.body != nil {
			opts = append(opts, jsonBody(rq.body))
		}
		r := e.do(rq.method, rq.path, opts...)
		if rq.path == "/auth/password/reset" {
			// A garbled token is refused before any store is asked.
			wantError(t, rq.path+" with a garbled token, store down", r, core.ErrInvalidGrant)
			continue
		}
		wantError(t, rq.path+" with the store down", r, core.ErrStoreUnavailable)
	}
	down.set(false)
	wantStatus(t, "after recovery", e.do("POST", "/auth/logout-others", bearer(tk.AccessToken)), 204)
}

// testLifecycleCSRF: in cookie mode the account routes, reached with an
// access token from a cookie, check CSRF like every state-changing route.
func testLifecycleCSRF(t *testing.T, h Harness) {
	e := newEnv(t, h, ServerConfig{TokenLookup: []core.TokenSource{core.FromCookie("access_token")}}, func(c *core.Config) {
		c.Cookies = &core.CookieConfig{Path: "/auth"}
	})
	id := e.register("jar@example.com")
	r := e.do("POST", "/auth/login", jsonBody(map[string]string{"email": "jar@example.com", "password": password}))
	wantStatus(t, "login", r, 200)
	access, csrf := r.object(t)["access_token"].(string), r.cookies()["a8_csrf"].Value
	for _, rt := range []struct {
		path string
		body reqOpt
	}{
		{"/auth/password", jsonBody(map[string]string{"current_password": password, "new_password": "a new password"})},
		{"/auth/email/verify/send", nil},
		{"/auth/logout-others", nil},
		{"/auth/users/" + id + "/disable", nil},
	} {
		opts := []reqOpt{cookie("access_token", access), cookie("a8_csrf", csrf), header("Origin", "https://evil.example")}
		if rt.body != nil {
			opts = append(opts, rt.body)
		}
		wantError(t, rt.path+" cross-site by cookie", e.do("POST", rt.path, opts...), core.ErrCSRF)
	}
	wantStatus(t, "the old password still logs in", e.do("POST", "/auth/login", jsonBody(map[string]string{"email": "jar@example.com", "password": password})), 200)
	wantStatus(t, "same site with the CSRF token", e.do("POST", "/auth/password",
		cookie("access_token", access), cookie("a8_csrf", csrf), header("Origin", e.base), header("X-CSRF-Token", csrf),
		jsonBody(map[string]string{"current_password": password, "new_password": "a new password"})), 204)
}
