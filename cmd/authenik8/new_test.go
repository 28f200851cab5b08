package main

import (
	"encoding/base64"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"
)

// TestNewRefusesNonEmptyDir: exit 2, a message naming the directory, and
// nothing written.
func TestNewRefusesNonEmptyDir(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644)
	r := cli(t, nil, "new", dir, "--yes")
	if r.code != exitUsage || !strings.Contains(r.stderr, dir+" is not empty") || !strings.Contains(r.stderr, "notes.txt") {
		t.Fatalf("non-empty directory: %v", r)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("the directory now holds %d entries", len(entries))
	}

	file := filepath.Join(dir, "notes.txt")
	if r := cli(t, nil, "new", file, "--yes"); r.code != exitUsage || !strings.Contains(r.stderr, "not a directory") {
		t.Errorf("a file as directory: %v", r)
	}
}

// TestNewRefusesBadModulePath: exit 2, a message naming the path and the
// reason, and no directory created.
func TestNewRefusesBadModulePath(t *testing.T) {
	for _, mod := range []string{
		"Not A Path",          // spaces
		"Example.com/x",       // upper case in the domain
		"-example.com/x",      // leading dash
		"example.com//x",      // empty element
		"example.com/../x",    // dot-dot
		"/abs/path",           // leading slash
		"example.com/x/v1",    // /v1 is not a major version suffix
		"example.com/x\"y",    // quote
		"net",                 // shadows the standard library
		"example.com/x y/z",   // space
		"github.com/you/a\\b", // backslash
	} {
		dir := filepath.Join(t.TempDir(), "svc")
		r := cli(t, nil, "new", dir, "--module", mod, "--yes")
		if r.code != exitUsage || !strings.Contains(r.stderr, "invalid module path "+strconv.Quote(mod)) {
			t.Errorf("--module %q: %v", mod, r)
		}
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("--module %q: the directory was created", mod)
		}
	}
	// A directory name that is no module path, and no --module.
	r := cli(t, nil, "new", filepath.Join(t.TempDir(), "My Service"), "--yes")
	if r.code != exitUsage || !strings.Contains(r.stderr, "--module github.com/you/my-service") {
		t.Errorf("directory name as module path: %v", r)
	}
}

func TestNewAcceptsModulePaths(t *testing.T) {
	for _, mod := range []string{"myapp", "example.com/x", "github.com/acme/auth-svc", "gitlab.com/a/b/c/v2", "corp.internal/team/svc"} {
		if err := checkModulePath(mod); err != nil {
			t.Errorf("checkModulePath(%q) = %v", mod, err)
		}
	}
	if got := binaryName("gitlab.com/a/auth-svc/v2"); got != "auth-svc" {
		t.Errorf("binaryName = %q", got)
	}
}

func TestNewUsageErrors(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "svc")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"new"}, "missing the project directory"},
		{[]string{"new", dir, "--framework", "chi"}, `unknown framework "chi": want gin, echo, fiber, nethttp`},
		{[]string{"new", dir, "--store", "postgres"}, `unknown store "postgres"`},
		{[]string{"new", dir, "--users", "mysql"}, `unknown user store "mysql": want memory (the session store) or postgres`},
		{[]string{"new", dir, "--store", "memory", "--users", "redis"}, `unknown user store "redis": want memory (the session store) or postgres`},
		{[]string{"new", dir, dir + "2"}, "one directory expected"},
		{[]string{"new", dir, "--replace", t.TempDir()}, "not a checkout of authenik8-go"},
	} {
		r := cli(t, nil, c.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%q: %v", c.args, r)
		}
	}
	if _, err := os.Stat(dir); err == nil {
		t.Error("a refused command created the directory")
	}
}

// TestNewFiles checks what new writes, for every framework, session store
// and user store, without building it (TestGenerated builds and runs
// projects).
func TestNewFiles(t *testing.T) {
	for _, fw := range frameworks {
		for _, store := range stores {
			for _, users := range userStores(store) {
				t.Run(fw.Name+"-"+store+"-"+users, func(t *testing.T) { testNewFiles(t, fw, store, users) })
			}
		}
	}
}

func testNewFiles(t *testing.T, fw framework, store, users string) {
	postgres := users == "postgres"
	dir := filepath.Join(t.TempDir(), "svc")
	r := cli(t, nil, "new", dir, "--framework", fw.Name, "--store", store, "--users", users, "--module", "example.com/acme/svc")
	if r.code != exitOK {
		t.Fatal(r)
	}
	if postgres && (!strings.Contains(r.stdout, "accounts in PostgreSQL") || !strings.Contains(r.stdout, "createdb -h localhost -U postgres svc")) {
		t.Errorf("next steps do not mention PostgreSQL:\n%s", r.stdout)
	}
	for _, want := range []string{"Created " + dir, "cd " + dir, "go mod tidy", "go run .", "go test ./..."} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("next steps lack %q:\n%s", want, r.stdout)
		}
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.sum")); err == nil {
		t.Error("go.sum written without --replace: its sums would be the CLI's guess")
	}

	// go.mod: the module, the authenik8 modules at the CLI's
	// version, the framework at the repository's version.
	mf, err := modfile.Parse("go.mod", []byte(read("go.mod")), nil)
	if err != nil {
		t.Fatal(err)
	}
	if mf.Module.Mod.Path != "example.com/acme/svc" || mf.Go.Version != goVersion {
		t.Errorf("go.mod: module %s, go %s", mf.Module.Mod.Path, mf.Go.Version)
	}
	want := map[string]string{
		modulePrefix + "/core":                authenik8Version,
		modulePrefix + "/oauth":               authenik8Version,
		modulePrefix + "/adapters/" + fw.Name: authenik8Version,
	}
	if fw.Module != "" {
		want[fw.Module] = fw.Version
	}
	if store == "redis" {
		want[modulePrefix+"/redisstore"] = authenik8Version
	}
	if postgres {
		want[modulePrefix+"/pgstore"] = authenik8Version
		want[pgxModule] = pgxVersion
	}
	for _, m := range telemetryModules {
		want[m.Path] = m.Version
	}
	got := map[string]string{}
	for _, r := range mf.Require {
		got[r.Mod.Path] = r.Mod.Version
	}
	if len(got) != len(want) {
		t.Errorf("go.mod requires %v, want %v", got, want)
	}
	for p, v := range want {
		if got[p] != v {
			t.Errorf("go.mod requires %s %q, want %q", p, got[p], v)
		}
	}
	if len(mf.Replace) != 0 {
		t.Errorf("go.mod has replace directives without --replace")
	}

	// Go files: gofmt'ed (render formats them) and parseable;
	// the memory store's project does not import redisstore.
	var imports []string
	for _, name := range []string{"main.go", "internal/server/config.go", "internal/server/server.go", "internal/server/routes.go", "internal/server/serve.go", "internal/server/server_test.go"} {
		f, err := parser.ParseFile(token.NewFileSet(), name, read(name), parser.ImportsOnly)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, imp := range f.Imports {
			imports = append(imports, strings.Trim(imp.Path.Value, `"`))
		}
	}
	if has := slices.Contains(imports, modulePrefix+"/redisstore"); has != (store == "redis") {
		t.Errorf("store %s: imports redisstore: %v", store, has)
	}
	if has := slices.Contains(imports, modulePrefix+"/pgstore"); has != postgres {
		t.Errorf("users %s: imports pgstore: %v", users, has)
	}
	if !slices.Contains(imports, modulePrefix+"/adapters/"+fw.Name) || !slices.Contains(imports, "example.com/acme/svc/internal/server") {
		t.Errorf("imports %v", imports)
	}
	if lines := strings.Count(read("main.go"), "\n"); lines > 60 {
		t.Errorf("main.go has %d lines", lines)
	}

	// .env: fresh distinct secrets, mode 0600; .env.example: none.
	env, err := readEnvFile(filepath.Join(dir, ".env"))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"JWT_SECRET", "REFRESH_SECRET"} {
		if b, err := base64.StdEncoding.DecodeString(env[k]); err != nil || len(b) != 32 {
			t.Errorf(".env %s=%q", k, env[k])
		}
	}
	if env["JWT_SECRET"] == env["REFRESH_SECRET"] {
		t.Error(".env: equal secrets")
	}
	if st, _ := os.Stat(filepath.Join(dir, ".env")); st.Mode().Perm() != 0o600 {
		t.Errorf(".env mode %v, want 0600", st.Mode().Perm())
	}
	example, err := readEnvFile(filepath.Join(dir, ".env.example"))
	if err != nil {
		t.Fatal(err)
	}
	if example["JWT_SECRET"] != "" || example["REFRESH_SECRET"] != "" || example["PORT"] != "8080" {
		t.Errorf(".env.example: %v", example)
	}
	if _, ok := example["REDIS_URL"]; ok != (store == "redis") {
		t.Errorf(".env.example, store %s: REDIS_URL listed: %v", store, ok)
	}
	if _, ok := example["DATABASE_URL"]; ok != postgres {
		t.Errorf(".env.example, users %s: DATABASE_URL listed: %v", users, ok)
	}
	if !strings.Contains(read(".env.example"), "# TRUSTED_PROXIES=X-Forwarded-For") {
		t.Error(".env.example does not document TRUSTED_PROXIES")
	}
	if !strings.Contains(read(".gitignore"), ".env") {
		t.Error(".gitignore does not list .env")
	}
	readme, makefile := read("README.md"), read("Makefile")
	for _, want := range []string{"go run .", "go test ./...", "go mod tidy", fw.Title, fw.Package + ".Require(", "`TRUSTED_PROXIES`"} {
		if !strings.Contains(readme, want) {
			t.Errorf("README.md lacks %q", want)
		}
	}
	if has := strings.Contains(readme, "`DATABASE_URL`"); has != postgres {
		t.Errorf("users %s: README.md documents DATABASE_URL: %v", users, has)
	}
	for _, want := range []string{"run:\n\tgo run .", "test:\n\tgo test ./...", "build:\n\tgo build -o $(BIN) ."} {
		if !strings.Contains(makefile, want) {
			t.Errorf("Makefile lacks %q", want)
		}
	}
}

// TestPgxVersion: projects with --users postgres require the pgx that
// pgstore is built and tested with.
func TestPgxVersion(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "pgstore", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	mf, err := modfile.Parse("go.mod", b, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range mf.Require {
		if r.Mod.Path == pgxModule {
			if r.Mod.Version != pgxVersion {
				t.Errorf("pgstore requires %s %s, new writes %s", pgxModule, r.Mod.Version, pgxVersion)
			}
			return
		}
	}
	t.Errorf("pgstore/go.mod does not require %s", pgxModule)
}

// TestNewPrompts answers the questions asked on a terminal.
func TestNewPrompts(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "svc")
	// A wrong framework is asked again; an empty answer takes the default.
	r := cliWith(t, nil, dir+"\nchi\necho\n\n\nexample.com/you/svc\n", true, "new")
	if r.code != exitOK {
		t.Fatal(r)
	}
	for _, want := range []string{"Project directory:", "Framework (gin, echo, fiber, nethttp) [gin]:", `unknown framework "chi"`, "Session store (memory, redis) [memory]:", "Accounts in (memory, postgres) [memory]:", "Module path"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("prompts lack %q:\n%s", want, r.stderr)
		}
	}
	if !strings.Contains(r.stdout, "Echo v4, in-memory store, module example.com/you/svc") {
		t.Errorf("answers not taken:\n%s", r.stdout)
	}

	// Flags given are not asked; --yes asks nothing.
	r = cliWith(t, nil, "", true, "new", filepath.Join(base, "quiet"), "--yes")
	if r.code != exitOK || r.stderr != "" || !strings.Contains(r.stdout, "Gin, in-memory store, module quiet") {
		t.Errorf("--yes on a terminal: %v", r)
	}
	r = cliWith(t, nil, "\n\n", true, "new", filepath.Join(base, "partial"), "--framework", "fiber", "--module", "example.com/p")
	if r.code != exitOK || strings.Contains(r.stderr, "Framework") || !strings.Contains(r.stderr, "Session store") {
		t.Errorf("partial flags on a terminal: %v", r)
	}
	// The user store's choices follow the session store's answer.
	r = cliWith(t, nil, "nethttp\nredis\nmysql\npostgres\n", true, "new", filepath.Join(base, "pg"), "--module", "example.com/pg")
	if r.code != exitOK || !strings.Contains(r.stderr, "Accounts in (redis, postgres) [redis]:") || !strings.Contains(r.stderr, `unknown user store "mysql"`) ||
		!strings.Contains(r.stdout, "net/http, Redis store, accounts in PostgreSQL, module example.com/pg") {
		t.Errorf("postgres at the prompt: %v", r)
	}
	// End of input at a prompt: nothing written.
	r = cliWith(t, nil, "", true, "new", filepath.Join(base, "eof"))
	if r.code != exitUsage {
		t.Errorf("end of input: %v", r)
	}
	if _, err := os.Stat(filepath.Join(base, "eof")); err == nil {
		t.Error("end of input: the directory was created")
	}
}

func TestNewReplace(t *testing.T) {
	root := repoRoot(t)
	dir := filepath.Join(t.TempDir(), "svc")
	if r := cli(t, nil, "new", dir, "--replace", root, "--store", "redis", "--yes"); r.code != exitOK {
		t.Fatal(r)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "go.mod"))
	mf, err := modfile.Parse("go.mod", b, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range mf.Replace {
		got[r.Old.Path] = r.New.Path
	}
	for _, m := range []string{"core", "redisstore", "conformance", "adapters/gin"} {
		if got[modulePrefix+"/"+m] != filepath.ToSlash(filepath.Join(root, m)) {
			t.Errorf("replace %s => %q", m, got[modulePrefix+"/"+m])
		}
	}
	// go.sum starts with the checkout's checksums: every line of the
	// adapter's go.sum, sorted, none repeated.
	sums, err := os.ReadFile(filepath.Join(dir, "go.sum"))
	if err != nil {
		t.Fatalf("--replace wrote no go.sum: %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(string(sums), "\n"), "\n")
	if !slices.IsSorted(lines) || len(slices.Compact(slices.Clone(lines))) != len(lines) {
		t.Error("go.sum is not sorted, or repeats lines")
	}
	adapterSums, err := os.ReadFile(filepath.Join(root, "adapters", "gin", "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(adapterSums)) {
		if !slices.Contains(lines, strings.TrimSpace(line)) {
			t.Errorf("go.sum lacks the checkout's %q", strings.TrimSpace(line))
		}
	}
}

// TestNewTidy runs go mod tidy in the new project (offline here, from the
// local module cache); a failing tidy leaves the project written and exits 1.
func TestNewTidy(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no go command")
	}
	warmModuleCache(t, repoRoot(t))
	t.Setenv("GOWORK", "off")
	t.Setenv("GOPROXY", "off")
	dir := filepath.Join(t.TempDir(), "svc")
	if r := cli(t, nil, "new", dir, "--yes", "--tidy", "--replace", repoRoot(t)); r.code != exitOK || strings.Contains(r.stdout, "go mod tidy ") {
		t.Fatalf("new --tidy: %v", r)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.sum")); err != nil {
		t.Errorf("new --tidy wrote no go.sum: %v", err)
	}

	// Without --replace the authenik8 modules must be downloaded: offline,
	// tidy fails.
	dir = filepath.Join(t.TempDir(), "svc")
	r := cli(t, nil, "new", dir, "--yes", "--tidy")
	if r.code != exitFailure || !strings.Contains(r.stderr, "the project is written, but go mod tidy failed") {
		t.Errorf("new --tidy offline: %v", r)
	}
	if _, err := os.Stat(filepath.Join(dir, "main.go")); err != nil {
		t.Errorf("the project is gone after a failed tidy: %v", err)
	}
}

// repoRoot is the authenik8-go checkout holding this module.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "core", "go.mod")); err != nil {
		t.Fatalf("no authenik8-go checkout at %s: %v", root, err)
	}
	return root
}

// TestTelemetryVersions: the OpenTelemetry modules new projects require
// are at the versions the examples module builds and tests with.
func TestTelemetryVersions(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "examples", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	mf, err := modfile.Parse("go.mod", b, nil)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]string{}
	for _, r := range mf.Require {
		have[r.Mod.Path] = r.Mod.Version
	}
	for _, m := range telemetryModules {
		if have[m.Path] != m.Version {
			t.Errorf("new projects require %s %s; examples/go.mod %q", m.Path, m.Version, have[m.Path])
		}
	}
}
