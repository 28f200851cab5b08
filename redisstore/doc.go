// Package redisstore is the production core.Store and core.UserStore, on
// Redis through github.com/redis/rueidis: standalone, Sentinel or Cluster.
//
// Every change is one Lua script, so a refresh is one atomic round trip —
// with core.Config.ReloadUser too: the account shares the session's hash
// tag, and the rotation script reads its roles (Store is a core.UserRotator
// for its own Users). Every key of a user carries the hash tag {u:<id>}
// (accounts by email carry {e:<hash>}), so each script touches one slot and
// runs unchanged on Redis Cluster.
//
// The per-request "is this session alive?" check is served from a
// client-side cache that Redis invalidates when a session changes (RESP3
// client tracking), so in the steady state it costs no network round trip.
// Stores that Open their client share one cache across its connections,
// bounded in bytes (Options.CacheBytes, about 64 bytes per tracked session).
// A process sees its own revocations at once (it remembers what it revoked,
// because cached reads are not read-your-writes across connections); other
// processes see them within the invalidation latency, a few milliseconds.
// A process that can no longer hear Redis — and so no longer hears
// invalidations — drops what it cached within Options.PartitionWindow.
//
// Every call has a deadline (Options.Timeout); when Redis cannot answer, the
// error matches core.ErrStoreUnavailable and authentication fails closed.
// The client reconnects by itself when Redis is back.
//
// Keys (prefix "a8" by default):
//
//	a8:{u:<user>}:s:<m>         session: one packed string; expires with the session
//	a8:{u:<user>}:ss            the user's sessions, least recently used first; expires with the last
//	a8:{u:<user>}:user          account (no TTL)
//	a8:{e:<sha256(email)>}:email  email → user id (no TTL)
//
// <m> is the 16 random bytes of the session id "<user>.<base64url of m>", raw
// (key names and index entries are paid for by every session). A session
// keeps its generation, created and last-used times, absolute expiry, 16
// bytes of the SHA-256 of the current and previous refresh token (tokens are
// never stored), the IP, the user agent (at most 64 bytes:
// core.CompactUserAgent) and the roles and claims: about 360 bytes of Redis
// memory with its index entry (TestSessionMemory). The index holds at most
// core.Config.MaxSessionsPerUser sessions; a login past it ends the least
// recently used one in the same script.
package redisstore
