package e2e

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authenik8/authenik8-go/conformance/redistest"
	"github.com/authenik8/authenik8-go/redisstore"
)

// outcome tallies answers by kind of request and status, and what was seen
// that must never be: 5xx other than 503, unauthenticated passes, answers
// slower than the store timeout allows.
type outcome struct {
	timeout  time.Duration // of each store call
	mu       sync.Mutex
	counts   map[string]int
	problems []string
	slowest  map[string]time.Duration // by kind and status
}

func (o *outcome) record(kind string, a answer, took time.Duration, allowed ...int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.counts == nil {
		o.counts, o.slowest = map[string]int{}, map[string]time.Duration{}
	}
	key := kind + " " + strconv.Itoa(a.Status)
	o.counts[key]++
	o.slowest[key] = max(o.slowest[key], took)
	if len(o.problems) >= 20 {
		return
	}
	if !slices.Contains(allowed, a.Status) {
		o.problems = append(o.problems, fmt.Sprintf("%s: %d %s (allowed %v)", kind, a.Status, a.Body, allowed))
	}
	// A login makes two store steps in a row (the account, then the new
	// session), each bounded by the timeout, and hashes a password, which
	// takes seconds when a busy 2-core machine also runs the load, four
	// servers and Redis; other requests make one step.
	bound := o.timeout + time.Second
	if kind == "login" {
		bound = 2*o.timeout + 3*time.Second
	}
	if took > bound {
		o.problems = append(o.problems, fmt.Sprintf("%s: %d after %v; with a store timeout of %v it must answer within %v", kind, a.Status, took, o.timeout, bound))
	}
}

// withStatus counts the answers with this status so far, of every kind.
func (o *outcome) withStatus(status int) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for k, c := range o.counts {
		if strings.HasSuffix(k, " "+strconv.Itoa(status)) {
			n += c
		}
	}
	return n
}

// check reports what must never be, and logs the tally.
func (o *outcome) check(t *testing.T) {
	t.Helper()
	keys := make([]string, 0, len(o.counts))
	for k := range o.counts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "\n\t%s ×%d, slowest %v", k, o.counts[k], o.slowest[k].Round(time.Millisecond))
	}
	t.Logf("answers:%s", b.String())
	for _, p := range o.problems {
		t.Error(p)
	}
}

type session struct {
	email   string
	access  string
	refresh string
}

// openSessions registers n accounts on the servers and logs each in.
func openSessions(t *testing.T, servers []*server, tag string, n int) []session {
	out := make([]session, n)
	for i := range n {
		s := servers[i%len(servers)]
		email := fmt.Sprintf("%s%d@example.com", tag, i)
		registerOn(t, s, email)
		p := loginOn(t, servers[(i+1)%len(servers)], email)
		out[i] = session{email: email, access: p.AccessToken, refresh: p.RefreshToken}
	}
	return out
}

// load drives the servers until stop closes: profile reads with live,
// revoked, missing and garbage tokens, logins, and refresh chains on the
// chains' sessions (kept apart: a refresh whose answer is lost in the outage
// turns the chain's token into a replay, which revokes its session). A
// revoked or missing token must never get a 200, whatever Redis is doing.
func load(t *testing.T, servers []*server, live, revoked, chains []session, o *outcome, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	var n atomic.Int64
	timed := func(kind string, f func() answer, allowed ...int) {
		start := time.Now()
		a := f()
		o.record(kind, a, time.Since(start), allowed...)
	}
	for g := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			chain := chains[g%len(chains)]
			for {
				select {
				case <-stop:
					return
				default:
				}
				i := int(n.Add(1))
				s := servers[i%len(servers)]
				switch i % 6 {
				case 0:
					timed("profile/live", func() answer { return call(t, "GET", s.URL+"/api/profile", live[i%len(live)].access, "", "") }, 200, 503)
				case 1:
					timed("profile/revoked", func() answer { return call(t, "GET", s.URL+"/api/profile", revoked[i%len(revoked)].access, "", "") }, 401, 503)
				case 2:
					timed("profile/none", func() answer { return call(t, "GET", s.URL+"/api/profile", "", "", "") }, 401)
				case 3:
					timed("profile/garbage", func() answer { return call(t, "GET", s.URL+"/api/profile", "not.a.token", "", "") }, 401)
				case 4:
					start := time.Now()
					a := postJSON(t, s.URL+"/auth/refresh", "", `{"refresh_token":"`+chain.refresh+`"}`)
					// 401: a refresh applied by Redis whose answer was lost
					// makes the chain's token a replay.
					o.record("refresh", a, time.Since(start), 200, 401, 503)
					var p pair
					if a.Status == 200 && json.Unmarshal([]byte(a.Body), &p) == nil {
						chain.refresh, chain.access = p.RefreshToken, p.AccessToken
					} else if a.Status == 401 {
						if l := postJSON(t, s.URL+"/auth/login", "", `{"email":"`+chain.email+`","password":"correct horse battery"}`); l.Status == 200 {
							json.Unmarshal([]byte(l.Body), &p)
							chain.refresh, chain.access = p.RefreshToken, p.AccessToken
						}
					}
				case 5:
					timed("login", func() answer {
						return postJSON(t, s.URL+"/auth/login", "", `{"email":"`+live[i%len(live)].email+`","password":"correct horse battery"}`)
					}, 200, 503)
				}
			}
		}()
	}
	return &wg
}

// TestRedisKilledUnderLoad: Redis (AOF on) is killed while four example
// processes serve traffic. Requests that need it get 503 store_unavailable
// within the store timeout — never another 5xx, never a pass for a revoked
// or missing token; when Redis is back the processes recover without a
// restart, and the sessions opened before the crash still work.
func TestRedisKilledUnderLoad(t *testing.T) {
	redis := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always")
	servers := sharedEnvOn(t, redis.URL(), "RATE_LIMITS=off")
	live := openSessions(t, servers, "live", 12)
	chains := openSessions(t, servers, "chain", 12)
	revoked := openSessions(t, servers, "gone", 6)
	for _, r := range revoked {
		if a := call(t, "POST", servers[0].URL+"/auth/logout", r.access, "", ""); a.Status != 204 {
			t.Fatalf("logout: %+v", a)
		}
	}
	o := &outcome{timeout: redisstore.DefaultTimeout} // the examples' store timeout
	stop := make(chan struct{})
	wg := load(t, servers, live, revoked, chains, o, stop)
	time.Sleep(1500 * time.Millisecond)
	redis.Kill()
	down := time.Now()
	time.Sleep(2500 * time.Millisecond)
	if err := redis.Restart(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Redis down for %v", time.Since(down))
	// The processes recover by themselves: the first live session answers
	// again within a few seconds, on every process.
	for _, s := range servers {
		deadline := time.Now().Add(10 * time.Second)
		for call(t, "GET", s.URL+"/api/profile", live[0].access, "", "").Status != 200 {
			if time.Now().After(deadline) {
				t.Fatalf("%s did not recover within 10s of Redis coming back", s.Name)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	time.Sleep(time.Second) // traffic on the recovered service
	close(stop)
	wg.Wait()
	o.check(t)
	if o.counts["profile/live 503"] == 0 {
		t.Error("no request saw the outage: the test did not test it")
	}
	// AOF kept every session: the access tokens of the sessions opened before
	// the crash verify, and revoked ones stay revoked.
	for i, l := range live {
		if a := call(t, "GET", servers[i%len(servers)].URL+"/api/profile", l.access, "", ""); a.Status != 200 {
			t.Errorf("session %s after the restart: %+v", l.email, a)
		}
	}
	for _, r := range revoked {
		if a := call(t, "GET", servers[1].URL+"/api/profile", r.access, "", ""); a.Status != 401 {
			t.Errorf("revoked session %s after the restart: %+v", r.email, a)
		}
	}
}

// TestClusterFailover: a Redis Cluster of 3 masters and 3 replicas; a master
// is killed during concurrent logins and refreshes. Requests that need it
// fail closed (503) until a replica takes over — the test requires that it
// saw some — then the service recovers by itself, and every session that had
// been replicated before the kill still works.
func TestClusterFailover(t *testing.T) {
	cl := redistest.StartCluster(t, 3, 1)
	servers := sharedEnvOn(t, cl.URL(), "RATE_LIMITS=off")
	live := openSessions(t, servers, "cl", 30)
	chains := openSessions(t, servers, "clchain", 12)
	revoked := openSessions(t, servers, "clgone", 3)
	for _, r := range revoked {
		call(t, "POST", servers[0].URL+"/auth/logout", r.access, "", "")
	}
	if err := cl.WaitReplicated(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	o := &outcome{timeout: redisstore.DefaultTimeout} // the examples' store timeout
	stop := make(chan struct{})
	wg := load(t, servers, live, revoked, chains, o, stop)
	time.Sleep(time.Second)
	victim := cl.Masters()[0]
	victim.Kill()
	killed := time.Now()
	for len(cl.Masters()) < 3 { // a replica takes over
		if time.Since(killed) > 30*time.Second {
			t.Fatal("no replica was promoted within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := cl.WaitHealthy(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("a replica took over %v after the master was killed", time.Since(killed))
	// The outage was seen before the recovery is judged: requests whose keys
	// lived on the dead master failed closed, 503 store_unavailable.
	if n := o.withStatus(503); n == 0 {
		t.Fatal("no request got 503 while a master was down: the test saw no outage")
	} else {
		t.Logf("%d answers were 503 store_unavailable during the failover", n)
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, l := range live {
		for {
			a := call(t, "GET", servers[0].URL+"/api/profile", l.access, "", "")
			if a.Status == 200 {
				break
			}
			if a.Status != 503 || time.Now().After(deadline) {
				t.Fatalf("replicated session %s after the failover: %+v", l.email, a)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	t.Logf("every replicated session answers %v after the kill", time.Since(killed))
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	o.check(t)
	// Every process serves every replicated session, and their refresh tokens
	// still rotate.
	for i, l := range live {
		s := servers[i%len(servers)]
		if a := call(t, "GET", s.URL+"/api/profile", l.access, "", ""); a.Status != 200 {
			t.Errorf("%s on %s: %+v", l.email, s.Name, a)
		}
		if a := postJSON(t, s.URL+"/auth/refresh", "", `{"refresh_token":"`+l.refresh+`"}`); a.Status != 200 {
			t.Errorf("refresh of %s on %s: %+v", l.email, s.Name, a)
		}
	}
}
