// Package pgtest finds a PostgreSQL server for tests, or starts a throwaway
// one of the test's own (initdb and postgres on a free loopback port) for
// tests that stop and restart it.
//
// URL names the shared server: AUTHENIK8_TEST_DATABASE_URL, else the local
// postgres://postgres@127.0.0.1:5432/postgres. Without a server, or without
// the initdb and postgres binaries for Start, the tests that need one skip,
// unless AUTHENIK8_REQUIRE_POSTGRES=1, which turns the skip into a failure
// (CI sets it). The package uses no PostgreSQL client: readiness comes from
// the server's postmaster.pid, reachability from a TCP connection.
package pgtest

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// DefaultURL is the server tests use when AUTHENIK8_TEST_DATABASE_URL (a
// postgres:// URL or a key=value connection string) is unset.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// Required reports whether AUTHENIK8_REQUIRE_POSTGRES=1: a missing
// PostgreSQL is then a failure, not a skip.
func Required() bool { return os.Getenv("AUTHENIK8_REQUIRE_POSTGRES") == "1" }

// URL returns the PostgreSQL for t: AUTHENIK8_TEST_DATABASE_URL when set (t
// fails if it is unreachable), else DefaultURL (t skips if it is
// unreachable, or fails when Required).
func URL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv("AUTHENIK8_TEST_DATABASE_URL"); u != "" {
		if err := reach(u); err != nil {
			t.Fatalf("PostgreSQL from AUTHENIK8_TEST_DATABASE_URL is not reachable: %v", err)
		}
		return u
	}
	if err := reach(DefaultURL); err != nil {
		unavailable(t, "no PostgreSQL at %s (%v)", redact(DefaultURL), err)
	}
	return DefaultURL
}

// Server is a PostgreSQL server owned by the test binary: trust
// authentication for user postgres, database postgres, on 127.0.0.1 only;
// no fsync, so it survives Kill but not a machine crash.
type Server struct {
	Addr string // 127.0.0.1:port
	Dir  string // data directory

	cred   *syscall.Credential // nil unless the tests run as root
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been reaped
}

var (
	registry sync.Mutex
	started  []*Server
)

// Start initializes and starts a server for t, removed at t's cleanup. It
// skips t (or fails it when Required) without initdb and postgres. As root
// the server runs as the system user "postgres", since PostgreSQL refuses
// to run as root.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := start()
	if err != nil {
		unavailable(t, "%v", err)
	}
	t.Cleanup(s.Remove)
	return s
}

// StartProcess starts a server outside a test (benchmark commands); the
// caller stops it with Remove, or StopAll stops every server started.
func StartProcess() (*Server, error) { return start() }

// Main runs the tests and then stops every server this package started.
// Call it from TestMain: func TestMain(m *testing.M) { pgtest.Main(m) }.
func Main(m *testing.M) {
	code := m.Run()
	StopAll()
	os.Exit(code)
}

// StopAll stops and removes every server started by this process.
func StopAll() {
	registry.Lock()
	list := started
	started = nil
	registry.Unlock()
	for _, s := range list {
		s.Remove()
	}
}

// URL is the server's postgres:// URL.
func (s *Server) URL() string {
	return "postgres://postgres@" + s.Addr + "/postgres?sslmode=disable"
}

// Kill stops the server at once (SIGKILL to the postmaster and every
// backend), as a crash or a lost machine would.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		backends := signalAll(s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.exited
		s.cmd = nil
		// A backend still attached to the shared memory would keep a new
		// postmaster from starting on this directory.
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if !slices.ContainsFunc(backends, alive) {
				break
			}
		}
	}
}

// Pause freezes the server (SIGSTOP to the postmaster and every backend):
// connections stay open and nothing answers, as in a network partition.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume undoes Pause.
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

// Restart starts the server again on the same port and data directory
// after Kill; it recovers its data as after a crash.
func (s *Server) Restart() error {
	s.Kill()
	return s.run()
}

// Remove kills the server and deletes its data directory.
func (s *Server) Remove() {
	s.Resume() // a frozen process group would not die of SIGKILL until resumed
	s.Kill()
	if s.Dir != "" {
		os.RemoveAll(filepath.Dir(s.Dir))
	}
}

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		signalAll(s.cmd.Process.Pid, sig)
	}
}

// signalAll signals a postmaster and its children. Each backend runs in a
// session of its own (PostgreSQL calls setsid), so a process group signal
// would reach the postmaster alone.
// It returns the children it signalled.
func signalAll(postmaster int, sig syscall.Signal) []int {
	if sig == syscall.SIGCONT {
		syscall.Kill(postmaster, sig)
	}
	kids := children(postmaster)
	for _, pid := range kids {
		syscall.Kill(pid, sig)
	}
	if sig != syscall.SIGCONT {
		// The postmaster last: stopped first, it would fork no backend
		// after the list was read.
		syscall.Kill(postmaster, sig)
	}
	return kids
}

// alive reports whether a process exists and is not a zombie.
func alive(pid int) bool { st, ok := procStat(pid); return ok && st[0] != "Z" }

// procStat returns the fields of /proc/<pid>/stat after the command name:
// state, ppid, ….
func procStat(pid int) ([]string, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, false
	}
	// pid (comm) state ppid …; comm may hold spaces and parentheses.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return f, len(f) > 1
}

// children lists the processes whose parent is pid, from /proc.
func children(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f, ok := procStat(child); ok && f[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}

func start() (*Server, error) {
	initdb, err := binary("initdb")
	if err != nil {
		return nil, err
	}
	if _, err := binary("postgres"); err != nil {
		return nil, err
	}
	s := &Server{}
	if os.Geteuid() == 0 {
		if s.cred, err = unprivileged(); err != nil {
			return nil, err
		}
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s.Addr = "127.0.0.1:" + strconv.Itoa(port)
	base, err := os.MkdirTemp("", "authenik8-pg-")
	if err != nil {
		return nil, err
	}
	s.Dir = filepath.Join(base, "data")
	if s.cred != nil {
		if err := os.Chown(base, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			os.RemoveAll(base)
			return nil, err
		}
	}
	cmd := exec.Command(initdb, "-D", s.Dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Pdeathsig: syscall.SIGKILL}
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(base)
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	if err := s.run(); err != nil {
		os.RemoveAll(base)
		return nil, err
	}
	registry.Lock()
	started = append(started, s)
	registry.Unlock()
	return s, nil
}

func (s *Server) run() error {
	bin, err := binary("postgres")
	if err != nil {
		return err
	}
	_, port, _ := net.SplitHostPort(s.Addr)
	logFile, err := os.OpenFile(filepath.Join(filepath.Dir(s.Dir), "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "-D", s.Dir, "-p", port,
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
		// No fsync: a killed server keeps what it committed (the kernel
		// has it); only a machine crash would lose data, which tests
		// never need. Commits stay synchronous for that reason.
		"-c", "fsync=off", "-c", "full_page_writes=off",
		"-c", "max_connections=40", "-c", "shared_buffers=16MB")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// The postmaster dies with the test binary even if cleanup never runs;
	// its backends follow it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	deadline := time.After(30 * time.Second)
	for !s.ready(cmd.Process.Pid) {
		select {
		case <-exited:
			s.mu.Lock()
			s.cmd = nil
			s.mu.Unlock()
			return fmt.Errorf("postgres on %s exited at start; log:\n%s", s.Addr, s.log())
		case <-deadline:
			s.Kill()
			return fmt.Errorf("postgres on %s did not become ready within 30s; log:\n%s", s.Addr, s.log())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

func (s *Server) log() []byte {
	b, _ := os.ReadFile(filepath.Join(filepath.Dir(s.Dir), "postgres.log"))
	return b
}

// ready reports whether the postmaster with this pid accepts connections:
// line 1 of postmaster.pid is its pid and line 8 its status, "ready" once
// it accepts connections (what pg_ctl -w waits for).
func (s *Server) ready(pid int) bool {
	b, err := os.ReadFile(filepath.Join(s.Dir, "postmaster.pid"))
	if err != nil {
		return false
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 8 || strings.TrimSpace(lines[0]) != strconv.Itoa(pid) || strings.TrimSpace(lines[7]) != "ready" {
		return false
	}
	c, err := net.DialTimeout("tcp", s.Addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// binary finds a PostgreSQL program in PATH, else in Debian's
// /usr/lib/postgresql/<version>/bin (newest first).
func binary(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(matches) > 0 {
		return matches[len(matches)-1], nil
	}
	return "", fmt.Errorf("%s not found in PATH or /usr/lib/postgresql/*/bin (apt-get install postgresql)", name)
}

// unprivileged is the account a server started by root runs as.
func unprivileged() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, errors.New(`running as root, and there is no "postgres" user to run a PostgreSQL server as`)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("user postgres: uid %q, gid %q", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// unavailable skips t, or fails it when PostgreSQL is required.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if Required() {
		t.Fatalf("%s (AUTHENIK8_REQUIRE_POSTGRES=1)", msg)
	}
	t.Skipf("%s; skipping (start PostgreSQL or set AUTHENIK8_TEST_DATABASE_URL; AUTHENIK8_REQUIRE_POSTGRES=1 makes this a failure)", msg)
}

// reach dials the server named by a postgres:// URL or a key=value
// connection string.
func reach(conn string) error {
	host, port := "", "5432"
	if u, err := url.Parse(conn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		host = u.Hostname()
		if u.Port() != "" {
			port = u.Port()
		}
	} else {
		for _, kv := range strings.Fields(conn) {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "host":
				host = v
			case "port":
				port = v
			}
		}
	}
	network, addr := "tcp", net.JoinHostPort(host, port)
	switch {
	case host == "":
		return fmt.Errorf("%q names no host", redact(conn))
	case strings.HasPrefix(host, "/"):
		network, addr = "unix", filepath.Join(host, ".s.PGSQL."+port)
	}
	c, err := net.DialTimeout(network, addr, 2*time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

var dsnPassword = regexp.MustCompile(`password=\S*`)

// redact hides the password of a URL or connection string.
func redact(conn string) string {
	if u, err := url.Parse(conn); err == nil && u.Scheme != "" {
		return u.Redacted()
	}
	return dsnPassword.ReplaceAllString(conn, "password=xxxxx")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
