// Package core is the framework-agnostic heart of Authenik8: JWT access
// tokens, opaque refresh tokens rotated on every use, reuse detection,
// revocation, session listing, RBAC decisions, users with argon2id
// passwords, and one error model with its HTTP form.
//
// Build one Auth per process with New and share it:
//
//	key, _ := core.NewHMACKey(jwtSecret)          // or NewSigningKey / ParseJWKS
//	a, err := core.New(core.Config{
//		Store:         memstore.New(),            // redisstore for several processes
//		Users:         memstore.NewUsers(nil),
//		AccessKeys:    []core.Key{key},
//		RefreshSecret: refreshSecret,
//	})
//
// Tokens. Access tokens are JWTs (typ at+jwt, kid always set) signed with
// HS256, EdDSA, ES256 or RS256; verification pins the algorithm to the key
// named by kid, checks typ, iss, aud, exp, nbf and iat with a small leeway,
// and refuses tokens over 8 KiB before parsing. Refresh tokens are opaque,
// carry 256 random bits, are MAC'd with the refresh secret (a forged one is
// refused without touching any session) and are stored only as hashes.
//
// Sessions. Login opens a session; Refresh rotates its refresh token in one
// atomic Store step: the current token yields a new pair, the token just
// replaced yields ErrRefreshConflict within Config.ReuseGrace, and any
// older token revokes the session (ErrRefreshTokenReused). Verify checks an
// access token and that its session is alive. Logout, LogoutAll and
// RevokeSession end sessions and, with them, their access tokens.
//
// Accounts. ChangePassword, ForgotPassword, ResetPassword, SendVerification,
// VerifyEmail, LogoutOthers, UserSessions, DisableUser and EnableUser run the
// account flows over a Users store that is an AccountStore and a
// LinkTokenStore; the mail goes through Config.Mailer (core/mailer) from a
// background queue, after the request is answered. Link tokens (NewLinkToken,
// RedeemLinkToken) are single-use, MAC'd per purpose and stored as hashes.
//
// Errors. Every failure wraps one of the *Error sentinels (ErrInvalidToken,
// ErrStoreUnavailable, …); test with errors.Is. ErrorResponse gives its HTTP
// status, JSON body and WWW-Authenticate challenge. The framework adapters
// (ginauth, echoauth, fiberauth, httpauth) read requests through a
// RequestReader, leave every decision to an Adapter (token lookup, client
// IP, CSRF, the routes) and write its Responses unchanged, so every
// framework answers byte for byte alike.
//
// OAuth. With Config.OAuth, GET /oauth/{provider}/start and /callback sign
// users in with OAuth 2.0 and OpenID Connect providers (PKCE, state and
// nonce bound to the browser, accounts linked only by verified emails) and
// hand the application a single-use login code for POST /oauth/exchange;
// the providers live in the oauth module. POST /token is the RFC 6749
// refresh grant for standard clients. RemoteKeys makes a verify-only Auth
// that checks another service's tokens with the keys of its JWKS.
//
// Stores. The Store and UserStore interfaces are the contracts; core/memstore
// implements both in memory, redisstore on Redis. conformance/storetest
// checks any implementation.
//
// Telemetry. Core records metrics (logins, refreshes, verifications,
// revocations by outcome or reason, the token cache, store latency) and
// spans around store calls through the OpenTelemetry API, to
// Config.MeterProvider and Config.TracerProvider or the global providers:
// nothing is recorded until the application installs an SDK, and spans
// never carry a token, a password, an email or an id.
package core
