package core_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
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
