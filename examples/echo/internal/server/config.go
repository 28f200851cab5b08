package server

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

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
	// DATABASE_URL: postgres://[user:password@]host:5432/database[?sslmode=…]:
	// accounts in PostgreSQL, in the schema authenik8, which the server
	// creates or migrates at start; sessions stay in the session store.
	// Unset: accounts live in the session store, with a warning.
	DatabaseURL string
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
	// "login_account=10/15m,login_ip=100/15m,register_ip=20/1h,
	// forgot_account=5/1h,forgot_ip=20/1h,verify_account=5/1h,verify_ip=20/1h"
	// (a limit left out keeps its default), or "off".
	RateLimits core.RateLimits
	// TRUSTED_PROXIES: the header a reverse proxy puts the client's address
	// in, then the proxies' networks or addresses, such as
	// "X-Forwarded-For 10.0.0.0/8,192.168.0.0/16" (no network listed:
	// loopback, private and link-local ones). The client IP, recorded with
	// sessions and counted by the per-IP limits, is then read from that
	// header on connections from those proxies. Unset: the connection's
	// address, whatever headers a client sends.
	TrustedProxy core.TrustedProxy
	// SMTP_URL: smtp://[user:password@]host:port (STARTTLS when the server
	// offers it), or smtps:// for TLS from the start: where password-reset
	// and verification mails go. Unset: they are written to the log, with a
	// warning (development only).
	SMTPURL string
	// MAIL_FROM: the sender of those mails. Default no-reply@localhost.
	MailFrom string
	// APP_URL: the base URL of the pages the mailed links open
	// ($APP_URL/reset-password?token=…, $APP_URL/verify-email?token=…).
	// Default http://localhost:$PORT.
	AppURL string

	// Sign-in with OAuth providers (internal/server/oauth.go); a provider is
	// on when its variables are set. OIDC_ISSUER, OIDC_CLIENT_ID and
	// OIDC_CLIENT_SECRET: any OpenID Connect provider, found by discovery
	// (provider "oidc"). GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET: Google
	// ("google"). GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET: GitHub
	// ("github").
	OIDCIssuer, OIDCClientID, OIDCClientSecret string
	GoogleClientID, GoogleClientSecret         string
	GitHubClientID, GitHubClientSecret         string
	// PUBLIC_URL: this server's external base URL; the callback to register
	// with provider p is $PUBLIC_URL/auth/oauth/p/callback. Default
	// http://localhost:$PORT.
	PublicURL string
	// OAUTH_REDIRECT_URL: the application's page where sign-in with a
	// provider ends, with ?login_code=… (traded for tokens at POST
	// /auth/oauth/exchange) or ?error=…. Required with a provider.
	OAuthRedirectURL string
	// JWKS_URL: verify-only mode, for a service that checks the access
	// tokens of another: they verify with the keys published at this URL
	// (such as https://auth.example.com/.well-known/jwks.json, EdDSA, ES256
	// or RS256 keys), and no secret is needed. With REDIS_URL, the
	// issuer's Redis, a revoked session is refused here too; without, a
	// token stays valid until it expires.
	JWKSURL string
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
		DatabaseURL:       getenv("DATABASE_URL"),
		JWTSecret:         getenv("JWT_SECRET"),
		JWKS:              getenv("JWT_JWKS"),
		RefreshSecret:     getenv("REFRESH_SECRET"),
		SeedAdminEmail:    getenv("SEED_ADMIN_EMAIL"),
		SeedAdminPassword: getenv("SEED_ADMIN_PASSWORD"),

		OIDCIssuer:         getenv("OIDC_ISSUER"),
		OIDCClientID:       getenv("OIDC_CLIENT_ID"),
		OIDCClientSecret:   getenv("OIDC_CLIENT_SECRET"),
		GoogleClientID:     getenv("GOOGLE_CLIENT_ID"),
		GoogleClientSecret: getenv("GOOGLE_CLIENT_SECRET"),
		GitHubClientID:     getenv("GITHUB_CLIENT_ID"),
		GitHubClientSecret: getenv("GITHUB_CLIENT_SECRET"),
		PublicURL:          cmp.Or(getenv("PUBLIC_URL"), "http://localhost:"+cmp.Or(getenv("PORT"), "8080")),
		OAuthRedirectURL:   getenv("OAUTH_REDIRECT_URL"),
		JWKSURL:            getenv("JWKS_URL"),
		OTLPEndpoint:       getenv("OTEL_EXPORTER_OTLP_ENDPOINT"),
	}
	c.SMTPURL = getenv("SMTP_URL")
	c.MailFrom = cmp.Or(getenv("MAIL_FROM"), "no-reply@localhost")
	c.AppURL = cmp.Or(getenv("APP_URL"), "http://localhost:"+c.Port)
	var err1, err2, err3 error
	c.RateLimits, err1 = parseRateLimits(getenv("RATE_LIMITS"))
	c.TrustedProxy, err2 = parseTrustedProxies(getenv("TRUSTED_PROXIES"))
	if m := getenv("METRICS"); m != "" {
		if c.Metrics, err3 = strconv.ParseBool(m); err3 != nil {
			err3 = fmt.Errorf("METRICS: %q is not 1, 0, true or false", m)
		}
	}
	return c, errors.Join(err1, err2, err3)
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
		"login_account":  &r.LoginPerAccount,
		"login_ip":       &r.LoginPerIP,
		"register_ip":    &r.RegisterPerIP,
		"forgot_account": &r.ForgotPerAccount,
		"forgot_ip":      &r.ForgotPerIP,
		"verify_account": &r.VerificationPerAccount,
		"verify_ip":      &r.VerificationPerIP,
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
			return r, fmt.Errorf("RATE_LIMITS: %q is not name=max/window (names: login_account, login_ip, register_ip, forgot_account, forgot_ip, verify_account, verify_ip; e.g. login_ip=100/15m), nor is RATE_LIMITS off", part)
		}
		*l = core.Limit{Max: n, Window: d}
	}
	return r, nil
}

// parseTrustedProxies reads TRUSTED_PROXIES: a header name, then networks
// or addresses, separated by commas or spaces.
func parseTrustedProxies(spec string) (core.TrustedProxy, error) {
	fields := strings.FieldsFunc(spec, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
	if len(fields) == 0 {
		return core.TrustedProxy{}, nil
	}
	p := core.TrustedProxy{Header: fields[0]}
	// RFC 7239's Forwarded header holds "for=…" pairs, not addresses.
	if !headerName.MatchString(p.Header) || strings.EqualFold(p.Header, "Forwarded") {
		return core.TrustedProxy{}, fmt.Errorf("TRUSTED_PROXIES: %q is not a header that lists client addresses; start with one, such as X-Forwarded-For or X-Real-IP, then the proxies' networks (e.g. X-Forwarded-For 10.0.0.0/8)", p.Header)
	}
	for _, f := range fields[1:] {
		prefix, err := netip.ParsePrefix(f)
		if err != nil {
			if addr, err := netip.ParseAddr(f); err == nil {
				prefix = netip.PrefixFrom(addr, addr.BitLen())
			}
		}
		if !prefix.IsValid() {
			return core.TrustedProxy{}, fmt.Errorf("TRUSTED_PROXIES: %q is neither a network (10.0.0.0/8) nor an address (10.0.0.7)", f)
		}
		p.Proxies = append(p.Proxies, prefix.Masked())
	}
	return p, nil
}

var headerName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]*$`)

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
