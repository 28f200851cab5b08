package redisstore

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/authenik8/authenik8-go/core"
)

// Options configure a Store. Zero fields take the default in their comment.
type Options struct {
	// KeyPrefix starts every key, so that several applications (or tests)
	// can share one Redis. Default "a8".
	KeyPrefix string
	// Timeout bounds every call to Redis: past it the call fails with
	// core.ErrStoreUnavailable. Default 1 second.
	Timeout time.Duration
	// CacheTTL bounds how long a process serves "this session is alive" from
	// its client-side cache. Redis invalidates the entry as soon as the session
	// changes; the TTL only limits the damage of a lost invalidation. Default 1
	// minute.
	CacheTTL time.Duration
	// CacheBytes bounds the client-side cache of session checks, for the
	// whole client (Open only): about 64 bytes per tracked session, so the
	// default 32 MiB keeps the last half million or so sessions checked.
	// When it is full the least recently checked sessions go first (they
	// cost a round trip when they come back). Trade memory for hit rate
	// here.
	CacheBytes int
	// PartitionWindow bounds how long a process that can no longer hear
	// Redis — a frozen server, a dropped connection, a network partition —
	// keeps answering "alive" from its client-side cache, which then no
	// longer receives invalidations (Open only). Each connection pings Redis
	// after a fifth of it without traffic, and is closed with the entries it
	// cached when a ping is half of it late (so at most 2/5 + 1/2 of it after
	// the last word from Redis); the checks then go to Redis and fail closed
	// (core.ErrStoreUnavailable) within Timeout. Default 2 seconds. It sets
	// rueidis' Dialer.KeepAlive and ConnWriteTimeout where the ClientOption
	// leaves them zero; with New, the caller's client decides (the window is
	// 2 × Dialer.KeepAlive + ConnWriteTimeout; rueidis' defaults make it
	// 12 s).
	PartitionWindow time.Duration
	// DisableCache turns client-side caching off (Open only): every
	// authenticated request then costs a round trip. Needed for servers without
	// RESP3 CLIENT TRACKING (Redis before 6, some proxies).
	DisableCache bool
	// Hasher hashes passwords for Users. Default core.DefaultPasswordParams.
	Hasher *core.PasswordHasher
}

// Defaults of Options.
const (
	DefaultKeyPrefix       = "a8"
	DefaultTimeout         = time.Second
	DefaultCacheTTL        = time.Minute
	DefaultCacheBytes      = 32 << 20
	DefaultPartitionWindow = 2 * time.Second
)

// tombstoneTTL is how long a process remembers the sessions it revoked
// (and those its logins evicted). The invalidation of a revoked session
// reaches the connection that cached it, which may not be the one that made
// the change, after the revoking call has returned (TestReadYourRevocations
// measures it: microseconds to a few milliseconds). Until then the local
// tombstone answers.
const tombstoneTTL = 10 * time.Second

// Store is a core.Store and core.Limiter on Redis, standalone, Sentinel or
// Cluster. It is safe for concurrent use.
type Store struct {
	c        rueidis.Client
	owned    bool          // Close closes c
	cache    *sessionCache // c's client-side cache, when the store built it
	prefix   string
	timeout  time.Duration
	cacheTTL time.Duration
	hasher   *core.PasswordHasher
	tombs    tombstones
	deadline coarseDeadline
}

var _ core.Store = (*Store)(nil)

// New returns a Store on the caller's client; Close leaves the client open.
// It checks that Redis answers and loads the scripts.
func New(client rueidis.Client, opts Options) (*Store, error) {
	if client == nil {
		return nil, errors.New("redisstore: client is nil")
	}
	s := &Store{
		c:        client,
		prefix:   opts.KeyPrefix,
		timeout:  opts.Timeout,
		cacheTTL: opts.CacheTTL,
		hasher:   opts.Hasher,
	}
	if s.prefix == "" {
		s.prefix = DefaultKeyPrefix
	}
	if strings.ContainsAny(s.prefix, "{}") {
		return nil, errors.New("redisstore: KeyPrefix must not contain braces (they mark Redis Cluster hash tags)")
	}
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
	}
	if s.cacheTTL <= 0 {
		s.cacheTTL = DefaultCacheTTL
	}
	s.deadline.timeout = s.timeout
	if s.hasher == nil {
		s.hasher = &core.PasswordHasher{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*s.timeout)
	defer cancel()
	if err := s.probe(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Open connects to the Redis named by a URL and returns a Store that owns
// the connection. redis://[user:password@]host:port[/db] for one server;
// list more cluster nodes as redis://host1:port?addr=host2:port&addr=host3:port
// (rueidis discovers the cluster either way); rediss:// for TLS.
func Open(url string, opts Options) (*Store, error) {
	co, err := ParseURL(url)
	if err != nil {
		return nil, err
	}
	return OpenWith(co, opts)
}

// ParseURL reads a Redis URL as Open does (rueidis.ParseURL). Its errors
// never show the password, even of a malformed URL: the URL appears as
// core.RedactURL gives it. A URL with an '@' past its host is refused (a
// password with an unescaped '/', '?' or '#' makes one, and the client would
// dial a host made of half the password).
func ParseURL(url string) (rueidis.ClientOption, error) {
	if _, err := core.ParseURL(url); err != nil {
		return rueidis.ClientOption{}, fmt.Errorf("redisstore: %w", err)
	}
	co, err := rueidis.ParseURL(url)
	if err != nil {
		return co, fmt.Errorf("redisstore: invalid URL %q: %w", core.RedactURL(url), core.RedactURLError(url, err))
	}
	return co, nil
}

// OpenCluster connects to a Redis Cluster through any of its nodes.
func OpenCluster(addrs []string, opts Options) (*Store, error) {
	return OpenWith(rueidis.ClientOption{InitAddress: addrs}, opts)
}

// OpenWith builds a client from co and returns a Store that owns it. Options
// fill what co leaves unset: the dial timeout, the client-side cache
// (CacheBytes, DisableCache) and the health checks that bound the partition
// window (PartitionWindow).
func OpenWith(co rueidis.ClientOption, opts Options) (*Store, error) {
	if co.Dialer.Timeout == 0 {
		co.Dialer.Timeout = max(opts.Timeout, DefaultTimeout)
	}
	window := opts.PartitionWindow
	if window <= 0 {
		window = DefaultPartitionWindow
	}
	if co.Dialer.KeepAlive == 0 {
		co.Dialer.KeepAlive = window / 5 // rueidis: the idle time before a ping
	}
	if co.ConnWriteTimeout == 0 {
		co.ConnWriteTimeout = window / 2 // rueidis: how late a ping or a reply may be
	}
	co.DisableCache = co.DisableCache || opts.DisableCache
	var cache *sessionCache
	if !co.DisableCache && co.NewCacheStoreFn == nil {
		bytes := opts.CacheBytes
		if bytes <= 0 {
			bytes = DefaultCacheBytes
		}
		cache = newSessionCache(bytes, cmp.Or(opts.KeyPrefix, DefaultKeyPrefix))
		co.NewCacheStoreFn = cache.newConn
	}
	client, err := rueidis.NewClient(co)
	if errors.Is(err, rueidis.ErrNoCache) {
		return nil, errors.New("redisstore: the server does not support client-side caching (RESP3 and CLIENT TRACKING, Redis 6 or later); " +
			"upgrade it, or set redisstore.Options.DisableCache (every authenticated request then costs a Redis round trip)")
	}
	if err != nil {
		return nil, fmt.Errorf("redisstore: connect to %v: %w", co.InitAddress, err)
	}
	s, err := New(client, opts)
	if err != nil {
		client.Close()
		return nil, err
	}
	s.owned, s.cache = true, cache
	return s, nil
}

// Close releases the connection if the Store opened it.
func (s *Store) Close() {
	if s.owned {
		s.c.Close()
	}
}

// KeyPrefix returns the prefix of every key of the store.
func (s *Store) KeyPrefix() string { return s.prefix }

// Client returns the underlying rueidis client. When the store opened it,
// its client-side cache keeps only integer replies (what the session checks
// need: see Options.CacheBytes); DoCache of anything else goes to Redis.
func (s *Store) Client() rueidis.Client { return s.c }

// probe checks that Redis answers and loads the scripts on every node, so
// that even the first call of each costs one round trip.
func (s *Store) probe(ctx context.Context) error {
	for _, node := range s.c.Nodes() {
		for _, script := range allScripts {
			if err := node.Do(ctx, node.B().ScriptLoad().Script(script.src).Build()).Error(); err != nil {
				return fmt.Errorf("redisstore: load scripts: %w", wrap(err))
			}
		}
	}
	// Fail now, with a clear message, if the client caches but the server
	// cannot track.
	if err := s.c.DoCache(ctx, s.c.B().Hlen().Key(s.prefix+":probe").Cache(), time.Second).Error(); err != nil {
		return fmt.Errorf("redisstore: client-side caching probe failed (a server without RESP3 CLIENT TRACKING needs a client with DisableCache): %w", wrap(err))
	}
	return nil
}

// Key layout. A user's keys share the hash tag {u:<id>}:
//
//	<prefix>:{u:<id>}:s:<m>         session (packed string)
//	<prefix>:{u:<id>}:ss            the user's sessions (members <m>), by last use
//	<prefix>:{u:<id>}:user          account (Users)
//	<prefix>:{u:<id>}:lt:<purpose>  the user's link token of purpose (Users)
//	<prefix>:{e:<sha256(email)>}:email  email → user id (Users)
func (s *Store) userTag(uid string) string       { return s.prefix + ":{u:" + uid + "}:" }
func (s *Store) sessionPrefix(uid string) string { return s.userTag(uid) + "s:" }
func (s *Store) indexKey(uid string) string      { return s.userTag(uid) + "ss" }
func (s *Store) userKey(uid string) string       { return s.userTag(uid) + "user" }

// sessionKey is built in one concatenation (no copy of m): it runs on every
// request. m is the session's member (see decodeMember).
func (s *Store) sessionKey(uid string, m []byte) string {
	return s.prefix + ":{u:" + uid + "}:s:" + string(m)
}

// A session id is "<user id>.<base64url of 16 random bytes>" (core). Its
// member <m>, what the user's keys and index name it by, is those 16 bytes:
// raw, because every byte of a key name and of an index entry is paid for by
// every session.
const memberBytes = 16

// decodeMember decodes sid's member into m; false when sid is not uid's or
// not in core's form (one spelling only: strict base64url).
func decodeMember(uid, sid string, m *[memberBytes]byte) bool {
	if len(sid) != len(uid)+1+base64.RawURLEncoding.EncodedLen(memberBytes) || sid[len(uid)] != '.' || sid[:len(uid)] != uid {
		return false
	}
	n, err := base64.RawURLEncoding.Strict().Decode(m[:], []byte(sid[len(uid)+1:]))
	return err == nil && n == memberBytes
}

// member is decodeMember for paths that keep the member as a string.
func member(uid, sid string) (string, bool) {
	var m [memberBytes]byte
	if !decodeMember(uid, sid, &m) {
		return "", false
	}
	return string(m[:]), true
}

// sessionIDOf is the inverse of member.
func sessionIDOf(uid, m string) string {
	return uid + "." + base64.RawURLEncoding.EncodeToString([]byte(m))
}

// compactHash keeps 16 bytes of a token hash that core hands over as 64 hex
// digits (SHA-256): 128 bits are plenty to tell one 256-bit random token from
// another, and the session stays small. Other strings are kept as they are.
func compactHash(h string) string {
	if len(h) == 64 {
		if b, err := hex.DecodeString(h[:32]); err == nil {
			return string(b)
		}
	}
	return h
}

func (s *Store) ctx(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, s.timeout)
}

// CreateSession implements core.Store.
func (s *Store) CreateSession(ctx context.Context, n core.NewSession) (core.Session, error) {
	m, ok := member(n.UserID, n.ID)
	if !ok || !core.ValidUserID(n.UserID) {
		return core.Session{}, fmt.Errorf("redisstore: session id %q does not belong to user %q", n.ID, n.UserID)
	}
	limit := n.MaxSessions
	if limit <= 0 {
		limit = core.DefaultMaxSessionsPerUser
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	r, err := decodeCreate(createScript.Exec(ctx, s.c,
		[]string{s.sessionKey(n.UserID, []byte(m)), s.indexKey(n.UserID)},
		[]string{m, string(n.Data), n.UserAgent, n.IP, compactHash(n.TokenHash), ms(n.IdleTTL), ms(n.AbsoluteTTL),
			strconv.Itoa(limit), s.sessionPrefix(n.UserID)},
	))
	if err != nil {
		return core.Session{}, wrap(err)
	}
	for _, e := range r.evicted {
		s.tombs.add(sessionIDOf(n.UserID, e))
	}
	now := time.UnixMicro(r.created)
	return core.Session{
		ID: n.ID, UserID: n.UserID, Data: n.Data, UserAgent: n.UserAgent, IP: n.IP,
		CreatedAt: now, LastUsedAt: now, ExpiresAt: time.UnixMilli(r.expiry),
		Evicted: len(r.evicted),
	}, nil
}

// HoldsUsers implements core.UserRotator: Rotate can read the accounts of
// this store's Users (same client, same prefix), in the same script.
func (s *Store) HoldsUsers(u core.UserStore) bool {
	us, ok := u.(*Users)
	return ok && us.s.c == s.c && us.s.prefix == s.prefix
}

var _ core.UserRotator = (*Store)(nil)

// Rotate implements core.Store.
func (s *Store) Rotate(ctx context.Context, r core.Rotation) (core.RotateResult, error) {
	m, ok := member(r.UserID, r.SessionID)
	if !ok {
		return core.RotateResult{Outcome: core.Invalid}, nil
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	res, err := decodeRotate(rotateScript.Exec(ctx, s.c,
		[]string{s.sessionKey(r.UserID, []byte(m)), s.indexKey(r.UserID), s.userKey(r.UserID)},
		[]string{m, strconv.FormatUint(uint64(r.Generation), 10), compactHash(r.TokenHash), compactHash(r.NewHash),
			ms(r.IdleTTL), ms(r.Grace), string(r.Data), flag(r.Data != nil), flag(r.End), flag(r.LoadUser)},
	))
	if err != nil {
		return core.RotateResult{}, wrap(err)
	}
	out := core.RotateResult{Outcome: res.outcome}
	switch res.outcome {
	case core.Rotated:
		out.Session = core.Session{
			ID: r.SessionID, UserID: r.UserID, Data: []byte(res.data), UserAgent: res.ua, IP: res.ip,
			CreatedAt: time.UnixMicro(res.created), LastUsedAt: time.UnixMicro(res.used), ExpiresAt: time.UnixMilli(res.expiry),
		}
		if r.LoadUser {
			if out.User, err = decodeUser(r.UserID, res.user); err != nil {
				return core.RotateResult{}, err
			}
		}
	case core.Reused, core.Ended, core.NoUser, core.Disabled:
		s.tombs.add(r.SessionID)
	}
	return out, nil
}

// SessionAlive implements core.Store. It is served from the client-side
// cache: Redis pushes an invalidation when the session changes, so in the
// steady state it costs no round trip.
//
// It runs on every authenticated request. With the store's own cache (Open,
// OpenWith) a hit is a lookup by hash (sessionCache.session): no key string,
// no command, no allocation. A miss sends PTTL of the session key alone
// (ToStaticTTL: CLIENT CACHING YES and PTTL, where rueidis' default is five
// commands in a MULTI), and the cache ends the entry when the key expires.
// With a caller's client (New), rueidis' own MULTI-wrapped form bounds the
// entry by the key's expiry instead. The deadline comes from a context
// shared by all calls (see coarseDeadline) rather than a new one per call,
// which would cost four allocations for a deadline that only matters on a
// miss.
func (s *Store) SessionAlive(ctx context.Context, userID, sessionID string) (bool, error) {
	var m [memberBytes]byte
	if !decodeMember(userID, sessionID, &m) || s.tombs.has(sessionID) {
		return false, nil
	}
	if s.cache != nil {
		if alive, ok := s.cache.session(userID, m[:], time.Now().UnixMilli()); ok {
			return alive, nil
		}
	}
	cmd := s.c.B().Pttl().Key(s.sessionKey(userID, m[:])).Cache()
	if s.cache != nil {
		cmd = cmd.ToStaticTTL()
	}
	n, err := s.c.DoCache(s.deadline.ctx(ctx), cmd, s.cacheTTL).AsInt64()
	if err != nil {
		return false, wrap(err)
	}
	return n != -2, nil // -1: a key without expiry, which the store never writes
}

// RevokeSession implements core.Store.
func (s *Store) RevokeSession(ctx context.Context, userID, sessionID string) (bool, error) {
	m, ok := member(userID, sessionID)
	if !ok {
		return false, nil
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	n, err := revokeScript.Exec(ctx, s.c,
		[]string{s.sessionKey(userID, []byte(m)), s.indexKey(userID)}, []string{m}).AsInt64()
	if err != nil {
		return false, wrap(err)
	}
	s.tombs.add(sessionID)
	return n == 1, nil
}

// RevokeUser implements core.Store.
func (s *Store) RevokeUser(ctx context.Context, userID string) (int, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	gone, err := decodeMembers(revokeUserScript.Exec(ctx, s.c,
		[]string{s.indexKey(userID)}, []string{s.sessionPrefix(userID)}))
	if err != nil {
		return 0, wrap(err)
	}
	for _, m := range gone {
		s.tombs.add(sessionIDOf(userID, m))
	}
	return len(gone), nil
}

// RevokeOtherSessions implements core.Store.
func (s *Store) RevokeOtherSessions(ctx context.Context, userID, keep string) (int, error) {
	m, ok := member(userID, keep)
	if !ok {
		m = "" // no member is empty: every session goes
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	gone, err := decodeMembers(revokeOthersScript.Exec(ctx, s.c,
		[]string{s.indexKey(userID)}, []string{s.sessionPrefix(userID), m}))
	if err != nil {
		return 0, wrap(err)
	}
	for _, g := range gone {
		s.tombs.add(sessionIDOf(userID, g))
	}
	return len(gone), nil
}

// ListSessions implements core.Store.
func (s *Store) ListSessions(ctx context.Context, userID string) ([]core.Session, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	out, err := decodeList(listScript.Exec(ctx, s.c,
		[]string{s.indexKey(userID)}, []string{s.sessionPrefix(userID)}), userID)
	if err != nil {
		return nil, wrap(err)
	}
	slices.SortFunc(out, func(a, b core.Session) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// Ping implements core.Store: some node answers and, on a cluster, reports
// the cluster healthy (every slot served). A dead node that the cluster has
// failed over does not make the store unready; a cluster missing a master
// does.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var last error
	for _, node := range s.c.Nodes() {
		if last = node.Do(ctx, node.B().Ping().Build()).Error(); last != nil {
			continue
		}
		if s.c.Mode() != rueidis.ClientModeCluster {
			return nil
		}
		info, err := node.Do(ctx, node.B().ClusterInfo().Build()).ToString()
		if err == nil && !strings.Contains(info, "cluster_state:ok") {
			err = errors.New("cluster_state is not ok")
		}
		if last = err; last == nil {
			return nil
		}
	}
	if last == nil {
		last = errors.New("no Redis node known")
	}
	return wrap(last)
}

// wrap makes every failure to get an answer match core.ErrStoreUnavailable.
func wrap(err error) error {
	if err == nil || errors.Is(err, core.ErrStoreUnavailable) {
		return err
	}
	return fmt.Errorf("%w: redis: %w", core.ErrStoreUnavailable, err)
}

func ms(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

var errMalformed = errors.New("malformed script reply")

// tombstones remembers sessions this process revoked (see tombstoneTTL).
type tombstones struct {
	m     sync.Map     // session id → int64: unix ns to forget it after
	n     atomic.Int64 // entries in m
	count atomic.Int32 // adds since the last sweep
}

func (t *tombstones) add(sid string) {
	now := time.Now()
	if _, loaded := t.m.Swap(sid, now.Add(tombstoneTTL).UnixNano()); !loaded {
		t.n.Add(1)
	}
	if t.count.Add(1)%1024 == 0 {
		t.m.Range(func(k, until any) bool {
			if now.UnixNano() > until.(int64) && t.m.CompareAndDelete(k, until) {
				t.n.Add(-1)
			}
			return true
		})
	}
}

// has runs on every authenticated request: a sync.Map reads without a
// lock (a read-write mutex's reader count is one cache line that every
// request on every core would write), and no tombstone at all costs one
// atomic load.
func (t *tombstones) has(sid string) bool {
	if t.n.Load() == 0 {
		return false
	}
	until, ok := t.m.Load(sid)
	return ok && time.Now().UnixNano() < until.(int64)
}

// coarseDeadline hands out a context whose deadline is between 3/4 of the
// timeout and the whole timeout away, made anew at most every quarter of the
// timeout and shared by every call meanwhile. A parent context that has a
// deadline of its own within the timeout is used as it is. The shared
// context carries no values and no cancellation of the parent: it serves
// only SessionAlive, whose cache hits never look at the context and whose
// misses are one bounded read.
type coarseDeadline struct {
	timeout time.Duration
	cur     atomic.Pointer[deadlineCtx]
}

type deadlineCtx struct {
	context.Context
	at     time.Time
	cancel context.CancelFunc // not called: the context ends at its deadline
}

func (d *coarseDeadline) ctx(parent context.Context) context.Context {
	now := time.Now()
	if dl, ok := parent.Deadline(); ok && dl.Sub(now) <= d.timeout {
		return parent
	}
	if c := d.cur.Load(); c != nil && c.at.Sub(now) >= d.timeout*3/4 {
		return c.Context
	}
	c := &deadlineCtx{at: now.Add(d.timeout)}
	c.Context, c.cancel = context.WithDeadline(context.Background(), c.at)
	d.cur.Store(c)
	return c.Context
}
