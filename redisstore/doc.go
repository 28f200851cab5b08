// Package redisstore is the production core.Store and core.UserStore, on
// Redis through github.com/redis/rueidis: standalone, Sentinel or Cluster.
//
// Every change is one Lua script, so a refresh is one atomic round trip.
// Every key of a user carries the hash tag {u:<id>} (accounts by email carry
// {e:<hash>}), so each script touches one slot and runs unchanged on Redis
// Cluster. The per-request "is this session alive?" check is served from
// rueidis' client-side cache: Redis pushes an invalidation when a session
// changes, so in the steady state it costs no network round trip. A process
// sees its own revocations at once (it remembers what it revoked, because
// rueidis' cached reads are not read-your-writes across connections); other
// processes see them within the invalidation latency, about a millisecond
// on loopback.
//
// Every call has a deadline (Options.Timeout); when Redis cannot answer, the
// error matches core.ErrStoreUnavailable and authentication fails closed.
// The client reconnects by itself when Redis is back.
//
// Keys (prefix "a8" by default):
//
//	a8:{u:<user>}:s:<session>   session hash; expires with the session
//	a8:{u:<user>}:ss            the user's sessions by expiry; expires with the last
//	a8:{u:<user>}:user          account (no TTL)
//	a8:{e:<sha256(email)>}:email  email → user id (no TTL)
//
// Tokens are never stored: sessions hold SHA-256 hashes of the current and
// previous refresh token.
package redisstore
