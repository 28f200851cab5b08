package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/rueidis"

	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/redisstore"
)

// Memory is the resident memory of the Gin example, run as its own process
// on Redis, before and after serving the population's sessions once each.
type Memory struct {
	Sessions  int     `json:"sessions"`
	BeforeMB  float64 `json:"rss_before_mb"` // VmRSS of /proc/<pid>/status
	AfterMB   float64 `json:"rss_after_mb"`
	RPS       float64 `json:"rps"` // of the pass, from a Go client, informational
	PerSessKB float64 `json:"kb_per_session"`
}

// measureRSS builds examples/gin, starts it on c.redisURL with the bench's
// secrets, opens c.popN sessions through the public API in its key space,
// and sends each session's access token once.
func measureRSS(c config, dir string) (*Memory, error) {
	work, err := exec.Command("go", "env", "GOWORK").Output()
	if err != nil || len(strings.TrimSpace(string(work))) == 0 {
		return nil, fmt.Errorf("rss: the workspace (go env GOWORK) is needed to build examples/gin: %v", err)
	}
	bin := filepath.Join(dir, "gin-example")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = filepath.Join(filepath.Dir(strings.TrimSpace(string(work))), "examples", "gin")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("rss: build examples/gin: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	cmd := exec.Command(bin)
	cmd.Dir = dir // no .env there
	cmd.Env = append(os.Environ(), "PORT="+port, "REDIS_URL="+c.redisURL,
		"JWT_SECRET="+string(secret), "REFRESH_SECRET="+string(refreshSecret))
	logs, err := os.Create(filepath.Join(dir, "gin-example.log"))
	if err != nil {
		return nil, err
	}
	defer logs.Close()
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	base := "http://127.0.0.1:" + port
	if err := waitHealthy(base + "/healthz"); err != nil {
		out, _ := os.ReadFile(logs.Name())
		return nil, fmt.Errorf("rss: examples/gin: %w\n%s", err, out)
	}

	// The example's store: the default key prefix.
	store, err := redisstore.Open(c.redisURL, redisstore.Options{})
	if err != nil {
		return nil, err
	}
	defer store.Close()
	key, _ := core.NewHMACKey(secret)
	a, err := core.New(core.Config{Store: store, AccessKeys: []core.Key{key}, RefreshSecret: refreshSecret, AccessTTL: time.Hour, IdleTTL: time.Hour, AbsoluteTTL: time.Hour})
	if err != nil {
		return nil, err
	}
	plainOpt, _ := rueidis.ParseURL(c.redisURL)
	plainOpt.DisableCache = true
	plain, err := rueidis.NewClient(plainOpt)
	if err != nil {
		return nil, err
	}
	defer plain.Close()
	tokens, err := issueMany(a, plain, c.popN)
	if err != nil {
		return nil, err
	}

	m := &Memory{Sessions: c.popN}
	if m.BeforeMB, err = vmRSS(cmd.Process.Pid); err != nil {
		return nil, err
	}
	start := time.Now()
	if err := sendOnce(base+"/api/profile", tokens, c.conns); err != nil {
		return nil, err
	}
	m.RPS = float64(len(tokens)) / time.Since(start).Seconds()
	if m.AfterMB, err = vmRSS(cmd.Process.Pid); err != nil {
		return nil, err
	}
	m.PerSessKB = (m.AfterMB - m.BeforeMB) * 1024 / float64(c.popN)
	log.Printf("examples/gin: VmRSS %.1f MB before, %.1f MB after %d distinct sessions (%.0f req/s)", m.BeforeMB, m.AfterMB, c.popN, m.RPS)
	return m, nil
}

func waitHealthy(url string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := http.Get(url)
		if err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return nil
			}
			err = errors.New(r.Status)
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// vmRSS reads the resident memory of process pid, in MB.
func vmRSS(pid int) (float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024, err
		}
	}
	return 0, errors.New("no VmRSS in /proc/" + strconv.Itoa(pid) + "/status")
}

// sendOnce sends GET url once with each token, from conns goroutines, and
// fails unless every answer is 200.
func sendOnce(url string, tokens []string, conns int) error {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns}, Timeout: 10 * time.Second}
	var (
		next   atomic.Int64
		wg     sync.WaitGroup
		failed atomic.Pointer[error]
	)
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for failed.Load() == nil {
				i := next.Add(1) - 1
				if i >= int64(len(tokens)) {
					return
				}
				req, _ := http.NewRequestWithContext(context.Background(), "GET", url, nil)
				req.Header.Set("Authorization", "Bearer "+tokens[i])
				r, err := client.Do(req)
				if err == nil {
					io.Copy(io.Discard, r.Body)
					r.Body.Close()
					if r.StatusCode != 200 {
						err = fmt.Errorf("GET %s: %s", url, r.Status)
					}
				}
				if err != nil {
					failed.Store(&err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if e := failed.Load(); e != nil {
		return *e
	}
	return nil
}
