// Command authenik8 scaffolds and checks authentication services built on
// Authenik8 for Go.
//
// Install or run it with
//
//	go run github.com/authenik8/authenik8-go/cmd/authenik8@latest <command>
//
// Commands:
//
//	authenik8 new <dir> [--framework gin|echo|fiber|nethttp] [--store memory|redis]
//	                    [--users postgres] [--module path] [--yes] [--tidy]
//	                    [--replace checkout]
//
// writes a complete service into dir, which must be empty or absent: go.mod,
// a small main.go, the wiring in internal/server (configuration from the
// environment and .env, the stores, the auth core, the routes of the
// Authenik8 HTTP API under /auth plus /api/profile, /api/admin, /healthz,
// /readyz and /.well-known/jwks.json), a test that drives register → login →
// refresh → logout → admin denied against the running server, .env with
// fresh secrets (mode 0600), .env.example, a README and a Makefile. nethttp
// is the standard library's ServeMux. --store redis reads REDIS_URL for
// sessions (and accounts); --users postgres reads DATABASE_URL for accounts,
// kept in PostgreSQL by pgstore, whose migrations the server runs at start.
// On a terminal it asks for what the flags leave out; --yes takes the
// defaults (gin, memory, accounts in the session store, the directory name
// as module path). --tidy runs go mod tidy
// in the new project; --replace points the authenik8 modules at a local
// checkout of authenik8-go and starts go.sum with the checksums that the
// checkout's modules recorded, so that tidy needs no checksum database for
// them.
//
//	authenik8 secret [--raw] [--bytes n]
//	authenik8 secret --jwks ed25519|p256
//
// prints fresh secrets for .env (JWT_SECRET=… and REFRESH_SECRET=…; --raw: one
// bare secret), or a private JWK set with one signing key for asymmetric
// access tokens (JWT_JWKS in a generated project; core.ParseJWKS reads it).
//
//	authenik8 doctor [--env .env] [--json] [--timeout 5s]
//
// reads the project's environment (the process environment, then the env
// file) and checks it: the secrets are set, long enough and distinct; Redis
// (REDIS_URL) answers, speaks RESP3 and supports CLIENT TRACKING, standalone
// or cluster; then a live self-test through core and redisstore on a
// throwaway key prefix (issue, verify, rotate, replay rejected, 50 concurrent
// refreshes with one winner, revoke), whose keys it deletes afterwards.
// Without REDIS_URL the project runs on the in-memory store: the Redis checks
// are skipped and the self-test runs in memory. With DATABASE_URL it checks
// PostgreSQL too, changing nothing there: it answers, is version 12 or
// later, takes writes, and pgstore's migrations are applied, or pending
// with the right to create them (the server applies them at start). One PASS, FAIL, SKIP or INFO
// line per check; --json prints {"ok":…,"checks":[{"name","status","detail"}]}.
//
// Exit status: 0 on success; 1 when a command fails at run time (doctor found
// a problem, a file could not be written, go mod tidy failed); 2 for usage
// errors (an unknown flag or value, an invalid module path, a directory that
// is not empty).
package main
