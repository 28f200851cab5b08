package adaptertest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authenik8/authenik8-go/core"
)

// env is one test's server and what it was built from.
type env struct {
	t     testing.TB
	base  string
	auth  *core.Auth
	store core.Store
	users core.UserStore
	hc    *http.Client
	mail  *mailbox // the mails the server sent (nil without account stores)
}

func newEnv(t testing.TB, h Harness, cfg ServerConfig, mod func(*core.Config)) *env {
	t.Helper()
	s, u := h.Stores(t)
	mail := withMailbox(u)
	a := NewAuth(t, s, u, func(c *core.Config) {
		if mail != nil {
			c.Mailer, c.AppURL = mail, AppURL
		}
		if mod != nil {
			mod(c)
		}
	})
	base := h.Serve(t, a, cfg)
	if !strings.HasPrefix(base, "http://127.0.0.1:") && !strings.HasPrefix(base, "http://[::1]:") {
		t.Fatalf("Serve returned %q; the suite only targets loopback", base)
	}
	hc := &http.Client{Timeout: 20 * time.Second}
	t.Cleanup(hc.CloseIdleConnections)
	return &env{t: t, base: base, auth: a, store: s, users: u, hc: hc, mail: mail}
}

// result is one HTTP exchange's answer.
type result struct {
	Status int
	Header http.Header
	Body   []byte
}

type reqOpt func(*http.Request)

func bearer(tok string) reqOpt {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}
func header(k, v string) reqOpt { return func(r *http.Request) { r.Header.Set(k, v) } }
func cookie(name, v string) reqOpt {
	return func(r *http.Request) { r.AddCookie(&http.Cookie{Name: name, Value: v}) }
}

// body sends raw bytes with a content type.
func body(contentType string, b []byte) reqOpt {
	return func(r *http.Request) {
		r.Body = io.NopCloser(bytes.NewReader(b))
		r.ContentLength = int64(len(b))
		if contentType != "" {
			r.Header.Set("Content-Type", contentType)
		}
	}
}

// jsonBody sends v as application/json.
func jsonBody(v any) reqOpt {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return body("application/json", b)
}

func (e *env) do(method, path string, opts ...reqOpt) *result {
	e.t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, e.base+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("User-Agent", "adaptertest/1")
	for _, o := range opts {
		o(req)
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return &result{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// object decodes a JSON object body.
func (r *result) object(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %s", err, r.Body)
	}
	return m
}

// wantError checks an answer is exactly core's for err: status, body bytes,
// WWW-Authenticate, Content-Type, Cache-Control and Retry-After.
func wantError(t testing.TB, what string, r *result, err error) {
	t.Helper()
	want := core.ErrorResponse(err)
	if r.Status != want.Status || !bytes.Equal(r.Body, want.Body) {
		t.Fatalf("%s: got %d %s; want %d %s", what, r.Status, r.Body, want.Status, want.Body)
	}
	wantHeaders(t, what, r, want)
}

// wantHeaders checks that r carries exactly the headers core decided.
func wantHeaders(t testing.TB, what string, r *result, want *core.Response) {
	t.Helper()
	for _, name := range []string{"WWW-Authenticate", "Content-Type", "Cache-Control", "Retry-After"} {
		var w string
		for _, h := range want.Header {
			if strings.EqualFold(h.Key, name) {
				w = h.Value
			}
		}
		if got := strings.Join(r.Header.Values(name), ", "); got != w {
			t.Fatalf("%s: %s is %q, want %q", what, name, got, w)
		}
	}
}

func wantStatus(t testing.TB, what string, r *result, status int) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: got %d %s, want %d", what, r.Status, r.Body, status)
	}
}

// credentials used across tests.
const password = "correct horse battery"

// register creates an account over HTTP and returns its id.
func (e *env) register(email string) string {
	e.t.Helper()
	r := e.do("POST", "/auth/register", jsonBody(map[string]string{"email": email, "password": password}))
	wantStatus(e.t, "register "+email, r, 201)
	return r.object(e.t)["id"].(string)
}

// tokens is a token response.
type tokens struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int64  `json:"expires_in"`
	RefreshToken     string `json:"refresh_token"`
	RefreshExpiresIn int64  `json:"refresh_expires_in"`
}

func (e *env) login(email string) tokens {
	e.t.Helper()
	r := e.do("POST", "/auth/login", jsonBody(map[string]string{"email": email, "password": password}))
	wantStatus(e.t, "login "+email, r, 200)
	return decodeTokens(e.t, r)
}

func (e *env) refresh(rt string) *result {
	e.t.Helper()
	return e.do("POST", "/auth/refresh", jsonBody(map[string]string{"refresh_token": rt}))
}

func decodeTokens(t testing.TB, r *result) tokens {
	t.Helper()
	var tk tokens
	if err := json.Unmarshal(r.Body, &tk); err != nil || tk.AccessToken == "" || tk.RefreshToken == "" {
		t.Fatalf("token response %s: %v", r.Body, err)
	}
	return tk
}

// withRoles registers an account and gives it roles through the user store.
func (e *env) withRoles(email string, roles ...string) tokens {
	e.t.Helper()
	id := e.register(email)
	setter, ok := e.users.(interface {
		SetRoles(ctx context.Context, id string, roles []string) error
	})
	if !ok {
		e.t.Fatal("adaptertest: the user store has no SetRoles method")
	}
	if err := setter.SetRoles(context.Background(), id, roles); err != nil {
		e.t.Fatal(err)
	}
	return e.login(email)
}

func query(k, v string) string { return "?" + url.Values{k: {v}}.Encode() }
