package server

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/authenik8/authenik8-go/core"
)

// Config is the service's configuration: one field per environment
// variable, read by FromEnv. .env.example lists them too.
type Config struct {
	// PORT: the listen port. Default 8080.
	Port string
	// REDIS_URL: redis://[user:password@]host:6379[/db], rediss:// for TLS,
	// a cluster as redis://a:7000?addr=b:7000&addr=c:7000. Unset: the
	// in-memory store, with a warning.
	RedisURL string
	// JWT_SECRET: the HS256 access-token key itself, at least 32 bytes, so
	// that other services can verify access tokens with it. Unset: a random
	// key per start, with a warning.
	JWTSecret string
	// JWT_JWKS: instead of JWT_SECRET, a private JWK set whose first key
	// signs (EdDSA, ES256, RS256); its public keys are served at
	// /.well-known/jwks.json. authenik8 secret --jwks ed25519 makes one.
	JWKS string
	// REFRESH_SECRET: the refresh-token MAC key, at least 32 bytes, not
	// JWT_SECRET. Unset: a random key per start, with a warning.
	RefreshSecret string
	// SEED_ADMIN_EMAIL and SEED_ADMIN_PASSWORD: an admin account created at
	// start. An existing account is left as it is, never promoted, so that
	// several instances can share one seed.
	SeedAdminEmail, SeedAdminPassword string
	// RATE_LIMITS: name=max/window pairs, such as the defaults
	// "login_account=10/15m,login_ip=100/15m,register_ip=20/1h" (a limit
	// left out keeps its default), or "off".
	RateLimits core.RateLimits
	// METRICS: "1" serves GET /metrics, Authenik8's metrics in the
	// Prometheus text format, on PORT. Unset: no metrics.
	Metrics bool
	// OTEL_EXPORTER_OTLP_ENDPOINT: the base URL of an OpenTelemetry
	// collector (OTLP over HTTP, e.g. http://localhost:4318) that receives
	// the spans of the store calls. Unset: no traces.
	OTLPEndpoint string
}

// LoadConfig reads the configuration from the environment and, for the
// variables the environment leaves empty, from the env file at path when
// it exists.
func LoadConfig(path string) (Config, error) {
	file, err := ReadEnvFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Config{}, err
	}
	return FromEnv(func(key string) string {
		if v := os.Getenv(key); v != "" {
			return v
		}
		return file[key]
	})
}

// FromEnv reads the configuration with getenv, such as os.Getenv.
func FromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		Port:              cmp.Or(getenv("PORT"), "8080"),
		RedisURL:          getenv("REDIS_URL"),
		JWTSecret:         getenv("JWT_SECRET"),
		JWKS:              getenv("JWT_JWKS"),
		RefreshSecret:     getenv("REFRESH_SECRET"),
		SeedAdminEmail:    getenv("SEED_ADMIN_EMAIL"),
		SeedAdminPassword: getenv("SEED_ADMIN_PASSWORD"),
		OTLPEndpoint:      getenv("OTEL_EXPORTER_OTLP_ENDPOINT"),
	}
	var err error
	c.RateLimits, err = parseRateLimits(getenv("RATE_LIMITS"))
	if m := getenv("METRICS"); m != "" {
		var perr error
		if c.Metrics, perr = strconv.ParseBool(m); perr != nil {
			err = errors.Join(err, fmt.Errorf("METRICS: %q is not 1, 0, true or false", m))
		}
	}
	return c, err
}

// parseRateLimits reads RATE_LIMITS: comma-separated name=max/window, or
// "off".
func parseRateLimits(spec string) (core.RateLimits, error) {
	var r core.RateLimits
	if spec == "off" {
		r.Disabled = true
		return r, nil
	}
	limits := map[string]*core.Limit{
		"login_account": &r.LoginPerAccount,
		"login_ip":      &r.LoginPerIP,
		"register_ip":   &r.RegisterPerIP,
	}
	for part := range strings.SplitSeq(spec, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		name, value, _ := strings.Cut(part, "=")
		maxs, window, _ := strings.Cut(value, "/")
		n, err1 := strconv.Atoi(maxs)
		d, err2 := time.ParseDuration(window)
		l := limits[name]
		if l == nil || err1 != nil || err2 != nil || n <= 0 || d <= 0 {
			return r, fmt.Errorf("RATE_LIMITS: %q is not name=max/window (names: login_account, login_ip, register_ip; e.g. login_ip=100/15m), nor is RATE_LIMITS off", part)
		}
		*l = core.Limit{Max: n, Window: d}
	}
	return r, nil
}

// ReadEnvFile reads KEY=VALUE lines. Blank lines and lines starting with #
// are skipped, a leading "export " is allowed, and a value wrapped in single
// or double quotes is taken without them. Values are literal: no escapes,
// no ${VAR} expansion, no comments after a value.
func ReadEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	vars := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20) // room for a JWK set on one line
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if !ok || key == "" || strings.ContainsAny(key, " \t") {
			return nil, fmt.Errorf("%s:%d: not a KEY=VALUE line", path, n)
		}
		if len(value) >= 2 && (value[0] == '"' || value[0] == '\'') && value[len(value)-1] == value[0] {
			value = value[1 : len(value)-1]
		}
		vars[key] = value
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return vars, nil
}
