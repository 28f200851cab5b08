package core_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/core/memstore"
)

// reservedNames is the contract: every name an application claim may not
// take. Cutting core's list short fails TestReservedClaims.
var reservedNames = []string{
	"iss", "sub", "aud", "exp", "nbf", "iat", "jti", // RFC 7519
	"sid", "roles", "email_verified", // written by core
	"typ", "kid", "alg", // JOSE header names
	"scope", "client_id", "cnf", "azp", "auth_time", "acr", "amr", "act", "may_act",
	"SUB", "Roles", "Email_Verified", "ISS", // letter case is ignored,
	"ſub", "\u212Aid", // with Unicode folding (long s, Kelvin sign), as encoding/json matches names
}

// loaderUser is a user store and UserLoader whose user the test swaps.
type loaderUser struct {
	mu sync.Mutex
	u  core.User
}

func (l *loaderUser) set(u core.User) { l.mu.Lock(); l.u = u; l.mu.Unlock() }
func (l *loaderUser) get() core.User  { l.mu.Lock(); defer l.mu.Unlock(); return l.u }
func (l *loaderUser) Authenticate(context.Context, string, string) (core.User, error) {
	return l.get(), nil
}
func (l *loaderUser) User(context.Context, string) (core.User, error) { return l.get(), nil }
func (l *loaderUser) load(context.Context, string) (core.User, error) { return l.get(), nil }

// claimsFixture: an Auth whose Login, IssueSession and refresh UserLoader
// all see the user in users.
func claimsFixture(t *testing.T) (*core.Auth, *memstore.Store, *loaderUser) {
	store := memstore.New()
	users := &loaderUser{u: core.User{ID: "claims-user", Roles: []string{"user"}}}
	a := newAuth(t, func(c *core.Config) {
		c.Store = store
		c.Users = users
		c.UserLoader = users.load
		c.RateLimits = core.RateLimits{Disabled: true}
	})
	return a, store, users
}

// TestReservedClaims: an application claim with a reserved name is refused
// at each entry point — login, IssueSession, refresh through a UserLoader —
// with ErrReservedClaim, before anything is stored or signed; a refused
// refresh leaves the refresh token usable.
func TestReservedClaims(t *testing.T) {
	ctx := context.Background()
	for _, name := range reservedNames {
		value := map[string]any{name: "forged"}
		if strings.EqualFold(name, "roles") {
			value = map[string]any{name: []string{"admin"}}
		}
		t.Run("IssueSession/"+name, func(t *testing.T) {
			a, store, _ := claimsFixture(t)
			p, err := a.IssueSession(ctx, core.User{ID: "claims-user", Roles: []string{"user"}, Claims: value}, core.Client{})
			checkRefused(t, store, p, err, name)
		})
		t.Run("Login/"+name, func(t *testing.T) {
			a, store, users := claimsFixture(t)
			users.set(core.User{ID: "claims-user", Roles: []string{"user"}, Claims: value})
			p, err := a.Login(ctx, "claims@example.com", "correct horse battery", core.Client{})
			checkRefused(t, store, p, err, name)
		})
		t.Run("Refresh/"+name, func(t *testing.T) {
			a, _, users := claimsFixture(t)
			p, err := a.IssueSession(ctx, users.get(), core.Client{})
			if err != nil {
				t.Fatal(err)
			}
			good := users.get()
			bad := good
			bad.Claims = value
			users.set(bad)
			if next, err := a.Refresh(ctx, p.RefreshToken); !errors.Is(err, core.ErrReservedClaim) || next != nil || !strings.Contains(err.Error(), name) {
				t.Fatalf("Refresh with %q from the UserLoader: %+v, %v; want ErrReservedClaim naming it", name, next, err)
			}
			// Nothing rotated: the same refresh token works once the loader
			// is fixed, and its access token carries none of it.
			users.set(good)
			next, err := a.Refresh(ctx, p.RefreshToken)
			if err != nil {
				t.Fatalf("refresh after the refused one: %v", err)
			}
			c, err := a.Verify(ctx, next.AccessToken)
			if err != nil || c.IsAdmin() || c.Extra != nil {
				t.Fatalf("claims after refresh: %+v, %v", c, err)
			}
		})
	}
}

func checkRefused(t *testing.T, store *memstore.Store, p *core.TokenPair, err error, name string) {
	t.Helper()
	if !errors.Is(err, core.ErrReservedClaim) || p != nil || !strings.Contains(err.Error(), name) {
		t.Fatalf("application claim %q: %+v, %v; want ErrReservedClaim naming it", name, p, err)
	}
	if list, err := store.ListSessions(context.Background(), "claims-user"); err != nil || len(list) != 0 {
		t.Fatalf("a refused claim left sessions %v (%v)", list, err)
	}
}

// TestApplicationRolesNeverAdmin: {"roles":["admin"]} as application claims
// never yields a token that passes as admin, through any entry point, while
// the same user without it gets a working, non-admin token (the control).
func TestApplicationRolesNeverAdmin(t *testing.T) {
	ctx := context.Background()
	a, _, users := claimsFixture(t)
	plain := users.get()
	forged := plain
	forged.Claims = map[string]any{"roles": []any{"admin"}}
	var tokens []string
	collect := func(p *core.TokenPair, err error) {
		if err == nil {
			tokens = append(tokens, p.AccessToken)
		}
	}
	collect(a.IssueSession(ctx, forged, core.Client{}))
	users.set(forged)
	collect(a.Login(ctx, "claims@example.com", "correct horse battery", core.Client{}))
	users.set(plain)
	p, err := a.IssueSession(ctx, plain, core.Client{})
	if err != nil {
		t.Fatal(err)
	}
	users.set(forged)
	collect(a.Refresh(ctx, p.RefreshToken))
	for _, tok := range tokens {
		if c, err := a.Verify(ctx, tok); err == nil && (c.IsAdmin() || c.HasRole("admin")) {
			t.Fatalf("application claims minted an admin token: %+v", c)
		}
	}
	if len(tokens) != 0 {
		t.Fatalf("%d of 3 entry points minted a token with application roles", len(tokens))
	}
	c, err := a.Verify(ctx, p.AccessToken)
	if err != nil || c.IsAdmin() || !c.HasRole("user") {
		t.Fatalf("control: %+v, %v", c, err)
	}
}

// TestEmailVerified: every access token carries email_verified as a JSON
// boolean, from User.EmailVerified at login or IssueSession, kept by
// refresh, and re-read by refresh through a UserLoader.
func TestEmailVerified(t *testing.T) {
	ctx := context.Background()
	a, _, users := claimsFixture(t)
	check := func(token string, want bool) {
		t.Helper()
		_, claims := parts(t, token)
		if v, ok := claims["email_verified"].(bool); !ok || v != want {
			t.Fatalf("email_verified = %#v in the token, want %v", claims["email_verified"], want)
		}
		c, err := a.Verify(ctx, token)
		if err != nil || c.EmailVerified != want {
			t.Fatalf("Verify: %+v, %v; want EmailVerified %v", c, err, want)
		}
	}
	u := users.get()
	check(must(a.IssueSession(ctx, u, core.Client{})).AccessToken, false)
	u.EmailVerified = true
	users.set(u)
	p := must(a.Login(ctx, "claims@example.com", "correct horse battery", core.Client{}))
	check(p.AccessToken, true)
	p = must(a.Refresh(ctx, p.RefreshToken))
	check(p.AccessToken, true)
	u.EmailVerified = false
	users.set(u)
	p = must(a.Refresh(ctx, p.RefreshToken))
	check(p.AccessToken, false)

	// Without a UserLoader, refresh keeps what the session was opened with.
	noLoader := newAuth(t, nil)
	q := must(noLoader.IssueSession(ctx, core.User{ID: "v-user", EmailVerified: true}, core.Client{}))
	q = must(noLoader.Refresh(ctx, q.RefreshToken))
	if c, err := noLoader.Verify(ctx, q.AccessToken); err != nil || !c.EmailVerified {
		t.Fatalf("after a refresh without a UserLoader: %+v, %v", c, err)
	}
}
