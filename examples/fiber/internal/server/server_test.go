package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authenik8/authenik8-go/core"
)

// TestAuthFlow runs the service on a loopback port and walks through
// register → login → refresh → logout → admin denied over HTTP.
func TestAuthFlow(t *testing.T) {
	base := start(t, Config{})
	creds := fmt.Sprintf(`{"email":"ada-%d@example.com","password":"correct horse battery"}`, time.Now().UnixNano())

	expect(t, "POST", base+"/auth/register", "", creds, 201)
	tokens := expect(t, "POST", base+"/auth/login", "", creds, 200)
	access, refresh := str(tokens["access_token"]), str(tokens["refresh_token"])
	if access == "" || refresh == "" || tokens["token_type"] != "Bearer" {
		t.Fatalf("login answered %v", tokens)
	}
	expect(t, "GET", base+"/api/profile", access, "", 200)

	// Refresh: a new pair; replaying the spent token is refused.
	next := expect(t, "POST", base+"/auth/refresh", "", `{"refresh_token":"`+refresh+`"}`, 200)
	access = str(next["access_token"])
	if body := expect(t, "POST", base+"/auth/refresh", "", `{"refresh_token":"`+refresh+`"}`, 401); body["error"] != "refresh_conflict" {
		t.Errorf("replayed refresh token: %v, want refresh_conflict", body)
	}

	// Logout ends the session and its access tokens.
	expect(t, "POST", base+"/auth/logout", access, "", 204)
	if body := expect(t, "GET", base+"/api/profile", access, "", 401); body["error"] != "token_revoked" {
		t.Errorf("profile after logout: %v, want token_revoked", body)
	}

	// A user is not an admin.
	access = str(expect(t, "POST", base+"/auth/login", "", creds, 200)["access_token"])
	if body := expect(t, "GET", base+"/api/admin", access, "", 403); body["error"] != "forbidden" {
		t.Errorf("admin page for a user: %v, want forbidden", body)
	}
}

// TestPasswordReset: forgot → the mail (here, without SMTP_URL, in the log)
// → reset with its token → the new password logs in, the old one and the
// old sessions are refused, and the link works once.
func TestPasswordReset(t *testing.T) {
	var logs syncBuffer
	base := startLogged(t, Config{}, slog.New(slog.NewTextHandler(&logs, nil)))
	email := fmt.Sprintf("reset-%d@example.com", time.Now().UnixNano())
	creds := fmt.Sprintf(`{"email":%q,"password":"correct horse battery"}`, email)
	expect(t, "POST", base+"/auth/register", "", creds, 201)
	old := str(expect(t, "POST", base+"/auth/login", "", creds, 200)["access_token"])

	expect(t, "POST", base+"/auth/password/forgot", "", fmt.Sprintf(`{"email":%q}`, email), 202)
	expect(t, "POST", base+"/auth/password/forgot", "", `{"email":"nobody@example.com"}`, 202)
	link := regexp.MustCompile(`link=(\S+/reset-password\?token=([A-Za-z0-9_-]+))`)
	var token string
	for deadline := time.Now().Add(5 * time.Second); token == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := link.FindStringSubmatch(logs.String()); m != nil {
			token = m[2]
		}
	}
	if token == "" {
		t.Fatalf("no reset link in the log:\n%s", logs.String())
	}
	reset := fmt.Sprintf(`{"token":%q,"new_password":"a brand new password"}`, token)
	expect(t, "POST", base+"/auth/password/reset", "", reset, 204)
	if body := expect(t, "POST", base+"/auth/password/reset", "", reset, 400); body["error"] != "invalid_grant" {
		t.Errorf("the same link again: %v, want invalid_grant", body)
	}
	if body := expect(t, "GET", base+"/api/profile", old, "", 401); body["error"] != "token_revoked" {
		t.Errorf("a session from before the reset: %v, want token_revoked", body)
	}
	expect(t, "POST", base+"/auth/login", "", creds, 401)
	expect(t, "POST", base+"/auth/login", "", fmt.Sprintf(`{"email":%q,"password":"a brand new password"}`, email), 200)
}

// TestSeedAdmin checks that the seeded admin may see the admin page.
func TestSeedAdmin(t *testing.T) {
	email := fmt.Sprintf("admin-%d@example.com", time.Now().UnixNano())
	base := start(t, Config{SeedAdminEmail: email, SeedAdminPassword: "correct horse battery"})
	creds := fmt.Sprintf(`{"email":%q,"password":"correct horse battery"}`, email)
	access := str(expect(t, "POST", base+"/auth/login", "", creds, 200)["access_token"])
	expect(t, "GET", base+"/api/admin", access, "", 200)
}

func TestProbes(t *testing.T) {
	base := start(t, Config{})
	expect(t, "GET", base+"/healthz", "", "", 200)
	expect(t, "GET", base+"/readyz", "", "", 200)
	if keys := expect(t, "GET", base+"/.well-known/jwks.json", "", "", 200); keys["keys"] == nil {
		t.Errorf("jwks: %v", keys)
	}
}

// TestTelemetry: with METRICS, GET /metrics shows Authenik8's counters in
// the Prometheus text format; with OTEL_EXPORTER_OTLP_ENDPOINT, the spans
// of the store calls reach the collector (a stand-in on a loopback port)
// when the server closes, and hold neither the email nor the password.
func TestTelemetry(t *testing.T) {
	var mu sync.Mutex
	var exports [][]byte
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method == "POST" && r.URL.Path == "/v1/traces" && r.Header.Get("Content-Type") == "application/x-protobuf" {
			mu.Lock()
			exports = append(exports, body)
			mu.Unlock()
		}
	}))
	email := fmt.Sprintf("tess-%d@example.com", time.Now().UnixNano())
	creds := fmt.Sprintf(`{"email":%q,"password":"correct horse battery"}`, email)
	t.Cleanup(func() { // after the server's own cleanup: its spans are flushed
		collector.Close()
		mu.Lock()
		defer mu.Unlock()
		all := bytes.Join(exports, nil)
		if !bytes.Contains(all, []byte("authenik8.users.authenticate")) || !bytes.Contains(all, []byte("authenik8.store.create_session")) {
			t.Errorf("the collector received %d exports without the spans of login", len(exports))
		}
		if bytes.Contains(all, []byte(email)) || bytes.Contains(all, []byte("correct horse battery")) {
			t.Error("the exported spans hold the email or the password")
		}
	})
	base := start(t, Config{Metrics: true, OTLPEndpoint: collector.URL})

	expect(t, "POST", base+"/auth/register", "", creds, 201)
	expect(t, "POST", base+"/auth/login", "", creds, 200)
	expect(t, "POST", base+"/auth/login", "", strings.Replace(creds, "correct", "wrong", 1), 401)
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for series, want := range map[string]string{
		`authenik8_logins_total{outcome="success"}`:             "1",
		`authenik8_logins_total{outcome="invalid_credentials"}`: "1",
		`authenik8_logins_total{outcome="rate_limited"}`:        "0",
		`authenik8_store_duration_seconds_count{op="register"}`: "1",
	} {
		if got := sample(string(text), series); got != want {
			t.Errorf("/metrics: %s = %q, want %s", series, got, want)
		}
	}
}

// sample returns the value of a series in Prometheus text, given as
// name{label="value"}: the other labels of the line are ignored.
func sample(text, series string) string {
	name, label, _ := strings.Cut(strings.TrimSuffix(series, "}"), "{")
	for line := range strings.Lines(text) {
		head, value, ok := strings.Cut(strings.TrimSpace(line), "} ")
		if ok && strings.HasPrefix(head, name+"{") && strings.Contains(head+",", label+",") {
			return value
		}
	}
	return ""
}

func TestFromEnv(t *testing.T) {
	env := map[string]string{"RATE_LIMITS": "login_ip=5/1m, register_ip=2/1h, forgot_ip=3/1h", "METRICS": "1", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://localhost:4318"}
	cfg, err := FromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Port != "8080" || cfg.RateLimits.LoginPerIP != (core.Limit{Max: 5, Window: time.Minute}) || cfg.RateLimits.RegisterPerIP != (core.Limit{Max: 2, Window: time.Hour}) ||
		cfg.RateLimits.ForgotPerIP != (core.Limit{Max: 3, Window: time.Hour}) ||
		!cfg.Metrics || cfg.OTLPEndpoint != "http://localhost:4318" {
		t.Errorf("FromEnv = %+v", cfg)
	}
	if cfg.SMTPURL != "" || cfg.MailFrom != "no-reply@localhost" || cfg.AppURL != "http://localhost:8080" {
		t.Errorf("mail defaults: SMTP_URL %q, MAIL_FROM %q, APP_URL %q", cfg.SMTPURL, cfg.MailFrom, cfg.AppURL)
	}
	env["PORT"] = "9090"
	if cfg, _ := FromEnv(func(k string) string { return env[k] }); cfg.AppURL != "http://localhost:9090" {
		t.Errorf("APP_URL with PORT=9090: %q", cfg.AppURL)
	}
	delete(env, "PORT")
	env["RATE_LIMITS"] = "off"
	if cfg, err := FromEnv(func(k string) string { return env[k] }); err != nil || !cfg.RateLimits.Disabled {
		t.Errorf("RATE_LIMITS=off: %+v, %v", cfg.RateLimits, err)
	}
	for _, bad := range []string{"login_ip=5", "login_ip=0/1m", "login_ip=5/soon", "logins=5/1m", "on"} {
		env["RATE_LIMITS"] = bad
		if _, err := FromEnv(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "RATE_LIMITS") {
			t.Errorf("RATE_LIMITS=%s: %v", bad, err)
		}
	}
	env["RATE_LIMITS"], env["METRICS"] = "", "yes"
	if _, err := FromEnv(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "METRICS") {
		t.Errorf("METRICS=yes: %v", err)
	}
	delete(env, "RATE_LIMITS")
	delete(env, "METRICS")

	for spec, want := range map[string]string{
		"":                     "{ []}",
		"X-Forwarded-For":      "{X-Forwarded-For []}",
		"X-Real-IP 10.0.0.0/8": "{X-Real-IP [10.0.0.0/8]}",
		" X-Forwarded-For 10.1.2.3/8, 192.168.0.0/16 10.0.0.7 ::1 ": "{X-Forwarded-For [10.0.0.0/8 192.168.0.0/16 10.0.0.7/32 ::1/128]}",
	} {
		env["TRUSTED_PROXIES"] = spec
		cfg, err := FromEnv(func(k string) string { return env[k] })
		if got := fmt.Sprint(cfg.TrustedProxy); err != nil || got != want {
			t.Errorf("TRUSTED_PROXIES=%q: %s, %v; want %s", spec, got, err, want)
		}
	}
	for _, bad := range []string{"10.0.0.0/8", "10.0.0.0/8 X-Forwarded-For", "Forwarded", "X-Forwarded-For 10.0.0.0/33", "X-Forwarded-For proxy.internal", "X_Forwarded_For"} {
		env["TRUSTED_PROXIES"] = bad
		if _, err := FromEnv(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "TRUSTED_PROXIES") {
			t.Errorf("TRUSTED_PROXIES=%s: %v", bad, err)
		}
	}
}

// TestTrustedProxies: the client IP recorded with a session is the
// connection's, whatever X-Forwarded-For says, unless TRUSTED_PROXIES names
// the header and a network the connection comes from.
func TestTrustedProxies(t *testing.T) {
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	for _, c := range []struct {
		name  string
		proxy core.TrustedProxy
		want  string
	}{
		{"unset", core.TrustedProxy{}, "127.0.0.1"},
		{"a proxy on loopback", core.TrustedProxy{Header: "X-Forwarded-For", Proxies: loopback}, "198.51.100.7"},
		{"private networks by default", core.TrustedProxy{Header: "X-Forwarded-For"}, "198.51.100.7"},
		{"a proxy elsewhere", core.TrustedProxy{Header: "X-Forwarded-For", Proxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, "127.0.0.1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			base := start(t, Config{TrustedProxy: c.proxy})
			creds := fmt.Sprintf(`{"email":"ip-%d@example.com","password":"correct horse battery"}`, time.Now().UnixNano())
			expect(t, "POST", base+"/auth/register", "", creds, 201)
			req, _ := http.NewRequest("POST", base+"/auth/login", strings.NewReader(creds))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Forwarded-For", "203.0.113.9, 198.51.100.7")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var tokens struct {
				AccessToken string `json:"access_token"`
			}
			json.NewDecoder(resp.Body).Decode(&tokens)
			resp.Body.Close()
			sessions := expect(t, "GET", base+"/auth/sessions", tokens.AccessToken, "", 200)
			list, _ := sessions["sessions"].([]any)
			if len(list) != 1 {
				t.Fatalf("sessions: %v", sessions)
			}
			if ip := list[0].(map[string]any)["ip"]; ip != c.want {
				t.Errorf("the session's IP is %v, want %s", ip, c.want)
			}
		})
	}
}

func TestReadEnvFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".env")
	os.WriteFile(path, []byte("# comment\n\nPORT=9090\nexport JWT_SECRET='a b'\nREFRESH_SECRET=\"x=y\"\n"), 0o600)
	got, err := ReadEnvFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"PORT": "9090", "JWT_SECRET": "a b", "REFRESH_SECRET": "x=y"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ReadEnvFile = %v, want %v", got, want)
	}
	os.WriteFile(path, []byte("oops\n"), 0o600)
	if _, err := ReadEnvFile(path); err == nil {
		t.Error("a line without = was accepted")
	}
}

// start serves a Server for cfg, with fresh secrets, on a loopback port
// until the test ends, and returns its base URL. It runs on the in-memory
// store, or on the Redis of TEST_REDIS_URL when set, with accounts in the PostgreSQL of
// TEST_DATABASE_URL when set.
func start(t *testing.T, cfg Config) string {
	t.Helper()
	return startLogged(t, cfg, slog.New(slog.DiscardHandler))
}

// startLogged is start with the server's log going to log.
func startLogged(t *testing.T, cfg Config, log *slog.Logger) string {
	t.Helper()
	cfg.JWTSecret, cfg.RefreshSecret = randomSecret(), randomSecret()
	cfg.RedisURL = os.Getenv("TEST_REDIS_URL")
	cfg.DatabaseURL = os.Getenv("TEST_DATABASE_URL")
	cfg.AppURL = "http://app.test"
	srv, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l) }()
	t.Cleanup(func() {
		client.CloseIdleConnections() // a graceful shutdown waits for open connections
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		srv.Close()
	})
	return "http://" + l.Addr().String()
}

var client = &http.Client{Timeout: 10 * time.Second}

// expect sends a request (a JSON body when body is not empty, a bearer
// token when token is not empty), checks the status and returns the JSON
// body of the answer, if any.
func expect(t *testing.T, method, url, token, body string, status int) map[string]any {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("%s %s: %d %s, want %d", method, url, resp.StatusCode, raw, status)
	}
	var v map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatalf("%s %s: body %q: %v", method, url, raw, err)
		}
	}
	return v
}

func str(v any) string { s, _ := v.(string); return s }

// syncBuffer is a log destination the test reads while the server writes.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func randomSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}
