package pgtest_test

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authenik8/authenik8-go/conformance/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestServerLifecycle: a started server listens on loopback; Kill takes it
// down, backends included; Restart brings it back on the same address;
// Pause stops every process of it and Resume wakes them.
func TestServerLifecycle(t *testing.T) {
	s := pgtest.Start(t)
	if !strings.HasPrefix(s.Addr, "127.0.0.1:") || !strings.Contains(s.URL(), s.Addr) {
		t.Fatalf("Addr %q, URL %q", s.Addr, s.URL())
	}
	dial(t, s.Addr, true)
	pid := postmaster(t, s)

	s.Pause()
	if st := state(pid, func(s string) bool { return s == "T" }); st != "T" {
		t.Fatalf("postmaster state after Pause: %q, want T (stopped)", st)
	}
	s.Resume()
	if st := state(pid, func(s string) bool { return s != "T" }); st == "T" {
		t.Fatal("postmaster still stopped after Resume")
	}

	s.Kill()
	dial(t, s.Addr, false)
	if state(pid, func(s string) bool { return s == "" }) != "" {
		t.Fatalf("postmaster %d still exists after Kill", pid)
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	dial(t, s.Addr, true)
	if again := postmaster(t, s); again == pid {
		t.Fatal("Restart kept the old postmaster")
	}
}

func dial(t *testing.T, addr string, want bool) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
	}
	if (err == nil) != want {
		t.Fatalf("dial %s: %v; want reachable %v", addr, err, want)
	}
}

func postmaster(t *testing.T, s *pgtest.Server) int {
	t.Helper()
	b, err := os.ReadFile(s.Dir + "/postmaster.pid")
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.SplitN(string(b), "\n", 2)[0])
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// state waits up to a second for a process's state letter from /proc ("T"
// stopped, "" gone) to satisfy ok, and returns the last one seen: the
// kernel applies signals asynchronously.
func state(pid int, ok func(string) bool) string {
	var st string
	for range 100 {
		st = ""
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil {
			if f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:])); len(f) > 0 && f[0] != "Z" {
				st = f[0]
			}
		}
		if ok(st) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return st
}

// TestURLFromEnvironment: a server named by AUTHENIK8_TEST_DATABASE_URL that
// does not answer fails the test (never a skip), without its password in
// the message.
func TestURLFromEnvironment(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().(*net.TCPAddr)
	l.Close()
	for _, u := range []string{
		"postgres://postgres:s3cret@" + closed.String() + "/postgres",
		"host=127.0.0.1 port=" + strconv.Itoa(closed.Port) + " password=s3cret",
		"host=/nonexistent/authenik8 password=s3cret",
	} {
		t.Setenv("AUTHENIK8_TEST_DATABASE_URL", u)
		r := &recorder{TB: t}
		r.run(func() { pgtest.URL(r) })
		if r.fatal == "" || r.skip != "" || strings.Contains(r.fatal, "s3cret") {
			t.Errorf("URL with %q: fatal %q, skip %q; want a failure without the password", u, r.fatal, r.skip)
		}
	}
	t.Setenv("AUTHENIK8_TEST_DATABASE_URL", "")
	t.Setenv("AUTHENIK8_REQUIRE_POSTGRES", "1")
	if !pgtest.Required() {
		t.Fatal("Required() is false with AUTHENIK8_REQUIRE_POSTGRES=1")
	}
}

// recorder is a testing.TB whose Fatalf and Skipf record and stop the
// function run by run.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper()                        {}
func (r *recorder) Fatalf(format string, a ...any) { r.fatal = fmt.Sprintf(format, a...); panic(r) }
func (r *recorder) Skipf(format string, a ...any)  { r.skip = fmt.Sprintf(format, a...); panic(r) }

func (r *recorder) run(f func()) {
	defer func() {
		if p := recover(); p != nil && p != r {
			panic(p)
		}
	}()
	f()
}
