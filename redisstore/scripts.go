package redisstore

import "github.com/redis/rueidis"

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
// the prefix in ARGV) carry the same hash tag as KEYS[1].
//
// Times are the server's (TIME): every process sharing Redis agrees on expiry
// and on the reuse grace whatever its own clock says. Expiries are in
// milliseconds (PEXPIREAT); created and last-used in microseconds, so that
// sessions opened in the same millisecond still list in order. Microsecond
// stamps have 16 digits, past Lua's default number formatting: they are
// written with string.format('%d').
//
// A session is a hash: d data, ua, ip, c created (µs), u last used (µs),
// x expiry, a absolute expiry, g generation, h current token hash, p
// previous token hash, r rotated at. The user's index is a sorted set of session ids scored
// by expiry; it expires with its last session.

const nowLua = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local nowus = string.format('%d', tonumber(t[1]) * 1000000 + tonumber(t[2]))
`

// indexLua adds ARGV[1] to the index KEYS[2] with expiry exp, drops expired
// members and makes the index live as long as its longest session.
const indexLua = `
local function index(member, exp)
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  redis.call('ZADD', KEYS[2], exp, member)
  local top = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', KEYS[2], top[2])
end
`

// createScript: KEYS session, index. ARGV member, data, ua, ip, hash, idle
// ms, absolute ms. Returns {now, expiry}.
var createScript = newScript(nowLua + indexLua + `
local abs = now + tonumber(ARGV[7])
local exp = math.min(now + tonumber(ARGV[6]), abs)
redis.call('HSET', KEYS[1], 'd', ARGV[2], 'ua', ARGV[3], 'ip', ARGV[4], 'h', ARGV[5],
  'p', '', 'g', 0, 'c', nowus, 'u', nowus, 'r', 0, 'x', exp, 'a', abs)
redis.call('PEXPIREAT', KEYS[1], exp)
index(ARGV[1], exp)
return {tonumber(nowus), exp}
`)

// rotateScript: KEYS session, index. ARGV member, generation, hash, new
// hash, idle ms, grace ms, new data, "1" to replace the data.
// Returns {outcome} or, when rotated, {1, data, ua, ip, created µs, now µs,
// expiry ms}.
// Outcomes follow core.Outcome: 0 invalid, 1 rotated, 2 conflict, 3 reused.
var rotateScript = newScript(nowLua + indexLua + `
local s = redis.call('HMGET', KEYS[1], 'g', 'h', 'p', 'r', 'a', 'd', 'ua', 'ip', 'c')
if not s[1] then return {0} end
local g, pg = tonumber(s[1]), tonumber(ARGV[2])
if pg == g then
  if s[2] ~= ARGV[3] then return {0} end
  local exp = math.min(now + tonumber(ARGV[5]), tonumber(s[5]))
  local data = s[6]
  if ARGV[8] == '1' then data = ARGV[7] end
  redis.call('HSET', KEYS[1], 'g', g + 1, 'p', s[2], 'h', ARGV[4], 'r', now, 'u', nowus, 'x', exp, 'd', data)
  redis.call('PEXPIREAT', KEYS[1], exp)
  index(ARGV[1], exp)
  return {1, data, s[7], s[8], tonumber(s[9]), tonumber(nowus), exp}
end
if pg + 1 == g and s[3] == ARGV[3] and now - tonumber(s[4]) <= tonumber(ARGV[6]) then
  return {2}
end
if pg < g then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  return {3}
end
return {0}
`)

// revokeScript: KEYS session, index. ARGV member. Returns 1 if a session
// was deleted.
var revokeScript = newScript(`
redis.call('ZREM', KEYS[2], ARGV[1])
return redis.call('DEL', KEYS[1])
`)

// revokeUserScript: KEYS index. ARGV session key prefix. Deletes every
// session of the index; returns the ids of those that were live.
var revokeUserScript = newScript(`
local gone = {}
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if redis.call('DEL', ARGV[1] .. m) == 1 then gone[#gone + 1] = m end
end
redis.call('DEL', KEYS[1])
return gone
`)

// listScript: KEYS index. ARGV session key prefix. Returns {id, ua, ip,
// created µs, used µs, expiry ms, data} per live session, in index order
// (by expiry: the caller sorts).
var listScript = newScript(nowLua + `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local out = {}
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local v = redis.call('HMGET', ARGV[1] .. m, 'ua', 'ip', 'c', 'u', 'x', 'd')
  if v[3] then
    out[#out + 1] = {m, v[1], v[2], tonumber(v[3]), tonumber(v[4]), tonumber(v[5]), v[6]}
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

var allScripts = []script{hitScript, peekScript, undoScript, createScript, rotateScript, revokeScript, revokeUserScript, listScript, claimEmailScript, updateUserScript}
