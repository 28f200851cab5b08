package core_test

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/core/memstore"
)

func TestCompactUserAgent(t *testing.T) {
	chrome := "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"curl/8.5.0", "curl/8.5.0"},
		{strings.Repeat("a", core.MaxUserAgentBytes), strings.Repeat("a", core.MaxUserAgentBytes)},
		{chrome, "Mozilla/5.0 (Windows NT 10.0; … Chrome/120.0.0.0 Safari/537.36"},
		{"bad \xff utf-8", "bad  utf-8"},
	} {
		if got := core.CompactUserAgent(tc.in); got != tc.want {
			t.Errorf("CompactUserAgent(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// Cuts inside multi-byte runes, at every offset: never invalid UTF-8,
	// never longer than the bound.
	for i := range 8 {
		ua := strings.Repeat("x", i) + strings.Repeat("é€😀", 20)
		got := core.CompactUserAgent(ua)
		if len(got) > core.MaxUserAgentBytes || !utf8.ValidString(got) || !strings.Contains(got, "…") {
			t.Errorf("CompactUserAgent of %d bytes: %q (%d bytes)", len(ua), got, len(got))
		}
	}
}

func TestSessionConfig(t *testing.T) {
	key, err := core.NewHMACKey([]byte("session config test access secret, 32+ bytes"))
	if err != nil {
		t.Fatal(err)
	}
	base := func() core.Config {
		return core.Config{Store: memstore.New(), AccessKeys: []core.Key{key}, RefreshSecret: []byte("session config test refresh secret, 32+ bytes")}
	}
	users := memstore.NewUsers(nil)
	for name, mod := range map[string]func(*core.Config){
		"negative MaxSessionsPerUser": func(c *core.Config) { c.MaxSessionsPerUser = -1 },
		"ReloadUser without Users":    func(c *core.Config) { c.ReloadUser = true },
		"ReloadUser and UserLoader": func(c *core.Config) {
			c.Users, c.ReloadUser, c.UserLoader = users, true, users.User
		},
	} {
		c := base()
		mod(&c)
		if _, err := core.New(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	c := base()
	c.Users, c.ReloadUser = users, true
	if _, err := core.New(c); err != nil {
		t.Fatalf("ReloadUser with Users: %v", err)
	}
	// The default bound applies when the field is zero.
	a, err := core.New(base())
	if err != nil {
		t.Fatal(err)
	}
	for range core.DefaultMaxSessionsPerUser + 1 {
		if _, err := a.IssueSession(context.Background(), core.User{ID: "bounded"}, core.Client{}); err != nil {
			t.Fatal(err)
		}
	}
	if list, _ := a.Sessions(context.Background(), "bounded", ""); len(list) != core.DefaultMaxSessionsPerUser {
		t.Fatalf("%d sessions with the default bound", len(list))
	}
}

func TestOutcomeValuesAreFixed(t *testing.T) {
	// Stores pass these numbers over the wire (redisstore's scripts).
	for want, o := range []core.Outcome{core.Invalid, core.Rotated, core.Conflict, core.Reused, core.Ended, core.NoUser, core.Disabled} {
		if int(o) != want {
			t.Errorf("%v = %d, want %d", o, o, want)
		}
	}
	if s := core.Outcome(9).String(); s != "outcome(9)" {
		t.Errorf("unknown outcome prints %q", s)
	}
}
