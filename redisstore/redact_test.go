package redisstore_test

import (
	"strings"
	"testing"

	"github.com/authenik8/authenik8-go/redisstore"
)

// TestOpenRedactsURL: Open refuses malformed Redis URLs with an error that
// names the URL, redacted, and holds no piece of the password — whether
// url.Parse, rueidis.ParseURL or the '@' check refuses it.
func TestOpenRedactsURL(t *testing.T) {
	const password = "Pa55/w0rd"
	for raw, want := range map[string]string{
		"redis://alice:Pa55/w0rd@127.0.0.1:6379":    `redisstore: invalid URL "redis://alice:xxxxx@127.0.0.1:6379": invalid port ":xxxxx" after host`,
		"redis://alice:Pa55%zzw0rd@127.0.0.1:6379":  `redisstore: invalid URL "redis://alice:xxxxx@127.0.0.1:6379": invalid URL escape "xxxxx"`,
		"redis://alice:Pa55 w0rd@127.0.0.1:6379":    `redisstore: invalid URL "redis://alice:xxxxx@127.0.0.1:6379": net/url: invalid userinfo`,
		"redis://alice:1234/w0rd@127.0.0.1:6379":    `redisstore: invalid URL "redis://alice:xxxxx@127.0.0.1:6379": an '@' after the host`,
		"redis://alice:Pa55w0rd@127.0.0.1:6379/a/b": `redisstore: invalid URL "redis://alice:xxxxx@127.0.0.1:6379/a/b": redis: invalid URL path: /a/b`,
		"redis://alice:Pa55w0rd@127.0.0.1:6379/abc": `redisstore: invalid URL "redis://alice:xxxxx@127.0.0.1:6379/abc": redis: invalid database number: "abc"`,
		"ftp://alice:Pa55w0rd@127.0.0.1:6379":       `redisstore: invalid URL "ftp://alice:xxxxx@127.0.0.1:6379": redis: invalid URL scheme: ftp`,
	} {
		for _, open := range []func() error{
			func() error { _, err := redisstore.Open(raw, redisstore.Options{}); return err },
			func() error { _, err := redisstore.ParseURL(raw); return err },
		} {
			err := open()
			if err == nil {
				t.Fatalf("%q was accepted", raw)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, want) {
				t.Errorf("%q: %s\nwant %s…", raw, msg, want)
			}
			for _, secret := range []string{password, "Pa55w0rd", "Pa55 w0rd", "w0rd", "1234/"} {
				if strings.Contains(msg, secret) {
					t.Errorf("%q: the error holds %q: %s", raw, secret, msg)
				}
			}
		}
	}
}
