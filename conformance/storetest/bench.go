package storetest

import (
	"testing"

	"github.com/authenik8/authenik8-go/core"
)

// Benchmark measures the store-bound operations through core.Auth:
// IssueSession (login without password), Refresh (one rotation), Verify (the
// per-request check, same token every time) and SessionAlive alone.
func Benchmark(b *testing.B, h Harness) {
	b.Run("IssueSession", func(b *testing.B) {
		a := NewAuth(b, h.NewStore(b), nil)
		u := newUser("user")
		b.ReportAllocs()
		for b.Loop() {
			if _, err := a.IssueSession(ctx(b), u, core.Client{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Refresh", func(b *testing.B) {
		a := NewAuth(b, h.NewStore(b), nil)
		p := login(b, a, newUser("user"))
		b.ReportAllocs()
		for b.Loop() {
			p = refresh(b, a, p.RefreshToken)
		}
	})
	b.Run("Verify", func(b *testing.B) {
		a := NewAuth(b, h.NewStore(b), nil)
		p := login(b, a, newUser("user"))
		c := ctx(b)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := a.Verify(c, p.AccessToken); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("SessionAlive", func(b *testing.B) {
		s := h.NewStore(b)
		a := NewAuth(b, s, nil)
		p := login(b, a, newUser("user"))
		c := ctx(b)
		b.ReportAllocs()
		for b.Loop() {
			if ok, err := s.SessionAlive(c, p.UserID, p.SessionID); err != nil || !ok {
				b.Fatal(ok, err)
			}
		}
	})
}
