package proctest_test

import (
	"net/http"
	"os"
	"os/exec"
	"testing"

	"github.com/authenik8/authenik8-go/conformance/proctest"
)

// A built server run as its users would run it: its own environment, a
// free port, /healthz before the test goes on, a graceful stop at the end.
func Example() {
	_ = func(t *testing.T) {
		cmd := exec.Command("./bin/server")
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "REDIS_URL=redis://127.0.0.1:6379"}
		s := proctest.Start(t, "server", cmd)
		defer s.Stop(t)
		if resp, err := http.Get(s.URL + "/readyz"); err == nil {
			resp.Body.Close()
		}
	}
}
