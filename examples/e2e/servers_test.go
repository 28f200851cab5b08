// Package e2e runs the example servers as separate processes and drives
// them over HTTP: the README walk-through, the same answers from every
// framework, several processes sharing one Redis, and accounts in
// PostgreSQL.
package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authenik8/authenik8-go/conformance/pgtest"
	"github.com/authenik8/authenik8-go/conformance/proctest"
	"github.com/authenik8/authenik8-go/conformance/redistest"
)

var frameworks = []string{"gin", "echo", "fiber", "nethttp"}

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
	pgtest.StopAll()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is one example server process.
type server = proctest.Server

// start runs the framework's example with only PATH and the given variables
// in its environment, waits until /healthz answers, and stops it gracefully
// at the test's end.
func start(t *testing.T, framework string, env ...string) *server {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, framework))
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	s := proctest.Start(t, framework, cmd)
	t.Cleanup(func() {
		client.CloseIdleConnections() // Fiber's shutdown waits for open connections
		s.Stop(t)
	})
	return s
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
