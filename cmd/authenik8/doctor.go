package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/rueidis"

	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/core/memstore"
	"github.com/authenik8/authenik8-go/pgstore"
	"github.com/authenik8/authenik8-go/redisstore"
)

// Check statuses. Only fail makes doctor fail.
const (
	statusPass = "pass"
	statusFail = "fail"
	statusSkip = "skip"
	statusInfo = "info"
)

// check is one line of the report.
type check struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Detail string `json:"detail"`
}

// doctor runs the checks and collects their results.
type doctor struct {
	timeout time.Duration
	getenv  func(string) string
	checks  []check
	emit    func(check) // called as each check completes; nil for none
}

func (d *doctor) add(status, name, format string, args ...any) {
	c := check{Name: name, Status: status, Detail: oneLine(fmt.Sprintf(format, args...))}
	d.checks = append(d.checks, c)
	if d.emit != nil {
		d.emit(c)
	}
}

// oneLine joins the lines of a detail, such as pgx's error with one line
// per address tried, dropping repeated ones: a check is one line.
func oneLine(s string) string {
	if !strings.Contains(s, "\n") {
		return s
	}
	var parts []string
	for line := range strings.Lines(s) {
		if line = strings.TrimSpace(line); line != "" && !slices.Contains(parts, line) {
			parts = append(parts, line)
		}
	}
	return strings.Join(parts, " ")
}

func (d *doctor) failed() []string {
	var names []string
	for _, c := range d.checks {
		if c.Status == statusFail {
			names = append(names, c.Name)
		}
	}
	return names
}

func cmdDoctor(args []string, std *stdio) int {
	flags := flag.NewFlagSet("doctor", flag.ContinueOnError)
	flags.SetOutput(std.stderr)
	envFile := flags.String("env", ".env", `env file read under the process environment ("" for none)`)
	asJSON := flags.Bool("json", false, `print {"ok":…,"checks":[{"name","status","detail"}]} instead of lines`)
	timeout := flags.Duration("timeout", 5*time.Second, "deadline of each network step")
	flags.Usage = func() {
		fmt.Fprint(flags.Output(), `Usage: authenik8 doctor [--env .env] [--json] [--timeout 5s]

Checks a project's configuration: the secrets, Redis (REDIS_URL: reachable,
RESP3, CLIENT TRACKING, standalone or cluster), then a live self-test
through core and redisstore on a throwaway key prefix, deleted afterwards;
then PostgreSQL (DATABASE_URL: reachable, version 12 or later, writable,
pgstore's migrations applied or applicable), changing nothing there.
Exit status 1 when a check fails.

`)
		flags.PrintDefaults()
	}
	rest, err := parseArgs(flags, args)
	if err != nil {
		return flagExit(err)
	}
	if len(rest) > 0 {
		fmt.Fprintf(std.stderr, "authenik8 doctor: unexpected argument %q\n", rest[0])
		return exitUsage
	}
	if *timeout <= 0 {
		fmt.Fprintln(std.stderr, "authenik8 doctor: --timeout must be positive")
		return exitUsage
	}
	explicitEnv := false
	flags.Visit(func(f *flag.Flag) { explicitEnv = explicitEnv || f.Name == "env" })

	d := &doctor{timeout: *timeout}
	if !*asJSON {
		d.emit = func(c check) {
			fmt.Fprintf(std.stdout, "%-4s  %s: %s\n", strings.ToUpper(c.Status), c.Name, c.Detail)
		}
	}

	// The environment as the project reads it: the process environment,
	// then the env file for what it leaves empty.
	vars := map[string]string{}
	source := "the process environment (no env file)"
	if *envFile != "" {
		abs, _ := filepath.Abs(*envFile)
		m, err := readEnvFile(*envFile)
		switch {
		case err == nil:
			vars, source = m, abs+" under the process environment"
		case errors.Is(err, fs.ErrNotExist) && explicitEnv:
			fmt.Fprintf(std.stderr, "authenik8 doctor: --env %s: no such file\n", *envFile)
			return exitUsage
		case errors.Is(err, fs.ErrNotExist):
			source = "the process environment (no " + *envFile + " here)"
		default:
			d.add(statusFail, "env file", "%v", err)
		}
	}
	d.getenv = func(key string) string {
		if v := std.getenv(key); v != "" {
			return v
		}
		return vars[key]
	}
	d.add(statusInfo, "environment", "%s", source)
	d.run()

	failed := d.failed()
	if *asJSON {
		out, _ := json.MarshalIndent(struct {
			OK     bool    `json:"ok"`
			Checks []check `json:"checks"`
		}{len(failed) == 0, d.checks}, "", "  ")
		fmt.Fprintln(std.stdout, string(out))
	} else if len(failed) == 0 {
		fmt.Fprintf(std.stdout, "\nok: no check failed\n")
	} else {
		fmt.Fprintf(std.stdout, "\nFAILED: %s\n", strings.Join(failed, "; "))
	}
	if len(failed) > 0 {
		return exitFailure
	}
	return exitOK
}

// run performs every check in order.
func (d *doctor) run() {
	d.checkSessions()
	d.checkPostgres()
}

// checkSessions checks the secrets and the session store, and runs the
// self-test on it.
func (d *doctor) checkSessions() {
	keys, refreshSecret, configured := d.checkSecrets()
	if !configured { // the self-test still exercises the store
		k, _ := core.GenerateKey("HS256")
		keys, refreshSecret = []core.Key{k}, []byte(newSecret(32))
	}
	keyNote := "the project's keys"
	if !configured {
		keyNote = "throwaway keys"
	}

	url := d.getenv("REDIS_URL")
	if url == "" {
		d.add(statusSkip, "redis", "REDIS_URL is not set: the project runs on the in-memory store")
		d.selfTest(memstore.New(), "in memory, "+keyNote, keys, refreshSecret)
		return
	}
	co, err := redisstore.ParseURL(url) // its errors show the URL redacted
	if err != nil {
		d.add(statusFail, "REDIS_URL", "%s", strings.TrimPrefix(err.Error(), "redisstore: "))
		return
	}
	if !d.checkRedis(co) {
		d.add(statusSkip, "self-test", "needs a reachable Redis")
		return
	}
	prefix := "a8doctor-" + randomHex(4)
	store, err := redisstore.OpenWith(co, redisstore.Options{KeyPrefix: prefix, Timeout: d.timeout})
	if err != nil {
		d.add(statusFail, "self-test: open store", "%v", err)
		return
	}
	defer store.Close()
	d.selfTest(store, "Redis, key prefix "+prefix+", "+keyNote, keys, refreshSecret)
	d.cleanup(store, prefix)
}

// minPostgres is the oldest PostgreSQL major version doctor accepts for
// pgstore: the oldest that had upstream support when pgstore was written.
// Its migrations need nothing newer.
const minPostgres = 12

// checkPostgres checks DATABASE_URL, where a project generated with
// --users postgres keeps its accounts: the server answers, is recent enough
// and takes writes, and pgstore's migrations are applied, or the server can
// apply them at start. It changes nothing.
func (d *doctor) checkPostgres() {
	url := d.getenv("DATABASE_URL")
	if url == "" {
		d.add(statusSkip, "postgres", "DATABASE_URL is not set: accounts live in the session store")
		return
	}
	// Only a URL can be shown redacted: a key=value connection string is
	// refused without being echoed, as the project refuses it.
	if u, err := core.ParseURL(url); err != nil {
		d.add(statusFail, "DATABASE_URL", "%v", err) // redacted by ParseURL
		return
	} else if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		d.add(statusFail, "DATABASE_URL", "not a postgres:// URL (postgres://user:password@host:5432/database)")
		return
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		d.add(statusFail, "DATABASE_URL", "%v", core.RedactURLError(url, err))
		return
	}
	cfg.MaxConns = 1
	cfg.ConnConfig.ConnectTimeout = d.timeout
	where := fmt.Sprintf("%s/%s", net.JoinHostPort(cfg.ConnConfig.Host, strconv.Itoa(int(cfg.ConnConfig.Port))), cfg.ConnConfig.Database)
	ctx, cancel := context.WithTimeout(context.Background(), 2*d.timeout)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		d.add(statusFail, "DATABASE_URL", "%v", core.RedactURLError(url, err))
		return
	}
	defer pool.Close()

	var (
		version, readOnly, user string
		num                     int
	)
	start := time.Now()
	err = pool.QueryRow(ctx, `SELECT current_setting('server_version'), current_setting('server_version_num')::int,
		current_setting('transaction_read_only'), current_user`).Scan(&version, &num, &readOnly, &user)
	if err != nil {
		d.add(statusFail, "postgres reachable", "%s: %v", where, core.RedactURLError(url, err))
		d.add(statusSkip, "postgres migrations", "needs a reachable PostgreSQL")
		return
	}
	d.add(statusPass, "postgres reachable", "%s as %s, connected and queried in %s", where, user, ms(time.Since(start)))
	if num < minPostgres*10000 {
		d.add(statusFail, "postgres version", "PostgreSQL %s: pgstore needs %d or later", version, minPostgres)
	} else {
		d.add(statusPass, "postgres version", "PostgreSQL %s (%d or later required)", version, minPostgres)
	}
	if readOnly == "on" {
		d.add(statusFail, "postgres writable", "transactions are read-only (a standby, or default_transaction_read_only): point DATABASE_URL at the primary")
	} else {
		d.add(statusPass, "postgres writable", "transactions are read-write")
	}
	d.checkMigrations(ctx, pool, user)
}

// checkMigrations reports pgstore's migrations in the schema the projects
// use, without applying any: pending ones are no failure when the server,
// which applies them at start, has the right to create them.
func (d *doctor) checkMigrations(ctx context.Context, pool *pgxpool.Pool, user string) {
	users, err := pgstore.New(pool, pgstore.Options{})
	if err != nil {
		d.add(statusFail, "postgres migrations", "%v", err)
		return
	}
	schema := users.Schema()
	st, err := users.MigrationStatus(ctx)
	if err != nil {
		d.add(statusFail, "postgres migrations", "schema %q: %v", schema, err)
		return
	}
	newer := ""
	if len(st.Applied) > 0 && st.Applied[len(st.Applied)-1] > st.Latest {
		newer = fmt.Sprintf("; versions above %d come from a newer pgstore", st.Latest)
	}
	if len(st.Pending) == 0 {
		d.add(statusPass, "postgres migrations", "schema %q: %s applied, none pending%s", schema, versions(st.Applied), newer)
		return
	}
	// What Migrate needs: CREATE on the schema, or on the database when
	// the schema does not exist yet.
	var allowed bool
	err = pool.QueryRow(ctx, `SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)
		THEN has_schema_privilege($1, 'CREATE') ELSE has_database_privilege(current_database(), 'CREATE') END`, schema).Scan(&allowed)
	switch {
	case err != nil:
		d.add(statusFail, "postgres migrations", "schema %q: %s pending; checking the right to apply them: %v", schema, versions(st.Pending), err)
	case !allowed:
		d.add(statusFail, "postgres migrations", "schema %q: %s pending, and %s may not create them, so the server would not start: GRANT CREATE ON DATABASE (or ON SCHEMA %s) TO %s, or start the server once as a user who may", schema, versions(st.Pending), user, schema, user)
	default:
		applied := "none applied yet"
		if len(st.Applied) > 0 {
			applied = versions(st.Applied) + " applied"
		}
		d.add(statusInfo, "postgres migrations", "schema %q: %s, %s pending: the server applies them at start (nothing was changed here)%s", schema, applied, versions(st.Pending), newer)
	}
}

// versions formats migration versions: "version 1", "versions 1, 2".
func versions(vs []int) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = strconv.Itoa(v)
	}
	if len(vs) == 1 {
		return "version " + s[0]
	}
	return "versions " + strings.Join(s, ", ")
}

// checkSecrets checks the access-token keys and the refresh secret, and
// returns them when core accepts them.
func (d *doctor) checkSecrets() (keys []core.Key, refresh []byte, ok bool) {
	ok = true
	jwtSecret, jwks := d.getenv("JWT_SECRET"), d.getenv("JWT_JWKS")
	if jwks != "" {
		parsed, err := core.ParseJWKS([]byte(jwks))
		switch {
		case err != nil:
			d.add(statusFail, "JWT_JWKS", "%v", err)
			ok = false
		case len(parsed) == 0 || !parsed[0].CanSign():
			d.add(statusFail, "JWT_JWKS", "its first key must be a private key: it signs the access tokens")
			ok = false
		default:
			d.add(statusPass, "JWT_JWKS", "%d key(s); signing with %s, kid %s", len(parsed), parsed[0].Algorithm(), parsed[0].ID())
			keys = parsed
		}
		if jwtSecret != "" {
			d.add(statusInfo, "JWT_SECRET", "set but unused: JWT_JWKS takes precedence")
		}
	} else if d.checkSecret("JWT_SECRET", jwtSecret) {
		k, err := core.NewHMACKey([]byte(jwtSecret))
		if err != nil {
			d.add(statusFail, "JWT_SECRET", "%v", err)
			ok = false
		}
		keys = []core.Key{k}
	} else {
		ok = false
	}

	refreshSecret := d.getenv("REFRESH_SECRET")
	if !d.checkSecret("REFRESH_SECRET", refreshSecret) {
		ok = false
	}
	if jwks == "" && jwtSecret != "" && refreshSecret != "" {
		if jwtSecret == refreshSecret {
			d.add(statusFail, "secrets distinct", "JWT_SECRET and REFRESH_SECRET are the same; each needs its own random value")
			ok = false
		} else {
			d.add(statusPass, "secrets distinct", "JWT_SECRET and REFRESH_SECRET differ")
		}
	}
	if !ok {
		return nil, nil, false
	}
	// Whatever else core requires of a configuration.
	if _, err := core.New(core.Config{Store: memstore.New(), AccessKeys: keys, RefreshSecret: []byte(refreshSecret)}); err != nil {
		d.add(statusFail, "configuration", "core.New refuses it: %v", err)
		return nil, nil, false
	}
	return keys, []byte(refreshSecret), true
}

// checkSecret checks one HMAC secret: set, long enough, not obviously
// hand-made. Secrets are used as the bytes of their text.
func (d *doctor) checkSecret(name, value string) bool {
	distinct := map[rune]bool{}
	for _, r := range value {
		distinct[r] = true
	}
	switch {
	case value == "":
		d.add(statusFail, name, "not set: the server would make a random key at every start, so tokens would die with the process (authenik8 secret makes one)")
	case len(value) < minSecretBytes:
		d.add(statusFail, name, "%d bytes, at least %d required (authenik8 secret makes one)", len(value), minSecretBytes)
	case len(distinct) < 10:
		d.add(statusFail, name, "%d bytes but only %d distinct characters: not a random secret (authenik8 secret makes one)", len(value), len(distinct))
	default:
		d.add(statusPass, name, "%d bytes", len(value))
		return true
	}
	return false
}

// checkRedis checks the server of co directly over the protocol. It
// returns whether the server answers.
func (d *doctor) checkRedis(co rueidis.ClientOption) bool {
	if len(co.InitAddress) == 0 {
		d.add(statusFail, "REDIS_URL", "no address")
		return false
	}
	addr := co.InitAddress[0]
	if co.Sentinel.MasterSet != "" {
		d.add(statusInfo, "redis", "Sentinel, master set %q: protocol checks skipped; the self-test goes through the client", co.Sentinel.MasterSet)
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), d.timeout)
	defer cancel()
	c, err := dialRedis(ctx, co, addr, d.timeout)
	if err != nil {
		d.add(statusFail, "redis reachable", "%s: %v", addr, err)
		return false
	}
	defer c.Close()

	hello := []string{"HELLO", "3"}
	if co.Password != "" {
		user := co.Username
		if user == "" {
			user = "default"
		}
		hello = append(hello, "AUTH", user, co.Password)
	}
	helloReply, helloErr := c.do(hello...)
	var refused respError
	if helloErr != nil && !errors.As(helloErr, &refused) {
		d.add(statusFail, "redis reachable", "%s: %v", addr, helloErr)
		return false
	}
	if helloErr != nil && isAuthError(refused) {
		d.add(statusFail, "redis reachable", "%s: authentication failed: %v (credentials go in the URL: redis://user:password@host:port)", addr, refused)
		return false
	}
	resp3 := helloErr == nil
	if !resp3 && co.Password != "" { // a RESP2 server: authenticate the old way
		args := []string{"AUTH", co.Password}
		if co.Username != "" {
			args = []string{"AUTH", co.Username, co.Password}
		}
		if _, err := c.do(args...); err != nil {
			d.add(statusFail, "redis reachable", "%s: authentication failed: %v", addr, err)
			return false
		}
	}
	if co.SelectDB != 0 {
		if _, err := c.do("SELECT", fmt.Sprint(co.SelectDB)); err != nil {
			d.add(statusFail, "redis reachable", "%s: SELECT %d: %v", addr, co.SelectDB, err)
			return false
		}
	}
	start := time.Now()
	if _, err := c.do("PING"); err != nil {
		d.add(statusFail, "redis reachable", "%s: PING: %v", addr, err)
		return false
	}
	rtt := time.Since(start)
	hello3, _ := helloReply.(map[string]any)
	version, role := fmt.Sprint(hello3["version"]), fmt.Sprint(hello3["role"])
	if !resp3 {
		info, _ := c.do("INFO", "server")
		s, _ := info.(string)
		version, role = infoField(s, "redis_version"), ""
	}
	d.add(statusPass, "redis reachable", "%s, Redis %s, PING %s", addr, version, ms(rtt))

	cacheOff := co.DisableCache || co.AlwaysRESP2
	if resp3 {
		d.add(statusPass, "RESP3", "HELLO 3 accepted")
	} else if cacheOff {
		d.add(statusInfo, "RESP3", "not supported (%v); REDIS_URL turns client-side caching off, so every authenticated request costs a round trip", refused)
	} else {
		d.add(statusFail, "RESP3", "HELLO 3 refused (%v): client-side caching needs Redis 6 or later; upgrade, or add client_cache=0 to REDIS_URL (every authenticated request then costs a round trip)", refused)
	}
	switch _, err := c.do("CLIENT", "TRACKING", "ON", "OPTIN"); {
	case !resp3:
		d.add(statusSkip, "CLIENT TRACKING", "needs RESP3")
	case err == nil && cacheOff:
		d.add(statusInfo, "CLIENT TRACKING", "supported, but REDIS_URL turns client-side caching off (client_cache=0 or protocol=2)")
	case err == nil:
		d.add(statusPass, "CLIENT TRACKING", "client-side caching available: the per-request session check is served from memory")
	case cacheOff:
		d.add(statusInfo, "CLIENT TRACKING", "not supported (%v); REDIS_URL turns client-side caching off", err)
	default:
		d.add(statusFail, "CLIENT TRACKING", "CLIENT TRACKING ON refused (%v): add client_cache=0 to REDIS_URL, or set redisstore.Options.DisableCache (every authenticated request then costs a round trip)", err)
	}

	reply, err := c.do("INFO", "cluster")
	info, _ := reply.(string)
	switch {
	case err != nil:
		d.add(statusFail, "cluster mode", "INFO cluster: %v", err)
	case infoField(info, "cluster_enabled") != "1" && role == "replica":
		d.add(statusFail, "cluster mode", "standalone replica: it refuses writes; point REDIS_URL at the primary")
	case infoField(info, "cluster_enabled") != "1":
		d.add(statusPass, "cluster mode", "standalone")
	default:
		reply, err := c.do("CLUSTER", "INFO")
		ci, _ := reply.(string)
		switch state := infoField(ci, "cluster_state"); {
		case err != nil:
			d.add(statusFail, "cluster mode", "CLUSTER INFO: %v", err)
		case state != "ok":
			d.add(statusFail, "cluster mode", "cluster, but cluster_state is %q", state)
		default:
			d.add(statusPass, "cluster mode", "cluster: %s shards, %s nodes, state ok", infoField(ci, "cluster_size"), infoField(ci, "cluster_known_nodes"))
		}
	}
	return true
}

func isAuthError(e respError) bool {
	s := string(e)
	return strings.HasPrefix(s, "WRONGPASS") || strings.HasPrefix(s, "NOAUTH") || strings.Contains(s, "invalid password") || strings.Contains(s, "invalid username-password")
}

// concurrentRefreshes is how many refreshes of one token the self-test
// races; exactly one must win.
const concurrentRefreshes = 50

// selfTest drives core on store: issue, verify, rotate, replay, concurrent
// refresh, revoke. A step after a failed one is skipped.
func (d *doctor) selfTest(store core.Store, where string, keys []core.Key, refreshSecret []byte) {
	d.add(statusInfo, "self-test", "%s", where)
	a, err := core.New(core.Config{Store: store, AccessKeys: keys, RefreshSecret: refreshSecret})
	if err != nil {
		d.add(statusFail, "self-test", "core.New: %v", err)
		return
	}
	uid := "a8doctor-" + randomHex(8)
	client := core.Client{UserAgent: "authenik8 doctor"}
	failed := false
	step := func(name string, f func(ctx context.Context) (string, error)) {
		name = "self-test: " + name
		if failed {
			d.add(statusSkip, name, "after a failed step")
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 4*d.timeout)
		defer cancel()
		start := time.Now()
		detail, err := f(ctx)
		if err != nil {
			failed = true
			d.add(statusFail, name, "%v", err)
			return
		}
		d.add(statusPass, name, "%s (%s)", detail, ms(time.Since(start)))
	}

	var first, second, winner *core.TokenPair
	step("issue", func(ctx context.Context) (string, error) {
		var err error
		first, err = a.IssueSession(ctx, core.User{ID: uid, Roles: []string{"user"}}, client)
		if err != nil {
			return "", err
		}
		return "a session and its first token pair", nil
	})
	step("verify", func(ctx context.Context) (string, error) {
		c, err := a.Verify(ctx, first.AccessToken)
		if err != nil {
			return "", err
		}
		if c.Subject != uid || c.SessionID != first.SessionID {
			return "", fmt.Errorf("the access token names %s/%s, want %s/%s", c.Subject, c.SessionID, uid, first.SessionID)
		}
		return fmt.Sprintf("the access token (%s) verifies, its session is alive", keys[0].Algorithm()), nil
	})
	step("rotate", func(ctx context.Context) (string, error) {
		var err error
		if second, err = a.Refresh(ctx, first.RefreshToken); err != nil {
			return "", err
		}
		if _, err := a.Verify(ctx, second.AccessToken); err != nil {
			return "", fmt.Errorf("the new access token: %w", err)
		}
		return "the refresh token gives a new pair", nil
	})
	step("replay rejected", func(ctx context.Context) (string, error) {
		_, err := a.Refresh(ctx, first.RefreshToken)
		switch {
		case err == nil:
			return "", errors.New("the spent refresh token was accepted a second time")
		case errors.Is(err, core.ErrRefreshConflict):
			return "the spent refresh token answers refresh_conflict", nil
		case errors.Is(err, core.ErrRefreshTokenReused):
			return "the spent refresh token answers refresh_token_reused", nil
		}
		return "", fmt.Errorf("the spent refresh token: %w, want refresh_conflict", err)
	})
	step("concurrent refresh", func(ctx context.Context) (string, error) {
		p, err := a.IssueSession(ctx, core.User{ID: uid, Roles: []string{"user"}}, client)
		if err != nil {
			return "", err
		}
		var (
			wg        sync.WaitGroup
			mu        sync.Mutex
			winners   []*core.TokenPair
			conflicts int
			others    []error
			gate      = make(chan struct{})
		)
		for range concurrentRefreshes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-gate
				next, err := a.Refresh(ctx, p.RefreshToken)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					winners = append(winners, next)
				case errors.Is(err, core.ErrRefreshConflict):
					conflicts++
				default:
					others = append(others, err)
				}
			}()
		}
		close(gate)
		wg.Wait()
		if len(others) > 0 {
			return "", fmt.Errorf("%d of %d refreshes failed otherwise than refresh_conflict, e.g. %w", len(others), concurrentRefreshes, others[0])
		}
		if len(winners) != 1 {
			return "", fmt.Errorf("%d of %d concurrent refreshes of one token succeeded; exactly one must", len(winners), concurrentRefreshes)
		}
		winner = winners[0]
		return fmt.Sprintf("%d at once: one winner, %d refresh_conflict", concurrentRefreshes, conflicts), nil
	})
	step("revoke", func(ctx context.Context) (string, error) {
		if err := a.Logout(ctx, winner.SessionID); err != nil {
			return "", err
		}
		if _, err := a.Verify(ctx, winner.AccessToken); !errors.Is(err, core.ErrTokenRevoked) {
			return "", fmt.Errorf("after logout the access token gives %v, want token_revoked", err)
		}
		if _, err := a.Refresh(ctx, winner.RefreshToken); err == nil {
			return "", errors.New("after logout the refresh token still works")
		}
		if err := a.Logout(ctx, first.SessionID); err != nil {
			return "", err
		}
		return "after logout the access token answers token_revoked, the refresh token is dead", nil
	})
}

// cleanup deletes every key under the self-test's prefix, on every node.
func (d *doctor) cleanup(store *redisstore.Store, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*d.timeout)
	defer cancel()
	c := store.Client()
	keys := map[string]bool{}
	for addr, node := range c.Nodes() {
		var cursor uint64
		for {
			e, err := node.Do(ctx, node.B().Scan().Cursor(cursor).Match(prefix+":*").Count(1000).Build()).AsScanEntry()
			if err != nil {
				d.add(statusFail, "self-test: cleanup", "SCAN on %s: %v (delete the keys %s:* by hand)", addr, err, prefix)
				return
			}
			for _, k := range e.Elements {
				keys[k] = true
			}
			if cursor = e.Cursor; cursor == 0 {
				break
			}
		}
	}
	for k := range keys {
		if err := c.Do(ctx, c.B().Del().Key(k).Build()).Error(); err != nil {
			d.add(statusFail, "self-test: cleanup", "DEL %s: %v (delete the keys %s:* by hand)", k, err, prefix)
			return
		}
	}
	if len(keys) == 0 {
		d.add(statusPass, "self-test: cleanup", "no key left under %s:*", prefix)
		return
	}
	d.add(statusPass, "self-test: cleanup", "deleted the %d keys left under %s:*", len(keys), prefix)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// ms formats a duration in milliseconds: "0.05 ms", "2.4 ms", "12 ms".
func ms(d time.Duration) string {
	f := float64(d) / float64(time.Millisecond)
	if f < 1 {
		return fmt.Sprintf("%.2f ms", f)
	}
	if f < 10 {
		return fmt.Sprintf("%.1f ms", f)
	}
	return fmt.Sprintf("%.0f ms", f)
}
