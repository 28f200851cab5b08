// Package storetest is the conformance suite for core.Store implementations.
// Each store calls it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, storetest.Harness{NewStore: newStore})
//	}
//
// Run checks the session semantics through core.Auth (rotation, reuse
// detection, revocation, expiry, listing, the per-user bound, partitions);
// RunConcurrency checks the
// guarantees under simultaneous callers; Benchmark measures the hot paths.
// The suite owns the subtest names, so a failure reads the same for every
// store.
package storetest

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authenik8/authenik8-go/core"
)

// Harness tells the suite how to make stores. Capabilities a store lacks are
// left nil, and the suite skips what needs them.
type Harness struct {
	// NewStore returns a fresh, empty store for one test. Required.
	NewStore func(t testing.TB) core.Store
	// NewPeer returns a second, independent client of the backend behind s —
	// its own connections and caches, as another process would have. Nil
	// when the store cannot be shared (an in-memory store).
	NewPeer func(t testing.TB, s core.Store) core.Store
	// NewUsers returns an empty user store to go with s: the store's own
	// when it holds users (a core.UserRotator), else a separate one. Nil
	// skips the tests of Config.ReloadUser.
	NewUsers func(t testing.TB, s core.Store) UserStore
	// Partition returns a fresh store on a backend of its own and a function
	// that cuts the two apart until the test ends: the backend stops
	// answering while connections stay open, as a frozen server or a
	// network partition does. Nil when the store has no backend to lose.
	Partition func(t testing.TB) (s core.Store, cut func())
	// PartitionWindow is how long after the cut the store may still answer
	// SessionAlive from what it cached (required with Partition).
	PartitionWindow time.Duration
}

// Keys shared by every Auth the suite builds, so that peers verify each
// other's tokens as processes sharing a configuration would.
var (
	accessSecret  = []byte("storetest access secret, 32+ bytes long....")
	refreshSecret = []byte("storetest refresh secret, 32+ bytes long...")
)

// NewAuth returns an Auth on s with the suite's keys; mod adjusts the
// config.
func NewAuth(t testing.TB, s core.Store, mod func(*core.Config)) *core.Auth {
	t.Helper()
	key, err := core.NewHMACKey(accessSecret)
	if err != nil {
		t.Fatal(err)
	}
	cfg := core.Config{Store: s, AccessKeys: []core.Key{key}, RefreshSecret: refreshSecret}
	if mod != nil {
		mod(&cfg)
	}
	a, err := core.New(cfg)
	if err != nil {
		t.Fatalf("core.New: %v", err)
	}
	return a
}

var userSeq atomic.Int64

func init() { userSeq.Store(time.Now().UnixNano()) }

// newUser returns a user with a unique id, so that tests sharing a backend
// never see each other's sessions.
func newUser(roles ...string) core.User {
	id := "u" + strconv.FormatInt(userSeq.Add(1), 36)
	return core.User{ID: id, Email: id + "@example.com", Roles: roles}
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func login(t testing.TB, a *core.Auth, u core.User) *core.TokenPair {
	t.Helper()
	p, err := a.IssueSession(ctx(t), u, core.Client{UserAgent: "storetest", IP: "127.0.0.1"})
	if err != nil {
		t.Fatalf("IssueSession: %v", err)
	}
	return p
}

func refresh(t testing.TB, a *core.Auth, token string) *core.TokenPair {
	t.Helper()
	p, err := a.Refresh(ctx(t), token)
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	return p
}

func verify(t testing.TB, a *core.Auth, token string) *core.Claims {
	t.Helper()
	c, err := a.Verify(ctx(t), token)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return c
}

func wantErr(t testing.TB, what string, got, want error) {
	t.Helper()
	if !errors.Is(got, want) {
		t.Fatalf("%s: got error %v, want %v", what, got, want)
	}
}

func wantRevoked(t testing.TB, a *core.Auth, access string) {
	t.Helper()
	_, err := a.Verify(ctx(t), access)
	wantErr(t, "Verify of a revoked session's access token", err, core.ErrTokenRevoked)
}

func wantRefreshFails(t testing.TB, a *core.Auth, token string, want error) {
	t.Helper()
	_, err := a.Refresh(ctx(t), token)
	wantErr(t, "Refresh", err, want)
}
