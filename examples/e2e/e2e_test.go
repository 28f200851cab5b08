package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authenik8/authenik8-go/conformance/redistest"
	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/core/memstore"
)

// TestReadmeWalkthrough runs the curl walk-through of README.md against each
// example, started from a clean environment, and checks every command
// prints what the README says.
func TestReadmeWalkthrough(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the walk-through needs %s", tool)
		}
	}
	steps := walkthrough(t)
	for _, fw := range frameworks {
		t.Run(fw, func(t *testing.T) {
			s := start(t, fw)
			for _, said := range []string{"store: in memory", "JWT_SECRET is not set", "REFRESH_SECRET is not set"} {
				if !strings.Contains(s.Logs(), said) {
					t.Fatalf("%s started without environment does not warn %q:\n%s", fw, said, s.Logs())
				}
			}
			var script strings.Builder
			script.WriteString("set -u\n")
			for _, st := range steps {
				cmd := st.cmd
				if strings.HasPrefix(cmd, "BASE=") {
					cmd = "BASE=" + s.URL
				}
				fmt.Fprintf(&script, "%s\nprintf '\\n@@@\\n'\n", cmd)
			}
			out, err := exec.Command("bash", "-c", script.String()).CombinedOutput()
			if err != nil {
				t.Fatalf("walk-through: %v\n%s", err, out)
			}
			chunks := strings.Split(string(out), "\n@@@\n")
			for i, st := range steps {
				got := strings.TrimSpace(chunks[i])
				if !st.want.MatchString(got) {
					t.Errorf("step %q\nprinted: %s\nREADME:  %s", st.cmd, got, st.printed)
				}
			}
		})
	}
}

type step struct {
	cmd, printed string
	want         *regexp.Regexp
}

// walkthrough reads the commands between the walkthrough markers of
// README.md and the "# →" line after each (nothing printed when absent).
func walkthrough(t *testing.T) []step {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(readme), "<!-- walkthrough:begin -->")
	block, _, ok2 := strings.Cut(block, "<!-- walkthrough:end -->")
	if !ok || !ok2 {
		t.Fatal("README.md has no walk-through block")
	}
	var steps []step
	for _, line := range strings.Split(block, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "# →"):
			printed := strings.TrimSpace(strings.TrimPrefix(line, "# →"))
			steps[len(steps)-1].printed = printed
			parts := strings.Split(printed, "…")
			for i := range parts {
				parts[i] = regexp.QuoteMeta(parts[i])
			}
			steps[len(steps)-1].want = regexp.MustCompile("^" + strings.Join(parts, "[^\"]+") + "$")
		case line == "", strings.HasPrefix(line, "#"), strings.HasPrefix(line, "```"):
		default:
			steps = append(steps, step{cmd: line, want: regexp.MustCompile("^$")})
		}
	}
	if len(steps) < 8 {
		t.Fatalf("walk-through has only %d commands", len(steps))
	}
	return steps
}

// TestSameAnswers sends every error row of docs/protocol.md §7 to the four
// examples and compares their answers byte for byte: status, body, and the
// Content-Type, Cache-Control, WWW-Authenticate and Retry-After headers.
func TestSameAnswers(t *testing.T) {
	redis := redistest.Start(t)
	secret := "e2e access secret, at least 32 bytes long"
	env := []string{"JWT_SECRET=" + secret, "REFRESH_SECRET=e2e refresh secret, at least 32 bytes long", "REDIS_URL=" + redis.URL()}
	servers := map[string]*server{}
	for _, fw := range frameworks {
		servers[fw] = start(t, fw, env...) // one Redis; each uses its own emails
	}
	expired := mintExpired(t, secret)
	var wg, arrived sync.WaitGroup
	var mu sync.Mutex
	var killOnce sync.Once
	arrived.Add(len(frameworks))
	// The store-outage rows come last: Redis dies once every server is there.
	killWhenAllArrive := func() {
		arrived.Done()
		arrived.Wait()
		killOnce.Do(redis.Kill)
	}
	results := map[string]map[string]answer{}
	for _, fw := range frameworks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got := errorRows(t, servers[fw].URL, fw, expired, killWhenAllArrive)
			mu.Lock()
			results[fw] = got
			mu.Unlock()
		}()
	}
	wg.Wait()
	names := make([]string, 0, len(results[frameworks[0]]))
	for n := range results[frameworks[0]] {
		names = append(names, n)
	}
	slices.Sort(names)
	codes := map[string]bool{}
	for _, name := range names {
		// Each row's name ends with the status the error table gives it: the
		// frameworks must agree, and agree on the right answer.
		want, _ := strconv.Atoi(name[strings.LastIndexByte(name, ' ')+1:])
		first := results[frameworks[0]][name]
		if first.Status != want {
			t.Errorf("%s: %s answered %d %s", name, frameworks[0], first.Status, first.Body)
		}
		for _, fw := range frameworks[1:] {
			if a := results[fw][name]; fmt.Sprint(a) != fmt.Sprint(first) {
				t.Errorf("%s: %s answered\n  %+v\nbut %s answered\n  %+v", name, frameworks[0], first, fw, a)
			}
		}
		var body struct{ Error string }
		json.Unmarshal([]byte(first.Body), &body)
		codes[body.Error] = true
	}
	for _, code := range []string{"invalid_request", "missing_token", "invalid_token", "token_expired", "token_revoked",
		"invalid_refresh_token", "refresh_token_reused", "refresh_conflict", "invalid_credentials", "forbidden",
		"not_found", "user_exists", "payload_too_large", "store_unavailable"} {
		if !codes[code] {
			t.Errorf("no request produced %s", code)
		}
	}
	t.Logf("%d requests, the same answers from %v", len(names), frameworks)
}

// mintExpired signs an access token that expired an hour ago, with the
// servers' secret.
func mintExpired(t *testing.T, secret string) string {
	key, _ := core.NewHMACKey([]byte(secret))
	a, err := core.New(core.Config{
		Store: memstore.New(), AccessKeys: []core.Key{key}, RefreshSecret: []byte("another secret, also 32 bytes or more"),
		Now: func() time.Time { return time.Now().Add(-2 * time.Hour) },
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := a.IssueSession(t.Context(), core.User{ID: "someone"}, core.Client{})
	if err != nil {
		t.Fatal(err)
	}
	return p.AccessToken
}

// errorRows produces every error row once on one server. The final rows
// need Redis down: storeDown returns once it is. It runs on its own
// goroutine, so it reports with t.Errorf only.
func errorRows(t *testing.T, base, tag, expired string, storeDown func()) map[string]answer {
	out := map[string]answer{}
	email := func(n string) string {
		return fmt.Sprintf(`{"email":"%s-%s@example.com","password":"correct horse battery"}`, n, tag)
	}
	login := func(n string) (access, refresh string) {
		a := postJSON(t, base+"/auth/login", "", email(n))
		var tk struct{ AccessToken, RefreshToken string }
		json.Unmarshal([]byte(strings.NewReplacer("access_token", "AccessToken", "refresh_token", "RefreshToken").Replace(a.Body)), &tk)
		if tk.AccessToken == "" {
			t.Errorf("%s login: %+v", tag, a)
		}
		return tk.AccessToken, tk.RefreshToken
	}
	// normalize replaces what legitimately differs between servers (ids).
	normalize := func(a answer) answer {
		a.Body = regexp.MustCompile(`"id":"[^"]+"`).ReplaceAllString(a.Body, `"id":"…"`)
		a.Body = strings.ReplaceAll(a.Body, tag, "TAG")
		return a
	}
	out["register 201"] = normalize(postJSON(t, base+"/auth/register", "", email("a")))
	out["register taken 409"] = postJSON(t, base+"/auth/register", "", email("a"))
	out["register bad email 400"] = postJSON(t, base+"/auth/register", "", `{"email":"nope","password":"correct horse battery"}`)
	out["register short password 400"] = postJSON(t, base+"/auth/register", "", `{"email":"x@example.com","password":"short"}`)
	out["login malformed JSON 400"] = postJSON(t, base+"/auth/login", "", `{"email":`)
	out["login wrong content type 400"] = call(t, "POST", base+"/auth/login", "", "text/plain", email("a"))
	out["login too large 413"] = postJSON(t, base+"/auth/login", "", `{"email":"`+strings.Repeat("x", 17<<10)+`"}`)
	out["login wrong password 401"] = postJSON(t, base+"/auth/login", "", `{"email":"a-`+tag+`@example.com","password":"wrong password"}`)
	out["login unknown email 401"] = postJSON(t, base+"/auth/login", "", `{"email":"nobody@example.com","password":"wrong password"}`)
	access, refresh := login("a")
	out["profile no token 401"] = call(t, "GET", base+"/api/profile", "", "", "")
	out["profile garbage 401"] = call(t, "GET", base+"/api/profile", "garbage", "", "")
	out["profile expired 401"] = call(t, "GET", base+"/api/profile", expired, "", "")
	out["admin as user 403"] = call(t, "GET", base+"/api/admin", access, "", "")
	out["delete unknown session 404"] = call(t, "DELETE", base+"/auth/sessions/"+core.NewSessionID("nobody"), access, "", "")
	out["refresh garbage 401"] = postJSON(t, base+"/auth/refresh", "", `{"refresh_token":"garbage"}`)
	out["refresh missing 400"] = postJSON(t, base+"/auth/refresh", "", `{}`)
	r1 := postJSON(t, base+"/auth/refresh", "", `{"refresh_token":"`+refresh+`"}`)
	if r1.Status != 200 {
		t.Errorf("%s refresh: %+v", tag, r1)
	}
	out["refresh replay within grace 401"] = postJSON(t, base+"/auth/refresh", "", `{"refresh_token":"`+refresh+`"}`)
	time.Sleep(core.DefaultReuseGrace + 500*time.Millisecond)
	out["refresh replay after grace 401"] = postJSON(t, base+"/auth/refresh", "", `{"refresh_token":"`+refresh+`"}`)
	out["profile after reuse 401"] = call(t, "GET", base+"/api/profile", access, "", "")
	access2, _ := login("a")
	out["logout 204"] = call(t, "POST", base+"/auth/logout", access2, "", "")
	out["logout nothing 401"] = call(t, "POST", base+"/auth/logout", "", "", "")
	out["jwks 200"] = call(t, "GET", base+"/auth/jwks.json", "", "", "")
	out["well-known jwks 200"] = call(t, "GET", base+"/.well-known/jwks.json", "", "", "")
	out["healthz 200"] = call(t, "GET", base+"/healthz", "", "", "")
	out["readyz 200"] = call(t, "GET", base+"/readyz", "", "", "")
	access3, _ := login("a")
	storeDown()
	out["readyz store down 503"] = call(t, "GET", base+"/readyz", "", "", "")
	out["healthz store down 200"] = call(t, "GET", base+"/healthz", "", "", "") // no I/O
	out["profile store down 503"] = call(t, "GET", base+"/api/profile", access3, "", "")
	out["login store down 503"] = postJSON(t, base+"/auth/login", "", email("a"))
	return out
}
