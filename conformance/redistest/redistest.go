// Package redistest starts throwaway Redis servers and clusters on free
// loopback ports for tests, or hands out the ones named by REDIS_URL and
// REDIS_CLUSTER_URL.
//
// Without a redis-server binary the tests that need one skip, unless
// AUTHENIK8_REQUIRE_REDIS=1, which turns the skip into a failure (CI sets it).
package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/authenik8/authenik8-go/core"
)

// Required reports whether AUTHENIK8_REQUIRE_REDIS=1: a missing Redis is then
// a failure, not a skip.
func Required() bool { return os.Getenv("AUTHENIK8_REQUIRE_REDIS") == "1" }

// unavailable skips t, or fails it when Redis is required.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if Required() {
		t.Fatalf("%s (AUTHENIK8_REQUIRE_REDIS=1)", msg)
	}
	t.Skipf("%s; skipping (install redis-server or set REDIS_URL; AUTHENIK8_REQUIRE_REDIS=1 makes this a failure)", msg)
}

// Server is a redis-server process owned by the test binary.
type Server struct {
	Addr string // 127.0.0.1:port
	Dir  string // working directory (AOF, nodes.conf)

	args []string
	mu   sync.Mutex
	cmd  *exec.Cmd
}

var (
	registry   sync.Mutex
	started    []*Server
	sharedOnce sync.Once
	shared     *Server
	sharedErr  error
	clusterMu  sync.Mutex
	clusters   = map[string]*Cluster{}
)

// Main runs the tests and then stops every server this package started.
// Call it from TestMain: func TestMain(m *testing.M) { redistest.Main(m) }.
func Main(m *testing.M) {
	code := m.Run()
	StopAll()
	os.Exit(code)
}

// StopAll kills every server started by this process.
func StopAll() {
	registry.Lock()
	defer registry.Unlock()
	for _, s := range started {
		s.Kill()
		if s.Dir != "" {
			os.RemoveAll(s.Dir)
		}
	}
	started = nil
}

// URL returns a standalone Redis for t: REDIS_URL when set (t fails if it is
// unreachable), else one throwaway server shared by the test binary.
func URL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv("REDIS_URL"); u != "" {
		mustReach(t, u)
		return u
	}
	sharedOnce.Do(func() { shared, sharedErr = start(nil) })
	if sharedErr != nil {
		unavailable(t, "%v", sharedErr)
	}
	return shared.URL()
}

// ClusterURL returns a Redis Cluster of three masters for t:
// REDIS_CLUSTER_URL when set, else a throwaway one shared by the test binary.
// The URL lists every master (redis://a?addr=b&addr=c), as rueidis expects.
func ClusterURL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv("REDIS_CLUSTER_URL"); u != "" {
		mustReach(t, u)
		return u
	}
	return SharedCluster(t, 3, 0).URL()
}

// SharedCluster returns a cluster of the given shape shared by the test
// binary, starting it on first use.
func SharedCluster(t testing.TB, masters, replicas int) *Cluster {
	t.Helper()
	clusterMu.Lock()
	defer clusterMu.Unlock()
	key := fmt.Sprint(masters, "/", replicas)
	if c := clusters[key]; c != nil {
		return c
	}
	c, err := startCluster(masters, replicas)
	if err != nil {
		unavailable(t, "%v", err)
	}
	clusters[key] = c
	return c
}

// Start starts a dedicated server for t (stopped at cleanup), with extra
// redis-server arguments such as "--appendonly", "yes". Use it for tests that
// stop or restart Redis.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	s, err := start(args)
	if err != nil {
		unavailable(t, "%v", err)
	}
	t.Cleanup(func() { s.Kill(); os.RemoveAll(s.Dir) })
	return s
}

// StartProcess starts a server outside a test (benchmark commands); the
// caller stops it with Kill, or StopAll stops every server started.
func StartProcess(args ...string) (*Server, error) { return start(args) }

// URL is the server's redis:// URL.
func (s *Server) URL() string { return "redis://" + s.Addr }

// Kill stops the server at once (SIGKILL), as a crash would.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
		s.cmd = nil
	}
}

// Pause freezes the server (SIGSTOP): connections stay open, nothing answers.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume undoes Pause.
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		s.cmd.Process.Signal(sig)
	}
}

// Restart starts the server again on the same port and directory after Kill
// (with AOF on, it reloads its data).
func (s *Server) Restart() error {
	s.Kill()
	return s.run()
}

func start(args []string) (*Server, error) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		return nil, errors.New("redis-server not found in PATH")
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "authenik8-redis-")
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: "127.0.0.1:" + strconv.Itoa(port), Dir: dir, args: args}
	if err := s.run(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	registry.Lock()
	started = append(started, s)
	registry.Unlock()
	return s, nil
}

func (s *Server) run() error {
	_, port, _ := net.SplitHostPort(s.Addr)
	argv := append([]string{
		"--port", port, "--bind", "127.0.0.1", "--dir", s.Dir,
		"--save", "", "--appendonly", "no", "--daemonize", "no",
		"--logfile", filepath.Join(s.Dir, "redis.log"),
		"--protected-mode", "no",
	}, s.args...)
	cmd := exec.Command("redis-server", argv...)
	// The server dies with the test binary even if cleanup never runs.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	s.mu.Lock()
	s.cmd = cmd
	s.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if reply, err := Command(s.Addr, "PING"); err == nil && reply == "PONG" {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(s.Dir, "redis.log"))
	s.Kill()
	return fmt.Errorf("redis-server on %s did not answer PING within 10s; log:\n%s", s.Addr, log)
}

// Command sends one command to addr and returns its reply: a simple or bulk
// string, an integer as text, or for an array its first element (ROLE
// answers "master", "slave"…). A Redis error reply is returned as an error.
// It is for test setup and checks, not a client.
func Command(addr string, args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return "", err
	}
	return readValue(bufio.NewReader(c))
}

func readValue(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("empty reply")
	}
	switch line[0] {
	case '-':
		return "", errors.New(line[1:])
	case '$':
		n, _ := strconv.Atoi(line[1:])
		if n < 0 {
			return "", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	case '*':
		if n, _ := strconv.Atoi(line[1:]); n <= 0 {
			return "", nil
		}
		return readValue(r)
	}
	return line[1:], nil
}

func mustReach(t testing.TB, rawURL string) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatalf("bad Redis URL %q: %v", core.RedactURL(rawURL), core.RedactURLError(rawURL, err))
	}
	c, err := net.DialTimeout("tcp", u.Host, 2*time.Second)
	if err != nil {
		t.Fatalf("Redis at %s (from the environment) is not reachable: %v", u.Host, err)
	}
	c.Close()
}

// freePort returns a loopback port that is free, and whose cluster bus port
// (port+10000) is free too.
func freePort() (int, error) {
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if port+10000 > 65535 {
			continue
		}
		bus, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000))
		if err != nil {
			continue
		}
		bus.Close()
		return port, nil
	}
	return 0, errors.New("no free loopback port pair found")
}
