package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/authenik8/authenik8-go/conformance/redistest"
	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/redisstore"
)

func mustKey(t *testing.T) []core.Key {
	t.Helper()
	k, err := core.GenerateKey("HS256")
	if err != nil {
		t.Fatal(err)
	}
	return []core.Key{k}
}

// goodEnv is a valid configuration on the Redis at url ("" for memory).
func goodEnv(url string) map[string]string {
	env := map[string]string{"JWT_SECRET": newSecret(32), "REFRESH_SECRET": newSecret(32)}
	if url != "" {
		env["REDIS_URL"] = url
	}
	return env
}

// doctorJSON runs doctor --json and decodes its report.
func doctorJSON(t *testing.T, env map[string]string, args ...string) (int, bool, map[string]check) {
	t.Helper()
	r := cli(t, env, append([]string{"doctor", "--json", "--env", ""}, args...)...)
	var report struct {
		OK     bool    `json:"ok"`
		Checks []check `json:"checks"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &report); err != nil {
		t.Fatalf("doctor --json printed no JSON report: %v\n%v", err, r)
	}
	checks := map[string]check{}
	for _, c := range report.Checks {
		checks[c.Name] = c
	}
	return r.code, report.OK, checks
}

// selfTestSteps are the checks of a passing live self-test.
var selfTestSteps = []string{"issue", "verify", "rotate", "replay rejected", "concurrent refresh", "revoke"}

// TestDoctorRedis: every check passes against a real Redis, and the
// self-test leaves no key behind.
func TestDoctorRedis(t *testing.T) {
	srv := redistest.Start(t)
	r := cli(t, goodEnv(srv.URL()), "doctor", "--env", "")
	if r.code != exitOK {
		t.Fatalf("doctor against a healthy Redis: %v", r)
	}
	for _, want := range []string{
		"PASS  JWT_SECRET: 44 bytes",
		"PASS  REFRESH_SECRET: 44 bytes",
		"PASS  secrets distinct",
		"PASS  redis reachable: " + srv.Addr,
		"PASS  RESP3",
		"PASS  CLIENT TRACKING",
		"PASS  cluster mode: standalone",
		"PASS  self-test: cleanup",
		"ok: no check failed",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("no line %q in\n%s", want, r.stdout)
		}
	}
	for _, step := range selfTestSteps {
		if !strings.Contains(r.stdout, "PASS  self-test: "+step+":") {
			t.Errorf("self-test step %q did not pass:\n%s", step, r.stdout)
		}
	}
	if n, err := redistest.Command(srv.Addr, "DBSIZE"); err != nil || n != "0" {
		t.Errorf("after doctor, the Redis holds %s keys (%v)", n, err)
	}

	// The cleanup deletes what a failed self-test would leave.
	store, err := redisstore.Open(srv.URL(), redisstore.Options{KeyPrefix: "a8doctor-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	a, err := core.New(core.Config{Store: store, AccessKeys: mustKey(t), RefreshSecret: []byte(newSecret(32))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.IssueSession(context.Background(), core.User{ID: "u1"}, core.Client{}); err != nil {
		t.Fatal(err)
	}
	redistest.Command(srv.Addr, "SET", "other-app:key", "kept")
	d := &doctor{timeout: 5 * time.Second}
	d.cleanup(store, "a8doctor-test")
	if c := d.checks[0]; c.Status != statusPass || !strings.HasPrefix(c.Detail, "deleted the 2 keys left under a8doctor-test:*") {
		t.Errorf("cleanup: %+v", c)
	}
	if n, _ := redistest.Command(srv.Addr, "DBSIZE"); n != "1" {
		t.Errorf("after cleanup, the Redis holds %s keys, want only other-app:key", n)
	}

	// --json: the same checks, machine-readable.
	code, ok, checks := doctorJSON(t, goodEnv(srv.URL()))
	if code != exitOK || !ok || checks["self-test: concurrent refresh"].Status != statusPass || checks["redis reachable"].Status != statusPass {
		t.Errorf("--json: exit %d, ok %v, checks %v", code, ok, checks)
	}
}

// TestDoctorCluster reports cluster mode and runs the self-test across the
// cluster's nodes.
func TestDoctorCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no cluster")
	}
	url := redistest.ClusterURL(t)
	code, ok, checks := doctorJSON(t, goodEnv(url))
	if code != exitOK || !ok {
		t.Fatalf("doctor against a cluster: exit %d: %v", code, checks)
	}
	if c := checks["cluster mode"]; c.Status != statusPass || !strings.HasPrefix(c.Detail, "cluster: 3 shards") {
		t.Errorf("cluster mode: %+v", c)
	}
}

// TestDoctorRedisDown fails, naming Redis, for a server that is gone.
func TestDoctorRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	srv.Kill()
	r := cli(t, goodEnv(srv.URL()), "doctor", "--env", "", "--timeout", "2s")
	if r.code != exitFailure {
		t.Fatalf("doctor with Redis down: %v", r)
	}
	for _, want := range []string{"FAIL  redis reachable: " + srv.Addr, "connection refused", "SKIP  self-test", "FAILED: redis reachable"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("no %q in\n%s", want, r.stdout)
		}
	}

	code, ok, checks := doctorJSON(t, goodEnv(srv.URL()), "--timeout", "2s")
	if code != exitFailure || ok || checks["redis reachable"].Status != statusFail {
		t.Errorf("--json with Redis down: exit %d, ok %v, %v", code, ok, checks)
	}
}

// TestDoctorWeakSecrets fails, naming the variable and the reason.
func TestDoctorWeakSecrets(t *testing.T) {
	strong := newSecret(32)
	for _, c := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"JWT_SECRET": "twelve bytes", "REFRESH_SECRET": strong}, "FAIL  JWT_SECRET: 12 bytes, at least 32 required"},
		{map[string]string{"JWT_SECRET": strong, "REFRESH_SECRET": "short"}, "FAIL  REFRESH_SECRET: 5 bytes, at least 32 required"},
		{map[string]string{"REFRESH_SECRET": strong}, "FAIL  JWT_SECRET: not set"},
		{map[string]string{"JWT_SECRET": strong, "REFRESH_SECRET": strong}, "FAIL  secrets distinct: JWT_SECRET and REFRESH_SECRET are the same"},
		{map[string]string{"JWT_SECRET": strings.Repeat("ab", 20), "REFRESH_SECRET": strong}, "FAIL  JWT_SECRET: 40 bytes but only 2 distinct characters"},
		{map[string]string{"JWT_JWKS": `{"keys":[{"kty":"oops"}]}`, "REFRESH_SECRET": strong}, "FAIL  JWT_JWKS:"},
	} {
		r := cli(t, c.env, "doctor", "--env", "")
		if r.code != exitFailure || !strings.Contains(r.stdout, c.want) {
			t.Errorf("env %v: want %q\n%v", c.env, c.want, r)
		}
		// The self-test still runs, on throwaway keys.
		if !strings.Contains(r.stdout, "PASS  self-test: revoke") || !strings.Contains(r.stdout, "throwaway keys") {
			t.Errorf("env %v: self-test:\n%s", c.env, r.stdout)
		}
	}
}

// TestDoctorMemory: without REDIS_URL the Redis checks are skipped and the
// self-test runs in memory.
func TestDoctorMemory(t *testing.T) {
	code, ok, checks := doctorJSON(t, goodEnv(""))
	if code != exitOK || !ok {
		t.Fatalf("exit %d: %v", code, checks)
	}
	if c := checks["redis"]; c.Status != statusSkip || !strings.Contains(c.Detail, "REDIS_URL is not set") {
		t.Errorf("redis: %+v", c)
	}
	for _, step := range selfTestSteps {
		if c := checks["self-test: "+step]; c.Status != statusPass {
			t.Errorf("self-test %s: %+v", step, c)
		}
	}
}

// TestDoctorJWKS accepts the JWK set of "secret --jwks" as access key.
func TestDoctorJWKS(t *testing.T) {
	set := cli(t, nil, "secret", "--jwks", "ed25519").stdout
	code, _, checks := doctorJSON(t, map[string]string{"JWT_JWKS": strings.TrimSpace(set), "REFRESH_SECRET": newSecret(32)})
	if code != exitOK || checks["JWT_JWKS"].Status != statusPass || !strings.Contains(checks["JWT_JWKS"].Detail, "EdDSA") {
		t.Errorf("exit %d: %v", code, checks)
	}
	if c := checks["self-test: verify"]; !strings.Contains(c.Detail, "EdDSA") {
		t.Errorf("the self-test did not use the project's key: %+v", c)
	}
}

// TestDoctorEnvFile reads the env file under the process environment,
// which wins.
func TestDoctorEnvFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ".env")
	os.WriteFile(path, []byte("# a project's .env\nJWT_SECRET=tooshort\nexport REFRESH_SECRET='"+newSecret(32)+"'\n"), 0o600)

	r := cli(t, nil, "doctor", "--env", path)
	if r.code != exitFailure || !strings.Contains(r.stdout, "INFO  environment: "+path) || !strings.Contains(r.stdout, "FAIL  JWT_SECRET: 8 bytes") {
		t.Errorf("weak secret in the env file: %v", r)
	}
	r = cli(t, map[string]string{"JWT_SECRET": newSecret(32)}, "doctor", "--env", path)
	if r.code != exitOK {
		t.Errorf("the environment should win over the env file: %v", r)
	}

	os.WriteFile(path, []byte("JWT_SECRET\n"), 0o600)
	if r := cli(t, goodEnv(""), "doctor", "--env", path); r.code != exitFailure || !strings.Contains(r.stdout, "FAIL  env file: "+path+":1: not a KEY=VALUE line") {
		t.Errorf("malformed env file: %v", r)
	}
	if r := cli(t, goodEnv(""), "doctor", "--env", filepath.Join(dir, "missing.env")); r.code != exitUsage || !strings.Contains(r.stderr, "no such file") {
		t.Errorf("missing --env file: %v", r)
	}
	if r := cli(t, goodEnv(""), "doctor", "--timeout", "0s"); r.code != exitUsage {
		t.Errorf("--timeout 0s: %v", r)
	}
}

// TestDoctorRedisAuth: credentials and a database number in REDIS_URL are
// used; missing ones are reported as such.
func TestDoctorRedisAuth(t *testing.T) {
	srv := redistest.Start(t) // with --requirepass, Start's readiness PING would get NOAUTH
	if _, err := redistest.Command(srv.Addr, "CONFIG", "SET", "requirepass", "s3cret"); err != nil {
		t.Fatal(err)
	}
	r := cli(t, goodEnv(srv.URL()), "doctor", "--env", "")
	if r.code != exitFailure || !strings.Contains(r.stdout, "FAIL  redis reachable: "+srv.Addr+": authentication failed") {
		t.Errorf("no password: %v", r)
	}
	r = cli(t, goodEnv("redis://:s3cret@"+srv.Addr+"/3"), "doctor", "--env", "")
	if r.code != exitOK {
		t.Errorf("with the password, database 3: %v", r)
	}
}

// TestDoctorOldRedis talks to a fake server that speaks RESP2 only, like
// Redis 5: RESP3 and CLIENT TRACKING are reported, and with client_cache=0
// in REDIS_URL they are not failures.
func TestDoctorOldRedis(t *testing.T) {
	addr := fakeRESP2(t)
	d := &doctor{timeout: 2 * time.Second, getenv: func(string) string { return "" }}
	co, _ := rueidis.ParseURL("redis://" + addr)
	if !d.checkRedis(co) {
		t.Fatalf("not reachable: %v", d.checks)
	}
	byName := map[string]check{}
	for _, c := range d.checks {
		byName[c.Name] = c
	}
	if c := byName["redis reachable"]; c.Status != statusPass || !strings.Contains(c.Detail, "Redis 5.0.14") {
		t.Errorf("reachable: %+v", c)
	}
	if c := byName["RESP3"]; c.Status != statusFail || !strings.Contains(c.Detail, "Redis 6 or later") || !strings.Contains(c.Detail, "client_cache=0") {
		t.Errorf("RESP3: %+v", c)
	}
	if c := byName["CLIENT TRACKING"]; c.Status != statusSkip {
		t.Errorf("CLIENT TRACKING: %+v", c)
	}
	if c := byName["cluster mode"]; c.Status != statusPass || c.Detail != "standalone" {
		t.Errorf("cluster mode: %+v", c)
	}

	d = &doctor{timeout: 2 * time.Second}
	co, _ = rueidis.ParseURL("redis://" + addr + "?client_cache=0")
	d.checkRedis(co)
	if names := d.failed(); len(names) != 0 {
		t.Errorf("client_cache=0: failed %v: %v", names, d.checks)
	}
}

// fakeRESP2 serves a few commands the way Redis 5 answers them.
func fakeRESP2(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				r := bufio.NewReader(conn)
				for {
					args, err := readCommand(r)
					if err != nil {
						return
					}
					var reply string
					switch strings.ToUpper(strings.Join(args, " ")) {
					case "PING":
						reply = "+PONG\r\n"
					case "INFO SERVER":
						reply = bulk("# Server\r\nredis_version:5.0.14\r\n")
					case "INFO CLUSTER":
						reply = bulk("# Cluster\r\ncluster_enabled:0\r\n")
					default:
						reply = "-ERR unknown command `" + args[0] + "`, with args beginning with: \r\n"
					}
					conn.Write([]byte(reply))
				}
			}()
		}
	}()
	return l.Addr().String()
}

func bulk(s string) string { return "$" + strconv.Itoa(len(s)) + "\r\n" + s + "\r\n" }

// readCommand reads one RESP array of bulk strings.
func readCommand(r *bufio.Reader) ([]string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	n, _ := strconv.Atoi(strings.TrimSpace(line[1:]))
	args := make([]string, n)
	for i := range args {
		if _, err := r.ReadString('\n'); err != nil { // $len
			return nil, err
		}
		s, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		args[i] = strings.TrimSuffix(s, "\r\n")
	}
	return args, nil
}

// TestDoctorRedactsURL: a REDIS_URL that does not parse, or whose password
// Redis refuses, is reported without a piece of the password, in lines and
// in JSON.
func TestDoctorRedactsURL(t *testing.T) {
	srv := redistest.Start(t)
	if _, err := redistest.Command(srv.Addr, "CONFIG", "SET", "requirepass", "s3cret"); err != nil {
		t.Fatal(err)
	}
	for url, want := range map[string]string{
		"redis://alice:Pa55/w0rd@" + srv.Addr:   `FAIL  REDIS_URL: invalid URL "redis://alice:xxxxx@` + srv.Addr + `"`,
		"redis://alice:Pa55%zzw0rd@" + srv.Addr: `FAIL  REDIS_URL: invalid URL "redis://alice:xxxxx@` + srv.Addr + `"`,
		"redis://alice:1234/w0rd@" + srv.Addr:   `FAIL  REDIS_URL: invalid URL "redis://alice:xxxxx@` + srv.Addr + `"`,
		"redis://:Pa55w0rd@" + srv.Addr:         "FAIL  redis reachable: " + srv.Addr + ": authentication failed",
	} {
		r := cli(t, goodEnv(url), "doctor", "--env", "")
		j := cli(t, goodEnv(url), "doctor", "--env", "", "--json")
		if r.code != exitFailure || !strings.Contains(r.stdout, want) {
			t.Errorf("REDIS_URL=%s: want %q\n%v", url, want, r)
		}
		for _, out := range []string{r.stdout + r.stderr, j.stdout + j.stderr} {
			for _, secret := range []string{"Pa55", "w0rd", "1234"} {
				if strings.Contains(out, secret) {
					t.Errorf("REDIS_URL=%s: doctor printed %q:\n%s", url, secret, out)
				}
			}
		}
	}
}
