// Package e2e runs the example servers as separate processes and drives
// them over HTTP: the README walk-through, the same answers from every
// framework, and several processes sharing one Redis.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/authenik8/authenik8-go/conformance/redistest"
)

var frameworks = []string{"gin", "echo", "fiber"}

// binDir holds the example binaries, built once by TestMain.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "authenik8-e2e-")
	if err != nil {
		panic(err)
	}
	binDir = dir
	for _, fw := range frameworks {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, fw), "github.com/authenik8/authenik8-go/examples/"+fw).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", fw, err, out)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	redistest.StopAll()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is one example server process.
type server struct {
	name string
	url  string
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start runs the framework's example with only PATH and the given variables
// in its environment, and waits until /healthz answers.
func start(t *testing.T, framework string, env ...string) *server {
	t.Helper()
	port := freePort(t)
	cmd := exec.Command(filepath.Join(binDir, framework))
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "PORT=" + strconv.Itoa(port)}, env...)
	s := &server{name: framework, url: "http://127.0.0.1:" + strconv.Itoa(port), cmd: cmd, logs: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = s.logs, s.logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); close(s.done) }()
	t.Cleanup(func() { s.stop(t) })
	deadline := time.Now().Add(15 * time.Second)
	for {
		if r, err := http.Get(s.url + "/healthz"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return s
			}
		}
		select {
		case <-s.done:
			t.Fatalf("%s exited at start:\n%s", framework, s.logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer /healthz within 15s:\n%s", framework, s.logs)
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// stop ends the process with SIGTERM (a graceful shutdown), then SIGKILL.
// The test client drops its idle keep-alive connections first: Fiber's
// graceful shutdown waits for connections a client keeps open.
func (s *server) stop(t *testing.T) {
	client.CloseIdleConnections()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
		t.Errorf("%s did not stop within 10s of SIGTERM", s.name)
	}
	if strings.Contains(s.logs.String(), "panic") {
		t.Errorf("%s logged a panic:\n%s", s.name, s.logs)
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// answer is the part of an HTTP response the frameworks must agree on.
type answer struct {
	Status int
	Body   string
	Header map[string]string
}

var compared = []string{"Content-Type", "Cache-Control", "WWW-Authenticate", "Retry-After"}

var client = &http.Client{Timeout: 20 * time.Second}

// call sends one request; body is JSON unless contentType says otherwise.
func call(t *testing.T, method, url, token, contentType, body string) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, url, rd)
	if err != nil {
		t.Errorf("%s %s: %v", method, url, err)
		return answer{}
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return exchange(t, req)
}

// exchange sends req and keeps what the frameworks must agree on. It
// reports with t.Errorf: it runs on other goroutines too.
func exchange(t *testing.T, req *http.Request) answer {
	resp, err := client.Do(req)
	if err != nil {
		t.Errorf("%s %s: %v", req.Method, req.URL, err)
		return answer{}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{Status: resp.StatusCode, Body: string(b), Header: map[string]string{}}
	for _, h := range compared {
		a.Header[h] = strings.Join(resp.Header.Values(h), ", ")
	}
	return a
}

func postJSON(t *testing.T, url, token, body string) answer {
	return call(t, "POST", url, token, "application/json", body)
}

// callWith sends a JSON POST with one extra header.
func callWith(t *testing.T, method, url, body, key, value string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(key, value)
	return exchange(t, req)
}
