package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/core/memstore"
)

// UserStore is what RunUsers checks: a core.UserStore that also registers
// accounts and changes roles and claims (memstore.Users, redisstore.Users,
// pgstore.Users).
type UserStore interface {
	core.UserStore
	core.UserRegistrar
	SetRoles(ctx context.Context, id string, roles []string) error
	SetClaims(ctx context.Context, id string, claims map[string]any) error
}

// UsersHarness tells the user suites how to make user stores.
type UsersHarness struct {
	// NewUsers returns a fresh, empty user store for one test that hashes
	// passwords with hasher. Required.
	NewUsers func(t testing.TB, hasher *core.PasswordHasher) UserStore
	// NewPeer returns a second, independent client of the backend behind us
	// (its own connections), as another process would have: RunAccounts
	// spreads its races over it. Nil for an in-memory store.
	NewPeer func(t testing.TB, us UserStore) UserStore
}

// FastHasher is a cheap argon2id setting for tests that create many
// accounts. Never use it in production.
var FastHasher = &core.PasswordHasher{Params: core.PasswordParams{Time: 1, MemoryKiB: 64, Threads: 1}}

// RunUsers checks a user store against the accounts contract: registration
// atomic per normalized email, authentication with one answer for a wrong
// email and a wrong password, loading by id, role and claim changes. Stores
// are built with FastHasher.
func RunUsers(t *testing.T, h UsersHarness) {
	if h.NewUsers == nil {
		t.Fatal("storetest: UsersHarness.NewUsers is required")
	}
	tests := []struct {
		name string
		fn   func(*testing.T, UserStore)
	}{
		{"RegisterAndAuthenticate", testRegisterAndAuthenticate},
		{"DuplicateEmail", testDuplicateEmail},
		{"ConcurrentRegistrationOneWinner", testConcurrentRegistration},
		{"UserByIDAndSetRoles", testUserByIDAndSetRoles},
		{"SetClaims", testSetClaims},
		{"PasswordsKeepEveryByte", testPasswordBytes},
		{"LoginCarriesRolesAndClaims", testLoginCarriesRolesAndClaims},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, h.NewUsers(t, FastHasher)) })
	}
}

func testRegisterAndAuthenticate(t *testing.T, us UserStore) {
	c := ctx(t)
	u, err := us.Register(c, "alice@example.com", "correct horse", []string{"user"})
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	if !core.ValidUserID(u.ID) || u.Email != "alice@example.com" || !slices.Equal(u.Roles, []string{"user"}) || u.CreatedAt.IsZero() {
		t.Fatalf("Register returned %+v", u)
	}
	if d := time.Since(u.CreatedAt); d < -time.Minute || d > time.Minute {
		t.Fatalf("CreatedAt %v is not now", u.CreatedAt)
	}
	got, err := us.Authenticate(c, "alice@example.com", "correct horse")
	if err != nil || got.ID != u.ID || got.Email != u.Email || !slices.Equal(got.Roles, u.Roles) || !got.CreatedAt.Equal(u.CreatedAt) {
		t.Fatalf("Authenticate: %+v, %v; registered %+v", got, err, u)
	}
	if got, err = us.Authenticate(c, "  Alice@Example.COM ", "correct horse"); err != nil || got.ID != u.ID {
		t.Fatalf("Authenticate with an unnormalized email: %+v, %v", got, err)
	}
	for _, tc := range [][2]string{{"alice@example.com", "wrong horse"}, {"alice@example.com", ""}, {"bob@example.com", "correct horse"}, {"", "correct horse"}} {
		if _, err := us.Authenticate(c, tc[0], tc[1]); !errors.Is(err, core.ErrInvalidCredentials) {
			t.Fatalf("Authenticate(%q, %q): %v, want invalid_credentials", tc[0], tc[1], err)
		}
	}
	// A second account does not disturb the first.
	b, err := us.Register(c, "bob@example.com", "battery staple", nil)
	if err != nil || b.ID == u.ID || len(b.Roles) != 0 {
		t.Fatalf("second Register: %+v, %v", b, err)
	}
	if got, err := us.Authenticate(c, "bob@example.com", "battery staple"); err != nil || got.ID != b.ID || len(got.Roles) != 0 {
		t.Fatalf("Authenticate bob: %+v, %v", got, err)
	}
	if _, err := us.Authenticate(c, "bob@example.com", "correct horse"); !errors.Is(err, core.ErrInvalidCredentials) {
		t.Fatalf("bob with alice's password: %v", err)
	}
}

func testDuplicateEmail(t *testing.T, us UserStore) {
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
	if u, err := us.User(c, first.ID); err != nil || u.Email != "dup@example.com" {
		t.Fatalf("User after a refused duplicate: %+v, %v", u, err)
	}
}

// registrationRacers register one address at once, each spelling it in its
// own letter case.
const registrationRacers = 50

// testConcurrentRegistration: through core.Auth.Register, which normalizes
// the email, and then on the store directly, which must normalize it too,
// exactly one of the simultaneous registrations of one address wins.
func testConcurrentRegistration(t *testing.T, us UserStore) {
	a := NewAuth(t, memstore.New(), func(c *core.Config) { c.Users = us })
	register := map[string]func(c context.Context, email string) (core.User, error){
		"core.Auth.Register": func(c context.Context, email string) (core.User, error) {
			for {
				// server_busy is a wait for a hashing slot, before the store
				// is asked: try again.
				u, err := a.Register(c, email, "password", core.Client{})
				if !errors.Is(err, core.ErrServerBusy) {
					return u, err
				}
			}
		},
		"UserStore.Register": func(c context.Context, email string) (core.User, error) {
			return us.Register(c, email, "password", []string{"user"})
		},
	}
	for _, via := range []string{"core.Auth.Register", "UserStore.Register"} {
		address := "race-" + strings.ToLower(strings.ReplaceAll(via, ".", "-")) + "@example.com"
		var (
			mu       sync.Mutex
			winners  []core.User
			dups     int
			other    []error
			spelling = make([]string, registrationRacers)
		)
		for i := range spelling {
			spelling[i] = letterCase(address, i)
		}
		race(registrationRacers, func(i int) {
			u, err := register[via](ctx(t), spelling[i])
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				winners = append(winners, u)
			case errors.Is(err, core.ErrUserExists):
				dups++
			default:
				other = append(other, err)
			}
		})
		if len(winners) != 1 || dups != registrationRacers-1 || len(other) > 0 {
			t.Fatalf("%d registrations of %s in different letter cases via %s: %d succeeded, %d user_exists, other %v",
				registrationRacers, address, via, len(winners), dups, other)
		}
		if winners[0].Email != address {
			t.Fatalf("via %s the account's email is %q, want the normalized %q", via, winners[0].Email, address)
		}
		got, err := us.Authenticate(ctx(t), strings.ToUpper(address), "password")
		if err != nil || got.ID != winners[0].ID {
			t.Fatalf("via %s: Authenticate the winner: %+v, %v", via, got, err)
		}
	}
}

// letterCase spells s with the letters picked by the bits of i upper-cased,
// wrapped in spaces on odd i: a spelling core normalizes back to s.
func letterCase(s string, i int) string {
	b := []byte(s)
	bit := 0
	for j, c := range b {
		if c >= 'a' && c <= 'z' {
			if i>>(bit%12)&1 == 1 {
				b[j] = c - 'a' + 'A'
			}
			bit++
		}
	}
	if i%2 == 1 {
		return " " + string(b) + " "
	}
	return string(b)
}

func testUserByIDAndSetRoles(t *testing.T, us UserStore) {
	c := ctx(t)
	u, err := us.Register(c, "carol@example.com", "password", []string{"user"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := us.User(c, u.ID); err != nil || got.ID != u.ID || got.Email != u.Email || !slices.Equal(got.Roles, []string{"user"}) || !got.CreatedAt.Equal(u.CreatedAt) {
		t.Fatalf("User: %+v, %v; registered %+v", got, err, u)
	}
	if err := us.SetRoles(c, u.ID, []string{"user", "admin"}); err != nil {
		t.Fatalf("SetRoles: %v", err)
	}
	got, err := us.User(c, u.ID)
	if err != nil || !slices.Equal(got.Roles, []string{"user", "admin"}) {
		t.Fatalf("roles after SetRoles: %v, %v", got.Roles, err)
	}
	// What a caller does with a returned user does not reach the store.
	got.Roles[0] = "mutated"
	if again, _ := us.User(c, u.ID); !slices.Equal(again.Roles, []string{"user", "admin"}) {
		t.Fatalf("changing a returned user changed the store: %v", again.Roles)
	}
	if auth, err := us.Authenticate(c, "carol@example.com", "password"); err != nil || !slices.Equal(auth.Roles, []string{"user", "admin"}) {
		t.Fatalf("Authenticate after SetRoles: %+v, %v", auth, err)
	}
	if err := us.SetRoles(c, u.ID, nil); err != nil {
		t.Fatalf("SetRoles(nil): %v", err)
	}
	if got, err := us.User(c, u.ID); err != nil || len(got.Roles) != 0 {
		t.Fatalf("roles after SetRoles(nil): %v, %v", got.Roles, err)
	}
	for _, id := range []string{"nobody", "", "has{brace}", "has space", strings.Repeat("x", 200)} {
		if _, err := us.User(c, id); !errors.Is(err, core.ErrUserNotFound) {
			t.Fatalf("User(%q): %v, want ErrUserNotFound", id, err)
		}
		if err := us.SetRoles(c, id, nil); !errors.Is(err, core.ErrUserNotFound) {
			t.Fatalf("SetRoles(%q): %v, want ErrUserNotFound", id, err)
		}
		if err := us.SetClaims(c, id, nil); !errors.Is(err, core.ErrUserNotFound) {
			t.Fatalf("SetClaims(%q): %v, want ErrUserNotFound", id, err)
		}
	}
}

func testSetClaims(t *testing.T, us UserStore) {
	c := ctx(t)
	u, err := us.Register(c, "dave@example.com", "password", []string{"user"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := us.User(c, u.ID); err != nil || len(got.Claims) != 0 {
		t.Fatalf("a new account has claims: %v, %v", got.Claims, err)
	}
	claims := map[string]any{"tenant": "acme", "plan": map[string]any{"seats": 5.0, "tags": []any{"a", "b"}}, "beta": true}
	if err := us.SetClaims(c, u.ID, claims); err != nil {
		t.Fatalf("SetClaims: %v", err)
	}
	for name, load := range map[string]func() (core.User, error){
		"User":         func() (core.User, error) { return us.User(c, u.ID) },
		"Authenticate": func() (core.User, error) { return us.Authenticate(c, "dave@example.com", "password") },
	} {
		got, err := load()
		if err != nil || !sameJSON(got.Claims, claims) || !slices.Equal(got.Roles, []string{"user"}) {
			t.Fatalf("%s after SetClaims: %+v, %v; want claims %v", name, got, err, claims)
		}
	}
	if err := us.SetClaims(c, u.ID, nil); err != nil {
		t.Fatalf("SetClaims(nil): %v", err)
	}
	if got, err := us.User(c, u.ID); err != nil || len(got.Claims) != 0 {
		t.Fatalf("claims after SetClaims(nil): %v, %v", got.Claims, err)
	}
}

// sameJSON compares claims as they travel in a token: in their JSON form.
func sameJSON(a, b map[string]any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	var va, vb any
	return err1 == nil && err2 == nil && json.Unmarshal(ja, &va) == nil && json.Unmarshal(jb, &vb) == nil && reflect.DeepEqual(va, vb)
}

// testPasswordBytes: the longest password core accepts, and non-ASCII ones,
// count to their last byte (no truncation as in bcrypt's 72 bytes).
func testPasswordBytes(t *testing.T, us UserStore) {
	c := ctx(t)
	long := strings.Repeat("p", core.MaxPasswordBytes-1) + "!"
	for i, pw := range []string{long, "pässwörd-ユニコード", "\x00password with a NUL"} {
		email := fmt.Sprintf("pw%d@example.com", i)
		if _, err := us.Register(c, email, pw, nil); err != nil {
			t.Fatalf("Register with password %d: %v", i, err)
		}
		if _, err := us.Authenticate(c, email, pw); err != nil {
			t.Fatalf("Authenticate with password %d: %v", i, err)
		}
		wrong := pw[:len(pw)-1] + "?"
		if _, err := us.Authenticate(c, email, wrong); !errors.Is(err, core.ErrInvalidCredentials) {
			t.Fatalf("password %d with its last byte changed: %v", i, err)
		}
	}
}

// testLoginCarriesRolesAndClaims: through core.Auth, the store's roles and
// claims reach the access token.
func testLoginCarriesRolesAndClaims(t *testing.T, us UserStore) {
	c := ctx(t)
	a := NewAuth(t, memstore.New(), func(cfg *core.Config) { cfg.Users = us })
	u, err := a.Register(c, " Erin@Example.com", "password", core.Client{})
	if err != nil || u.Email != "erin@example.com" || !slices.Equal(u.Roles, []string{"user"}) {
		t.Fatalf("Auth.Register: %+v, %v", u, err)
	}
	if err := us.SetRoles(c, u.ID, []string{"user", "editor"}); err != nil {
		t.Fatal(err)
	}
	if err := us.SetClaims(c, u.ID, map[string]any{"tenant": "acme"}); err != nil {
		t.Fatal(err)
	}
	p, err := a.Login(c, "erin@example.com", "password", core.Client{})
	if err != nil {
		t.Fatalf("Auth.Login: %v", err)
	}
	claims := verify(t, a, p.AccessToken)
	if claims.Subject != u.ID || !slices.Equal(claims.Roles, []string{"user", "editor"}) || claims.Extra["tenant"] != "acme" {
		t.Fatalf("access token claims %+v", claims)
	}
	if _, err := a.Login(c, "erin@example.com", "wrong password", core.Client{}); !errors.Is(err, core.ErrInvalidCredentials) {
		t.Fatalf("Auth.Login with a wrong password: %v", err)
	}
}

// RunUnknownEmailTiming checks that a login for an unknown email costs what
// a wrong password for a known one does, so that timing does not tell which
// emails have accounts. Two checks: the store computes argon2id with exactly
// the parameters of a real account's hash (recorded through
// core.PasswordHasher.OnVerify, so a cheaper dummy fails deterministically),
// and interleaved wall-clock samples at the default cost agree within ±20 %.
func RunUnknownEmailTiming(t *testing.T, h UsersHarness) {
	if h.NewUsers == nil {
		t.Fatal("storetest: UsersHarness.NewUsers is required")
	}
	t.Run("SameArgon2Parameters", func(t *testing.T) { testSameArgon2Parameters(t, h) })
	t.Run("SameTime", func(t *testing.T) { testSameTime(t, h) })
}

func testSameArgon2Parameters(t *testing.T, h UsersHarness) {
	// Parameters no default has, so a store that hashes with anything but
	// its hasher shows.
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
	us := h.NewUsers(t, hasher)
	c := ctx(t)
	if _, err := us.Register(c, "known@example.com", "the password", nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ what, email, password string }{
		{"the right password", "known@example.com", "the password"},
		{"a wrong password", "known@example.com", "wrong password"},
		{"an unknown email", "unknown@example.com", "wrong password"},
		{"an unknown email again", "other@example.com", "the password"},
	} {
		mu.Lock()
		seen = nil
		mu.Unlock()
		us.Authenticate(c, tc.email, tc.password)
		mu.Lock()
		got := slices.Clone(seen)
		mu.Unlock()
		if len(got) != 1 || got[0] != params {
			t.Errorf("a login with %s computed argon2id with %+v; want exactly one computation with %+v", tc.what, got, params)
		}
	}
}

// timingPairs is the number of interleaved (known, unknown) samples: about
// three seconds at the default cost.
const timingPairs = 41

func testSameTime(t *testing.T, h UsersHarness) {
	us := h.NewUsers(t, &core.PasswordHasher{})
	c := ctx(t)
	if _, err := us.Register(c, "known@example.com", "the password", nil); err != nil {
		t.Fatal(err)
	}
	login := func(email string) time.Duration {
		start := time.Now()
		_, err := us.Authenticate(c, email, "wrong password")
		d := time.Since(start)
		if !errors.Is(err, core.ErrInvalidCredentials) {
			t.Fatalf("Authenticate(%s): %v", email, err)
		}
		return d
	}
	// Warm up: connections, and the hasher's dummy hash made on first use.
	login("known@example.com")
	login("unknown@example.com")
	// Interleaved, and alternating which goes first, so that drift in the
	// machine's load falls on both sides alike.
	ratios := make([]float64, timingPairs)
	var known, unknown time.Duration
	for i := range ratios {
		var k, u time.Duration
		if i%2 == 0 {
			k, u = login("known@example.com"), login(fmt.Sprintf("unknown%d@example.com", i))
		} else {
			u, k = login(fmt.Sprintf("unknown%d@example.com", i)), login("known@example.com")
		}
		ratios[i] = float64(u) / float64(k)
		known += k
		unknown += u
	}
	slices.Sort(ratios)
	median := ratios[len(ratios)/2]
	t.Logf("%d interleaved failed logins each: known email %v, unknown email %v on average; median ratio unknown/known %.3f (quartiles %.3f–%.3f)",
		timingPairs, known/timingPairs, unknown/timingPairs, median, ratios[len(ratios)/4], ratios[len(ratios)*3/4])
	if median < 0.8 || median > 1.25 {
		t.Fatalf("an unknown email costs %.2f× a known one (median of %d interleaved pairs); want within ±20 %%", median, timingPairs)
	}
}
