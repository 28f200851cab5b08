package storetest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/authenik8/authenik8-go/core"
)

// UserStore is what RunUsers checks: a core.UserStore that also registers
// accounts and changes roles (memstore.Users, redisstore.Users).
type UserStore interface {
	core.UserStore
	core.UserRegistrar
	SetRoles(ctx context.Context, id string, roles []string) error
}

// FastHasher is a cheap argon2id setting for tests that create many
// accounts. Never use it in production.
var FastHasher = &core.PasswordHasher{Params: core.PasswordParams{Time: 1, MemoryKiB: 64, Threads: 1}}

// RunUsers checks a user store against the contract of SPEC §5.
// newUsers must return an empty store; stores built with FastHasher keep the
// suite quick, except the timing check, which asks for the default cost.
func RunUsers(t *testing.T, newUsers func(t testing.TB) UserStore) {
	t.Run("RegisterAndAuthenticate", func(t *testing.T) {
		us := newUsers(t)
		c := ctx(t)
		u, err := us.Register(c, "alice@example.com", "correct horse", []string{"user"})
		if err != nil {
			t.Fatalf("Register: %v", err)
		}
		if !core.ValidUserID(u.ID) || u.Email != "alice@example.com" || !slices.Equal(u.Roles, []string{"user"}) || u.CreatedAt.IsZero() {
			t.Fatalf("Register returned %+v", u)
		}
		got, err := us.Authenticate(c, "alice@example.com", "correct horse")
		if err != nil || got.ID != u.ID || !slices.Equal(got.Roles, u.Roles) {
			t.Fatalf("Authenticate: %+v, %v", got, err)
		}
		if got, err = us.Authenticate(c, "  Alice@Example.COM ", "correct horse"); err != nil || got.ID != u.ID {
			t.Fatalf("Authenticate with an unnormalized email: %+v, %v", got, err)
		}
		for _, tc := range [][2]string{{"alice@example.com", "wrong horse"}, {"alice@example.com", ""}, {"bob@example.com", "correct horse"}} {
			if _, err := us.Authenticate(c, tc[0], tc[1]); !errors.Is(err, core.ErrInvalidCredentials) {
				t.Fatalf("Authenticate(%q, %q): %v, want invalid_credentials", tc[0], tc[1], err)
			}
		}
	})
	t.Run("DuplicateEmail", func(t *testing.T) {
		us := newUsers(t)
		c := ctx(t)
		first, err := us.Register(c, "dup@example.com", "password-1", nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := us.Register(c, "DUP@example.com ", "password-2", nil); !errors.Is(err, core.ErrUserExists) {
			t.Fatalf("second Register: %v, want user_exists", err)
		}
		if u, err := us.Authenticate(c, "dup@example.com", "password-1"); err != nil || u.ID != first.ID {
			t.Fatalf("the first account changed: %+v, %v", u, err)
		}
		if _, err := us.Authenticate(c, "dup@example.com", "password-2"); !errors.Is(err, core.ErrInvalidCredentials) {
			t.Fatalf("the second password works: %v", err)
		}
	})
	t.Run("ConcurrentRegistrationOneWinner", func(t *testing.T) {
		us := newUsers(t)
		var (
			mu       sync.Mutex
			ok, dups int
			other    []error
		)
		race(20, func(int) {
			_, err := us.Register(ctx(t), "race@example.com", "password", nil)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, core.ErrUserExists):
				dups++
			default:
				other = append(other, err)
			}
		})
		if ok != 1 || dups != 19 || len(other) > 0 {
			t.Fatalf("20 registrations of one email: %d succeeded, %d user_exists, other %v", ok, dups, other)
		}
	})
	t.Run("UserByIDAndSetRoles", func(t *testing.T) {
		us := newUsers(t)
		c := ctx(t)
		u, err := us.Register(c, "carol@example.com", "password", []string{"user"})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := us.User(c, u.ID); err != nil || got.Email != u.Email || !slices.Equal(got.Roles, []string{"user"}) {
			t.Fatalf("User: %+v, %v", got, err)
		}
		if err := us.SetRoles(c, u.ID, []string{"user", "admin"}); err != nil {
			t.Fatalf("SetRoles: %v", err)
		}
		if got, _ := us.User(c, u.ID); !slices.Equal(got.Roles, []string{"user", "admin"}) {
			t.Fatalf("roles after SetRoles: %v", got.Roles)
		}
		for _, id := range []string{"nobody", "", "has{brace}"} {
			if _, err := us.User(c, id); !errors.Is(err, core.ErrUserNotFound) {
				t.Fatalf("User(%q): %v, want ErrUserNotFound", id, err)
			}
			if err := us.SetRoles(c, id, nil); !errors.Is(err, core.ErrUserNotFound) {
				t.Fatalf("SetRoles(%q): %v, want ErrUserNotFound", id, err)
			}
		}
	})
}

// RunUnknownEmailTiming checks that a login for an unknown email costs about
// what a wrong password for a known one does (the store must burn the same
// argon2id work). us must use the default password cost.
func RunUnknownEmailTiming(t *testing.T, us UserStore) {
	c := ctx(t)
	if _, err := us.Register(c, "known@example.com", "the password", nil); err != nil {
		t.Fatal(err)
	}
	median := func(email string) time.Duration {
		var d []time.Duration
		for range 7 {
			start := time.Now()
			if _, err := us.Authenticate(c, email, "wrong password"); !errors.Is(err, core.ErrInvalidCredentials) {
				t.Fatalf("Authenticate(%s): %v", email, err)
			}
			d = append(d, time.Since(start))
		}
		slices.Sort(d)
		return d[len(d)/2]
	}
	known, unknown := median("known@example.com"), median("unknown@example.com")
	ratio := float64(unknown) / float64(known)
	t.Logf("median failed login: known email %v, unknown email %v (ratio %.2f)", known, unknown, ratio)
	if ratio < 0.5 || ratio > 2 {
		t.Fatalf("an unknown email costs %.2f× a known one; want about the same", ratio)
	}
}
