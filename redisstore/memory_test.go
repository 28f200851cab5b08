package redisstore_test

import (
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/authenik8/authenik8-go/conformance/redistest"
	"github.com/authenik8/authenik8-go/conformance/storetest"
	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/redisstore"
	"github.com/authenik8/authenik8-go/redisstore/redisstoretest"
)

// maxSessionBytes is the promise: a session with its entry in the user's
// index takes at most this much of Redis' memory, with a 120-byte user agent.
const maxSessionBytes = 400

// TestSessionMemory measures what a session costs Redis, by Redis' own
// accounting (INFO memory used_memory, before and after), over 10,000
// sessions opened and refreshed once through core, each with a 120-byte
// user agent. It prints bytes per session for several numbers of sessions
// per user — the user's index costs a key of its own, shared by its
// sessions — and fails above maxSessionBytes at 10 sessions per user.
//
//	go test -run TestSessionMemory -v ./redisstore
func TestSessionMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 30,000 sessions")
	}
	const sessions = 10_000
	ua := strings.Repeat("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 ", 3)[:120]
	for _, perUser := range []int{1, 10, 100} {
		srv := redistest.Start(t) // its memory is ours alone
		s := redisstoretest.Open(t, srv.URL(), redisstore.Options{})
		a := storetest.NewAuth(t, s, nil)
		c := bg(t)
		before := usedMemory(t, srv.Addr)
		users := make([]string, sessions/perUser)
		for i := range users {
			users[i] = core.NewUserID()
		}
		parallel(t, sessions, func(i int) error {
			p, err := a.IssueSession(c, core.User{ID: users[i%len(users)], Roles: []string{"user"}},
				core.Client{UserAgent: ua, IP: "203.0.113.77"})
			if err == nil {
				_, err = a.Refresh(c, p.RefreshToken) // a previous token hash, as most sessions have
			}
			return err
		})
		after := usedMemory(t, srv.Addr)
		per := float64(after-before) / sessions
		keys, _ := redistest.Command(srv.Addr, "DBSIZE")
		t.Logf("%3d sessions per user: %.0f bytes per session (used_memory %d → %d over %d sessions, %s keys)",
			perUser, per, before, after, sessions, keys)
		if perUser == 10 && per > maxSessionBytes {
			t.Errorf("a session takes %.0f bytes of Redis memory at %d sessions per user; the bound is %d", per, perUser, maxSessionBytes)
		}
		list := must(s.ListSessions(c, users[0]))
		if len(list) != perUser || len(list[0].UserAgent) > core.MaxUserAgentBytes {
			t.Fatalf("user 0: %d sessions, user agent %q", len(list), list[0].UserAgent)
		}
	}
}

func usedMemory(t *testing.T, addr string) int64 {
	info, err := redistest.Command(addr, "INFO", "memory")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no used_memory in INFO memory")
	return 0
}

// parallel runs f(0…n-1) on 32 goroutines and fails t on an error.
func parallel(t testing.TB, n int, f func(i int) error) {
	var (
		wg   sync.WaitGroup
		next = make(chan int)
		mu   sync.Mutex
		fail error
	)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := f(i); err != nil {
					mu.Lock()
					fail = err
					mu.Unlock()
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if fail != nil {
		t.Fatal(fail)
	}
}
