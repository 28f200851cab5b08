package telemetry_test

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/core/memstore"
)

// TestCounters drives core through every outcome it can reach with the
// in-memory stores and checks each counter series, by label, against the
// count the script produced: as the SDK's in-memory reader sees them, and
// as the Prometheus exporter names and serves them.
func TestCounters(t *testing.T) {
	sdk := newSDK(t)
	f := newFixture(t, sdk, nil)
	ctx := context.Background()
	a := f.auth
	ip := core.Client{IP: "127.0.0.1", UserAgent: "telemetry-test"}

	// Logins. ada: success, two wrong passwords, then locked out.
	ada := f.register(t, "ada")
	f.login(t, ada, nil)
	for range 2 {
		if _, err := a.Login(ctx, ada.email, "wrong password", ip); !errors.Is(err, core.ErrInvalidCredentials) {
			t.Fatalf("wrong password: %v", err)
		}
	}
	if _, err := a.Login(ctx, ada.email, ada.password, ip); !errors.Is(err, core.ErrRateLimited) {
		t.Fatalf("locked account: %v", err)
	}
	if _, err := a.Login(ctx, "", "", ip); !errors.Is(err, core.ErrInvalidRequest) {
		t.Fatalf("empty login: %v", err)
	}
	// bob: one login holds the only hashing slot while another gives up.
	bob := f.register(t, "bob")
	f.users.entered, f.users.release = make(chan struct{}), make(chan struct{})
	held := make(chan *core.TokenPair)
	go func() {
		p, err := a.Login(ctx, bob.email, bob.password, ip)
		if err != nil {
			t.Errorf("the login holding the slot: %v", err)
		}
		held <- p
	}()
	<-f.users.entered
	f.users.entered = nil
	if _, err := a.Login(ctx, bob.email, bob.password, ip); !errors.Is(err, core.ErrServerBusy) {
		t.Fatalf("login while the slot is held: %v", err)
	}
	close(f.users.release)
	p1 := <-held
	if p1 == nil {
		t.FailNow()
	}
	f.tokens(p1)
	f.users.fail = errors.New("users: connection refused")
	if _, err := a.Login(ctx, bob.email, bob.password, ip); !errors.Is(err, core.ErrStoreUnavailable) {
		t.Fatalf("login with the user store down: %v", err)
	}
	f.users.fail = nil

	// Refreshes: rotated, conflict (within the grace), rotated, reused, invalid.
	p2 := f.refresh(t, p1.RefreshToken, nil)
	f.refresh(t, p1.RefreshToken, core.ErrRefreshConflict)
	f.refresh(t, p2.RefreshToken, nil)
	f.refresh(t, p1.RefreshToken, core.ErrRefreshTokenReused)
	f.refresh(t, "garbage", core.ErrInvalidRefreshToken)

	// Verifications and the token cache.
	carol := f.register(t, "carol")
	p4 := f.login(t, carol, nil)
	f.verify(t, p4.AccessToken, nil)                      // miss
	f.verify(t, p4.AccessToken, nil)                      // hit
	f.verify(t, "", core.ErrMissingToken)                 // no lookup
	f.verify(t, "x.y.z", core.ErrInvalidToken)            // miss
	f.skew.Add(int64(2 * time.Minute))                    // past AccessTTL and Leeway
	f.verify(t, p4.AccessToken, core.ErrTokenExpired)     // miss: the entry expired
	p5 := f.login(t, carol, nil)                          // carol: p4, p5
	f.store.down.Store(true)                              //
	f.verify(t, p5.AccessToken, core.ErrStoreUnavailable) // miss
	f.store.down.Store(false)                             //
	f.verify(t, p5.AccessToken, nil)                      // hit

	// Revocations.
	if err := a.Logout(ctx, p5.SessionID); err != nil { // logout
		t.Fatal(err)
	}
	f.verify(t, p5.AccessToken, core.ErrTokenRevoked)                  // hit
	p6 := f.login(t, carol, nil)                                       // carol: p4, p6
	p7 := f.login(t, carol, nil)                                       // evicts p4 (MaxSessionsPerUser 2)
	if err := a.LogoutRefreshToken(ctx, p6.RefreshToken); err != nil { // logout
		t.Fatal(err)
	}
	claims := f.verify(t, p7.AccessToken, nil)                         // miss
	if err := a.RevokeSession(ctx, claims, p7.SessionID); err != nil { // revoke
		t.Fatal(err)
	}
	f.login(t, carol, nil)
	f.login(t, carol, nil)
	if n, err := a.LogoutAll(ctx, carol.id); err != nil || n != 2 { // logout_all: 2
		t.Fatalf("LogoutAll: %d, %v", n, err)
	}
	if _, err := a.Sessions(ctx, carol.id, ""); err != nil {
		t.Fatal(err)
	}
	if err := a.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	// A refresh that finds its user gone (a second Auth on the same
	// providers, whose loader has no users).
	gone := newFixture(t, sdk, func(c *core.Config) {
		c.UserLoader = func(context.Context, string) (core.User, error) { return core.User{}, core.ErrUserNotFound }
	})
	dave, err := gone.auth.IssueSession(ctx, core.User{ID: "dave-" + rand.Text()}, ip)
	if err != nil {
		t.Fatal(err)
	}
	f.tokens(dave)
	gone.refresh(t, dave.RefreshToken, core.ErrInvalidRefreshToken)

	want := map[string]map[string]int64{
		"authenik8.logins": {"success": 8, "invalid_credentials": 2, "rate_limited": 1, "account_disabled": 0,
			"server_busy": 1, "store_unavailable": 1, "invalid_request": 1, "other": 0},
		"authenik8.refreshes": {"rotated": 2, "conflict": 1, "reused": 1, "invalid": 2, "store_unavailable": 0, "other": 0},
		"authenik8.verifications": {"ok": 4, "missing_token": 1, "invalid_token": 1, "token_expired": 1,
			"token_revoked": 1, "store_unavailable": 1, "other": 0},
		"authenik8.revocations": {"logout": 2, "logout_all": 2, "revoke": 1, "reuse": 1, "evicted": 1, "user_deleted": 1,
			"logout_others": 0, "password_change": 0, "password_reset": 0, "disabled": 0},
		"authenik8.token_cache.hits":   {"": 3},
		"authenik8.token_cache.misses": {"": 5},
	}
	rm := sdk.collect(t)
	for name, series := range want {
		if got := counterSeries(t, rm, name); !mapsEqual(got, series) {
			t.Errorf("%s = %v, want %v", name, got, series)
		}
	}
	ops := histogramCounts(t, rm, "authenik8.store.duration")
	if ops["session_alive"] != 6 {
		t.Errorf("store duration of session_alive: %d observations, want one per verification that reached the store (6)", ops["session_alive"])
	}
	for _, op := range []string{"create_session", "rotate", "revoke_session", "revoke_user", "list_sessions", "ping",
		"limit_hit", "limit_peek", "limit_undo", "limit_reset", "authenticate", "register"} {
		if ops[op] == 0 {
			t.Errorf("store duration: no observation of op %q (have %v)", op, ops)
		}
	}

	// The same series through the Prometheus exporter, under the names
	// the README documents.
	families := sdk.scrape(t)
	prom := map[string]string{
		"authenik8.logins": "authenik8_logins_total", "authenik8.refreshes": "authenik8_refreshes_total",
		"authenik8.verifications": "authenik8_verifications_total", "authenik8.revocations": "authenik8_revocations_total",
		"authenik8.token_cache.hits": "authenik8_token_cache_hits_total", "authenik8.token_cache.misses": "authenik8_token_cache_misses_total",
	}
	for name, series := range want {
		if got := promSeries(families, prom[name]); !mapsEqual(got, series) {
			t.Errorf("/metrics %s = %v, want %v", prom[name], got, series)
		}
	}
	h := families["authenik8_store_duration_seconds"]
	if h == nil || h.GetType() != dto.MetricType_HISTOGRAM {
		t.Fatalf("/metrics has no histogram authenik8_store_duration_seconds: %v", h)
	}
	var bounds []float64
	for _, b := range h.Metric[0].GetHistogram().GetBucket() {
		bounds = append(bounds, b.GetUpperBound())
	}
	if len(bounds) < 10 || bounds[0] > 0.0001 || bounds[len(bounds)-1] < 1 {
		t.Errorf("authenik8_store_duration_seconds buckets %v: want sub-millisecond to seconds", bounds)
	}
}

// TestSpansHoldNoSecrets: spans cover the store calls (not the per-request
// session check), say what happened, and none of their names, attributes,
// statuses or events holds a token, password, email, user id or session id
// used in the run.
func TestSpansHoldNoSecrets(t *testing.T) {
	sdk := newSDK(t)
	f := newFixture(t, sdk, nil)
	ctx := context.Background()
	u := f.register(t, "eve")
	if _, err := f.auth.Login(ctx, u.email, "not the password", core.Client{IP: "127.0.0.1"}); !errors.Is(err, core.ErrInvalidCredentials) {
		t.Fatal(err)
	}
	p := f.login(t, u, nil)
	f.verify(t, p.AccessToken, nil)
	next := f.refresh(t, p.RefreshToken, nil)
	f.refresh(t, p.RefreshToken, core.ErrRefreshConflict)
	f.users.fail = errors.New("users: " + u.email + " unreachable") // an error that quotes an email
	f.auth.Login(ctx, u.email, u.password, core.Client{})
	f.users.fail = nil
	if err := f.auth.LogoutRefreshToken(ctx, next.RefreshToken); err != nil {
		t.Fatal(err)
	}
	f.secrets = append(f.secrets, "not the password", "unreachable")

	spans := sdk.spans.Ended()
	names := map[string]int{}
	outcomes := map[string]bool{}
	for _, s := range spans {
		names[s.Name()]++
		texts := []string{s.Name(), s.Status().Description}
		for _, kv := range s.Attributes() {
			texts = append(texts, string(kv.Key), kv.Value.Emit())
			if kv.Key == "authenik8.outcome" {
				outcomes[kv.Value.AsString()] = true
			}
		}
		for _, e := range s.Events() {
			texts = append(texts, e.Name)
			for _, kv := range e.Attributes {
				texts = append(texts, string(kv.Key), kv.Value.Emit())
			}
		}
		for _, text := range texts {
			for _, secret := range f.secrets {
				if strings.Contains(text, secret) {
					t.Errorf("span %s holds %q: %q", s.Name(), secret, text)
				}
			}
		}
	}
	for _, name := range []string{"authenik8.users.register", "authenik8.users.authenticate", "authenik8.store.create_session",
		"authenik8.store.rotate", "authenik8.store.limit_hit"} {
		if names[name] == 0 {
			t.Errorf("no span %s; spans: %v", name, names)
		}
	}
	if names["authenik8.store.session_alive"] != 0 {
		t.Error("the per-request session check has a span")
	}
	for _, o := range []string{"rotated", "conflict", "ended", "invalid_credentials"} {
		if !outcomes[o] {
			t.Errorf("no span says outcome %q; outcomes: %v", o, outcomes)
		}
	}
	failed := 0
	for _, s := range spans {
		if s.Status().Code == 1 /* codes.Error */ {
			failed++
		}
	}
	if failed != 1 {
		t.Errorf("%d spans failed, want 1 (the user store down)", failed)
	}
}

// TestVerifyAllocations: a warm Verify (cached token, live session in
// memory), the work of every authenticated request, allocates nothing with
// the global or explicit no-op providers, and at most once with an SDK
// recording every instrument.
func TestVerifyAllocations(t *testing.T) {
	allocs := func(mod func(*core.Config)) float64 {
		f := newFixture(t, nil, mod)
		p := f.login(t, f.register(t, "fay"), nil)
		ctx := context.Background()
		return testing.AllocsPerRun(1000, func() {
			if _, err := f.auth.Verify(ctx, p.AccessToken); err != nil {
				t.Fatal(err)
			}
		})
	}
	global := allocs(nil)
	noops := allocs(func(c *core.Config) {
		c.MeterProvider, c.TracerProvider = noop.NewMeterProvider(), tracenoop.NewTracerProvider()
	})
	sdk := newSDK(t)
	withSDK := allocs(func(c *core.Config) { c.MeterProvider, c.TracerProvider = sdk.mp, sdk.tp })
	t.Logf("Verify allocations: global providers %v, no-op providers %v, SDK %v", global, noops, withSDK)
	if global != 0 || noops != 0 || withSDK > 1 {
		t.Errorf("Verify allocates %v with the global providers, %v with no-op ones, %v with an SDK; want 0, 0 and at most 1", global, noops, withSDK)
	}
}

// otelSDK records in memory: metrics through a ManualReader and through
// the Prometheus exporter on a registry of its own, spans through a
// recorder.
type otelSDK struct {
	mp     *sdkmetric.MeterProvider
	reader *sdkmetric.ManualReader
	reg    *prometheus.Registry
	tp     *sdktrace.TracerProvider
	spans  *tracetest.SpanRecorder
}

func newSDK(t testing.TB) *otelSDK {
	s := &otelSDK{reader: sdkmetric.NewManualReader(), reg: prometheus.NewRegistry(), spans: tracetest.NewSpanRecorder()}
	exp, err := otelprom.New(otelprom.WithRegisterer(s.reg))
	if err != nil {
		t.Fatal(err)
	}
	s.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(s.reader), sdkmetric.WithReader(exp))
	s.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(s.spans))
	t.Cleanup(func() {
		s.mp.Shutdown(context.Background())
		s.tp.Shutdown(context.Background())
	})
	return s
}

func (s *otelSDK) collect(t testing.TB) metricdata.ResourceMetrics {
	var rm metricdata.ResourceMetrics
	if err := s.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	return rm
}

// scrape gets /metrics over a loopback listener, as Prometheus would, and
// parses it with the classic (legacy) name rules.
func (s *otelSDK) scrape(t testing.TB) map[string]*dto.MetricFamily {
	srv := httptest.NewServer(promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	p := expfmt.NewTextParser(model.LegacyValidation)
	families, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("/metrics does not parse as Prometheus text: %v\n%s", err, body)
	}
	return families
}

// counterSeries returns the value of each series of an int64 counter by its
// one attribute's value ("" for none).
func counterSeries(t testing.TB, rm metricdata.ResourceMetrics, name string) map[string]int64 {
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			sum, ok := m.Data.(metricdata.Sum[int64])
			if !ok || !sum.IsMonotonic {
				t.Fatalf("%s is %T, want a monotonic int64 sum", name, m.Data)
			}
			for _, dp := range sum.DataPoints {
				label := ""
				if dp.Attributes.Len() > 1 {
					t.Errorf("%s has a series with attributes %v: one label at most", name, dp.Attributes.ToSlice())
				}
				for _, kv := range dp.Attributes.ToSlice() {
					label = kv.Value.AsString()
				}
				got[label] += dp.Value
			}
		}
	}
	return got
}

// histogramCounts returns the observations of a float64 histogram by op.
func histogramCounts(t testing.TB, rm metricdata.ResourceMetrics, name string) map[string]uint64 {
	got := map[string]uint64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			if m.Unit != "s" {
				t.Errorf("%s unit %q, want s", name, m.Unit)
			}
			h, ok := m.Data.(metricdata.Histogram[float64])
			if !ok {
				t.Fatalf("%s is %T", name, m.Data)
			}
			for _, dp := range h.DataPoints {
				op, _ := dp.Attributes.Value("op")
				got[op.AsString()] += dp.Count
			}
		}
	}
	return got
}

// promSeries returns the value of each series of a counter family by its
// application label (outcome or reason; "" for none).
func promSeries(families map[string]*dto.MetricFamily, name string) map[string]int64 {
	got := map[string]int64{}
	f := families[name]
	if f == nil || f.GetType() != dto.MetricType_COUNTER {
		return nil
	}
	for _, m := range f.Metric {
		label := ""
		for _, l := range m.Label {
			if l.GetName() == "outcome" || l.GetName() == "reason" {
				label = l.GetValue()
			}
		}
		got[label] += int64(m.GetCounter().GetValue())
	}
	return got
}

func mapsEqual[V comparable](a, b map[string]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// fixture is an Auth on in-memory stores that can fail on demand, with a
// clock that can jump, and the secrets it has seen.
type fixture struct {
	auth    *core.Auth
	store   *flakyStore
	users   *scriptedUsers
	skew    *atomic.Int64
	secrets []string
}

// account is a registered user and its credentials.
type account struct{ id, email, password string }

// newFixture builds an Auth recording with sdk (nil: the global providers)
// and mod applied to its Config.
func newFixture(t testing.TB, sdk *otelSDK, mod func(*core.Config)) *fixture {
	key, err := core.NewHMACKey([]byte(rand.Text() + rand.Text()))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{
		store: &flakyStore{Store: memstore.New()},
		users: &scriptedUsers{Users: memstore.NewUsers(&core.PasswordHasher{Params: core.PasswordParams{Time: 1, MemoryKiB: 64, Threads: 1}})},
		skew:  new(atomic.Int64),
	}
	cfg := core.Config{
		Store: f.store, Users: f.users, AccessKeys: []core.Key{key}, RefreshSecret: []byte(rand.Text() + rand.Text()),
		AccessTTL: time.Minute, Leeway: time.Second, ReuseGrace: time.Minute,
		MaxSessionsPerUser: 2, MaxConcurrentHashes: 1, MaxHashWait: 50 * time.Millisecond,
		RateLimits: core.RateLimits{LoginPerAccount: core.Limit{Max: 2, Window: time.Hour}},
		Now:        func() time.Time { return time.Now().Add(time.Duration(f.skew.Load())) },
	}
	if sdk != nil {
		cfg.MeterProvider, cfg.TracerProvider = sdk.mp, sdk.tp
	}
	if mod != nil {
		mod(&cfg)
	}
	if f.auth, err = core.New(cfg); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) register(t testing.TB, name string) account {
	t.Helper()
	acct := account{email: name + "-" + strings.ToLower(rand.Text()) + "@example.com", password: rand.Text()}
	u, err := f.auth.Register(context.Background(), acct.email, acct.password, core.Client{IP: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	acct.id = u.ID
	f.secrets = append(f.secrets, acct.id, acct.email, acct.password)
	return acct
}

func (f *fixture) tokens(p *core.TokenPair) {
	f.secrets = append(f.secrets, p.AccessToken, p.RefreshToken, p.SessionID, p.UserID)
}

func (f *fixture) login(t testing.TB, u account, want error) *core.TokenPair {
	t.Helper()
	p, err := f.auth.Login(context.Background(), u.email, u.password, core.Client{IP: "127.0.0.1", UserAgent: "telemetry-test"})
	if !errors.Is(err, want) || (want == nil && err != nil) {
		t.Fatalf("login %s: %v, want %v", u.email, err, want)
	}
	if p != nil {
		f.tokens(p)
	}
	return p
}

func (f *fixture) refresh(t testing.TB, token string, want error) *core.TokenPair {
	t.Helper()
	p, err := f.auth.Refresh(context.Background(), token)
	if !errors.Is(err, want) || (want == nil && err != nil) {
		t.Fatalf("refresh: %v, want %v", err, want)
	}
	if p != nil {
		f.tokens(p)
	}
	return p
}

func (f *fixture) verify(t testing.TB, token string, want error) *core.Claims {
	t.Helper()
	c, err := f.auth.Verify(context.Background(), token)
	if !errors.Is(err, want) || (want == nil && err != nil) {
		t.Fatalf("verify: %v, want %v", err, want)
	}
	return c
}

// flakyStore is a memstore whose session checks fail while down is set.
type flakyStore struct {
	*memstore.Store
	down atomic.Bool
}

func (s *flakyStore) SessionAlive(ctx context.Context, userID, sessionID string) (bool, error) {
	if s.down.Load() {
		return false, errors.New("store: connection refused")
	}
	return s.Store.SessionAlive(ctx, userID, sessionID)
}

// scriptedUsers is a memstore.Users whose Authenticate fails with fail
// when set, and, while entered is set, signals it and waits for release.
type scriptedUsers struct {
	*memstore.Users
	fail             error
	entered, release chan struct{}
}

func (u *scriptedUsers) Authenticate(ctx context.Context, email, password string) (core.User, error) {
	if u.entered != nil {
		u.entered <- struct{}{}
		<-u.release
	}
	if u.fail != nil {
		return core.User{}, u.fail
	}
	return u.Users.Authenticate(ctx, email, password)
}
