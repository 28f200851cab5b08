package redisstore_test

import (
	"testing"

	"github.com/authenik8/authenik8-go/conformance/redistest"
	"github.com/authenik8/authenik8-go/conformance/storetest"
	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/redisstore"
	"github.com/authenik8/authenik8-go/redisstore/redisstoretest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// harness runs the suites on the Redis behind url; every store gets its own
// key prefix, and a peer is a second client (own connections, own cache) on
// the same prefix.
func harness(url func(testing.TB) string) storetest.Harness {
	prefixes := map[core.Store]string{}
	return storetest.Harness{
		NewStore: func(t testing.TB) core.Store {
			p := redisstoretest.Prefix()
			s := redisstoretest.Open(t, url(t), redisstore.Options{KeyPrefix: p})
			prefixes[s] = p
			return s
		},
		NewPeer: func(t testing.TB, s core.Store) core.Store {
			return redisstoretest.Open(t, url(t), redisstore.Options{KeyPrefix: prefixes[s]})
		},
		NewUsers: func(t testing.TB, s core.Store) storetest.UserStore {
			return s.(*redisstore.Store).Users()
		},
		PartitionWindow: redisstore.DefaultPartitionWindow,
	}
}

// frozen returns a Harness.Partition on servers of its own (a standalone one,
// or a 3-master cluster): the cut freezes them (SIGSTOP), their connections
// staying open, until the test ends.
func frozen(cluster bool) func(t testing.TB) (core.Store, func()) {
	return func(t testing.TB) (core.Store, func()) {
		var (
			url     string
			servers []*redistest.Server
		)
		if cluster {
			c := redistest.StartCluster(t, 3, 0)
			url, servers = c.URL(), c.Nodes
		} else {
			srv := redistest.Start(t)
			url, servers = srv.URL(), []*redistest.Server{srv}
		}
		s := redisstoretest.Open(t, url, redisstore.Options{KeyPrefix: redisstoretest.Prefix()})
		return s, func() {
			for _, srv := range servers {
				srv.Pause()
			}
			t.Cleanup(func() { // before the store closes and the servers die
				for _, srv := range servers {
					srv.Resume()
				}
			})
		}
	}
}

var (
	standalone = withPartition(harness(redistest.URL), frozen(false))
	cluster    = withPartition(harness(redistest.ClusterURL), frozen(true))
)

func withPartition(h storetest.Harness, p func(testing.TB) (core.Store, func())) storetest.Harness {
	h.Partition = p
	return h
}

func TestConformance(t *testing.T) {
	t.Run("Standalone", func(t *testing.T) { storetest.Run(t, standalone) })
	t.Run("Cluster", func(t *testing.T) { storetest.Run(t, cluster) })
}

func TestConcurrency(t *testing.T) {
	t.Run("Standalone", func(t *testing.T) { storetest.RunConcurrency(t, standalone) })
	t.Run("Cluster", func(t *testing.T) { storetest.RunConcurrency(t, cluster) })
}

// users runs the user suites on the Redis behind url, each store on a key
// prefix of its own.
// A peer is a second client (own connections) on the same prefix.
func users(url func(testing.TB) string) storetest.UsersHarness {
	type opened struct {
		prefix string
		hasher *core.PasswordHasher
	}
	stores := map[storetest.UserStore]opened{}
	return storetest.UsersHarness{
		NewUsers: func(t testing.TB, h *core.PasswordHasher) storetest.UserStore {
			p := redisstoretest.Prefix()
			u := redisstoretest.Open(t, url(t), redisstore.Options{KeyPrefix: p, Hasher: h}).Users()
			stores[u] = opened{p, h}
			return u
		},
		NewPeer: func(t testing.TB, us storetest.UserStore) storetest.UserStore {
			o := stores[us]
			return redisstoretest.Open(t, url(t), redisstore.Options{KeyPrefix: o.prefix, Hasher: o.hasher}).Users()
		},
	}
}

func TestUsers(t *testing.T) {
	t.Run("Standalone", func(t *testing.T) { storetest.RunUsers(t, users(redistest.URL)) })
	t.Run("Cluster", func(t *testing.T) { storetest.RunUsers(t, users(redistest.ClusterURL)) })
}

func TestAccounts(t *testing.T) {
	t.Run("Standalone", func(t *testing.T) { storetest.RunAccounts(t, users(redistest.URL)) })
	t.Run("Cluster", func(t *testing.T) { storetest.RunAccounts(t, users(redistest.ClusterURL)) })
}

func BenchmarkStore(b *testing.B) {
	b.Run("Standalone", func(b *testing.B) { storetest.Benchmark(b, standalone) })
	b.Run("Cluster", func(b *testing.B) { storetest.Benchmark(b, cluster) })
}

func TestUnknownEmailTiming(t *testing.T) {
	storetest.RunUnknownEmailTiming(t, users(redistest.URL))
}
