package redisstore_test

import (
	"log"

	"github.com/redis/rueidis"

	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/redisstore"
)

// Open a store from a URL; list cluster nodes with addr= parameters
// (redis://10.0.0.1:7000?addr=10.0.0.2:7000&addr=10.0.0.3:7000).
// The example needs a Redis, so it is compiled but not run.
func ExampleOpen() {
	store, err := redisstore.Open("redis://127.0.0.1:6379", redisstore.Options{KeyPrefix: "myapp"})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	key, _ := core.NewHMACKey([]byte("an HS256 secret of at least 32 bytes!"))
	a, err := core.New(core.Config{
		Store:         store,
		Users:         store.Users(),
		AccessKeys:    []core.Key{key},
		RefreshSecret: []byte("a different refresh secret, 32+ bytes"),
	})
	if err != nil {
		log.Fatal(err)
	}
	_ = a
}

// Bring your own rueidis client (Sentinel, TLS, credentials…); the store
// leaves it open on Close.
func ExampleNew() {
	client, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress: []string{"127.0.0.1:26379"},
		Sentinel:    rueidis.SentinelOption{MasterSet: "mymaster"},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	store, err := redisstore.New(client, redisstore.Options{})
	if err != nil {
		log.Fatal(err)
	}
	_ = store
}
