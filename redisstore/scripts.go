package redisstore

import (
	"fmt"

	"github.com/redis/rueidis"

	"github.com/authenik8/authenik8-go/core"
)

// script is a Lua script with its source, which rueidis.Lua keeps private:
// the store loads every script on every node when it starts.
type script struct {
	*rueidis.Lua
	src string
}

func newScript(src string) script { return script{rueidis.NewLuaScript(src), src} }

// Every change that touches more than one key is one of these scripts: one
// round trip, atomic, and — all keys of a user sharing a hash tag — one slot,
// so they run unchanged on Redis Cluster. Keys built inside a script (from
// a key prefix in ARGV) carry the same hash tag as KEYS[1].
//
// Times are the server's (TIME): every process sharing Redis agrees on expiry
// and on the reuse grace whatever its own clock says. Expiries are in
// milliseconds; created and last-used in microseconds, so that sessions
// opened in the same millisecond still list in order (Lua numbers are
// doubles: exact up to 2^53, far past any microsecond timestamp).
//
// A session is one string, packed with Lua's struct library (sessionFormat):
// a layout version, the generation, created and last used (µs), the absolute
// expiry (ms), the current and previous token hash, the IP, the user agent
// and the data. One string is the most compact form Redis has for it (a hash
// costs a field name and two lengths per field, and leaves its compact
// listpack encoding for any value over 64 bytes). Its expiry is the
// session's: the earlier of the idle and the absolute one. Last used is also
// when the last rotation happened, for the reuse grace.
//
// The user's index is a sorted set of the sessions' random parts (the session
// id is <user id>.<random part>), scored by a counter of the user's session
// uses (opened or rotated): its first member is the least recently used. It expires with its longest-lived session, holds
// at most MaxSessions members (ended sessions are dropped whenever it is
// full or listed), and stays in the compact listpack encoding up to
// zset-max-listpack-entries (128) members.
//
// Replies are flat arrays whose first element, for the rotate script, is a
// core.Outcome number; each script has one decoder in redisstore.go.

// sessionFormat: version, generation, created µs, used µs, absolute ms, then
// length-prefixed current hash, previous hash, IP, user agent and data.
const sessionFormat = `>BI4I7I7I6Bc0Bc0Bc0Bc0I4c0`

// sessionLua reads the clock and defines get and put for session strings.
var sessionLua = fmt.Sprintf(`
local t = redis.call('TIME')
local nowus = tonumber(t[1]) * 1000000 + tonumber(t[2])
local now = math.floor(nowus / 1000)
local F = '%s'
local function get(k)
  local v = redis.call('GET', k)
  if not v then return nil end
  local s = {}
  local ver
  ver, s.g, s.c, s.u, s.a, s.h, s.p, s.ip, s.ua, s.d = struct.unpack(F, v)
  if ver ~= 1 then return nil end
  return s
end
-- The expiry is absolute, so that it reads back exactly (expiry below).
local function put(k, s, exp)
  redis.call('SET', k, struct.pack(F, 1, s.g, s.c, s.u, s.a, #s.h, s.h, #s.p, s.p, #s.ip, s.ip, #s.ua, s.ua, #s.d, s.d))
  redis.call('PEXPIREAT', k, exp)
end
-- expiry of key k in ms: exact from Redis 7 (PEXPIRETIME), else from PTTL
-- (which counts from the script's start, not from TIME: ±1 ms).
local function expiry(k)
  local x = redis.pcall('PEXPIRETIME', k)
  if type(x) == 'number' then return x end
  return now + redis.call('PTTL', k)
end
-- index KEYS[2]: member is the most recently used; the index lives at least
-- until exp. Scores are a per-user use counter, not a clock: exact order
-- however close two uses are, and small numbers stay small in a listpack.
local function index(member, exp)
  local top = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
  redis.call('ZADD', KEYS[2], (tonumber(top[2]) or 0) + 1, member)
  if redis.call('PTTL', KEYS[2]) < exp - now then
    redis.call('PEXPIREAT', KEYS[2], exp)
  end
end
`, sessionFormat)

// createScript: KEYS session, index. ARGV member, data, ua, ip, hash, idle
// ms, absolute ms, max sessions, session key prefix. When the index is full
// it drops members whose session has ended, then ends the least recently
// used sessions until the new one fits. Returns {created µs, expiry ms,
// {evicted members…}}.
var createScript = newScript(sessionLua + `
local abs = now + tonumber(ARGV[7])
local exp = math.min(now + tonumber(ARGV[6]), abs)
local max = tonumber(ARGV[8])
local evicted = {}
if redis.call('ZCARD', KEYS[2]) >= max then
  for _, m in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
    if redis.call('EXISTS', ARGV[9] .. m) == 0 then redis.call('ZREM', KEYS[2], m) end
  end
  local over = redis.call('ZCARD', KEYS[2]) - max + 1
  if over > 0 then
    evicted = redis.call('ZRANGE', KEYS[2], 0, over - 1)
    for _, m in ipairs(evicted) do redis.call('DEL', ARGV[9] .. m) end
    redis.call('ZREMRANGEBYRANK', KEYS[2], 0, over - 1)
  end
end
put(KEYS[1], {g = 0, c = nowus, u = nowus, a = abs, h = ARGV[5], p = '', ip = ARGV[4], ua = ARGV[3], d = ARGV[2]}, exp)
index(ARGV[1], exp)
return {nowus, exp, evicted}
`)

// rotateScript: KEYS session, index, user. ARGV member, generation, hash,
// new hash, idle ms, grace ms, new data, "1" to replace the data, "1" to end
// the session instead (logout), "1" to load the user (a user gone or
// disabled ends the session: NOUSER, DISABLED).
// Returns {outcome} or, when rotated, {outcome, data, ua, ip, created µs,
// used µs, expiry ms, {user field, value…}} (the user's hash without its
// password hash, when asked for).
var rotateScript = newScript(sessionLua + fmt.Sprintf(`
local INVALID, ROTATED, CONFLICT, REUSED, ENDED, NOUSER, DISABLED = %d, %d, %d, %d, %d, %d, %d
local s = get(KEYS[1])
if not s then return {INVALID} end
local pg = tonumber(ARGV[2])
local function drop()
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
end
if pg == s.g and s.h == ARGV[3] then
  if ARGV[9] == '1' then drop() return {ENDED} end
  local user = {}
  if ARGV[10] == '1' then
    local all = redis.call('HGETALL', KEYS[3])
    if #all == 0 then drop() return {NOUSER} end
    for i = 1, #all, 2 do
      if all[i] == 'disabled' and all[i + 1] == '1' then drop() return {DISABLED} end
      if all[i] ~= 'pw' then user[#user + 1] = all[i]; user[#user + 1] = all[i + 1] end
    end
  end
  local exp = math.min(now + tonumber(ARGV[5]), s.a)
  s.g, s.p, s.h, s.u = s.g + 1, s.h, ARGV[4], nowus
  if ARGV[8] == '1' then s.d = ARGV[7] end
  put(KEYS[1], s, exp)
  index(ARGV[1], exp)
  return {ROTATED, s.d, s.ua, s.ip, s.c, nowus, exp, user}
end
if pg + 1 == s.g and s.p == ARGV[3] and nowus - s.u <= tonumber(ARGV[6]) * 1000 then
  if ARGV[9] == '1' then drop() return {ENDED} end
  return {CONFLICT}
end
if pg < s.g then
  drop()
  return {REUSED}
end
return {INVALID}
`, core.Invalid, core.Rotated, core.Conflict, core.Reused, core.Ended, core.NoUser, core.Disabled))

// revokeScript: KEYS session, index. ARGV member. Returns 1 if a session
// was deleted.
var revokeScript = newScript(`
redis.call('ZREM', KEYS[2], ARGV[1])
return redis.call('DEL', KEYS[1])
`)

// revokeUserScript: KEYS index. ARGV session key prefix. Deletes every
// session of the index; returns the members whose session was live.
var revokeUserScript = newScript(`
local gone = {}
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if redis.call('DEL', ARGV[1] .. m) == 1 then gone[#gone + 1] = m end
end
redis.call('DEL', KEYS[1])
return gone
`)

// revokeOthersScript: KEYS index. ARGV session key prefix, the member to
// keep. Deletes every other session of the index; returns the members whose
// session was live.
var revokeOthersScript = newScript(`
local gone = {}
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if m ~= ARGV[2] then
    if redis.call('DEL', ARGV[1] .. m) == 1 then gone[#gone + 1] = m end
    redis.call('ZREM', KEYS[1], m)
  end
end
return gone
`)

// listScript: KEYS index. ARGV session key prefix. Drops members whose
// session has ended; returns {member, ua, ip, created µs, used µs, expiry
// ms, data} per live session, least recently used first (the caller sorts).
var listScript = newScript(sessionLua + `
local out = {}
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local k = ARGV[1] .. m
  local s = get(k)
  if s then
    out[#out + 1] = {m, s.ua, s.ip, s.c, s.u, expiry(k), s.d}
  else
    redis.call('ZREM', KEYS[1], m)
  end
end
return out
`)

// claimEmailScript: KEYS email index. ARGV user id. Makes a registration's
// reservation of the email permanent, if it is still this user's.
var claimEmailScript = newScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PERSIST', KEYS[1])
  return 1
end
return 0
`)

// updateUserScript: KEYS user. ARGV field, value. Sets a field of an
// existing user; returns 0 when there is none.
var updateUserScript = newScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
`)

// setPasswordIfScript: KEYS user. ARGV old hash, new hash. Replaces the
// password hash only if it is still old (a rehash at login must not undo a
// password change that happened meanwhile); returns 1 when it did.
var setPasswordIfScript = newScript(`
if redis.call('HGET', KEYS[1], 'pw') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'pw', ARGV[2])
return 1
`)

// redeemScript: KEYS link token. ARGV hash. Deletes the token if it is
// hash (an expired one is gone already); returns 1 when it did.
var redeemScript = newScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
`)

// hitScript: KEYS counter. ARGV limit, window ms. Counts one event unless
// the window already holds limit: a refused hit writes nothing. The first
// event of a window sets its expiry. Returns {outcome, ms left}, outcome
// hitCounted (1) or hitRefused (0).
var hitScript = newScript(`
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[1]) then
  return {0, redis.call('PTTL', KEYS[1])}
end
redis.call('INCR', KEYS[1])
local left = redis.call('PTTL', KEYS[1])
if left < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  left = tonumber(ARGV[2])
end
return {1, left}
`)

// peekScript: KEYS counter. Returns {count, ms left}; {0, 0} for none.
var peekScript = newScript(`
local n = redis.call('GET', KEYS[1])
if not n then return {0, 0} end
return {tonumber(n), math.max(redis.call('PTTL', KEYS[1]), 0)}
`)

// undoScript: KEYS counter. Takes one event back; the last one takes the
// counter with it.
var undoScript = newScript(`
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 1 then redis.call('DECR', KEYS[1]) else redis.call('DEL', KEYS[1]) end
return 0
`)

var allScripts = []script{hitScript, peekScript, undoScript, createScript, rotateScript, revokeScript, revokeUserScript, revokeOthersScript,
	listScript, claimEmailScript, updateUserScript, setPasswordIfScript, redeemScript}
