package main

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/authenik8/authenik8-go/conformance/redistest"
)

// TestMain stops the Redis servers the tests started.
func TestMain(m *testing.M) { redistest.Main(m) }

// result is what one in-process run of the command printed and returned.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return "exit " + strconv.Itoa(r.code) + "\nstdout:\n" + r.stdout + "\nstderr:\n" + r.stderr
}

// cli runs the command in-process with env as its whole environment, an
// empty stdin and no terminal.
func cli(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	return cliWith(t, env, "", false, args...)
}

func cliWith(t *testing.T, env map[string]string, stdin string, interactive bool, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, &stdio{
		stdin:       strings.NewReader(stdin),
		stdout:      &out,
		stderr:      &errOut,
		getenv:      func(k string) string { return env[k] },
		interactive: interactive,
	})
	return result{code, out.String(), errOut.String()}
}

func TestUsage(t *testing.T) {
	if r := cli(t, nil); r.code != exitUsage || !strings.Contains(r.stderr, "Usage:") {
		t.Errorf("no command: %v", r)
	}
	if r := cli(t, nil, "frobnicate"); r.code != exitUsage || !strings.Contains(r.stderr, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: %v", r)
	}
	if r := cli(t, nil, "help"); r.code != exitOK || !strings.Contains(r.stdout, "authenik8 doctor") {
		t.Errorf("help: %v", r)
	}
	if r := cli(t, nil, "version"); r.code != exitOK || !strings.Contains(r.stdout, authenik8Version) {
		t.Errorf("version: %v", r)
	}
	for _, cmd := range []string{"new", "secret", "doctor"} {
		if r := cli(t, nil, cmd, "-h"); r.code != exitOK || !strings.Contains(r.stderr, "Usage: authenik8 "+cmd) {
			t.Errorf("%s -h: %v", cmd, r)
		}
		if r := cli(t, nil, cmd, "--no-such-flag"); r.code != exitUsage {
			t.Errorf("%s --no-such-flag: %v", cmd, r)
		}
	}
}
