// Package proctest runs HTTP server binaries as processes for tests: the
// example servers and generated projects, driven over loopback as their
// users would run them.
package proctest

import (
	"bytes"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Server is a server process started by Start.
type Server struct {
	Name string // in messages
	URL  string // http://127.0.0.1:port

	cmd  *exec.Cmd
	logs syncBuffer
	done chan struct{}
}

// Start runs cmd, which the caller has set up (path, directory,
// environment), with PORT=<a free loopback port> added to its environment,
// and waits up to 15 s for GET /healthz to answer 200. It fails t when the
// process exits first or the time runs out. A process still running at t's
// cleanup is killed; Stop ends it gracefully.
func Start(t testing.TB, name string, cmd *exec.Cmd) *Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	s := &Server{Name: name, URL: "http://127.0.0.1:" + port, cmd: cmd, done: make(chan struct{})}
	cmd.Env = append(cmd.Env, "PORT="+port)
	cmd.Stdout, cmd.Stderr = &s.logs, &s.logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // no orphan if the test binary dies
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			cmd.Process.Kill()
			<-s.done
		}
	})
	for deadline := time.Now().Add(15 * time.Second); ; {
		if resp, err := http.Get(s.URL + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case <-s.done:
			t.Fatalf("%s exited at start:\n%s", name, s.Logs())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer /healthz within 15s:\n%s", name, s.Logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Logs is what the process has printed so far, stdout and stderr.
func (s *Server) Logs() string { return s.logs.String() }

// Stop sends SIGTERM, a graceful shutdown, and reports as errors of t a
// process that does not exit within 12 s (it is then killed), an exit
// status other than 0, and a panic in the logs. Close the idle keep-alive
// connections of your HTTP clients first: Fiber's shutdown waits for open
// connections.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		if code := s.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("%s exited with status %d after SIGTERM:\n%s", s.Name, code, s.Logs())
		}
	case <-time.After(12 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
		t.Errorf("%s did not stop within 12s of SIGTERM:\n%s", s.Name, s.Logs())
	}
	if strings.Contains(s.Logs(), "panic") {
		t.Errorf("%s logged a panic:\n%s", s.Name, s.Logs())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
