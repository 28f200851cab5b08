package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authenik8/authenik8-go/core"
)

// A refresh token is single-use, so the refresh measurement hands wrk a pool
// of fresh sessions: each request presents another session's current token,
// and each must succeed (a non-2xx answer means the pool ran dry or a refresh
// failed, and is reported).
const refreshScript = tokenFiles + `
function request()
  i = i + 1
  local t = tokens[i] or "pool-exhausted"
  return wrk.format("POST", "/auth/refresh", {["Content-Type"] = "application/json"}, '{"refresh_token":"' .. t .. '"}')
end
`

// tokenFiles is the start of a wrk script that loads into tokens the lines
// of its thread's file, args[1] .. "." .. thread number (0, 1, …).
const tokenFiles = `
local tokens, i, counter = {}, 0, 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end
function init(args)
  for line in io.lines(args[1] .. "." .. id) do tokens[#tokens + 1] = line end
end
`

// poolUsers own the pool's sessions: enough that none reaches
// core.Config.MaxSessionsPerUser (100 by default; opening one more would end
// the oldest, whose token would then be refused) with pools of up to
// 400,000 sessions.
const poolUsers = 4096

// refreshPool opens n sessions and writes their refresh tokens to
// dir/pool.<thread> files, one per wrk thread.
func refreshPool(a *core.Auth, dir string, n, threads int) (string, error) {
	files := make([]*bufio.Writer, threads)
	prefix := filepath.Join(dir, "pool")
	for i := range threads {
		f, err := os.Create(prefix + "." + strconv.Itoa(i))
		if err != nil {
			return "", err
		}
		defer f.Close()
		files[i] = bufio.NewWriter(f)
		defer files[i].Flush()
	}
	var (
		next   atomic.Int64
		mu     sync.Mutex
		wg     sync.WaitGroup
		failed error
	)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				p, err := a.IssueSession(context.Background(), core.User{ID: "bench" + strconv.FormatInt(i%poolUsers, 10)}, core.Client{})
				mu.Lock()
				if err != nil {
					failed = err
				} else {
					fmt.Fprintln(files[i%int64(threads)], p.RefreshToken)
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	return prefix, failed
}

// rotateFloor measures raw script throughput: 64 goroutines rotating their
// own session through the store (one EVALSHA each, no HTTP, no signing) —
// the ceiling Redis and the client put on /refresh.
func rotateFloor(s core.Store, d time.Duration) (float64, error) {
	ctx := context.Background()
	var (
		ops    atomic.Int64
		wg     sync.WaitGroup
		failed atomic.Pointer[error]
	)
	deadline := time.Now().Add(d)
	for g := range 64 {
		uid := "floor" + strconv.Itoa(g)
		sid := core.NewSessionID(uid)
		if _, err := s.CreateSession(ctx, core.NewSession{ID: sid, UserID: uid, Data: []byte(`{"r":[]}`), TokenHash: "h0", IdleTTL: time.Hour, AbsoluteTTL: time.Hour}); err != nil {
			return 0, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for gen := uint32(0); time.Now().Before(deadline); gen++ {
				r, err := s.Rotate(ctx, core.Rotation{
					UserID: uid, SessionID: sid, Generation: gen,
					TokenHash: "h" + strconv.Itoa(int(gen)), NewHash: "h" + strconv.Itoa(int(gen)+1),
					IdleTTL: time.Hour, Grace: time.Second,
				})
				if err == nil && r.Outcome != core.Rotated {
					err = fmt.Errorf("rotation %d: outcome %v", gen, r.Outcome)
				}
				if err != nil {
					failed.Store(&err)
					return
				}
				ops.Add(1)
			}
		}()
	}
	wg.Wait()
	if e := failed.Load(); e != nil {
		return 0, *e
	}
	return float64(ops.Load()) / d.Seconds(), nil
}
