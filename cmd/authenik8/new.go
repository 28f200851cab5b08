package main

import (
	"bufio"
	"bytes"
	"embed"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/build"
	"go/format"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"text/template"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
)

// Versions written into generated go.mod files.
const (
	// authenik8Version is the version of the authenik8 modules that new
	// projects require.
	authenik8Version = "v0.1.0"
	// goVersion is the go directive of new projects, that of the authenik8
	// modules.
	goVersion = "1.25.0"
	// modulePrefix starts the path of every authenik8 module.
	modulePrefix = "github.com/authenik8/authenik8-go"
	// pgxModule and pgxVersion: the PostgreSQL driver of --users postgres
	// projects, at the version pgstore requires (a test keeps them equal).
	pgxModule  = "github.com/jackc/pgx/v5"
	pgxVersion = "v5.12.0"
)

// framework is a web framework new can generate for. Its routes come from
// templates/routes_<Name>.go.tmpl; everything else is shared.
type framework struct {
	Name    string // gin, echo, fiber, nethttp: also the adapter's folder
	Title   string // Gin, Echo v4, Fiber v2, net/http
	Package string // the adapter's package: ginauth, …, httpauth
	Module  string // the framework's module path; "" for the standard library
	Version string // the version this repository builds and tests with
	// Serve names the template of serve.go: "http" when the routes are an
	// http.Handler that net/http serves, "fiber" for Fiber's own server.
	Serve string
}

var frameworks = []framework{
	{"gin", "Gin", "ginauth", "github.com/gin-gonic/gin", "v1.12.0", "http"},
	{"echo", "Echo v4", "echoauth", "github.com/labstack/echo/v4", "v4.16.0", "http"},
	{"fiber", "Fiber v2", "fiberauth", "github.com/gofiber/fiber/v2", "v2.52.15", "fiber"},
	{"nethttp", "net/http", "httpauth", "", "", "http"},
}

// frameworkNames is "gin, echo, fiber, nethttp", for messages.
func frameworkNames() string {
	names := make([]string, len(frameworks))
	for i, f := range frameworks {
		names[i] = f.Name
	}
	return strings.Join(names, ", ")
}

func frameworkNamed(name string) (framework, bool) {
	for _, f := range frameworks {
		if f.Name == name {
			return f, true
		}
	}
	return framework{}, false
}

var stores = []string{"memory", "redis"}

// userStores are the values of --users for a session store: where accounts
// live, in the session store (default) or in PostgreSQL.
func userStores(store string) []string { return []string{store, "postgres"} }

// telemetryModules are what a project's telemetry.go uses beyond core: the
// OpenTelemetry SDK and exporters, at the versions the examples module
// builds and tests with (a test keeps them equal).
var telemetryModules = []moduleVersion{
	{"github.com/prometheus/client_golang", "v1.24.1"},
	{"go.opentelemetry.io/otel", "v1.46.0"},
	{"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp", "v1.46.0"},
	{"go.opentelemetry.io/otel/exporters/prometheus", "v0.68.0"},
	{"go.opentelemetry.io/otel/metric", "v1.46.0"},
	{"go.opentelemetry.io/otel/sdk", "v1.46.0"},
	{"go.opentelemetry.io/otel/sdk/metric", "v1.46.0"},
	{"go.opentelemetry.io/otel/trace", "v1.46.0"},
}

type moduleVersion struct{ Path, Version string }

// project is the data of the templates.
type project struct {
	Name      string // binary name: the last element of the module path
	Module    string
	Framework framework
	Redis     bool   // --store redis
	Postgres  bool   // --users postgres: DATABASE_URL selects pgstore
	Version   string // of the authenik8 modules
	GoVersion string
	Replace   string // absolute path of a local authenik8-go checkout, or ""

	// Fresh secrets, for .env only.
	JWTSecret, RefreshSecret string
}

//go:embed templates
var templateFS embed.FS

// output maps each file of a project to its template, in writing order.
// Files ending in .go are gofmt'ed after rendering. go.sum, written only
// with --replace, has no template: see checkoutSums.
func (p *project) output() []outputFile {
	files := []outputFile{
		{"go.mod", "go.mod.tmpl"},
		{"main.go", "main.go.tmpl"},
		{"internal/server/config.go", "config.go.tmpl"},
		{"internal/server/server.go", "server.go.tmpl"},
		{"internal/server/oauth.go", "oauth.go.tmpl"},
		{"internal/server/routes.go", "routes_" + p.Framework.Name + ".go.tmpl"},
		{"internal/server/serve.go", "serve_" + p.Framework.Serve + ".go.tmpl"},
		{"internal/server/telemetry.go", "telemetry.go.tmpl"},
		{"internal/server/server_test.go", "server_test.go.tmpl"},
		{".env.example", "env.tmpl"},
		{".env", "env.tmpl"},
		{".gitignore", "gitignore.tmpl"},
		{"Makefile", "Makefile.tmpl"},
		{"README.md", "README.md.tmpl"},
	}
	if p.Replace != "" {
		files = append(files, outputFile{"go.sum", ""})
	}
	return files
}

type outputFile struct{ file, tmpl string }

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"quote":            modfile.AutoQuote, // a go.mod token, quoted when it must be
	"envReader":        envReader,
	"pgxModule":        func() string { return pgxModule },
	"pgxVersion":       func() string { return pgxVersion },
	"telemetryModules": func() []moduleVersion { return telemetryModules },
}).ParseFS(templateFS, "templates/*.tmpl"))

// envfileSource is envfile.go, whose readEnvFile generated projects get.
//
//go:embed envfile.go
var envfileSource string

// envReader returns the source of readEnvFile, with its doc comment, as the
// exported ReadEnvFile of a generated config.go: one .env reader for the
// CLI and the projects it writes.
func envReader() (string, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "envfile.go", envfileSource, parser.ParseComments)
	if err != nil {
		return "", err
	}
	for _, d := range f.Decls {
		if fn, ok := d.(*ast.FuncDecl); ok && fn.Name.Name == "readEnvFile" && fn.Doc != nil {
			src := envfileSource[fset.Position(fn.Doc.Pos()).Offset:fset.Position(fn.End()).Offset]
			return strings.ReplaceAll(src, "readEnvFile", "ReadEnvFile"), nil
		}
	}
	return "", errors.New("envfile.go has no documented readEnvFile")
}

// render returns the project's files, file name → contents.
func (p *project) render() (map[string][]byte, error) {
	files := map[string][]byte{}
	for _, o := range p.output() {
		if o.file == "go.sum" {
			sums, err := p.checkoutSums()
			if err != nil {
				return nil, err
			}
			files[o.file] = sums
			continue
		}
		data := *p
		if o.file == ".env.example" { // the same template, without the secrets
			data.JWTSecret, data.RefreshSecret = "", ""
		}
		var b bytes.Buffer
		if err := templates.ExecuteTemplate(&b, o.tmpl, data); err != nil {
			return nil, fmt.Errorf("render %s: %w", o.file, err)
		}
		out := b.Bytes()
		if strings.HasSuffix(o.file, ".go") {
			var err error
			if out, err = format.Source(out); err != nil {
				return nil, fmt.Errorf("render %s: %w", o.file, err) // a bug in the template
			}
		}
		files[o.file] = out
	}
	return files, nil
}

// checkoutSums is the go.sum of a --replace project: the checksums that the
// checkout's modules recorded for their own dependencies (gin, rueidis, …),
// which the go command verified when it resolved them. Without it, the
// project's first go mod tidy asks the checksum database about each of them,
// which fails offline; tidy drops the lines the project does not need. The
// examples' sums cover what the templates use beyond the adapters, such as
// Echo's middleware package.
func (p *project) checkoutSums() ([]byte, error) {
	seen := map[string]bool{}
	var lines []string
	mods := []string{"core", "redisstore", "oauth", "adapters/" + p.Framework.Name, "examples"}
	if p.Postgres {
		mods = append(mods, "pgstore")
	}
	for _, mod := range mods {
		b, err := os.ReadFile(filepath.Join(filepath.FromSlash(p.Replace), filepath.FromSlash(mod), "go.sum"))
		if errors.Is(err, fs.ErrNotExist) {
			continue // the sums only save lookups: tidy finds the rest online
		}
		if err != nil {
			return nil, fmt.Errorf("--replace: %w", err)
		}
		for line := range strings.Lines(string(b)) {
			if line = strings.TrimSpace(line); line != "" && !seen[line] {
				seen[line] = true
				lines = append(lines, line)
			}
		}
	}
	slices.Sort(lines)
	return []byte(strings.Join(lines, "\n") + "\n"), nil
}

// usageError is a problem with the command line: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

type newOptions struct {
	dir, framework, store, users, module, replace string
	yes, tidy                                     bool
}

func cmdNew(args []string, std *stdio) int {
	var o newOptions
	flags := flag.NewFlagSet("new", flag.ContinueOnError)
	flags.SetOutput(std.stderr)
	flags.StringVar(&o.framework, "framework", "", "web framework: gin, echo, fiber or nethttp (the standard library's ServeMux) (default gin)")
	flags.StringVar(&o.store, "store", "", "session store: memory or redis (default memory)")
	flags.StringVar(&o.users, "users", "", "where accounts live: in the session store (its name: memory or redis), or postgres, read from DATABASE_URL (default: the session store)")
	flags.StringVar(&o.module, "module", "", "module path of the new project (default: the directory name)")
	flags.BoolVar(&o.yes, "yes", false, "do not prompt: take the defaults for what the flags leave out")
	flags.BoolVar(&o.tidy, "tidy", false, "run go mod tidy in the new project (needs the network, or a warm module cache)")
	flags.StringVar(&o.replace, "replace", "", "point the authenik8 modules at this local checkout of authenik8-go (replace directives)")
	flags.Usage = func() {
		fmt.Fprint(flags.Output(), `Usage: authenik8 new <dir> [flags]

Writes a new Authenik8 service into dir, which must be empty or absent.
On a terminal, asks for what the flags leave out unless --yes is given.

`)
		flags.PrintDefaults()
	}
	rest, err := parseArgs(flags, args)
	if err != nil {
		return flagExit(err)
	}
	switch len(rest) {
	case 0:
	case 1:
		o.dir = rest[0]
	default:
		fmt.Fprintf(std.stderr, "authenik8 new: one directory expected, got %q\n", rest)
		return exitUsage
	}

	p, err := o.resolve(std)
	if err != nil {
		fmt.Fprintf(std.stderr, "authenik8 new: %v\n", err)
		var ue *usageError
		if errors.As(err, &ue) {
			return exitUsage
		}
		return exitFailure
	}
	if err := p.write(o.dir); err != nil {
		fmt.Fprintf(std.stderr, "authenik8 new: %v\n", err)
		var ue *usageError
		if errors.As(err, &ue) {
			return exitUsage
		}
		return exitFailure
	}
	if o.tidy {
		cmd := exec.Command("go", "mod", "tidy")
		cmd.Dir, cmd.Stdout, cmd.Stderr = o.dir, std.stderr, std.stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(std.stderr, "authenik8 new: the project is written, but go mod tidy failed (%v); run it in %s when the modules can be downloaded\n", err, o.dir)
			return exitFailure
		}
	}
	p.nextSteps(std, o.dir, o.tidy)
	return exitOK
}

// resolve completes the options, prompting on a terminal, validates them
// and returns the project to write.
func (o *newOptions) resolve(std *stdio) (*project, error) {
	ask := std.interactive && !o.yes
	var in *bufio.Reader
	prompt := func(question, def string, valid func(string) error) (string, error) {
		if in == nil {
			in = bufio.NewReader(std.stdin)
		}
		for {
			if def != "" {
				fmt.Fprintf(std.stderr, "%s [%s]: ", question, def)
			} else {
				fmt.Fprintf(std.stderr, "%s: ", question)
			}
			line, err := in.ReadString('\n')
			answer := strings.TrimSpace(line)
			if answer == "" && err == nil {
				answer = def
			}
			if answer == "" && err != nil {
				return "", usagef("no answer to %q", question)
			}
			if verr := valid(answer); verr != nil {
				fmt.Fprintf(std.stderr, "  %v\n", verr)
				if err != nil {
					return "", &usageError{verr.Error()}
				}
				continue
			}
			return answer, nil
		}
	}

	var err error
	if o.dir == "" {
		if !ask {
			return nil, usagef("missing the project directory: authenik8 new <dir> (see authenik8 new -h)")
		}
		if o.dir, err = prompt("Project directory", "", checkDir); err != nil {
			return nil, err
		}
	} else if err := checkDir(o.dir); err != nil {
		return nil, err
	}

	validFramework := func(s string) error {
		if _, ok := frameworkNamed(s); !ok {
			return usagef("unknown framework %q: want %s", s, frameworkNames())
		}
		return nil
	}
	if o.framework == "" && ask {
		if o.framework, err = prompt("Framework ("+frameworkNames()+")", "gin", validFramework); err != nil {
			return nil, err
		}
	}
	if o.framework == "" {
		o.framework = "gin"
	}
	if err := validFramework(o.framework); err != nil {
		return nil, err
	}

	validStore := func(s string) error {
		if s != "memory" && s != "redis" {
			return usagef("unknown store %q: want memory or redis", s)
		}
		return nil
	}
	if o.store == "" && ask {
		if o.store, err = prompt("Session store (memory, redis)", "memory", validStore); err != nil {
			return nil, err
		}
	}
	if o.store == "" {
		o.store = "memory"
	}
	if err := validStore(o.store); err != nil {
		return nil, err
	}

	validUsers := func(s string) error {
		if !slices.Contains(userStores(o.store), s) {
			return usagef("unknown user store %q: want %s (the session store) or postgres", s, o.store)
		}
		return nil
	}
	if o.users == "" && ask {
		if o.users, err = prompt("Accounts in ("+strings.Join(userStores(o.store), ", ")+")", o.store, validUsers); err != nil {
			return nil, err
		}
	}
	if o.users == "" {
		o.users = o.store
	}
	if err := validUsers(o.users); err != nil {
		return nil, err
	}

	abs, err := filepath.Abs(o.dir)
	if err != nil {
		return nil, err
	}
	def := filepath.Base(abs)
	if checkModulePath(def) != nil {
		def = ""
	}
	if o.module == "" && ask {
		if o.module, err = prompt("Module path (e.g. github.com/you/"+sanitizeName(filepath.Base(abs))+")", def, checkModulePath); err != nil {
			return nil, err
		}
	}
	if o.module == "" {
		if def == "" {
			return nil, usagef("the directory name %q is not a valid module path: give one with --module (e.g. --module github.com/you/%s)", filepath.Base(abs), sanitizeName(filepath.Base(abs)))
		}
		o.module = def
	}
	if err := checkModulePath(o.module); err != nil {
		return nil, err
	}

	if o.replace != "" {
		if o.replace, err = filepath.Abs(o.replace); err != nil {
			return nil, err
		}
		if _, err := os.Stat(filepath.Join(o.replace, "core", "go.mod")); err != nil {
			return nil, usagef("--replace %s: not a checkout of authenik8-go (no core/go.mod)", o.replace)
		}
	}

	fw, _ := frameworkNamed(o.framework)
	return &project{
		Name:          binaryName(o.module),
		Module:        o.module,
		Framework:     fw,
		Redis:         o.store == "redis",
		Postgres:      o.users == "postgres",
		Version:       authenik8Version,
		GoVersion:     goVersion,
		Replace:       filepath.ToSlash(o.replace),
		JWTSecret:     newSecret(32),
		RefreshSecret: newSecret(32),
	}, nil
}

// checkDir refuses a directory that exists and is not empty, or a path that
// is not a directory.
func checkDir(dir string) error {
	if dir == "" {
		return usagef("the project directory is required")
	}
	st, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return usagef("%s exists and is not a directory", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if len(entries) > 0 {
		return usagef("%s is not empty (it holds %s%s); choose a new directory, or empty this one", dir, entries[0].Name(), more(len(entries)-1))
	}
	return nil
}

func more(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" and %d more", n)
}

// checkModulePath accepts what "go mod init" accepts and go build can use:
// a valid import path; when the first element looks like a domain (has a
// dot), a valid module path by golang.org/x/mod/module.CheckPath rules
// (lower case, no leading dash…); a dot-less path such as "myapp" is a
// local module, fine unless it would shadow the standard library.
func checkModulePath(p string) error {
	if p == "" {
		return usagef("the module path is empty")
	}
	if err := module.CheckImportPath(p); err != nil {
		return usagef("invalid module path %q: %v", p, unwrapModuleErr(err))
	}
	first, _, _ := strings.Cut(p, "/")
	if strings.Contains(first, ".") {
		if err := module.CheckPath(p); err != nil {
			return usagef("invalid module path %q: %v", p, unwrapModuleErr(err))
		}
		return nil
	}
	if pkg, err := build.Default.Import(first, "", build.FindOnly); err == nil && pkg.Goroot {
		return usagef("invalid module path %q: %q is a standard library package; use a domain-style path such as example.com/%s", p, first, p)
	}
	return nil
}

// unwrapModuleErr drops the module package's repetition of the path.
func unwrapModuleErr(err error) error {
	var ie *module.InvalidPathError
	if errors.As(err, &ie) && ie.Err != nil {
		return ie.Err
	}
	return err
}

// binaryName is the last element of a module path without a /vN suffix,
// reduced to characters safe in a file name.
func binaryName(modPath string) string {
	prefix, _, ok := module.SplitPathVersion(modPath)
	if ok && prefix != "" {
		modPath = prefix
	}
	return sanitizeName(path.Base(modPath))
}

var unsafeChars = regexp.MustCompile(`[^a-z0-9._-]+`)

func sanitizeName(s string) string {
	s = strings.Trim(unsafeChars.ReplaceAllString(strings.ToLower(s), "-"), "-.")
	if s == "" {
		return "app"
	}
	return s
}

// write renders the project and writes it into dir, which it creates. It
// never overwrites a file; on failure it removes what it wrote.
func (p *project) write(dir string) (err error) {
	files, err := p.render()
	if err != nil {
		return err
	}
	if err := checkDir(dir); err != nil { // again: time has passed at a prompt
		return err
	}
	_, statErr := os.Stat(dir)
	created := errors.Is(statErr, fs.ErrNotExist)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var written []string
	defer func() {
		if err == nil {
			return
		}
		if created {
			os.RemoveAll(dir)
			return
		}
		for i := len(written) - 1; i >= 0; i-- {
			os.Remove(written[i])
		}
		os.RemoveAll(filepath.Join(dir, "internal"))
	}()
	for _, o := range p.output() {
		name := filepath.Join(dir, filepath.FromSlash(o.file))
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			return err
		}
		perm := os.FileMode(0o644)
		if o.file == ".env" {
			perm = 0o600 // secrets
		}
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
		if err != nil {
			return err
		}
		written = append(written, name)
		_, err = f.Write(files[o.file])
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// nextSteps tells the user what was written and how to run it.
func (p *project) nextSteps(std *stdio, dir string, tidied bool) {
	store := "in-memory store"
	if p.Redis {
		store = "Redis store"
	}
	if p.Postgres {
		store += ", accounts in PostgreSQL"
	}
	w := std.stdout
	fmt.Fprintf(w, "Created %s: %s, %s, module %s.\n", dir, p.Framework.Title, store, p.Module)
	fmt.Fprintf(w, ".env holds fresh secrets (mode 0600, git-ignored); .env.example documents the variables.\n\n")
	fmt.Fprintf(w, "Next steps:\n")
	if filepath.Clean(dir) != "." {
		fmt.Fprintf(w, "  cd %s\n", shellQuote(dir))
	}
	if !tidied {
		fmt.Fprintf(w, "  go mod tidy         # fetch the dependencies\n")
	}
	if p.Redis {
		fmt.Fprintf(w, "  redis-server &      # or set REDIS_URL in .env; without it the server falls back to memory\n")
	}
	if p.Postgres {
		fmt.Fprintf(w, "  createdb -h localhost -U postgres %s   # the database of DATABASE_URL in .env; unset, accounts stay in the session store\n", shellQuote(p.Name))
	}
	fmt.Fprintf(w, "  go run .            # serves on :8080 (PORT)\n")
	fmt.Fprintf(w, "  go test ./...       # register → login → refresh → logout → admin denied\n")
	var checked []string
	if p.Redis {
		checked = append(checked, "Redis")
	}
	if p.Postgres {
		checked = append(checked, "PostgreSQL")
	}
	if len(checked) > 0 {
		fmt.Fprintf(w, "  authenik8 doctor    # check the secrets and %s, and run a live self-test\n", strings.Join(checked, " and "))
	} else {
		fmt.Fprintf(w, "  authenik8 doctor    # check the secrets and run a live self-test\n")
	}
}

func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`!*?[]{}()<>|&;#~") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
