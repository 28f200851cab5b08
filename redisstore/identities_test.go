package redisstore_test

import (
	"strings"
	"testing"

	"github.com/authenik8/authenik8-go/conformance/redistest"
	"github.com/authenik8/authenik8-go/conformance/storetest"
	"github.com/authenik8/authenik8-go/redisstore"
	"github.com/authenik8/authenik8-go/redisstore/redisstoretest"
)

func TestIdentities(t *testing.T) {
	t.Run("Standalone", func(t *testing.T) { storetest.RunIdentities(t, users(redistest.URL)) })
	t.Run("Cluster", func(t *testing.T) { storetest.RunIdentities(t, users(redistest.ClusterURL)) })
}

// TestIdentityKeys: an identity's key names neither the subject nor the
// email, lives as long as the account, and sits in its own hash tag.
func TestIdentityKeys(t *testing.T) {
	for name, url := range map[string]func(testing.TB) string{"Standalone": redistest.URL, "Cluster": redistest.ClusterURL} {
		t.Run(name, func(t *testing.T) {
			prefix := redisstoretest.Prefix()
			s := redisstoretest.Open(t, url(t), redisstore.Options{KeyPrefix: prefix, Hasher: storetest.FastHasher})
			c := bg(t)
			u := must(s.Users().RegisterIdentity(c, "hidden.person@example.com", []string{"user"}, "google", "subject-in-clear-1"))
			if err := s.Users().LinkIdentity(c, u.ID, "github", "subject-in-clear-2"); err != nil {
				t.Fatal(err)
			}
			var idents int
			for _, k := range scan(t, s.Client(), prefix+":*") {
				if strings.Contains(k, "subject-in-clear") || strings.Contains(k, "example.com") || strings.Contains(k, "google") {
					t.Errorf("key name %q holds a subject, provider or email", k)
				}
				if strings.HasSuffix(k, ":ident") {
					idents++
					if !strings.HasPrefix(k, prefix+":{i:") {
						t.Errorf("identity key %q is not in a hash tag of its own", k)
					}
					if ttl := must(s.Client().Do(c, s.Client().B().Pttl().Key(k).Build()).AsInt64()); ttl != -1 {
						t.Errorf("identity key %s expires (PTTL %d)", k, ttl)
					}
				}
			}
			if idents != 2 {
				t.Fatalf("%d identity keys, want 2", idents)
			}
		})
	}
}
