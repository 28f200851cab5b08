package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/authenik8/authenik8-go/core"
)

// IdentityUserStore is what RunIdentities checks: a user store that also
// links accounts to OAuth and OpenID Connect identities.
type IdentityUserStore interface {
	UserStore
	core.IdentityStore
}

// RunIdentities checks a user store against the core.IdentityStore
// contract: identities found by (provider, subject) exactly, accounts
// created without a password and with their email verified, linking that
// refuses to move an identity, and one winner when an OAuth sign-up and a
// password registration race for one email. NewUsers must return a
// core.IdentityStore.
func RunIdentities(t *testing.T, h UsersHarness) {
	if h.NewUsers == nil {
		t.Fatal("storetest: UsersHarness.NewUsers is required")
	}
	tests := []struct {
		name string
		fn   func(*testing.T, IdentityUserStore)
	}{
		{"RegisterIdentity", testRegisterIdentity},
		{"RegisterIdentityTakenEmail", testRegisterIdentityTakenEmail},
		{"RegisterIdentityTakenIdentity", testRegisterIdentityTakenIdentity},
		{"LinkIdentity", testLinkIdentity},
		{"SubjectsAreExact", testSubjectsAreExact},
		{"RegisterIdentityRacesRegister", testRegisterIdentityRace},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, identityStore(t, h.NewUsers(t, FastHasher)))
		})
	}
	t.Run("PasswordlessLoginCostsTheSame", func(t *testing.T) { testPasswordlessLogin(t, h) })
}

func identityStore(t *testing.T, us UserStore) IdentityUserStore {
	t.Helper()
	is, ok := us.(IdentityUserStore)
	if !ok {
		t.Fatalf("storetest: %T does not implement core.IdentityStore", us)
	}
	return is
}

func testRegisterIdentity(t *testing.T, us IdentityUserStore) {
	c := ctx(t)
	u, err := us.RegisterIdentity(c, "  Ann@Example.COM ", []string{"user"}, "google", "sub-1")
	if err != nil {
		t.Fatalf("RegisterIdentity: %v", err)
	}
	if !core.ValidUserID(u.ID) || u.Email != "ann@example.com" || !u.EmailVerified || u.Disabled || !slices.Equal(u.Roles, []string{"user"}) || u.CreatedAt.IsZero() {
		t.Fatalf("RegisterIdentity returned %+v", u)
	}
	for name, load := range map[string]func() (core.User, error){
		"UserByIdentity": func() (core.User, error) { return us.UserByIdentity(c, "google", "sub-1") },
		"User":           func() (core.User, error) { return us.User(c, u.ID) },
	} {
		got, err := load()
		if err != nil || got.ID != u.ID || got.Email != u.Email || !got.EmailVerified || !slices.Equal(got.Roles, u.Roles) || !got.CreatedAt.Equal(u.CreatedAt) {
			t.Fatalf("%s: %+v, %v; registered %+v", name, got, err, u)
		}
	}
	for _, id := range [][2]string{{"google", "sub-2"}, {"github", "sub-1"}, {"", "sub-1"}, {"google", ""}} {
		if got, err := us.UserByIdentity(c, id[0], id[1]); !errors.Is(err, core.ErrUserNotFound) {
			t.Fatalf("UserByIdentity(%q, %q): %+v, %v; want ErrUserNotFound", id[0], id[1], got, err)
		}
	}
	// The account has no password: no password logs in to it.
	for _, pw := range []string{"", "password", "sub-1"} {
		if _, err := us.Authenticate(c, "ann@example.com", pw); !errors.Is(err, core.ErrInvalidCredentials) {
			t.Fatalf("Authenticate a passwordless account with %q: %v", pw, err)
		}
	}
	// Nor does it take the email from a later registration.
	if _, err := us.Register(c, "ANN@example.com", "a password", nil); !errors.Is(err, core.ErrUserExists) {
		t.Fatalf("Register over an OAuth account's email: %v, want user_exists", err)
	}
}

func testRegisterIdentityTakenEmail(t *testing.T, us IdentityUserStore) {
	c := ctx(t)
	first, err := us.Register(c, "bea@example.com", "password-1", []string{"user"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := us.RegisterIdentity(c, "BEA@example.com", []string{"user"}, "google", "bea"); !errors.Is(err, core.ErrUserExists) {
		t.Fatalf("RegisterIdentity on a taken email: %v, want user_exists", err)
	}
	if _, err := us.UserByIdentity(c, "google", "bea"); !errors.Is(err, core.ErrUserNotFound) {
		t.Fatalf("a refused RegisterIdentity linked its identity: %v", err)
	}
	if u, err := us.Authenticate(c, "bea@example.com", "password-1"); err != nil || u.ID != first.ID {
		t.Fatalf("the first account changed: %+v, %v", u, err)
	}
}

func testRegisterIdentityTakenIdentity(t *testing.T, us IdentityUserStore) {
	c := ctx(t)
	first, err := us.RegisterIdentity(c, "cy@example.com", nil, "github", "7")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := us.RegisterIdentity(c, "other-cy@example.com", nil, "github", "7"); !errors.Is(err, core.ErrUserExists) {
		t.Fatalf("RegisterIdentity of a linked identity: %v, want user_exists", err)
	}
	if u, err := us.UserByIdentity(c, "github", "7"); err != nil || u.ID != first.ID {
		t.Fatalf("the identity moved: %+v, %v", u, err)
	}
	// The refused call took no email.
	if _, err := us.Register(c, "other-cy@example.com", "password", nil); err != nil {
		t.Fatalf("the refused RegisterIdentity kept its email: %v", err)
	}
}

func testLinkIdentity(t *testing.T, us IdentityUserStore) {
	c := ctx(t)
	dee, err := us.Register(c, "dee@example.com", "password", []string{"user"})
	if err != nil {
		t.Fatal(err)
	}
	eve, err := us.Register(c, "eve@example.com", "password", []string{"user"})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range [][2]string{{"github", "42"}, {"google", "dee-google"}} {
		if err := us.LinkIdentity(c, dee.ID, id[0], id[1]); err != nil {
			t.Fatalf("LinkIdentity(%v): %v", id, err)
		}
		if u, err := us.UserByIdentity(c, id[0], id[1]); err != nil || u.ID != dee.ID || u.Email != "dee@example.com" {
			t.Fatalf("UserByIdentity(%v) after linking: %+v, %v", id, u, err)
		}
	}
	if err := us.LinkIdentity(c, dee.ID, "github", "42"); err != nil {
		t.Fatalf("linking a pair again to its user: %v", err)
	}
	if err := us.LinkIdentity(c, eve.ID, "github", "42"); !errors.Is(err, core.ErrUserExists) {
		t.Fatalf("linking another user's identity: %v, want user_exists", err)
	}
	if u, err := us.UserByIdentity(c, "github", "42"); err != nil || u.ID != dee.ID {
		t.Fatalf("the identity moved: %+v, %v", u, err)
	}
	for _, id := range []string{"nobody", "", "has{brace}"} {
		if err := us.LinkIdentity(c, id, "github", "43"); !errors.Is(err, core.ErrUserNotFound) {
			t.Fatalf("LinkIdentity(%q): %v, want ErrUserNotFound", id, err)
		}
	}
	if _, err := us.UserByIdentity(c, "github", "43"); !errors.Is(err, core.ErrUserNotFound) {
		t.Fatalf("a refused link was kept: %v", err)
	}
	// The password account keeps its password.
	if u, err := us.Authenticate(c, "dee@example.com", "password"); err != nil || u.ID != dee.ID {
		t.Fatalf("Authenticate after linking: %+v, %v", u, err)
	}
}

// testSubjectsAreExact: subjects and provider names are compared byte for
// byte, whatever they hold.
func testSubjectsAreExact(t *testing.T, us IdentityUserStore) {
	c := ctx(t)
	subjects := []string{"Sub", "sub", "a:b{c}d", "ユーザー", "with space", strings.Repeat("s", core.MaxSubjectBytes), "12345678901234567890"}
	ids := map[string]string{}
	for i, s := range subjects {
		u, err := us.RegisterIdentity(c, fmt.Sprintf("exact%d@example.com", i), nil, "oidc", s)
		if err != nil {
			t.Fatalf("RegisterIdentity(subject %q): %v", s, err)
		}
		ids[s] = u.ID
	}
	for _, s := range subjects {
		if u, err := us.UserByIdentity(c, "oidc", s); err != nil || u.ID != ids[s] {
			t.Fatalf("UserByIdentity(subject %q): %+v, %v; want %s", s, u, err, ids[s])
		}
		if _, err := us.UserByIdentity(c, "OIDC", s); !errors.Is(err, core.ErrUserNotFound) {
			t.Fatalf("provider names are not exact: %v", err)
		}
	}
	if _, err := us.UserByIdentity(c, "oidc", "SUB"); !errors.Is(err, core.ErrUserNotFound) {
		t.Fatalf("subjects are not exact: %v", err)
	}
}

// identityRacers sign up with one email at once, half with a password and
// half through a provider, each spelling it in its own letter case.
const identityRacers = 40

func testRegisterIdentityRace(t *testing.T, us IdentityUserStore) {
	const address = "race-identity@example.com"
	var (
		mu      sync.Mutex
		winners []core.User
		viaID   []int
		dups    int
		other   []error
	)
	race(identityRacers, func(i int) {
		var (
			u   core.User
			err error
		)
		if i%2 == 0 {
			u, err = us.RegisterIdentity(ctx(t), letterCase(address, i), []string{"user"}, "google", fmt.Sprint("racer-", i))
		} else {
			u, err = us.Register(ctx(t), letterCase(address, i), "password", []string{"user"})
		}
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err == nil:
			winners = append(winners, u)
			if i%2 == 0 {
				viaID = append(viaID, i)
			}
		case errors.Is(err, core.ErrUserExists):
			dups++
		default:
			other = append(other, err)
		}
	})
	if len(winners) != 1 || dups != identityRacers-1 || len(other) > 0 {
		t.Fatalf("%d sign-ups of one email: %d succeeded, %d user_exists, other %v", identityRacers, len(winners), dups, other)
	}
	// Only the winner's identity, if it won through a provider, is linked.
	for i := 0; i < identityRacers; i += 2 {
		u, err := us.UserByIdentity(ctx(t), "google", fmt.Sprint("racer-", i))
		won := len(viaID) == 1 && viaID[0] == i
		switch {
		case won && (err != nil || u.ID != winners[0].ID):
			t.Fatalf("the winning identity racer-%d: %+v, %v", i, u, err)
		case !won && !errors.Is(err, core.ErrUserNotFound):
			t.Fatalf("the losing identity racer-%d was linked: %+v, %v", i, u, err)
		}
	}
}

// testPasswordlessLogin: a login to an account without a password costs
// one argon2id computation with the hasher's parameters, as a wrong
// password does, so that timing does not tell OAuth accounts apart.
func testPasswordlessLogin(t *testing.T, h UsersHarness) {
	params := core.PasswordParams{Time: 3, MemoryKiB: 136, Threads: 2}
	var (
		mu   sync.Mutex
		seen []core.PasswordParams
	)
	hasher := &core.PasswordHasher{Params: params, OnVerify: func(p core.PasswordParams) {
		mu.Lock()
		seen = append(seen, p)
		mu.Unlock()
	}}
	us := identityStore(t, h.NewUsers(t, hasher))
	c := ctx(t)
	if _, err := us.RegisterIdentity(c, "nopw@example.com", nil, "github", "1"); err != nil {
		t.Fatal(err)
	}
	for _, pw := range []string{"any password", ""} {
		mu.Lock()
		seen = nil
		mu.Unlock()
		if _, err := us.Authenticate(c, "nopw@example.com", pw); !errors.Is(err, core.ErrInvalidCredentials) {
			t.Fatalf("Authenticate(%q): %v", pw, err)
		}
		mu.Lock()
		got := slices.Clone(seen)
		mu.Unlock()
		if len(got) != 1 || got[0] != params {
			t.Fatalf("a login to a passwordless account computed argon2id with %+v; want exactly one computation with %+v", got, params)
		}
	}
}
