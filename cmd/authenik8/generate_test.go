package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authenik8/authenik8-go/conformance/proctest"
	"github.com/authenik8/authenik8-go/conformance/redistest"
	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/pgstore/pgstoretest"
)

// TestGenerated generates projects — every framework with the default
// stores (memory), and with Redis sessions and PostgreSQL accounts; Redis
// accounts once — points each at this checkout with --replace, and then,
// offline (GOPROXY=off, GOWORK=off: every module from the local cache), runs
// go mod tidy, go vet, the project's own tests and go build in it. It then
// starts the built server, configured by the .env that new wrote, and
// checks the auth routes and the server's own routes over HTTP.
func TestGenerated(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no project builds")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatal("the go command is needed: ", err)
	}
	root := repoRoot(t)
	warmModuleCache(t, root)
	env := goEnv()
	variants := [][3]string{{"gin", "redis", "redis"}}
	for _, fw := range frameworks {
		variants = append(variants, [3]string{fw.Name, "memory", "memory"}, [3]string{fw.Name, "redis", "postgres"})
	}
	for _, v := range variants {
		t.Run(strings.Join(v[:], "-"), func(t *testing.T) {
			t.Parallel()
			testGenerated(t, root, env, v[0], v[1], v[2])
		})
	}
}

// testGenerated generates, builds, tests and runs one project.
func testGenerated(t *testing.T, root string, env []string, framework, store, users string) {
	var redisURL, databaseURL string
	if store == "redis" {
		redisURL = redistest.Start(t).URL() // its own: the smoke test counts its keys
	}
	if users == "postgres" {
		databaseURL = pgstoretest.Database(t) // its own: the smoke test counts its accounts
	}
	dir := filepath.Join(t.TempDir(), "authsvc")
	r := cli(t, nil, "new", dir, "--framework", framework, "--store", store, "--users", users, "--module", "example.com/acme/authsvc", "--replace", root)
	if r.code != exitOK {
		t.Fatal(r)
	}

	goCmd(t, dir, env, "mod", "tidy")
	goCmd(t, dir, env, "vet", "./...")
	testEnv := slices.Clip(env)
	if redisURL != "" { // the project's test runs against Redis too
		testEnv = append(testEnv, "TEST_REDIS_URL="+redisURL)
	}
	if databaseURL != "" { // and against PostgreSQL
		testEnv = append(testEnv, "TEST_DATABASE_URL="+databaseURL)
	}
	out := goCmd(t, dir, testEnv, "test", "-count=1", "./...")
	if !strings.Contains(out, "ok  \texample.com/acme/authsvc/internal/server") {
		t.Errorf("go test ran no test of internal/server:\n%s", out)
	}
	goCmd(t, dir, env, "build", "-o", filepath.Join("bin", "authsvc"), ".")
	deps := goCmd(t, dir, env, "list", "-deps", "./...")
	if uses := strings.Contains(deps, modulePrefix+"/redisstore\n"); uses != (store == "redis") {
		t.Errorf("store %s: the project depends on redisstore: %v", store, uses)
	}
	if uses := strings.Contains(deps, modulePrefix+"/pgstore\n"); uses != (users == "postgres") {
		t.Errorf("users %s: the project depends on pgstore: %v", users, uses)
	}
	for _, fw := range frameworks { // net/http: on none
		if uses := fw.Module != "" && strings.Contains(deps, fw.Module+"\n"); uses != (fw.Module != "" && fw.Name == framework) {
			t.Errorf("framework %s: the project depends on %s: %v", framework, fw.Title, uses)
		}
	}

	// Scripts run on Redis: sessions and limits are Lua scripts there.
	// (Counting keys would not do: a smoke test that ends in a logout
	// leaves none behind when accounts live in PostgreSQL.)
	redisScripts := func() int {
		if redisURL == "" {
			return 0
		}
		info, err := redistest.Command(strings.TrimPrefix(redisURL, "redis://"), "INFO", "commandstats")
		if err != nil {
			t.Fatal(err)
		}
		_, rest, _ := strings.Cut(info, "cmdstat_evalsha:calls=")
		n, _ := strconv.Atoi(rest[:strings.IndexFunc(rest+",", func(r rune) bool { return r < '0' || r > '9' })])
		return n
	}
	accounts := func() int {
		if databaseURL == "" {
			return 0
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var n int
		if err := pgstoretest.Pool(t, databaseURL).QueryRow(ctx, `SELECT count(*) FROM authenik8.users`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before, accountsBefore := redisScripts(), accounts()
	s := startGenerated(t, dir, redisURL, databaseURL)
	tryReadme(t, s, dir)
	smoke(t, s, dir)
	if after := redisScripts(); store == "redis" && after <= before {
		t.Errorf("Redis ran %d scripts before the smoke test, %d after: the server did not use it", before, after)
	}
	// The smoke test and the README register two accounts.
	if after := accounts(); users == "postgres" && after != accountsBefore+2 {
		t.Errorf("PostgreSQL holds %d accounts before the smoke test, %d after: want 2 more", accountsBefore, after)
	}
	s.stop(t)
}

// goEnv is the environment of go commands run on generated projects:
// offline and outside any workspace, and without the variables a generated
// project reads.
var warmed sync.Once

// warmModuleCache fills the local module cache with every module that a
// generated project's go mod tidy loads, by running go mod tidy -diff (which
// writes nothing) in the checkout's modules with the configured GOPROXY. The
// project is then built offline. Without this, a fresh machine's cache holds
// only what building the workspace needed, not the modules that tidy loads
// for the tests of dependencies (go-playground/assert, go-cmp, …). With no
// module proxy reachable this is only logged: the offline steps then name
// the missing module.
func warmModuleCache(t *testing.T, root string) {
	warmed.Do(func() {
		for _, mod := range []string{"core", "redisstore", "pgstore", "adapters/gin", "adapters/echo", "adapters/fiber", "adapters/nethttp", "examples"} {
			cmd := exec.Command("go", "mod", "tidy", "-diff")
			cmd.Dir = filepath.Join(root, filepath.FromSlash(mod))
			cmd.Env = append(os.Environ(), "GOWORK=off")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Logf("warming the module cache in %s: %v\n%s", mod, err, out)
			}
		}
	})
}

func goEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "GOWORK", "GOPROXY", "PORT", "REDIS_URL", "TEST_REDIS_URL", "DATABASE_URL", "TEST_DATABASE_URL", "JWT_SECRET", "JWT_JWKS", "REFRESH_SECRET", "SEED_ADMIN_EMAIL", "SEED_ADMIN_PASSWORD", "RATE_LIMITS", "TRUSTED_PROXIES":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "GOWORK=off", "GOPROXY=off")
}

// goCmd runs the go command in dir and returns its output; it fails t on
// error.
func goCmd(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir, cmd.Env = dir, env
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go %s: %v\n%s\n(GOPROXY=off: every module must be in the local module cache; building the workspace once fills it)", strings.Join(args, " "), err, out)
	}
	t.Logf("go %s: %v", strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
	return string(out)
}

// generated is a running generated server.
type generated struct{ *proctest.Server }

// startGenerated runs the built server in its directory, so that it reads
// its .env, with only PATH, PORT, REDIS_URL and DATABASE_URL (when given)
// in its environment, and waits for /healthz.
func startGenerated(t *testing.T, dir, redisURL, databaseURL string) generated {
	t.Helper()
	cmd := exec.Command(filepath.Join(dir, "bin", "authsvc"))
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	if redisURL != "" {
		cmd.Env = append(cmd.Env, "REDIS_URL="+redisURL)
	}
	if databaseURL != "" {
		cmd.Env = append(cmd.Env, "DATABASE_URL="+databaseURL)
	}
	return generated{proctest.Start(t, "the generated server", cmd)}
}

// stop ends the server gracefully; it must exit with status 0.
func (s generated) stop(t *testing.T) {
	http.DefaultClient.CloseIdleConnections() // Fiber's shutdown waits for open connections
	s.Stop(t)
}

// reply is an HTTP answer of the smoke test.
type reply struct {
	status int
	header http.Header
	raw    string
	body   map[string]any
}

func (s generated) do(t *testing.T, method, path, token, body string) reply {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	json.Unmarshal(raw, &r.body)
	return r
}

// expect checks the status and, when code is not empty, the error code.
func (s generated) expect(t *testing.T, method, path, token, body string, status int, code string) reply {
	t.Helper()
	r := s.do(t, method, path, token, body)
	if r.status != status || (code != "" && r.body["error"] != code) {
		t.Fatalf("%s %s: %d %s, want %d %s\nserver log:\n%s", method, path, r.status, r.raw, status, code, s.Logs())
	}
	return r
}

// smoke walks through the auth routes (docs/protocol.md §6.1) and the
// server's own routes (/api, /healthz, /readyz).
func smoke(t *testing.T, s generated, dir string) {
	if r := s.expect(t, "GET", "/healthz", "", "", 200, ""); r.body["status"] != "ok" {
		t.Errorf("/healthz: %s", r.raw)
	}
	s.expect(t, "GET", "/readyz", "", "", 200, "")
	for _, path := range []string{"/.well-known/jwks.json", "/auth/jwks.json"} {
		if r := s.expect(t, "GET", path, "", "", 200, ""); r.raw != `{"keys":[]}` {
			t.Errorf("%s with an HS256 key: %s", path, r.raw)
		}
	}

	creds := `{"email":"grace@example.com","password":"correct horse battery"}`
	reg := s.expect(t, "POST", "/auth/register", "", creds, 201, "")
	if reg.body["email"] != "grace@example.com" || reg.body["id"] == "" || !sameJSON(reg.body["roles"], []any{"user"}) {
		t.Errorf("register: %s", reg.raw)
	}
	s.expect(t, "POST", "/auth/register", "", creds, 409, "user_exists")
	s.expect(t, "POST", "/auth/register", "", `{"email":"x"`, 400, "invalid_request")
	bad := s.expect(t, "POST", "/auth/login", "", `{"email":"grace@example.com","password":"wrong password"}`, 401, "invalid_credentials")
	if bad.header.Get("WWW-Authenticate") != "Bearer" {
		t.Errorf("failed login: WWW-Authenticate %q", bad.header.Get("WWW-Authenticate"))
	}

	login := s.expect(t, "POST", "/auth/login", "", creds, 200, "")
	access, refresh := str(login.body["access_token"]), str(login.body["refresh_token"])
	if access == "" || refresh == "" || login.body["token_type"] != "Bearer" || login.body["expires_in"] != float64(900) || login.body["refresh_expires_in"] == nil {
		t.Fatalf("login: %s", login.raw)
	}
	if login.header.Get("Cache-Control") != "no-store" {
		t.Errorf("login: Cache-Control %q", login.header.Get("Cache-Control"))
	}
	// The server signs with the JWT_SECRET of its .env.
	dotenv, err := readEnvFile(filepath.Join(dir, ".env"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := core.NewHMACKey([]byte(dotenv["JWT_SECRET"]))
	if err != nil {
		t.Fatal(err)
	}
	if h := jwtHeader(t, access); h["kid"] != key.ID() || h["alg"] != "HS256" || h["typ"] != "at+jwt" {
		t.Errorf("access token header %v; want the kid %s of .env's JWT_SECRET", h, key.ID())
	}
	if strings.Contains(s.Logs(), "is not set") {
		t.Errorf("the server did not read its .env:\n%s", s.Logs())
	}

	me := s.expect(t, "GET", "/auth/me", access, "", 200, "")
	if me.body["sub"] != reg.body["id"] || me.body["sid"] == "" {
		t.Errorf("/auth/me: %s", me.raw)
	}
	if r := s.expect(t, "GET", "/auth/sessions", access, "", 200, ""); !strings.Contains(r.raw, `"current":true`) {
		t.Errorf("/auth/sessions: %s", r.raw)
	}
	if r := s.expect(t, "GET", "/api/profile", access, "", 200, ""); r.body["sub"] != reg.body["id"] || !sameJSON(r.body["roles"], []any{"user"}) {
		t.Errorf("/api/profile: %s", r.raw)
	}
	if r := s.expect(t, "GET", "/api/profile", "", "", 401, "missing_token"); r.header.Get("WWW-Authenticate") != "Bearer" {
		t.Errorf("/api/profile without a token: WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
	}
	s.expect(t, "GET", "/api/profile", "not.a.token", "", 401, "invalid_token")
	if r := s.expect(t, "GET", "/api/admin", access, "", 403, "forbidden"); r.header.Get("WWW-Authenticate") != `Bearer error="insufficient_scope"` {
		t.Errorf("/api/admin for a user: WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
	}

	next := s.expect(t, "POST", "/auth/refresh", "", `{"refresh_token":"`+refresh+`"}`, 200, "")
	access2 := str(next.body["access_token"])
	if access2 == "" || next.body["refresh_token"] == refresh {
		t.Fatalf("refresh: %s", next.raw)
	}
	s.expect(t, "POST", "/auth/refresh", "", `{"refresh_token":"`+refresh+`"}`, 401, "refresh_conflict")
	s.expect(t, "POST", "/auth/refresh", "", `{"refresh_token":"forged"}`, 401, "invalid_refresh_token")

	s.expect(t, "POST", "/auth/logout", access2, "", 204, "")
	r := s.expect(t, "GET", "/api/profile", access2, "", 401, "token_revoked")
	if r.header.Get("WWW-Authenticate") != `Bearer error="invalid_token"` {
		t.Errorf("revoked token: WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
	}
	s.expect(t, "GET", "/api/profile", access, "", 401, "token_revoked") // the first pair's token too
	s.expect(t, "GET", "/no/such/route", "", "", 404, "")
}

// tryReadme runs the curl commands of the project README's "Try it"
// section against the server.
func tryReadme(t *testing.T, s generated, dir string) {
	t.Helper()
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Logf("no %s: the README's curl commands are not tried", tool)
			return
		}
	}
	readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(readme), "## Try it\n\n```sh\n")
	script, _, ok := strings.Cut(section, "```")
	if !ok || !strings.HasPrefix(script, "BASE=http://localhost:8080\n") {
		t.Fatalf("README.md has no curl walk-through starting with BASE=:\n%s", readme)
	}
	script = "set -eu\nBASE=" + s.URL + strings.TrimPrefix(script, "BASE=http://localhost:8080")
	out, err := exec.Command("bash", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("README walk-through: %v\n%s", err, out)
	}
	for _, want := range []string{`"email":"ada@example.com","roles":["user"]`, `"roles":["user"],"sid":`, `"error":"forbidden"`, `"token_type":"Bearer"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("README walk-through printed no %s:\n%s", want, out)
		}
	}
}

// jwtHeader decodes the protected header of a JWS.
func jwtHeader(t *testing.T, token string) map[string]any {
	t.Helper()
	head, _, _ := strings.Cut(token, ".")
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		t.Fatalf("token header: %v", err)
	}
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatalf("token header: %v", err)
	}
	return h
}

func sameJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func str(v any) string { s, _ := v.(string); return s }
