package e2e

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authenik8/authenik8-go/conformance/pgtest"
	"github.com/authenik8/authenik8-go/conformance/redistest"
	"github.com/authenik8/authenik8-go/pgstore"
	"github.com/authenik8/authenik8-go/pgstore/pgstoretest"
)

// pgEnv is the configuration of examples with sessions in the Redis at
// redisURL and accounts in the PostgreSQL at databaseURL.
func pgEnv(redisURL, databaseURL string, extra ...string) []string {
	return append([]string{
		"REDIS_URL=" + redisURL,
		"DATABASE_URL=" + databaseURL,
		"JWT_SECRET=postgres test access secret, 32+ bytes",
		"REFRESH_SECRET=postgres test refresh secret, 32+ bytes",
	}, extra...)
}

// TestAccountsSurviveRedisFlush: with accounts in PostgreSQL (DATABASE_URL)
// and sessions in Redis, register, then FLUSHALL that Redis and restart the
// server: the account logs in again; only the sessions were lost. With
// accounts in Redis, the same steps lose the account, so the test tells the
// two apart.
func TestAccountsSurviveRedisFlush(t *testing.T) {
	redis := redistest.Start(t)
	env := pgEnv(redis.URL(), pgstoretest.Database(t))
	flush := func(t *testing.T) {
		if out, err := redistest.Command(redis.Addr, "FLUSHALL"); err != nil || out != "OK" {
			t.Fatalf("FLUSHALL: %s %v", out, err)
		}
	}
	for _, fw := range frameworks {
		t.Run(fw, func(t *testing.T) {
			s := start(t, fw, env...)
			if !strings.Contains(s.Logs(), "users: PostgreSQL") {
				t.Fatalf("%s does not keep accounts in PostgreSQL:\n%s", fw, s.Logs())
			}
			email := fw + "-durable@example.com"
			registerOn(t, s, email)
			before := loginOn(t, s, email)
			if a := call(t, "GET", s.URL+"/api/profile", before.AccessToken, "", ""); a.Status != 200 {
				t.Fatalf("profile: %+v", a)
			}

			flush(t)
			client.CloseIdleConnections()
			s.Stop(t)
			s = start(t, fw, env...)

			loginOn(t, s, email) // the account is still there
			if a := postJSON(t, s.URL+"/auth/register", "", `{"email":"`+email+`","password":"correct horse battery"}`); a.Status != 409 {
				t.Errorf("registering the address again: %+v, want 409 user_exists", a)
			}
			// …and the sessions are gone.
			if a := call(t, "GET", s.URL+"/api/profile", before.AccessToken, "", ""); a.Status != 401 || !strings.Contains(a.Body, "token_revoked") {
				t.Errorf("an access token of a flushed session: %+v, want 401 token_revoked", a)
			}
			if a := postJSON(t, s.URL+"/auth/refresh", "", `{"refresh_token":"`+before.RefreshToken+`"}`); a.Status != 401 || !strings.Contains(a.Body, "invalid_refresh_token") {
				t.Errorf("a refresh token of a flushed session: %+v, want 401 invalid_refresh_token", a)
			}
		})
	}

	t.Run("accounts in Redis", func(t *testing.T) {
		env := []string{"REDIS_URL=" + redis.URL(), "JWT_SECRET=postgres test access secret, 32+ bytes", "REFRESH_SECRET=postgres test refresh secret, 32+ bytes"}
		s := start(t, "gin", env...)
		registerOn(t, s, "fleeting@example.com")
		flush(t)
		client.CloseIdleConnections()
		s.Stop(t)
		s = start(t, "gin", env...)
		if a := postJSON(t, s.URL+"/auth/login", "", `{"email":"fleeting@example.com","password":"correct horse battery"}`); a.Status != 401 || !strings.Contains(a.Body, "invalid_credentials") {
			t.Errorf("an account kept in a flushed Redis: %+v, want 401 invalid_credentials", a)
		}
	})
}

// TestPostgresOutage: the PostgreSQL holding the accounts (a server of the
// test's own) is killed, then frozen, under the four examples. Meanwhile
// login, registration and refresh (which re-reads the account) answer 503
// store_unavailable within the store timeout — never a 500 — while requests
// with a valid access token keep working: they never touch PostgreSQL; so
// /readyz, which checks the session store, stays 200 and keeps the
// instances in rotation. When PostgreSQL is back, every process recovers by
// itself, without a restart, and the refresh tokens refused during the
// outage still work.
func TestPostgresOutage(t *testing.T) {
	pg := pgtest.Start(t)
	servers := sharedPostgres(t, pg.URL())
	type account struct {
		email string
		pair  pair
	}
	accounts := map[string]*account{}
	for _, s := range servers {
		a := &account{email: s.Name + "-outage@example.com"}
		registerOn(t, s, a.email)
		a.pair = loginOn(t, s, a.email)
		accounts[s.Name] = a
	}

	for _, phase := range []struct {
		name string
		down func()
		up   func() error
	}{
		{"killed", pg.Kill, pg.Restart},
		{"frozen", pg.Pause, func() error { pg.Resume(); return nil }},
	} {
		t.Run(phase.name, func(t *testing.T) {
			spare := map[string]pair{} // sessions to log out during the outage
			for _, s := range servers {
				spare[s.Name] = loginOn(t, s, accounts[s.Name].email)
			}
			phase.down()
			var (
				wg      sync.WaitGroup
				mu      sync.Mutex
				slowest time.Duration
			)
			for _, s := range servers { // together: a frozen server makes each request wait the timeout
				wg.Add(1)
				go func() {
					defer wg.Done()
					a := accounts[s.Name]
					creds := `{"email":"` + a.email + `","password":"correct horse battery"}`
					for what, req := range map[string]func() answer{
						"login": func() answer { return postJSON(t, s.URL+"/auth/login", "", creds) },
						"register": func() answer {
							return postJSON(t, s.URL+"/auth/register", "", `{"email":"new-`+a.email+`","password":"correct horse battery"}`)
						},
						"refresh": func() answer {
							return postJSON(t, s.URL+"/auth/refresh", "", `{"refresh_token":"`+a.pair.RefreshToken+`"}`)
						},
					} {
						begin := time.Now()
						got := req()
						took := time.Since(begin)
						// One PostgreSQL call, bounded by the store timeout,
						// and a password hash: seconds on a busy 2-core
						// machine running four servers.
						bound := pgstore.DefaultTimeout + 4*time.Second
						if got.Status != 503 || !strings.Contains(got.Body, `"store_unavailable"`) || took > bound {
							t.Errorf("%s on %s with PostgreSQL %s: %+v after %v; want 503 store_unavailable within %v", what, s.Name, phase.name, got, took, bound)
						}
						mu.Lock()
						slowest = max(slowest, took)
						mu.Unlock()
					}
					for _, path := range []string{"/api/profile", "/auth/me", "/auth/sessions", "/readyz"} {
						if got := call(t, "GET", s.URL+path, a.pair.AccessToken, "", ""); got.Status != 200 {
							t.Errorf("%s on %s with a valid access token, PostgreSQL %s: %+v, want 200", path, s.Name, phase.name, got)
						}
					}
					if got := call(t, "POST", s.URL+"/auth/logout", spare[s.Name].AccessToken, "", ""); got.Status != 204 {
						t.Errorf("logout on %s, PostgreSQL %s: %+v, want 204", s.Name, phase.name, got)
					}
				}()
			}
			wg.Wait()
			t.Logf("PostgreSQL %s: the slowest 503 took %v", phase.name, slowest.Round(time.Millisecond))
			if err := phase.up(); err != nil {
				t.Fatal(err)
			}
			back := time.Now()
			for _, s := range servers { // no restart: each recovers by itself
				a := accounts[s.Name]
				for {
					got := postJSON(t, s.URL+"/auth/login", "", `{"email":"`+a.email+`","password":"correct horse battery"}`)
					if got.Status == 200 {
						break
					}
					if got.Status != 503 || time.Since(back) > 20*time.Second {
						t.Fatalf("%s after PostgreSQL came back (%v ago): %+v", s.Name, time.Since(back), got)
					}
					time.Sleep(100 * time.Millisecond)
				}
				got := postJSON(t, s.URL+"/auth/refresh", "", `{"refresh_token":"`+a.pair.RefreshToken+`"}`)
				if got.Status != 200 || json.Unmarshal([]byte(got.Body), &a.pair) != nil {
					t.Fatalf("%s: the refresh token refused during the outage, afterwards: %+v, want 200", s.Name, got)
				}
			}
			t.Logf("every process logs in again %v after PostgreSQL came back", time.Since(back).Round(time.Millisecond))
		})
	}
}

// sharedPostgres starts the four examples on one dedicated Redis and the
// PostgreSQL at databaseURL.
func sharedPostgres(t *testing.T, databaseURL string) []*server {
	env := pgEnv(redistest.Start(t).URL(), databaseURL, "RATE_LIMITS=off")
	var out []*server
	for _, fw := range frameworks {
		out = append(out, start(t, fw, env...))
	}
	return out
}

// TestDatabaseURLRedacted: the examples print DATABASE_URL without its
// password, in the log line naming the user store and in the errors of a
// URL that does not parse or a server that does not answer; a connection
// string that is not a URL is refused without being echoed.
func TestDatabaseURLRedacted(t *testing.T) {
	db, err := url.Parse(pgstoretest.Database(t))
	if err != nil || db.Scheme != "postgres" {
		t.Skipf("the test database is named by a connection string, not a URL: %v", err) // AUTHENIK8_TEST_DATABASE_URL
	}
	// A password the server checks is the secret to look for; else one
	// the server (trusting loopback, as the local one does) ignores.
	password, ok := db.User.Password()
	if !ok {
		password = "Pa55w0rd-right"
		db.User = url.UserPassword(db.User.Username(), password)
	}
	good := db.String()
	closed := *db
	closed.Host = "127.0.0.1:1" // nothing listens there
	secrets := []string{"Pa55", "w0rd", password}
	redacted := func(u url.URL) string {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
		return u.String()
	}
	for _, fw := range frameworks {
		t.Run(fw, func(t *testing.T) {
			s := start(t, fw, "DATABASE_URL="+good)
			if want := redacted(*db); !strings.Contains(s.Logs(), `msg="users: PostgreSQL" url=`) || !strings.Contains(s.Logs(), want) {
				t.Errorf("the log names no user store %s:\n%s", want, s.Logs())
			}
			for _, sec := range secrets {
				if strings.Contains(s.Logs(), sec) {
					t.Errorf("the log holds %q:\n%s", sec, s.Logs())
				}
			}
			for dbURL, want := range map[string]string{
				closed.String(): "DATABASE_URL " + redacted(closed) + ": ",
				"postgres://alice:Pa55/w0rd@127.0.0.1:5432/db":   `invalid URL \"postgres://alice:xxxxx@127.0.0.1:5432`,
				"postgres://alice:Pa55%zzw0rd@127.0.0.1:5432/db": `invalid URL \"postgres://alice:xxxxx@127.0.0.1:5432`,
				"host=127.0.0.1 user=alice password=Pa55w0rd":    "DATABASE_URL: not a postgres:// URL",
			} {
				cmd := exec.Command(filepath.Join(binDir, fw))
				cmd.Env = []string{"PORT=0", "DATABASE_URL=" + dbURL}
				out, err := cmd.CombinedOutput()
				if err == nil || !strings.Contains(string(out), want) {
					t.Errorf("DATABASE_URL=%s: %v, want an error with %s:\n%s", dbURL, err, want, out)
				}
				for _, sec := range secrets {
					if strings.Contains(string(out), sec) {
						t.Errorf("DATABASE_URL=%s: the output holds %q:\n%s", dbURL, sec, out)
					}
				}
			}
		})
	}
}

// TestTrustedProxiesVariable: the client IP recorded with a session is the
// connection's whatever X-Forwarded-For says, unless TRUSTED_PROXIES names
// that header and a network the connection comes from — on every framework.
func TestTrustedProxiesVariable(t *testing.T) {
	for _, c := range []struct {
		env, want string
	}{
		{"", "127.0.0.1"},
		{"TRUSTED_PROXIES=X-Forwarded-For 127.0.0.1", "198.51.100.7"},
		{"TRUSTED_PROXIES=X-Forwarded-For 10.0.0.0/8,192.168.0.0/16", "127.0.0.1"},
	} {
		for _, fw := range frameworks {
			t.Run(fmt.Sprintf("%s/%s", fw, c.env), func(t *testing.T) {
				var env []string
				if c.env != "" {
					env = append(env, c.env)
				}
				s := start(t, fw, env...)
				email := fw + "-proxy@example.com"
				registerOn(t, s, email)
				a := callWith(t, "POST", s.URL+"/auth/login", `{"email":"`+email+`","password":"correct horse battery"}`, "X-Forwarded-For", "203.0.113.9, 198.51.100.7")
				var p pair
				if a.Status != 200 || json.Unmarshal([]byte(a.Body), &p) != nil {
					t.Fatalf("login: %+v", a)
				}
				var list struct{ Sessions []struct{ IP string } }
				if a := call(t, "GET", s.URL+"/auth/sessions", p.AccessToken, "", ""); a.Status != 200 || json.Unmarshal([]byte(a.Body), &list) != nil || len(list.Sessions) != 1 {
					t.Fatalf("sessions: %+v", a)
				}
				if got := list.Sessions[0].IP; got != c.want {
					t.Errorf("%s with %q: the session's IP is %s, want %s", fw, c.env, got, c.want)
				}
			})
		}
	}
}
