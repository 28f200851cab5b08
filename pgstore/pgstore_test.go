package pgstore_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authenik8/authenik8-go/conformance/pgtest"
	"github.com/authenik8/authenik8-go/conformance/redistest"
	"github.com/authenik8/authenik8-go/conformance/storetest"
	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/core/memstore"
	"github.com/authenik8/authenik8-go/pgstore"
	"github.com/authenik8/authenik8-go/pgstore/pgstoretest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.StopAll()
	redistest.StopAll()
	os.Exit(code)
}

// users runs the user suites on the shared PostgreSQL, each store on a
// schema of its own.
// A peer is the same schema through a pool of its own.
var users = storetest.UsersHarness{
	NewUsers: func(t testing.TB, h *core.PasswordHasher) storetest.UserStore {
		return pgstoretest.Open(t, pgstore.Options{Hasher: h})
	},
	NewPeer: func(t testing.TB, us storetest.UserStore) storetest.UserStore {
		pool, err := pgxpool.New(context.Background(), pgtest.URL(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		peer, err := pgstore.New(pool, pgstore.Options{Schema: us.(*pgstore.Users).Schema(), Hasher: storetest.FastHasher})
		if err != nil {
			t.Fatal(err)
		}
		return peer
	},
}

func TestUsers(t *testing.T)              { storetest.RunUsers(t, users) }
func TestAccounts(t *testing.T)           { storetest.RunAccounts(t, users) }
func TestUnknownEmailTiming(t *testing.T) { storetest.RunUnknownEmailTiming(t, users) }

// TestEmailIndexIsTheSafetyNet: a writer that bypasses core and pgstore
// cannot add a second account for an address in another letter case.
func TestEmailIndexIsTheSafetyNet(t *testing.T) {
	u := pgstoretest.Open(t, pgstore.Options{Hasher: storetest.FastHasher})
	pool := pgstoretest.Pool(t, pgtest.URL(t))
	c := bg(t)
	if _, err := u.Register(c, "safe@example.com", "password", nil); err != nil {
		t.Fatal(err)
	}
	_, err := pool.Exec(c, `INSERT INTO `+u.Schema()+`.users (id, email) VALUES ('direct', 'Safe@Example.COM')`)
	if err == nil || !strings.Contains(err.Error(), "users_email_key") {
		t.Fatalf("a direct insert of the address in capitals: %v; want a unique violation of users_email_key", err)
	}
}

// TestAccountWithoutPassword: an account without a password (as one made
// by another sign-in method will be) cannot be logged into, and costs the
// same argon2id check as an unknown email.
func TestAccountWithoutPassword(t *testing.T) {
	var computed []core.PasswordParams
	hasher := &core.PasswordHasher{Params: storetest.FastHasher.Params, OnVerify: func(p core.PasswordParams) { computed = append(computed, p) }}
	u := pgstoretest.Open(t, pgstore.Options{Hasher: hasher})
	pool := pgstoretest.Pool(t, pgtest.URL(t))
	c := bg(t)
	if _, err := pool.Exec(c, `INSERT INTO `+u.Schema()+`.users (id, email) VALUES ('nopw', 'nopw@example.com')`); err != nil {
		t.Fatal(err)
	}
	for _, pw := range []string{"", "password"} {
		computed = nil
		if _, err := u.Authenticate(c, "nopw@example.com", pw); !errors.Is(err, core.ErrInvalidCredentials) {
			t.Fatalf("Authenticate(%q) an account without a password: %v", pw, err)
		}
		if len(computed) != 1 || computed[0] != hasher.Params {
			t.Fatalf("Authenticate an account without a password computed %v; want one argon2id check with %+v", computed, hasher.Params)
		}
	}
	if got, err := u.User(c, "nopw"); err != nil || got.Email != "nopw@example.com" || got.Roles == nil || got.CreatedAt.IsZero() {
		t.Fatalf("User(nopw): %+v, %v", got, err)
	}
}

// TestBadInputIsNotAnOutage: emails PostgreSQL cannot store as text (NUL,
// invalid UTF-8 — which core's lower-casing turns into U+FFFD) or that are
// far too long are unknown accounts at login and refused or stored at
// registration, never a database error, which core would answer with 503.
func TestBadInputIsNotAnOutage(t *testing.T) {
	u := pgstoretest.Open(t, pgstore.Options{Hasher: storetest.FastHasher})
	a := storetest.NewAuth(t, memstore.New(), func(c *core.Config) { c.Users = u })
	c := bg(t)
	for _, email := range []string{"nul\x00@example.com", "bad\xff@example.com", strings.Repeat("a", 5000) + "@example.com"} {
		if _, err := u.Authenticate(c, email, "password"); !errors.Is(err, core.ErrInvalidCredentials) {
			t.Errorf("Authenticate(%q): %v, want invalid_credentials", email, err)
		}
		if _, err := a.Login(c, email, "password", core.Client{}); !errors.Is(err, core.ErrInvalidCredentials) {
			t.Errorf("Login(%q): %v, want invalid_credentials", email, err)
		}
		for via, register := range map[string]func() error{
			"Auth.Register":  func() error { _, err := a.Register(c, email, "password", core.Client{}); return err },
			"Users.Register": func() error { _, err := u.Register(c, email, "password", nil); return err },
		} {
			err := register()
			if errors.Is(err, core.ErrStoreUnavailable) || (err != nil && !errors.Is(err, core.ErrInvalidRequest) && !errors.Is(err, core.ErrUserExists)) {
				t.Errorf("%s(%q): %v, want success, invalid_request or user_exists", via, email, err)
			}
			if strings.ContainsAny(email, "\x00") || len(email) > 254 {
				if !errors.Is(err, core.ErrInvalidRequest) {
					t.Errorf("%s(%q): %v, want invalid_request", via, email, err)
				}
			}
		}
	}
}

// TestNotMigrated: Users on a schema Migrate never ran on fail closed, with
// an error that says what to do.
func TestNotMigrated(t *testing.T) {
	u, err := pgstore.New(pgstoretest.Pool(t, pgtest.URL(t)), pgstore.Options{Schema: pgstoretest.Schema()})
	if err != nil {
		t.Fatal(err)
	}
	c := bg(t)
	_, err = u.Authenticate(c, "a@example.com", "password")
	if !errors.Is(err, core.ErrStoreUnavailable) || !strings.Contains(err.Error(), "Migrate") {
		t.Fatalf("Authenticate on an unmigrated schema: %v; want store_unavailable naming Migrate", err)
	}
	if _, err := u.Register(c, "a@example.com", "password", nil); !errors.Is(err, core.ErrStoreUnavailable) {
		t.Fatalf("Register on an unmigrated schema: %v", err)
	}
}

// TestNewRefusesBadOptions: a bad schema name or a nil pool is an error from
// New, never a panic or an injection.
func TestNewRefusesBadOptions(t *testing.T) {
	pool, err := pgxpool.New(context.Background(), "postgres://127.0.0.1:1/none")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	for _, schema := range []string{"Upper", "has-dash", `x"; DROP TABLE users; --`, "1digit", strings.Repeat("s", 64), "sp ace"} {
		if _, err := pgstore.New(pool, pgstore.Options{Schema: schema}); err == nil {
			t.Errorf("New accepted schema %q", schema)
		}
	}
	if _, err := pgstore.New(nil, pgstore.Options{}); err == nil {
		t.Error("New accepted a nil pool")
	}
	u, err := pgstore.New(pool, pgstore.Options{})
	if err != nil || u.Schema() != pgstore.DefaultSchema {
		t.Fatalf("New with defaults: %v, schema %q", err, u.Schema())
	}
}

func bg(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestIdentities(t *testing.T) { storetest.RunIdentities(t, users) }
