package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// consumerOptions configure the consumer test.
type consumerOptions struct {
	modcache     string // the stranger's module cache; "" for the shared default
	keep         bool   // keep the scratch directory
	requireRedis bool   // fail, rather than skip, the README server's run without redis-server
	log          io.Writer
}

// consumer proves that a stranger can use the modules from a module proxy,
// with no replace and no workspace: a file proxy serves the checkout at the
// version the modules require each other at, and in an empty directory
// outside the repository
//   - the CLI, run as `go run …/cmd/authenik8@version new`, scaffolds a
//     project for every framework it offers, which then tidies, builds and
//     passes its own tests;
//   - a fresh module gets the Gin adapter and redisstore, and the README's
//     server, compiled from the README itself, serves a register, login and
//     profile round over HTTP on a throwaway redis-server.
func (w *workspace) consumer(o consumerOptions) (err error) {
	v, err := w.version()
	if err != nil {
		return err
	}
	if edits, err := w.bumpConst(v); err != nil {
		return err
	} else if len(edits) > 0 {
		return fmt.Errorf("%s: %s, but the modules require each other at %s: generated projects would not resolve", edits[0].file, edits[0].changes[0], v)
	}
	cli := w.cliModule()
	if cli == nil {
		return errors.New("no cmd/authenik8 module in go.work")
	}
	tmp, err := os.MkdirTemp("", "authenik8-consumer-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintf(o.log, "scratch directory (kept): %s\n", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	step := stepper(o.log)

	proxy := filepath.Join(tmp, "proxy")
	if err := step("file proxy of the checkout at "+v, func() error { return w.buildProxy(proxy, v) }); err != nil {
		return err
	}
	se, err := w.newStrangerEnv(proxy, o.modcache)
	if err != nil {
		return err
	}
	defer se.unlock()

	// The frameworks, from the CLI itself: a new one is tested once the CLI
	// offers it.
	cliAt := cli.path + "@" + v
	probe := filepath.Join(tmp, "probe")
	var frameworks []string
	err = step("go run "+cliAt+" new -h", func() error {
		if err := os.MkdirAll(probe, 0o755); err != nil {
			return err
		}
		out, err := run(se.goCmd(probe, "run", cliAt, "new", "-h"))
		if err != nil {
			return err
		}
		frameworks, err = parseFrameworks(string(out))
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(o.log, "frameworks offered by the CLI: %s\n", strings.Join(frameworks, ", "))
	for _, a := range w.adapterNames() {
		if !slices.Contains(frameworks, a) {
			fmt.Fprintf(o.log, "note: adapters/%s has no `authenik8 new --framework %s` yet\n", a, a)
		}
	}

	for _, fw := range frameworks {
		dir := filepath.Join(tmp, "new-"+fw)
		svc := filepath.Join(dir, "svc")
		err := step("new svc --framework "+fw+": generate, go mod tidy, go build, go test", func() error {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			if _, err := run(se.goCmd(dir, "run", cliAt, "new", "svc", "--framework", fw, "--yes")); err != nil {
				return err
			}
			for _, args := range [][]string{{"mod", "tidy"}, {"build", "./..."}, {"test", "-count=1", "./..."}} {
				if _, err := run(se.goCmd(svc, args...)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}

	return w.readmeServer(tmp, v, se, o, step)
}

// readmeServer builds the README's server in a fresh module that `go get`s
// the Gin adapter and redisstore, then runs it against a throwaway Redis.
func (w *workspace) readmeServer(tmp, v string, se *strangerEnv, o consumerOptions, step func(string, func() error) error) error {
	src, err := readmeProgram(filepath.Join(w.root, "README.md"))
	if err != nil {
		return err
	}
	dir := filepath.Join(tmp, "readme")
	bin := filepath.Join(tmp, "readme-server")
	gin := w.byDir("adapters/gin")
	store := w.byDir("redisstore")
	if gin == nil || store == nil {
		return errors.New("the README server needs adapters/gin and redisstore in go.work")
	}
	err = step("README server: go get "+gin.path+"@"+v+" "+store.path+"@"+v+", go build", func() error {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "main.go"), src, 0o644); err != nil {
			return err
		}
		for _, args := range [][]string{
			{"mod", "init", "example.com/readme"},
			{"get", gin.path + "@" + v, store.path + "@" + v},
			{"mod", "tidy"},
			{"build", "-o", bin, "."},
		} {
			if _, err := run(se.goCmd(dir, args...)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		if o.requireRedis {
			return errors.New("README server: redis-server is not in PATH (AUTHENIK8_REQUIRE_REDIS=1)")
		}
		fmt.Fprintln(o.log, "skip  README server over HTTP: no redis-server in PATH (AUTHENIK8_REQUIRE_REDIS=1 makes this a failure)")
		return nil
	}
	return step("README server: register, login, profile over HTTP on a throwaway redis-server", func() error {
		return serveReadme(tmp, bin)
	})
}

// readmeProgram returns the Go program between the README's consumer
// markers.
func readmeProgram(readme string) ([]byte, error) {
	b, err := os.ReadFile(readme)
	if err != nil {
		return nil, err
	}
	const begin, end = "<!-- consumer:begin -->", "<!-- consumer:end -->"
	_, rest, ok := bytes.Cut(b, []byte(begin))
	block, _, ok2 := bytes.Cut(rest, []byte(end))
	if !ok || !ok2 {
		return nil, fmt.Errorf("%s: no Go block between %s and %s", readme, begin, end)
	}
	block = bytes.TrimSpace(block)
	code, ok := bytes.CutPrefix(block, []byte("```go\n"))
	code, ok2 = bytes.CutSuffix(code, []byte("```"))
	if !ok || !ok2 {
		return nil, fmt.Errorf("%s: the consumer block is not one ```go fence", readme)
	}
	return code, nil
}

// serveReadme runs the README's server binary on a throwaway Redis and
// walks register → login → profile.
func serveReadme(tmp, bin string) error {
	redisPort, err := freePort()
	if err != nil {
		return err
	}
	redisDir := filepath.Join(tmp, "redis")
	if err := os.MkdirAll(redisDir, 0o755); err != nil {
		return err
	}
	redis := exec.Command("redis-server", "--bind", "127.0.0.1", "--port", strconv.Itoa(redisPort),
		"--save", "", "--appendonly", "no", "--dir", redisDir)
	var redisOut bytes.Buffer
	redis.Stdout, redis.Stderr = &redisOut, &redisOut
	if err := redis.Start(); err != nil {
		return err
	}
	defer func() { redis.Process.Kill(); redis.Wait() }()
	if err := waitRedis(redisPort, 10*time.Second); err != nil {
		return fmt.Errorf("redis-server: %v\n%s", err, tail(redisOut.String(), 20))
	}

	port, err := freePort()
	if err != nil {
		return err
	}
	srv := exec.Command(bin)
	srv.Env = append(os.Environ(),
		"PORT="+strconv.Itoa(port),
		"REDIS_URL=redis://127.0.0.1:"+strconv.Itoa(redisPort),
		"JWT_SECRET="+randomSecret(), "REFRESH_SECRET="+randomSecret(),
		"GIN_MODE=release")
	var srvOut bytes.Buffer
	srv.Stdout, srv.Stderr = &srvOut, &srvOut
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	fail := func(err error) error { return fmt.Errorf("%v\nserver output:\n%s", err, tail(srvOut.String(), 30)) }

	base := "http://127.0.0.1:" + strconv.Itoa(port)
	c := &http.Client{Timeout: 10 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := c.Get(base + "/api/profile")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				return fail(fmt.Errorf("GET /api/profile without a token: %d, want 401", resp.StatusCode))
			}
			break
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("the server did not answer on :%d: %v", port, err))
		}
		time.Sleep(100 * time.Millisecond)
	}

	cred := `{"email":"ada@example.com","password":"correct horse battery"}`
	var user struct{ ID string }
	if err := call(c, "POST", base+"/auth/register", "", cred, http.StatusCreated, &user); err != nil {
		return fail(err)
	}
	var pair struct {
		AccessToken string `json:"access_token"`
	}
	if err := call(c, "POST", base+"/auth/login", "", cred, http.StatusOK, &pair); err != nil {
		return fail(err)
	}
	var profile struct{ Sub string }
	if err := call(c, "GET", base+"/api/profile", pair.AccessToken, "", http.StatusOK, &profile); err != nil {
		return fail(err)
	}
	if user.ID == "" || profile.Sub != user.ID {
		return fail(fmt.Errorf("profile sub %q, want the registered user's id %q", profile.Sub, user.ID))
	}
	return nil
}

func call(c *http.Client, method, url, bearer, body string, want int, into any) error {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %d %s, want %d", method, url, resp.StatusCode, b, want)
	}
	if err := json.Unmarshal(b, into); err != nil {
		return fmt.Errorf("%s %s: %v in %s", method, url, err, b)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitRedis(port int, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
		if err == nil {
			conn.SetDeadline(time.Now().Add(time.Second))
			_, err = conn.Write([]byte("PING\r\n"))
			var line string
			if err == nil {
				line, err = bufio.NewReader(conn).ReadString('\n')
			}
			conn.Close()
			if err == nil && strings.HasPrefix(line, "+PONG") {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no PONG on port %d: %v", port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func randomSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

var frameworkName = regexp.MustCompile(`^[a-z][a-z0-9]*$`)

// parseFrameworks reads the frameworks from `authenik8 new -h`: the usage
// line of the -framework flag, e.g. "web framework: gin, echo or fiber
// (default gin)".
func parseFrameworks(help string) ([]string, error) {
	lines := strings.Split(help, "\n")
	for i, l := range lines {
		if f := strings.Fields(l); len(f) == 0 || strings.TrimLeft(f[0], "-") != "framework" {
			continue
		}
		if i+1 >= len(lines) {
			break
		}
		text := lines[i+1]
		if _, after, ok := strings.Cut(text, ":"); ok {
			text = after
		}
		text, _, _ = strings.Cut(text, "(")
		text = strings.NewReplacer(" or ", ",", "|", ",", " and ", ",").Replace(text)
		var names []string
		for n := range strings.SplitSeq(text, ",") {
			if n = strings.TrimSpace(n); n != "" {
				if !frameworkName.MatchString(n) {
					return nil, fmt.Errorf("cannot read the frameworks from `authenik8 new -h`: %q in %q", n, strings.TrimSpace(lines[i+1]))
				}
				names = append(names, n)
			}
		}
		if len(names) > 0 {
			return names, nil
		}
	}
	return nil, fmt.Errorf("cannot read the frameworks from `authenik8 new -h`:\n%s", tail(help, 30))
}

// cliModule is the module of the authenik8 command.
func (w *workspace) cliModule() *gomod {
	for _, m := range w.modules {
		if path.Base(m.path) == "authenik8" && path.Base(path.Dir(m.path)) == "cmd" {
			return m
		}
	}
	return nil
}

func (w *workspace) byDir(dir string) *gomod {
	for _, m := range w.modules {
		if m.dir == dir {
			return m
		}
	}
	return nil
}

// adapterNames are the directories of the adapter modules: gin, echo, …
func (w *workspace) adapterNames() []string {
	var names []string
	for _, m := range w.modules {
		if d, name := path.Split(m.dir); d == "adapters/" {
			names = append(names, name)
		}
	}
	return names
}

// stepper prints each step's outcome and time.
func stepper(log io.Writer) func(string, func() error) error {
	return func(name string, f func() error) error {
		start := time.Now()
		err := f()
		d := time.Since(start).Round(100 * time.Millisecond)
		if err != nil {
			fmt.Fprintf(log, "FAIL  %s (%s)\n", name, d)
			return err
		}
		fmt.Fprintf(log, "ok    %s (%s)\n", name, d)
		return nil
	}
}
