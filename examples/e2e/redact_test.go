package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authenik8/authenik8-go/conformance/redistest"
)

// TestRedisURLRedacted: the examples print REDIS_URL without its password,
// in the log line naming the store and in the error of a URL that does not
// parse or a password Redis refuses.
func TestRedisURLRedacted(t *testing.T) {
	redis := redistest.Start(t)
	if _, err := redistest.Command(redis.Addr, "CONFIG", "SET", "requirepass", "Pa55w0rd-right"); err != nil {
		t.Fatal(err)
	}
	secrets := []string{"Pa55", "w0rd"}
	noSecret := func(t *testing.T, what, out string) {
		t.Helper()
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s: the output holds %q:\n%s", what, s, out)
			}
		}
	}
	for _, fw := range frameworks {
		t.Run(fw, func(t *testing.T) {
			s := start(t, fw, "REDIS_URL=redis://:Pa55w0rd-right@"+redis.Addr)
			if want := `url=redis://:xxxxx@` + redis.Addr; !strings.Contains(s.Logs(), want) {
				t.Errorf("the log names no store %s:\n%s", want, s.Logs())
			}
			noSecret(t, "a good URL", s.Logs())

			for url, want := range map[string]string{
				"redis://:Pa55w0rd-wrong@" + redis.Addr:   "WRONGPASS",
				"redis://alice:Pa55/w0rd@" + redis.Addr:   `invalid URL \"redis://alice:xxxxx@` + redis.Addr,
				"redis://alice:Pa55%zzw0rd@" + redis.Addr: `invalid URL \"redis://alice:xxxxx@` + redis.Addr,
				"redis://alice:1234/w0rd@" + redis.Addr:   `invalid URL \"redis://alice:xxxxx@` + redis.Addr,
			} {
				cmd := exec.Command(filepath.Join(binDir, fw))
				cmd.Env = []string{"PORT=0", "REDIS_URL=" + url}
				out, err := cmd.CombinedOutput()
				if err == nil || !strings.Contains(string(out), want) {
					t.Errorf("REDIS_URL=%s: %v, want an error with %s:\n%s", url, err, want, out)
				}
				noSecret(t, "REDIS_URL="+url, string(out))
			}
		})
	}
}
