package e2e

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// The HTTP server limits of the examples (internal/server/server.go).
const (
	readTimeout       = 10 * time.Second
	readHeaderTimeout = 5 * time.Second
)

// TestSlowClientsCutOff: a client that sends its request body, or its
// headers, at 1 byte per second loses the connection once the read timeout
// is up, on every framework (without one, such a client held a connection
// for as long as it kept sending).
func TestSlowClientsCutOff(t *testing.T) {
	for _, fw := range frameworks {
		t.Run(fw, func(t *testing.T) {
			t.Parallel()
			s := start(t, fw)
			addr := strings.TrimPrefix(s.URL, "http://")
			for _, c := range []struct {
				name, head, trickle string
				earliest            time.Duration // before this, the cut is no timeout
			}{
				{"body", "POST /auth/login HTTP/1.1\r\nHost: e2e\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n", `{"email":"` + strings.Repeat("a", 200), readHeaderTimeout / 2},
				{"headers", "GET /healthz HTTP/1.1\r\nHost: e2e\r\n", "X-Slow: " + strings.Repeat("a", 200), readHeaderTimeout / 2},
			} {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					held := trickle(t, addr, c.head, c.trickle, readTimeout+20*time.Second)
					t.Logf("%s: the connection was cut after %v", fw, held.Round(100*time.Millisecond))
					if held < c.earliest || held > readTimeout+3*time.Second {
						t.Errorf("%s cut a 1 byte/s %s after %v; want within the read timeout, %v", fw, c.name, held, readTimeout)
					}
				})
			}
		})
	}
}

// trickle sends head at once and then trickle at one byte per second, and
// returns how long the server kept the connection open. Past limit it gives
// up, failing t.
func trickle(t *testing.T, addr, head, trickle string, limit time.Duration) time.Duration {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	begin := time.Now()
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	go func() {
		for i := range len(trickle) {
			time.Sleep(time.Second)
			if _, err := conn.Write([]byte{trickle[i]}); err != nil {
				return // cut off
			}
		}
	}()
	conn.SetReadDeadline(begin.Add(limit))
	_, err = io.Copy(io.Discard, conn) // an answer, if any, then the close
	held := time.Since(begin)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the server still held the connection after %v", held)
	}
	return held
}

// TestHeaderLimit: headers fit in 16 KiB, an access token of 8 KiB
// included; larger ones get 431 on every framework.
func TestHeaderLimit(t *testing.T) {
	for _, fw := range frameworks {
		t.Run(fw, func(t *testing.T) {
			t.Parallel()
			s := start(t, fw)
			get := func(key, value string) int {
				req, _ := http.NewRequest("GET", s.URL+"/api/profile", nil)
				req.Header.Set(key, value)
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				io.Copy(io.Discard, resp.Body)
				return resp.StatusCode
			}
			if got := get("Authorization", "Bearer "+strings.Repeat("a", 8<<10)); got != 401 {
				t.Errorf("%s: an 8 KiB bearer token: %d, want 401 (refused by core, not by the server)", fw, got)
			}
			if got := get("X-Big", strings.Repeat("a", 32<<10)); got != 431 {
				t.Errorf("%s: a 32 KiB header: %d, want 431", fw, got)
			}
		})
	}
}
