package core_test

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/authenik8/authenik8-go/core"
)

func TestRedactURL(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"redis://localhost:6379", "redis://localhost:6379"},
		{"redis://:Pa55w0rd@localhost:6379", "redis://:xxxxx@localhost:6379"},
		{"redis://alice:Pa55w0rd@h:7000/0?addr=b:7000&addr=c:7000", "redis://alice:xxxxx@h:7000/0?addr=b:7000&addr=c:7000"},
		{"rediss://alice@h:6380", "rediss://alice@h:6380"}, // no password: nothing to hide
		{"postgres://app@db/app?sslmode=disable&password=Pa55w0rd", "postgres://app@db/app?sslmode=disable&password=xxxxx"},
		{"smtp://mailer:Pa55w0rd@mail.example.com:587", "smtp://mailer:xxxxx@mail.example.com:587"},
		// Malformed: whatever lies before the last '@' goes, and the query.
		{"redis://alice:Pa55%zzw0rd@h:6379", "redis://alice:xxxxx@h:6379"},              // bad escape
		{"redis://alice:Pa55/w0rd@h:6379", "redis://alice:xxxxx@h:6379"},                // '/' ends the host: "port" w0rd…
		{"redis://alice:1234/w0rd@h:6379", "redis://alice:xxxxx@h:6379"},                // …or parses, with '@' in the path
		{"redis://alice:12?34@h:6379", "redis://alice:xxxxx@h:6379"},                    // '?' ends the host
		{"redis://alice:Pa55 w0rd@h:6379/0?password=x", "redis://alice:xxxxx@h:6379/0"}, // space: invalid user info
		{"redis://alice:Pa55w0rd@h:port", "redis://alice:xxxxx@h:port"},                 // invalid port
		{"redis://alice:Pa55w0rd@h:6379\n", "redis://alice:xxxxx@h:6379\n"},             // control character
		{"redis://alice@h:6379/x@y", "redis://alice@h:xxxxx@y"},                         // an '@' past the authority: as malformed
		{"://h?token=Pa55w0rd", "://h"},
	} {
		if got := core.RedactURL(c.in); got != c.want {
			t.Errorf("RedactURL(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestRedactURLError: errors of url.Parse on URLs whose malformed password
// it quotes, whole or in pieces, come out without a piece of it.
func TestRedactURLError(t *testing.T) {
	const password = "Pa55/w0rd?%zz#"
	for _, raw := range []string{
		"redis://alice:" + password + "@h:6379",
		"redis://alice:Pa55/w0rd@h:6379",     // parse "…": invalid port ":Pa55" after host
		"redis://alice:Pa55%zzw0rd@h:6379",   // invalid URL escape "%zz"
		"redis://alice:Pa55 w0rd\x7f@h:6379", // invalid control character / user info
		"redis://alice:\"Pa55w0rd\"@h:6379",  // %q escapes the quotes
	} {
		_, err := url.Parse(raw)
		if err == nil {
			t.Fatalf("url.Parse(%q) succeeded: the case tests nothing", raw)
		}
		got := core.RedactURLError(raw, err).Error()
		if leak := pieceOf(got, password+"Pa55 w0rd\"Pa55w0rd"); leak != "" {
			t.Errorf("RedactURLError(%q) = %q: holds %q of the password", raw, got, leak)
		}
		if !strings.Contains(got, "alice") {
			t.Errorf("RedactURLError(%q) = %q: the user name is gone too", raw, got)
		}
	}
	// A secret query value that a parser quotes, and the URL it echoes.
	raw := "postgres://app@db:5432/app?sslmode=bogus&password=Pa55%2Fw0rd"
	err := fmt.Errorf("cannot parse %q: sslmode %q, password %q", raw, "bogus", "Pa55/w0rd")
	got := core.RedactURLError(raw, err).Error()
	if want := `cannot parse "postgres://app@db:5432/app?sslmode=bogus&password=xxxxx": sslmode "bogus", password "xxxxx"`; got != want {
		t.Errorf("RedactURLError = %s\nwant             %s", got, want)
	}
	if core.RedactURLError("redis://h", nil) != nil {
		t.Error("RedactURLError(nil) is not nil")
	}
}

// FuzzRedactURL: for any password, no 3-byte piece of it survives RedactURL
// or RedactURLError (unless the rest of the URL holds that piece too).
func FuzzRedactURL(f *testing.F) {
	for _, s := range []string{"Pa55w0rd", "Pa55/w0rd", "a@b:c", "12?34", "%zz%41", "\"q\"", "p#frag", "ab/12@cd"} {
		f.Add(s)
	}
	const before, after = "redis://alice:", "@example.com:6379/0?addr=b.example.com:7000"
	f.Fuzz(func(t *testing.T, password string) {
		// Left out: a password with an 'x' or a byte that %q escapes, where
		// the masks and escapes ("xxxxx", \x00) could spell a piece of it.
		if strings.Contains(password, "x") || strconv.Quote(password) != `"`+password+`"` {
			t.Skip()
		}
		raw := before + password + after
		outputs := []string{core.RedactURL(raw)}
		if _, err := url.Parse(raw); err != nil {
			outputs = append(outputs, core.RedactURLError(raw, err).Error())
		}
		for _, out := range outputs {
			for i := 0; i+3 <= len(password); i++ {
				piece := password[i : i+3]
				if strings.Contains(out, piece) && !strings.Contains(before+after, piece) && !strings.Contains(core.RedactURL(before+after), piece) {
					t.Fatalf("%q redacted to %q: holds %q of the password", raw, out, piece)
				}
			}
		}
	})
}

// pieceOf returns a 3-byte piece of secret found in s, or "".
func pieceOf(s, secret string) string {
	for i := 0; i+3 <= len(secret); i++ {
		if p := secret[i : i+3]; strings.Contains(s, p) {
			return p
		}
	}
	return ""
}

func TestParseURL(t *testing.T) {
	u, err := core.ParseURL("redis://alice:Pa55%2Fw0rd@h:6379/0")
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := u.User.Password(); p != "Pa55/w0rd" || u.Host != "h:6379" {
		t.Errorf("ParseURL: password %q, host %q", p, u.Host)
	}
	for raw, want := range map[string]string{
		"redis://alice:Pa55 w0rd@h:6379":    `invalid URL "redis://alice:xxxxx@h:6379": net/url: invalid userinfo`,
		"redis://alice:Pa55/w0rd@h:6379":    `invalid URL "redis://alice:xxxxx@h:6379": invalid port ":xxxxx" after host`,
		"redis://alice:1234/w0rd@h:6379":    `invalid URL "redis://alice:xxxxx@h:6379": an '@' after the host;`,
		"redis://alice:12#34@h:6379":        `invalid URL "redis://alice:xxxxx@h:6379": an '@' after the host;`,
		"redis://alice:Pa55w0rd@h:6379\x00": `invalid URL "redis://alice:xxxxx@h:6379\x00": net/url: invalid control character in URL`,
	} {
		_, err := core.ParseURL(raw)
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("ParseURL(%q) = %v, want %s…", raw, err, want)
		}
	}
}
