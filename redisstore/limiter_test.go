package redisstore_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authenik8/authenik8-go/conformance/redistest"
	"github.com/authenik8/authenik8-go/conformance/storetest"
	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/redisstore"
	"github.com/authenik8/authenik8-go/redisstore/redisstoretest"
)

// TestRefusedRequestsWriteNoKeys: once a limit is tripped, refused logins
// and registrations leave the key count on the store's prefix unchanged —
// however many distinct emails (or, for an account's limit, distinct IPs)
// they name — and every counter key expires with its window.
func TestRefusedRequestsWriteNoKeys(t *testing.T) {
	const refused = 1200
	for name, url := range map[string]func(testing.TB) string{"Standalone": redistest.URL, "Cluster": redistest.ClusterURL} {
		t.Run(name, func(t *testing.T) {
			prefix := redisstoretest.Prefix()
			s := redisstoretest.Open(t, url(t), redisstore.Options{KeyPrefix: prefix, Hasher: storetest.FastHasher})
			window := time.Minute
			a := storetest.NewAuth(t, s, func(c *core.Config) {
				c.Users = s.Users()
				c.RateLimits = core.RateLimits{
					LoginPerAccount: core.Limit{Max: 3, Window: window},
					LoginPerIP:      core.Limit{Max: 5, Window: window},
					RegisterPerIP:   core.Limit{Max: 2, Window: window},
				}
			})
			c := bg(t)
			keys := func() int { return len(scan(t, s.Client(), prefix+":*")) }
			attacker := core.Client{IP: "203.0.113.9"}

			// Trip the per-IP login limit with five failures.
			for i := range 5 {
				if _, err := a.Login(c, "guess"+strconv.Itoa(i)+"@example.com", "wrong password", attacker); !errors.Is(err, core.ErrInvalidCredentials) {
					t.Fatalf("failure %d: %v", i+1, err)
				}
			}
			before := keys()
			for i := range refused {
				if _, err := a.Login(c, "distinct"+strconv.Itoa(i)+"@example.com", "wrong password", attacker); !errors.Is(err, core.ErrRateLimited) {
					t.Fatalf("refused login %d: %v", i, err)
				}
			}
			if after := keys(); after != before {
				t.Fatalf("%d logins refused by the per-IP limit, each with a new email: %d keys before, %d after", refused, before, after)
			}
			t.Logf("per-IP limit: %d refused logins with distinct emails, keys %d before and after", refused, before)

			// Trip an account's limit, then knock on it from distinct IPs.
			for i := range 3 {
				if _, err := a.Login(c, "victim@example.com", "wrong password", core.Client{IP: "198.51.100." + strconv.Itoa(i)}); !errors.Is(err, core.ErrInvalidCredentials) {
					t.Fatalf("account failure %d: %v", i+1, err)
				}
			}
			before = keys()
			for i := range refused {
				ip := "10." + strconv.Itoa(i/256) + "." + strconv.Itoa(i%256) + ".1"
				if _, err := a.Login(c, "victim@example.com", "wrong password", core.Client{IP: ip}); !errors.Is(err, core.ErrRateLimited) {
					t.Fatalf("refused account login %d: %v", i, err)
				}
			}
			if after := keys(); after != before {
				t.Fatalf("%d logins refused by the account limit, each from a new IP: %d keys before, %d after", refused, before, after)
			}

			// Registrations: the per-IP limit, then distinct emails.
			reg := core.Client{IP: "192.0.2.50"}
			for i := range 2 {
				if _, err := a.Register(c, "new"+strconv.Itoa(i)+"@example.com", "correct horse", reg); err != nil {
					t.Fatal(err)
				}
			}
			before = keys()
			for i := range refused / 4 {
				if _, err := a.Register(c, "more"+strconv.Itoa(i)+"@example.com", "correct horse", reg); !errors.Is(err, core.ErrRateLimited) {
					t.Fatalf("refused registration %d: %v", i, err)
				}
			}
			if after := keys(); after != before {
				t.Fatalf("%d refused registrations: %d keys before, %d after", refused/4, before, after)
			}

			// No counter outlives its window.
			for _, k := range scan(t, s.Client(), prefix+":*") {
				if !strings.Contains(k, "{rl:") {
					continue
				}
				ttl, err := s.Client().Do(c, s.Client().B().Pttl().Key(k).Build()).AsInt64()
				if err != nil || ttl <= 0 || ttl > window.Milliseconds() {
					t.Errorf("counter %s: PTTL %d, %v; want within the window (%v)", k, ttl, err, window)
				}
			}
		})
	}
}

// TestTrippedLimitIsReadOnly: on Redis, a login refused by a tripped limit
// costs two script calls that only read — whichever limit refused it — and
// a refused registration one; no write command runs.
func TestTrippedLimitIsReadOnly(t *testing.T) {
	srv := redistest.Start(t) // no other client: the server's counters are ours
	s := redisstoretest.Open(t, "redis://"+srv.Addr, redisstore.Options{KeyPrefix: redisstoretest.Prefix(), Hasher: storetest.FastHasher})
	a := storetest.NewAuth(t, s, func(c *core.Config) {
		c.Users = s.Users()
		c.RateLimits = core.RateLimits{
			LoginPerAccount: core.Limit{Max: 3, Window: time.Minute},
			LoginPerIP:      core.Limit{Max: 5, Window: time.Minute},
			RegisterPerIP:   core.Limit{Max: 2, Window: time.Minute},
		}
	})
	c := bg(t)
	for i := range 5 {
		a.Login(c, "guess"+strconv.Itoa(i)+"@example.com", "wrong password", core.Client{IP: "203.0.113.9"})
	}
	for i := range 3 {
		a.Login(c, "victim@example.com", "wrong password", core.Client{IP: "198.51.100." + strconv.Itoa(i)})
	}
	for i := range 2 {
		a.Register(c, "reg"+strconv.Itoa(i)+"@example.com", "correct horse", core.Client{IP: "192.0.2.9"})
	}
	const n = 100
	for _, tc := range []struct {
		what    string
		scripts int64
		call    func(i int) error
	}{
		{"login refused by the IP's limit", 2, func(i int) error {
			_, err := a.Login(c, "d"+strconv.Itoa(i)+"@example.com", "wrong password", core.Client{IP: "203.0.113.9"})
			return err
		}},
		{"login refused by the account's limit", 1, func(i int) error {
			_, err := a.Login(c, "victim@example.com", "wrong password", core.Client{IP: "10.0." + strconv.Itoa(i) + ".1"})
			return err
		}},
		{"registration refused by the IP's limit", 1, func(i int) error {
			_, err := a.Register(c, "r"+strconv.Itoa(i)+"@example.com", "correct horse", core.Client{IP: "192.0.2.9"})
			return err
		}},
	} {
		before := commandCalls(t, srv.Addr)
		for i := range n {
			if err := tc.call(i); !errors.Is(err, core.ErrRateLimited) {
				t.Fatalf("%s: %v", tc.what, err)
			}
		}
		d := delta(before, commandCalls(t, srv.Addr))
		for cmd := range d {
			switch cmd {
			case "evalsha", "get", "pttl":
			default:
				t.Errorf("%d × %s: ran %s (%v); want reads only", n, tc.what, cmd, d)
			}
		}
		if d["evalsha"] != tc.scripts*n {
			t.Errorf("%d × %s: %d scripts, want %d", n, tc.what, d["evalsha"], tc.scripts*n)
		}
		t.Logf("%d × %s: %v", n, tc.what, d)
	}
}
