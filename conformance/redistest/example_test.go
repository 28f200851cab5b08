package redistest_test

import (
	"testing"

	"github.com/authenik8/authenik8-go/conformance/redistest"
)

// Tests ask for a Redis; they get REDIS_URL or a throwaway server, and skip
// (or fail, with AUTHENIK8_REQUIRE_REDIS=1) when neither can be had.
func Example() {
	_ = func(t *testing.T) {
		url := redistest.URL(t)               // standalone
		clusterURL := redistest.ClusterURL(t) // 3 masters
		srv := redistest.Start(t)             // dedicated: Kill, Pause, Restart
		_, _, _ = url, clusterURL, srv
	}
}
