package core_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/core/memstore"
)

var cheap = &core.PasswordHasher{Params: core.PasswordParams{Time: 1, MemoryKiB: 64, Threads: 1}}

// limitedAuth: limits of 3 failed logins per account, 5 per IP, 2
// registrations per IP, all per minute, on a clock the test moves.
func limitedAuth(t *testing.T) (*core.Auth, func(time.Duration)) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	a := newAuth(t, func(c *core.Config) {
		c.Store = memstore.New(memstore.WithClock(clock))
		c.Users = memstore.NewUsers(cheap)
		c.Now = clock
		c.RateLimits = core.RateLimits{
			LoginPerAccount: core.Limit{Max: 3, Window: time.Minute},
			LoginPerIP:      core.Limit{Max: 5, Window: time.Minute},
			RegisterPerIP:   core.Limit{Max: 2, Window: time.Minute},
		}
	})
	return a, advance
}

func wantLimited(t *testing.T, what string, err error, retry time.Duration) {
	t.Helper()
	var e *core.Error
	if !errors.As(err, &e) || !errors.Is(err, core.ErrRateLimited) {
		t.Fatalf("%s: %v, want rate_limited", what, err)
	}
	r := core.ErrorResponse(err)
	if r.Status != 429 || header(r, "Retry-After") == "" || header(r, "RateLimit-Remaining") != "0" || header(r, "RateLimit-Limit") == "" {
		t.Fatalf("%s: %d %v", what, r.Status, r.Header)
	}
	if secs, _ := strconv.Atoi(header(r, "Retry-After")); secs < 1 || time.Duration(secs)*time.Second > retry+time.Second {
		t.Fatalf("%s: Retry-After %s, want at most %v", what, header(r, "Retry-After"), retry)
	}
}

func TestLoginLimitPerAccount(t *testing.T) {
	a, advance := limitedAuth(t)
	ctx := context.Background()
	if _, err := a.Register(ctx, "victim@example.com", "correct horse", core.Client{IP: "10.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 { // three failures, from three IPs: the account's count
		_, err := a.Login(ctx, "victim@example.com", "wrong", core.Client{IP: "10.0.1." + strconv.Itoa(i)})
		if !errors.Is(err, core.ErrInvalidCredentials) {
			t.Fatalf("failure %d: %v", i+1, err)
		}
	}
	// The 4th attempt is refused, even with the right password.
	_, err := a.Login(ctx, "victim@example.com", "correct horse", core.Client{IP: "10.0.2.1"})
	wantLimited(t, "4th attempt with the right password", err, time.Minute)
	// Other accounts are not affected.
	if _, err := a.Login(ctx, "other@example.com", "wrong", core.Client{IP: "10.0.2.1"}); !errors.Is(err, core.ErrInvalidCredentials) {
		t.Fatalf("another account: %v", err)
	}
	advance(61 * time.Second) // the window ends
	if _, err := a.Login(ctx, "victim@example.com", "correct horse", core.Client{IP: "10.0.2.1"}); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

func TestLoginSuccessResetsAccount(t *testing.T) {
	a, _ := limitedAuth(t)
	ctx := context.Background()
	a.Register(ctx, "ada@example.com", "correct horse", core.Client{})
	for range 2 {
		a.Login(ctx, "ada@example.com", "wrong", core.Client{})
	}
	if _, err := a.Login(ctx, "ada@example.com", "correct horse", core.Client{}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 { // a fresh allowance of three failures
		if _, err := a.Login(ctx, "ada@example.com", "wrong", core.Client{}); !errors.Is(err, core.ErrInvalidCredentials) {
			t.Fatalf("failure %d after a success: %v", i+1, err)
		}
	}
	_, err := a.Login(ctx, "ada@example.com", "wrong", core.Client{})
	wantLimited(t, "4th failure", err, time.Minute)
}

func TestLoginLimitPerIP(t *testing.T) {
	a, advance := limitedAuth(t)
	ctx := context.Background()
	a.Register(ctx, "real@example.com", "correct horse", core.Client{})
	attacker := core.Client{IP: "203.0.113.9"}
	for i := range 5 { // five failures on five accounts: the IP's count
		if _, err := a.Login(ctx, "guess"+strconv.Itoa(i)+"@example.com", "wrong", attacker); !errors.Is(err, core.ErrInvalidCredentials) {
			t.Fatalf("failure %d: %v", i+1, err)
		}
	}
	_, err := a.Login(ctx, "real@example.com", "correct horse", attacker)
	wantLimited(t, "6th attempt from the IP", err, time.Minute)
	// The refused attempt did not count against the account.
	for range 3 {
		a.Login(ctx, "real@example.com", "wrong", core.Client{IP: "198.51.100.1"})
	}
	// (three failures from elsewhere: now the account is at its limit, not over)
	if _, err := a.Login(ctx, "real@example.com", "correct horse", core.Client{IP: "198.51.100.2"}); !errors.Is(err, core.ErrRateLimited) {
		t.Fatalf("account after 3 failures: %v", err)
	}
	advance(61 * time.Second)
	if _, err := a.Login(ctx, "real@example.com", "correct horse", attacker); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

func TestLoginLimitConcurrent(t *testing.T) {
	a, _ := limitedAuth(t)
	ctx := context.Background()
	a.Register(ctx, "busy@example.com", "correct horse", core.Client{})
	var (
		wg              sync.WaitGroup
		mu              sync.Mutex
		failed, limited int
	)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := a.Login(ctx, "busy@example.com", "wrong", core.Client{IP: "10.9.0." + strconv.Itoa(i)})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, core.ErrInvalidCredentials):
				failed++
			case errors.Is(err, core.ErrRateLimited):
				limited++
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if failed != 3 || limited != 47 {
		t.Fatalf("50 concurrent wrong passwords: %d checked, %d limited; want exactly 3 checked", failed, limited)
	}
}

func TestRegisterLimitPerIP(t *testing.T) {
	a, advance := limitedAuth(t)
	ctx := context.Background()
	ip := core.Client{IP: "192.0.2.7"}
	for i := range 2 {
		if _, err := a.Register(ctx, "r"+strconv.Itoa(i)+"@example.com", "correct horse", ip); err != nil {
			t.Fatal(err)
		}
	}
	_, err := a.Register(ctx, "r3@example.com", "correct horse", ip)
	wantLimited(t, "3rd registration", err, time.Hour)
	if _, err := a.Login(ctx, "r3@example.com", "correct horse", core.Client{}); !errors.Is(err, core.ErrInvalidCredentials) {
		t.Fatalf("the refused registration created an account: %v", err)
	}
	if _, err := a.Register(ctx, "r4@example.com", "correct horse", core.Client{IP: "192.0.2.8"}); err != nil {
		t.Fatalf("another IP: %v", err)
	}
	advance(61 * time.Second)
	if _, err := a.Register(ctx, "r3@example.com", "correct horse", ip); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

func TestRateLimitsNeedALimiter(t *testing.T) {
	key, _ := core.NewHMACKey(accessSecret)
	store := struct{ core.Store }{memstore.New()} // hides memstore's Limiter
	if _, err := core.New(core.Config{Store: store, AccessKeys: []core.Key{key}, RefreshSecret: refreshSecret}); err == nil {
		t.Fatal("New accepted a store without a Limiter and limits on")
	}
	if _, err := core.New(core.Config{Store: store, AccessKeys: []core.Key{key}, RefreshSecret: refreshSecret, RateLimits: core.RateLimits{Disabled: true}}); err != nil {
		t.Fatal(err)
	}
}

func TestLimitSettingsValidated(t *testing.T) {
	key, _ := core.NewHMACKey(accessSecret)
	ok := core.Config{Store: memstore.New(), AccessKeys: []core.Key{key}, RefreshSecret: refreshSecret}
	for name, tc := range map[string]struct {
		mod  func(*core.Config)
		want string
	}{
		"negative hashes":       {func(c *core.Config) { c.MaxConcurrentHashes = -1 }, "MaxConcurrentHashes must not be negative"},
		"negative hash wait":    {func(c *core.Config) { c.MaxHashWait = -time.Second }, "MaxHashWait must not be negative"},
		"IPv6 prefix too long":  {func(c *core.Config) { c.RateLimits.IPv6Prefix = 129 }, "IPv6Prefix"},
		"negative IPv6 prefix":  {func(c *core.Config) { c.RateLimits.IPv6Prefix = -64 }, "IPv6Prefix"},
		"negative limit window": {func(c *core.Config) { c.RateLimits.LoginPerIP.Window = -time.Second }, "LoginPerIP"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := ok
			tc.mod(&cfg)
			if a, err := core.New(cfg); err == nil || a != nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, %v; want an error containing %q", a, err, tc.want)
			}
		})
	}
	for _, p := range []int{1, 48, 128} {
		cfg := ok
		cfg.RateLimits.IPv6Prefix = p
		if _, err := core.New(cfg); err != nil {
			t.Fatalf("IPv6Prefix %d: %v", p, err)
		}
	}
}

// TestIPv6ClientsPerPrefix: the addresses of one /64 share the per-IP
// limit, another /64 has its own; IPv4 counts per address, an IPv4-mapped
// IPv6 address as its IPv4 address; a string that is no IP is a bucket of
// its own.
func TestIPv6ClientsPerPrefix(t *testing.T) {
	ctx := context.Background()
	fail := func(a *core.Auth, i int, ip string) error {
		_, err := a.Login(ctx, "guess"+strconv.Itoa(i)+"@example.com", "wrong password", core.Client{IP: ip})
		return err
	}
	wantFailed := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, core.ErrInvalidCredentials) {
			t.Fatalf("%s: %v, want invalid_credentials", what, err)
		}
	}

	a, _ := limitedAuth(t) // 5 failed logins per IP
	one64 := []string{"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff:ffff:ffff:ffff", "[2001:db8:1:2::9]:443", "fe80::1%eth0"}
	for i, ip := range one64[:4] {
		wantFailed("failure from "+ip, fail(a, i, ip))
	}
	wantFailed("5th failure, same /64", fail(a, 4, "2001:db8:1:2:abcd::5"))
	wantLimited(t, "6th attempt from a new address of the same /64", fail(a, 5, "2001:db8:1:2:1234:5678:9abc:def0"), time.Minute)
	wantFailed("another /64", fail(a, 6, "2001:db8:1:3::1"))
	wantFailed("a link-local address (its own /64)", fail(a, 7, one64[4]))

	// IPv4: per address; the IPv4-mapped form is the same address.
	for i := range 5 {
		ip := "192.0.2.1"
		if i%2 == 1 {
			ip = "::ffff:192.0.2.1"
		}
		wantFailed("IPv4 failure", fail(a, 10+i, ip))
	}
	wantLimited(t, "6th attempt from 192.0.2.1 (mapped)", fail(a, 15, "::ffff:192.0.2.1"), time.Minute)
	wantLimited(t, "6th attempt from 192.0.2.1", fail(a, 16, "192.0.2.1"), time.Minute)
	wantFailed("the next IPv4 address", fail(a, 17, "192.0.2.2"))

	// Not an IP: one bucket per string, cut at 64 bytes.
	long := strings.Repeat("x", 64)
	for i := range 5 {
		wantFailed("unparsable IP", fail(a, 20+i, long+strconv.Itoa(i)))
	}
	wantLimited(t, "6th attempt from the same 64-byte prefix", fail(a, 25, long+"-other"), time.Minute)
	wantFailed("another unparsable IP", fail(a, 26, "unknown"))

	// The prefix length is configurable: /128 counts single addresses, /48
	// puts two /64s together.
	for _, tc := range []struct {
		prefix int
		shared bool
	}{{128, false}, {48, true}} {
		b := newAuth(t, func(c *core.Config) {
			c.Users = memstore.NewUsers(cheap)
			c.RateLimits = core.RateLimits{LoginPerIP: core.Limit{Max: 2, Window: time.Minute}, IPv6Prefix: tc.prefix}
		})
		wantFailed("1st", fail(b, 0, "2001:db8:5:1::1"))
		wantFailed("2nd", fail(b, 1, "2001:db8:5:1::2"))
		err := fail(b, 2, "2001:db8:5:2::3")
		if tc.shared {
			wantLimited(t, "/48: a neighbouring /64", err, time.Minute)
		} else {
			wantFailed("/128: a neighbouring /64", err)
			wantFailed("/128: another address of the same /64", fail(b, 3, "2001:db8:5:1::3"))
		}
	}
}

// spyLimiter is memstore's Limiter that records every call that could
// write: Hits that counted, Undo and Reset.
type spyLimiter struct {
	*memstore.Store
	mu     sync.Mutex
	writes []string
	calls  int
}

func (s *spyLimiter) Hit(ctx context.Context, key string, limit int64, window time.Duration) (bool, time.Duration, error) {
	ok, left, err := s.Store.Hit(ctx, key, limit, window)
	s.record("hit", key, ok)
	return ok, left, err
}
func (s *spyLimiter) Peek(ctx context.Context, key string) (int64, time.Duration, error) {
	s.record("peek", key, false)
	return s.Store.Peek(ctx, key)
}
func (s *spyLimiter) Undo(ctx context.Context, key string) error {
	s.record("undo", key, true)
	return s.Store.Undo(ctx, key)
}
func (s *spyLimiter) Reset(ctx context.Context, key string) error {
	s.record("reset", key, true)
	return s.Store.Reset(ctx, key)
}
func (s *spyLimiter) record(op, key string, wrote bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if wrote {
		s.writes = append(s.writes, op+" "+key)
	}
}
func (s *spyLimiter) since() (calls int, writes []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	calls, writes = s.calls, s.writes
	s.calls, s.writes = 0, nil
	return calls, writes
}

// TestRefusedRequestsWriteNothing: once a limit is tripped, the requests it
// refuses only read the store — whatever email or IP each one names.
func TestRefusedRequestsWriteNothing(t *testing.T) {
	spy := &spyLimiter{Store: memstore.New()}
	a := newAuth(t, func(c *core.Config) {
		c.Store = spy
		c.Users = memstore.NewUsers(cheap)
		c.RateLimits = core.RateLimits{
			LoginPerAccount: core.Limit{Max: 3, Window: time.Minute},
			LoginPerIP:      core.Limit{Max: 5, Window: time.Minute},
			RegisterPerIP:   core.Limit{Max: 2, Window: time.Minute},
		}
	})
	ctx := context.Background()
	const refused = 1000
	check := func(what string) {
		t.Helper()
		calls, writes := spy.since()
		if calls == 0 || len(writes) != 0 {
			t.Fatalf("%s: %d limiter calls, writes %q; want reads only", what, calls, writes[:min(len(writes), 5)])
		}
	}

	attacker := core.Client{IP: "2001:db8:bad::1"}
	for i := range 5 {
		a.Login(ctx, "guess"+strconv.Itoa(i)+"@example.com", "wrong password", attacker)
	}
	spy.since()
	for i := range refused {
		ip := core.Client{IP: "2001:db8:bad::" + strconv.FormatInt(int64(i), 16)}
		_, err := a.Login(ctx, "distinct"+strconv.Itoa(i)+"@example.com", "wrong password", ip)
		wantLimited(t, "login from a tripped /64", err, time.Minute)
	}
	check("logins refused by the per-IP limit")

	for i := range 3 {
		a.Login(ctx, "victim@example.com", "wrong password", core.Client{IP: "10.1.0." + strconv.Itoa(i)})
	}
	spy.since()
	for i := range refused {
		ip := core.Client{IP: "10.2." + strconv.Itoa(i/256) + "." + strconv.Itoa(i%256)}
		_, err := a.Login(ctx, "victim@example.com", "wrong password", ip)
		wantLimited(t, "login on a tripped account", err, time.Minute)
	}
	check("logins refused by the account limit")

	for i := range 2 {
		a.Register(ctx, "reg"+strconv.Itoa(i)+"@example.com", "correct horse", core.Client{IP: "192.0.2.9"})
	}
	spy.since()
	for i := range refused {
		_, err := a.Register(ctx, "more"+strconv.Itoa(i)+"@example.com", "correct horse", core.Client{IP: "192.0.2.9"})
		wantLimited(t, "registration from a tripped IP", err, time.Minute)
	}
	check("registrations refused by the per-IP limit")
}

// inflightUsers is a UserStore that records how many password checks and
// registrations run at once; each holds its slot for hold, and blocks while
// gate is set until it is closed.
type inflightUsers struct {
	*memstore.Users
	hold       time.Duration
	gate       chan struct{}
	now, peak  atomic.Int64
	calls      atomic.Int64
	registered atomic.Int64
}

func (u *inflightUsers) enter() func() {
	gate, hold := u.gate, u.hold // read before the counters publish this call
	u.calls.Add(1)
	n := u.now.Add(1)
	for p := u.peak.Load(); n > p && !u.peak.CompareAndSwap(p, n); p = u.peak.Load() {
	}
	if gate != nil {
		select {
		case <-gate:
		case <-time.After(5 * time.Second): // a call that should not have got here
		}
	}
	time.Sleep(hold)
	return func() { u.now.Add(-1) }
}

func (u *inflightUsers) Authenticate(ctx context.Context, email, password string) (core.User, error) {
	defer u.enter()()
	return u.Users.Authenticate(ctx, email, password)
}

func (u *inflightUsers) Register(ctx context.Context, email, password string, roles []string) (core.User, error) {
	defer u.enter()()
	u.registered.Add(1)
	return u.Users.Register(ctx, email, password, roles)
}

// TestHashingBounded: 100 concurrent logins never run more than
// MaxConcurrentHashes password checks at once.
func TestHashingBounded(t *testing.T) {
	users := &inflightUsers{Users: memstore.NewUsers(cheap), hold: 2 * time.Millisecond}
	a := newAuth(t, func(c *core.Config) {
		c.Users = users
		c.MaxConcurrentHashes = 2
		c.MaxHashWait = time.Minute // no one gives up: every login waits its turn
		c.RateLimits.Disabled = true
	})
	ctx := context.Background()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := a.Login(ctx, "user"+strconv.Itoa(i)+"@example.com", "wrong password", core.Client{IP: "203.0.113.1"})
			if errors.Is(err, core.ErrInvalidCredentials) {
				failed.Add(1)
			} else {
				t.Errorf("login %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if failed.Load() != 100 || users.calls.Load() != 100 || users.peak.Load() != 2 {
		t.Fatalf("100 concurrent logins: %d checked, %d failed, peak %d in flight; want all 100 checked, at most (and, here, exactly) 2 at once",
			users.calls.Load(), failed.Load(), users.peak.Load())
	}
	t.Logf("100 concurrent logins, MaxConcurrentHashes 2: peak %d password checks in flight", users.peak.Load())
}

// TestServerBusy: with every hashing slot taken and a short wait, logins and
// registrations get 503 server_busy with Retry-After and change nothing: no
// session, no account, no hook, their rate-limit counts given back. An
// unknown email waits for a slot like a known one.
func TestServerBusy(t *testing.T) {
	users := &inflightUsers{Users: memstore.NewUsers(cheap)}
	var failedHooks atomic.Int64
	a := newAuth(t, func(c *core.Config) {
		c.Users = users
		c.MaxConcurrentHashes = 1
		c.MaxHashWait = 20 * time.Millisecond
		c.Hooks.OnLoginFailed = func(context.Context, core.Event) { failedHooks.Add(1) }
		c.RateLimits = core.RateLimits{
			LoginPerAccount: core.Limit{Max: 3, Window: time.Minute},
			LoginPerIP:      core.Limit{Max: 5, Window: time.Minute},
			RegisterPerIP:   core.Limit{Max: 2, Window: time.Minute},
		}
	})
	ctx := context.Background()
	known, err := a.Register(ctx, "known@example.com", "correct horse", core.Client{IP: "198.51.100.1"})
	if err != nil {
		t.Fatal(err)
	}

	// One login takes the only slot and holds it.
	users.gate = make(chan struct{})
	holder := make(chan error, 1)
	go func() {
		_, err := a.Login(ctx, "holder@example.com", "wrong password", core.Client{IP: "198.51.100.2"})
		holder <- err
	}()
	for users.now.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	wantBusy := func(what string, err error) {
		t.Helper()
		r := core.ErrorResponse(err)
		if !errors.Is(err, core.ErrServerBusy) || r.Status != 503 || header(r, "Retry-After") == "" {
			t.Fatalf("%s: %v (%d %v), want 503 server_busy with Retry-After", what, err, r.Status, r.Header)
		}
	}
	me := core.Client{IP: "203.0.113.7"}
	for i := range 10 {
		_, err := a.Login(ctx, "known@example.com", "correct horse", me)
		wantBusy("known email, right password", err)
		_, err = a.Login(ctx, "nobody"+strconv.Itoa(i)+"@example.com", "wrong password", me)
		wantBusy("unknown email", err)
		_, err = a.Register(ctx, "new"+strconv.Itoa(i)+"@example.com", "correct horse", me)
		wantBusy("registration", err)
	}
	// A request whose context ends while it waits gets the same answer.
	short, cancel := context.WithTimeout(ctx, time.Millisecond)
	defer cancel()
	slow := newAuth(t, func(c *core.Config) { c.Store = memstore.New(); c.Users = users; c.MaxConcurrentHashes = 1 })
	holder2 := make(chan error, 1)
	go func() {
		_, err := slow.Login(ctx, "holder2@example.com", "wrong password", core.Client{})
		holder2 <- err
	}()
	for users.now.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	_, err = slow.Login(short, "known@example.com", "correct horse", core.Client{})
	wantBusy("login whose context ended while waiting", err)
	if waited := time.Since(start); waited > time.Second { // MaxHashWait is 2 s here
		t.Fatalf("a login whose context ended after 1 ms waited %v for a slot", waited)
	}

	if n := users.calls.Load(); n != 3 { // the registration above and the two holders
		t.Fatalf("%d calls reached the user store while its slot was held; want none", n-3)
	}
	close(users.gate)
	for _, h := range []chan error{holder, holder2} {
		if err := <-h; !errors.Is(err, core.ErrInvalidCredentials) {
			t.Fatalf("a holder: %v", err)
		}
	}
	users.gate = nil

	// Nothing changed: no session, no account, one failure hook (the holder's).
	if list, err := a.Sessions(ctx, known.ID, ""); err != nil || len(list) != 0 {
		t.Fatalf("sessions of the known user after busy logins: %v, %v", list, err)
	}
	if users.registered.Load() != 1 || failedHooks.Load() != 1 {
		t.Fatalf("%d registrations reached the store, %d failure hooks; want 1 and 1", users.registered.Load(), failedHooks.Load())
	}
	// The counts were given back: the IP still has its 5 failures and 2
	// registrations, the account its 3 failures.
	for i := range 2 {
		if _, err := a.Register(ctx, "new"+strconv.Itoa(i)+"@example.com", "correct horse", me); err != nil {
			t.Fatalf("registration %d after busy ones: %v", i+1, err)
		}
	}
	for i := range 3 {
		if _, err := a.Login(ctx, "known@example.com", "wrong password", me); !errors.Is(err, core.ErrInvalidCredentials) {
			t.Fatalf("failure %d on the account after busy logins: %v", i+1, err)
		}
	}
	_, err = a.Login(ctx, "known@example.com", "correct horse", me)
	wantLimited(t, "4th attempt on the account", err, time.Minute)
	for i := range 2 {
		if _, err := a.Login(ctx, "other"+strconv.Itoa(i)+"@example.com", "wrong password", me); !errors.Is(err, core.ErrInvalidCredentials) {
			t.Fatalf("IP failure %d after busy logins: %v", 4+i, err)
		}
	}
	_, err = a.Login(ctx, "other9@example.com", "wrong password", me)
	wantLimited(t, "6th attempt from the IP", err, time.Minute)
}

// TestServerBusyUnderLoad: 100 concurrent logins with 2 slots, each check
// taking 5 ms, and a 20 ms wait: the excess get server_busy, never more than 2 checks run at once,
// and only the logins that were checked count against the IP.
func TestServerBusyUnderLoad(t *testing.T) {
	users := &inflightUsers{Users: memstore.NewUsers(cheap), hold: 5 * time.Millisecond}
	a := newAuth(t, func(c *core.Config) {
		c.Users = users
		c.MaxConcurrentHashes = 2
		c.MaxHashWait = 20 * time.Millisecond
		c.RateLimits = core.RateLimits{
			LoginPerAccount: core.Limit{Max: 1000, Window: time.Minute},
			LoginPerIP:      core.Limit{Max: 100, Window: time.Minute},
		}
	})
	ctx := context.Background()
	ip := core.Client{IP: "203.0.113.50"}
	var wg sync.WaitGroup
	var failed, busy atomic.Int64
	start := make(chan struct{}) // all at once, however slowly goroutines start
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := a.Login(ctx, "load"+strconv.Itoa(i)+"@example.com", "wrong password", ip)
			switch r := core.ErrorResponse(err); {
			case errors.Is(err, core.ErrInvalidCredentials):
				failed.Add(1)
			case errors.Is(err, core.ErrServerBusy) && header(r, "Retry-After") != "":
				busy.Add(1)
			default:
				t.Errorf("login %d: %v", i, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if busy.Load() == 0 || failed.Load()+busy.Load() != 100 || users.peak.Load() > 2 || users.calls.Load() != failed.Load() {
		t.Fatalf("100 logins: %d checked (%d store calls), %d busy, peak %d in flight", failed.Load(), users.calls.Load(), busy.Load(), users.peak.Load())
	}
	t.Logf("100 concurrent logins, 2 slots, 20 ms wait: %d checked, %d server_busy, peak %d in flight", failed.Load(), busy.Load(), users.peak.Load())
	users.hold = 0
	for i := range 100 - failed.Load() {
		if _, err := a.Login(ctx, "after"+strconv.Itoa(int(i))+"@example.com", "wrong password", ip); !errors.Is(err, core.ErrInvalidCredentials) {
			t.Fatalf("failure %d of the IP's 100: %v", failed.Load()+i+1, err)
		}
	}
	_, err := a.Login(ctx, "over@example.com", "wrong password", ip)
	wantLimited(t, "the IP's 101st failure", err, time.Minute)
}

// ctxLimiter is memstore's Limiter failing, as a network store would, when
// the context has ended.
type ctxLimiter struct{ *memstore.Store }

func (s ctxLimiter) Undo(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.Store.Undo(ctx, key)
}

// TestGiveUpWhileWaitingGivesCountsBack: a login whose client gives up while
// it waits for a hashing slot does not count against the IP, though its
// context has ended by the time the count is given back.
func TestGiveUpWhileWaitingGivesCountsBack(t *testing.T) {
	users := &inflightUsers{Users: memstore.NewUsers(cheap)}
	a := newAuth(t, func(c *core.Config) {
		c.Store = ctxLimiter{memstore.New()}
		c.Users = users
		c.MaxConcurrentHashes = 1
		c.MaxHashWait = time.Minute
		c.RateLimits = core.RateLimits{LoginPerIP: core.Limit{Max: 2, Window: time.Minute}}
	})
	ctx := context.Background()
	users.gate = make(chan struct{})
	holder := make(chan error, 1)
	go func() {
		_, err := a.Login(ctx, "holder@example.com", "wrong password", core.Client{IP: "198.51.100.1"})
		holder <- err
	}()
	for users.now.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	me := core.Client{IP: "203.0.113.3"}
	gone, cancel := context.WithCancel(ctx)
	time.AfterFunc(10*time.Millisecond, cancel)
	if _, err := a.Login(gone, "me@example.com", "wrong password", me); !errors.Is(err, core.ErrServerBusy) {
		t.Fatalf("a login whose client gave up: %v, want server_busy", err)
	}
	close(users.gate)
	<-holder
	users.gate = nil
	for i := range 2 {
		if _, err := a.Login(ctx, "me@example.com", "wrong password", me); !errors.Is(err, core.ErrInvalidCredentials) {
			t.Fatalf("failure %d of the IP's 2: %v", i+1, err)
		}
	}
}
