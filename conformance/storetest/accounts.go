package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/core/memstore"
)

// AccountStore is what RunAccounts checks: a UserStore that is also a
// core.AccountStore and a core.LinkTokenStore (memstore.Users,
// redisstore.Users, pgstore.Users).
type AccountStore interface {
	UserStore
	core.AccountStore
	core.LinkTokenStore
}

// RunAccounts checks a user store against the account-management and
// link-token contracts: lookup by email, password change, disable, email
// verification, link tokens (single use, per user and purpose, a newer one
// voiding the older, expiry, one winner among concurrent redemptions, also
// across clients when the harness has NewPeer), password hashes upgraded at
// login when the hasher's parameters change, and the flows of core.Auth
// that use all of these. Stores are built with FastHasher unless a test
// needs its own.
func RunAccounts(t *testing.T, h UsersHarness) {
	if h.NewUsers == nil {
		t.Fatal("storetest: UsersHarness.NewUsers is required")
	}
	tests := []struct {
		name string
		fn   func(*testing.T, UsersHarness)
	}{
		{"UserByEmail", testUserByEmail},
		{"SetPassword", testSetPassword},
		{"DisableAndEnable", testDisableAndEnable},
		{"EmailVerified", testEmailVerified},
		{"UnknownUser", testAccountsUnknownUser},
		{"LinkTokenSingleUse", testLinkSingleUse},
		{"LinkTokenPerUserAndPurpose", testLinkPerUserAndPurpose},
		{"NewerLinkTokenVoidsOlder", testLinkNewerVoidsOlder},
		{"LinkTokenExpires", testLinkExpires},
		{"ConcurrentRedeemOneWinner", testConcurrentRedeem},
		{"ConcurrentResetOneWinner", testConcurrentReset},
		{"RehashAtLogin", testRehashAtLogin},
		{"AccountFlows", testAccountFlows},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, h) })
	}
}

// accounts returns a fresh store of the harness as an AccountStore.
func accounts(t testing.TB, h UsersHarness, hasher *core.PasswordHasher) AccountStore {
	t.Helper()
	us := h.NewUsers(t, hasher)
	as, ok := us.(AccountStore)
	if !ok {
		t.Fatalf("storetest: %T does not implement core.AccountStore and core.LinkTokenStore", us)
	}
	return as
}

func testUserByEmail(t *testing.T, h UsersHarness) {
	us := accounts(t, h, FastHasher)
	c := ctx(t)
	u, err := us.Register(c, "finder@example.com", "password", []string{"user"})
	if err != nil {
		t.Fatal(err)
	}
	for _, spelling := range []string{"finder@example.com", " FINDER@Example.com "} {
		got, err := us.UserByEmail(c, spelling)
		if err != nil || got.ID != u.ID || got.Email != u.Email || !slices.Equal(got.Roles, u.Roles) || !got.CreatedAt.Equal(u.CreatedAt) || got.Disabled || got.EmailVerified {
			t.Fatalf("UserByEmail(%q): %+v, %v; registered %+v", spelling, got, err, u)
		}
	}
	for _, email := range []string{"nobody@example.com", "", "finder@example.co", "inv\xffalid@example.com", "nul\x00@example.com"} {
		if _, err := us.UserByEmail(c, email); !errors.Is(err, core.ErrUserNotFound) {
			t.Fatalf("UserByEmail(%q): %v, want ErrUserNotFound", email, err)
		}
	}
}

func testSetPassword(t *testing.T, h UsersHarness) {
	us := accounts(t, h, FastHasher)
	c := ctx(t)
	u, err := us.Register(c, "changer@example.com", "old password", nil)
	if err != nil {
		t.Fatal(err)
	}
	other, err := us.Register(c, "bystander@example.com", "old password", nil)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("n", core.MaxPasswordBytes-1) + "!"
	for _, pw := range []string{"new password", long, "pässwörd-ユニコード"} {
		if err := us.SetPassword(c, u.ID, pw); err != nil {
			t.Fatalf("SetPassword: %v", err)
		}
		if got, err := us.Authenticate(c, "changer@example.com", pw); err != nil || got.ID != u.ID {
			t.Fatalf("the new password %.20q: %+v, %v", pw, got, err)
		}
		if _, err := us.Authenticate(c, "changer@example.com", pw[:len(pw)-1]+"?"); !errors.Is(err, core.ErrInvalidCredentials) {
			t.Fatalf("the new password with its last byte changed: %v", err)
		}
	}
	if _, err := us.Authenticate(c, "changer@example.com", "old password"); !errors.Is(err, core.ErrInvalidCredentials) {
		t.Fatalf("the old password still works: %v", err)
	}
	if got, err := us.Authenticate(c, "bystander@example.com", "old password"); err != nil || got.ID != other.ID {
		t.Fatalf("another account's password changed too: %v", err)
	}
}

func testDisableAndEnable(t *testing.T, h UsersHarness) {
	us := accounts(t, h, FastHasher)
	c := ctx(t)
	u, err := us.Register(c, "disable@example.com", "password", []string{"user"})
	if err != nil {
		t.Fatal(err)
	}
	other, _ := us.Register(c, "neighbour@example.com", "password", nil)
	want := func(when string, disabled bool) {
		t.Helper()
		loads := map[string]func() (core.User, error){
			"User":         func() (core.User, error) { return us.User(c, u.ID) },
			"UserByEmail":  func() (core.User, error) { return us.UserByEmail(c, u.Email) },
			"Authenticate": func() (core.User, error) { return us.Authenticate(c, u.Email, "password") },
		}
		for name, load := range loads {
			// Authenticate still answers for a disabled account: refusing it
			// is core's decision (403 account_disabled, after the password).
			got, err := load()
			if err != nil || got.ID != u.ID || got.Disabled != disabled {
				t.Fatalf("%s: %s: %+v, %v; want Disabled %v", when, name, got, err, disabled)
			}
		}
		if n, _ := us.User(c, other.ID); n.Disabled {
			t.Fatalf("%s: another account is disabled", when)
		}
	}
	want("registered", false)
	if err := us.SetDisabled(c, u.ID, true); err != nil {
		t.Fatalf("SetDisabled(true): %v", err)
	}
	want("disabled", true)
	if err := us.SetDisabled(c, u.ID, true); err != nil {
		t.Fatalf("SetDisabled(true) again: %v", err)
	}
	want("disabled twice", true)
	if err := us.SetDisabled(c, u.ID, false); err != nil {
		t.Fatalf("SetDisabled(false): %v", err)
	}
	want("enabled", false)
}

func testEmailVerified(t *testing.T, h UsersHarness) {
	us := accounts(t, h, FastHasher)
	c := ctx(t)
	u, err := us.Register(c, "verify@example.com", "password", []string{"user"})
	if err != nil {
		t.Fatal(err)
	}
	other, _ := us.Register(c, "unverified@example.com", "password", nil)
	if got, _ := us.User(c, u.ID); got.EmailVerified {
		t.Fatal("a new account's email is verified")
	}
	if err := us.SetEmailVerified(c, u.ID); err != nil {
		t.Fatalf("SetEmailVerified: %v", err)
	}
	for name, load := range map[string]func() (core.User, error){
		"User":         func() (core.User, error) { return us.User(c, u.ID) },
		"UserByEmail":  func() (core.User, error) { return us.UserByEmail(c, u.Email) },
		"Authenticate": func() (core.User, error) { return us.Authenticate(c, u.Email, "password") },
	} {
		if got, err := load(); err != nil || !got.EmailVerified || !slices.Equal(got.Roles, []string{"user"}) {
			t.Fatalf("%s after SetEmailVerified: %+v, %v", name, got, err)
		}
	}
	if got, _ := us.User(c, other.ID); got.EmailVerified {
		t.Fatal("another account's email is verified too")
	}
	// Other changes keep it.
	if err := us.SetPassword(c, u.ID, "another password"); err != nil {
		t.Fatal(err)
	}
	if err := us.SetRoles(c, u.ID, []string{"admin"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := us.User(c, u.ID); !got.EmailVerified {
		t.Fatal("a password or role change unverified the email")
	}
}

func testAccountsUnknownUser(t *testing.T, h UsersHarness) {
	us := accounts(t, h, FastHasher)
	c := ctx(t)
	for _, id := range []string{"nobody", "", "has{brace}", "has space", strings.Repeat("x", 200)} {
		for name, err := range map[string]error{
			"SetPassword":      us.SetPassword(c, id, "password"),
			"SetDisabled":      us.SetDisabled(c, id, true),
			"SetEmailVerified": us.SetEmailVerified(c, id),
		} {
			if !errors.Is(err, core.ErrUserNotFound) {
				t.Fatalf("%s(%q): %v, want ErrUserNotFound", name, id, err)
			}
		}
		if ok, err := us.RedeemLinkToken(c, id, core.PurposePasswordReset, testHash(1)); ok || err != nil {
			t.Fatalf("RedeemLinkToken(%q): %v, %v; want false, nil", id, ok, err)
		}
	}
	// Nothing was created by the refused calls.
	if _, err := us.User(c, "nobody"); !errors.Is(err, core.ErrUserNotFound) {
		t.Fatalf("User(nobody) after the refused calls: %v", err)
	}
}

// testHash is a token hash as core hands it over: the 64 hex digits of a
// SHA-256.
func testHash(i int) string {
	sum := sha256.Sum256([]byte(strconv.Itoa(i)))
	return hex.EncodeToString(sum[:])
}

func registered(t testing.TB, us AccountStore, email string) core.User {
	t.Helper()
	u, err := us.Register(ctx(t), email, "password", []string{"user"})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func redeem(t testing.TB, us core.LinkTokenStore, uid, purpose, hash string) bool {
	t.Helper()
	ok, err := us.RedeemLinkToken(ctx(t), uid, purpose, hash)
	if err != nil {
		t.Fatalf("RedeemLinkToken: %v", err)
	}
	return ok
}

func put(t testing.TB, us core.LinkTokenStore, uid, purpose, hash string, ttl time.Duration) {
	t.Helper()
	if err := us.PutLinkToken(ctx(t), uid, purpose, hash, ttl); err != nil {
		t.Fatalf("PutLinkToken: %v", err)
	}
}

func testLinkSingleUse(t *testing.T, h UsersHarness) {
	us := accounts(t, h, FastHasher)
	u := registered(t, us, "link@example.com")
	const p = core.PurposePasswordReset
	put(t, us, u.ID, p, testHash(1), time.Hour)
	if redeem(t, us, u.ID, p, testHash(2)) {
		t.Fatal("a wrong hash redeemed the token")
	}
	if !redeem(t, us, u.ID, p, testHash(1)) {
		t.Fatal("the right hash, after a wrong one, did not redeem the token")
	}
	if redeem(t, us, u.ID, p, testHash(1)) {
		t.Fatal("the token redeemed twice")
	}
}

func testLinkPerUserAndPurpose(t *testing.T, h UsersHarness) {
	us := accounts(t, h, FastHasher)
	a, b := registered(t, us, "a@example.com"), registered(t, us, "b@example.com")
	const reset, verify = core.PurposePasswordReset, core.PurposeEmailVerification
	put(t, us, a.ID, reset, testHash(1), time.Hour)
	put(t, us, a.ID, verify, testHash(2), time.Hour)
	put(t, us, b.ID, reset, testHash(3), time.Hour)
	for _, tc := range []struct {
		uid, purpose, hash, what string
	}{
		{b.ID, reset, testHash(1), "a's token under b"},
		{a.ID, verify, testHash(1), "a's reset token as verification"},
		{a.ID, reset, testHash(2), "a's verification token as reset"},
		{a.ID, "login_code", testHash(1), "a's reset token under another purpose"},
	} {
		if redeem(t, us, tc.uid, tc.purpose, tc.hash) {
			t.Fatalf("%s redeemed", tc.what)
		}
	}
	// A second purpose does not replace the first; each redeems once.
	for _, tc := range []struct{ uid, purpose, hash string }{{a.ID, reset, testHash(1)}, {a.ID, verify, testHash(2)}, {b.ID, reset, testHash(3)}} {
		if !redeem(t, us, tc.uid, tc.purpose, tc.hash) {
			t.Fatalf("token %s/%s did not redeem after the wrong attempts", tc.uid, tc.purpose)
		}
	}
}

func testLinkNewerVoidsOlder(t *testing.T, h UsersHarness) {
	us := accounts(t, h, FastHasher)
	u := registered(t, us, "newer@example.com")
	const p = core.PurposePasswordReset
	put(t, us, u.ID, p, testHash(1), time.Hour)
	put(t, us, u.ID, p, testHash(2), time.Hour)
	if redeem(t, us, u.ID, p, testHash(1)) {
		t.Fatal("the older token redeemed after a newer one was put")
	}
	if !redeem(t, us, u.ID, p, testHash(2)) {
		t.Fatal("the newer token did not redeem")
	}
}

func testLinkExpires(t *testing.T, h UsersHarness) {
	us := accounts(t, h, FastHasher)
	u := registered(t, us, "expiry@example.com")
	const p = core.PurposeEmailVerification
	const ttl = 300 * time.Millisecond
	put(t, us, u.ID, p, testHash(1), ttl)
	put(t, us, u.ID, core.PurposePasswordReset, testHash(2), time.Hour)
	time.Sleep(ttl + 300*time.Millisecond)
	if redeem(t, us, u.ID, p, testHash(1)) {
		t.Fatal("an expired token redeemed")
	}
	if !redeem(t, us, u.ID, core.PurposePasswordReset, testHash(2)) {
		t.Fatal("a token of another purpose expired with it")
	}
	// A fresh one (a long TTL) is good again after the expired one.
	put(t, us, u.ID, p, testHash(3), time.Hour)
	if !redeem(t, us, u.ID, p, testHash(3)) {
		t.Fatal("a token put after an expired one did not redeem")
	}
}

// linkRacers redeem one token at once.
const linkRacers = 50

// clientsOf returns us and, when the harness can, two peers on its backend.
func clientsOf(t testing.TB, h UsersHarness, us AccountStore) []AccountStore {
	out := []AccountStore{us}
	if h.NewPeer != nil {
		for range 2 {
			p, ok := h.NewPeer(t, us).(AccountStore)
			if !ok {
				t.Fatal("storetest: UsersHarness.NewPeer returned no AccountStore")
			}
			out = append(out, p)
		}
	}
	return out
}

// testConcurrentRedeem: of many simultaneous redemptions of one token,
// spread over independent clients when the harness has peers, exactly one
// succeeds.
func testConcurrentRedeem(t *testing.T, h UsersHarness) {
	us := accounts(t, h, FastHasher)
	clients := clientsOf(t, h, us)
	u := registered(t, us, "race@example.com")
	for round := range 5 {
		hash := testHash(100 + round)
		put(t, us, u.ID, core.PurposePasswordReset, hash, time.Hour)
		var (
			mu     sync.Mutex
			wins   int
			errs   []error
			byPeer = make([]int, len(clients))
		)
		race(linkRacers, func(i int) {
			ok, err := clients[i%len(clients)].RedeemLinkToken(ctx(t), u.ID, core.PurposePasswordReset, hash)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			if ok {
				wins++
				byPeer[i%len(clients)]++
			}
		})
		if wins != 1 || len(errs) > 0 {
			t.Fatalf("round %d: %d simultaneous redemptions over %d clients: %d succeeded, errors %v; want exactly 1", round, linkRacers, len(clients), wins, errs)
		}
	}
}

// testConcurrentReset: through core.Auth, of simultaneous resets with one
// mailed token, exactly one sets its password; the others get
// invalid_grant.
func testConcurrentReset(t *testing.T, h UsersHarness) {
	us := accounts(t, h, FastHasher)
	clients := clientsOf(t, h, us)
	sessions := memstore.New()
	var auths []*core.Auth
	for _, cl := range clients {
		auths = append(auths, NewAuth(t, sessions, func(c *core.Config) { c.Users = cl; c.MaxHashWait = time.Minute }))
	}
	u := registered(t, us, "reset-race@example.com")
	for round := range 3 {
		tok, err := auths[0].NewLinkToken(ctx(t), u.ID, core.PurposePasswordReset, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		var (
			mu      sync.Mutex
			winners []int
			grants  int
			other   []error
		)
		race(linkRacers, func(i int) {
			err := auths[i%len(auths)].ResetPassword(ctx(t), tok, fmt.Sprintf("password %d-%d", round, i))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				winners = append(winners, i)
			case errors.Is(err, core.ErrInvalidGrant):
				grants++
			default:
				other = append(other, err)
			}
		})
		if len(winners) != 1 || grants != linkRacers-1 || len(other) > 0 {
			t.Fatalf("round %d: %d resets with one token: %d succeeded, %d invalid_grant, other %v", round, linkRacers, len(winners), grants, other)
		}
		// The winner's password is the account's.
		if _, err := us.Authenticate(ctx(t), u.Email, fmt.Sprintf("password %d-%d", round, winners[0])); err != nil {
			t.Fatalf("round %d: the winner's password does not log in: %v", round, err)
		}
	}
}

// testRehashAtLogin: raising the hasher's parameters upgrades a hash at
// the next successful login, and only then: a wrong password changes
// nothing.
func testRehashAtLogin(t *testing.T, h UsersHarness) {
	old := core.PasswordParams{Time: 1, MemoryKiB: 64, Threads: 1}
	stronger := core.PasswordParams{Time: 2, MemoryKiB: 128, Threads: 1}
	var (
		mu   sync.Mutex
		seen []core.PasswordParams
	)
	hasher := &core.PasswordHasher{Params: old, OnVerify: func(p core.PasswordParams) {
		mu.Lock()
		seen = append(seen, p)
		mu.Unlock()
	}}
	us := accounts(t, h, hasher)
	c := ctx(t)
	u, err := us.Register(c, "upgrade@example.com", "the password", nil)
	if err != nil {
		t.Fatal(err)
	}
	checked := func(what, pw string, wantErr error) core.PasswordParams {
		t.Helper()
		mu.Lock()
		seen = nil
		mu.Unlock()
		got, err := us.Authenticate(c, u.Email, pw)
		if !errors.Is(err, wantErr) || (err == nil && got.ID != u.ID) {
			t.Fatalf("%s: %+v, %v; want %v", what, got, err, wantErr)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(seen) != 1 {
			t.Fatalf("%s: %d argon2id checks, want 1", what, len(seen))
		}
		return seen[0]
	}
	if p := checked("before the change", "the password", nil); p != old {
		t.Fatalf("a fresh hash was checked with %+v, want %+v", p, old)
	}
	hasher.Params = stronger // the application raised the cost
	if p := checked("a wrong password after the change", "wrong password", core.ErrInvalidCredentials); p != old {
		t.Fatalf("checked with %+v, want the stored %+v", p, old)
	}
	if p := checked("after a wrong password", "the password", nil); p != old {
		t.Fatalf("a wrong password upgraded the hash: checked with %+v", p)
	}
	if p := checked("after a successful login", "the password", nil); p != stronger {
		t.Fatalf("the hash was not upgraded at the successful login: checked with %+v, want %+v", p, stronger)
	}
	checked("the old password's neighbour", "the passwore", core.ErrInvalidCredentials)
	if p := checked("again", "the password", nil); p != stronger {
		t.Fatalf("checked with %+v after the upgrade", p)
	}
}

// captureMailer keeps the mails it is given.
type captureMailer struct {
	mu   sync.Mutex
	sent []core.Mail
}

func (m *captureMailer) Send(_ context.Context, mail core.Mail) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, mail)
	return nil
}

// token returns the token of the last mail to to, or fails.
func (m *captureMailer) token(t testing.TB, a *core.Auth, to string, kind core.MailKind) string {
	t.Helper()
	if err := a.FlushMail(ctx(t)); err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := len(m.sent) - 1; i >= 0; i-- {
		if mail := m.sent[i]; mail.To == to && mail.Kind == kind {
			_, tok, ok := strings.Cut(mail.Link, "?token=")
			if !ok || !strings.Contains(mail.Text, mail.Link) {
				t.Fatalf("mail %+v: no link with a token in its text", mail)
			}
			return tok
		}
	}
	t.Fatalf("no %s mail to %s in %d mails", kind, to, len(m.sent))
	return ""
}

// testAccountFlows: the account flows of core.Auth on this store: password
// change, reset by mail, email verification, disable and enable.
func testAccountFlows(t *testing.T, h UsersHarness) {
	us := accounts(t, h, FastHasher)
	mail := &captureMailer{}
	a := NewAuth(t, memstore.New(), func(c *core.Config) {
		c.Users, c.Mailer, c.AppURL = us, mail, "https://app.example.com"
	})
	c := ctx(t)
	cl := core.Client{UserAgent: "storetest", IP: "192.0.2.1"}
	u, err := a.Register(c, "flows@example.com", "first password", cl)
	if err != nil {
		t.Fatal(err)
	}
	logIn := func(pw string) (*core.TokenPair, error) { return a.Login(c, u.Email, pw, cl) }
	first, err := logIn("first password")
	if err != nil {
		t.Fatal(err)
	}
	second, _ := logIn("first password")

	// Change: the caller's session stays, the other ends.
	if err := a.ChangePassword(c, verify(t, a, first.AccessToken), "wrong password", "second password", cl); !errors.Is(err, core.ErrInvalidCredentials) {
		t.Fatalf("ChangePassword with a wrong current password: %v", err)
	}
	if err := a.ChangePassword(c, verify(t, a, first.AccessToken), "first password", "second password", cl); err != nil {
		t.Fatalf("ChangePassword: %v", err)
	}
	verify(t, a, first.AccessToken)
	wantRevoked(t, a, second.AccessToken)
	if _, err := logIn("first password"); !errors.Is(err, core.ErrInvalidCredentials) {
		t.Fatalf("the old password after a change: %v", err)
	}

	// Reset by mail: every session ends.
	if err := a.ForgotPassword(c, " FLOWS@example.com", cl); err != nil {
		t.Fatalf("ForgotPassword: %v", err)
	}
	tok := mail.token(t, a, u.Email, core.MailPasswordReset)
	if err := a.ResetPassword(c, tok, "short"); !errors.Is(err, core.ErrInvalidRequest) {
		t.Fatalf("ResetPassword with a short password: %v", err)
	}
	if err := a.ResetPassword(c, tok, "third password"); err != nil {
		t.Fatalf("ResetPassword (the short password did not burn the token): %v", err)
	}
	if err := a.ResetPassword(c, tok, "fourth password"); !errors.Is(err, core.ErrInvalidGrant) {
		t.Fatalf("the same reset token again: %v", err)
	}
	wantRevoked(t, a, first.AccessToken)
	wantRefreshFails(t, a, first.RefreshToken, core.ErrInvalidRefreshToken)
	p, err := logIn("third password")
	if err != nil {
		t.Fatalf("login with the reset password: %v", err)
	}
	if !verify(t, a, p.AccessToken).EmailVerified {
		t.Fatal("a reset by mailed link did not mark the address verified")
	}

	// Disable: sessions end, login is refused after the password; enable.
	if err := a.DisableUser(c, u.ID); err != nil {
		t.Fatal(err)
	}
	wantRevoked(t, a, p.AccessToken)
	if _, err := logIn("third password"); !errors.Is(err, core.ErrAccountDisabled) {
		t.Fatalf("login of a disabled account: %v", err)
	}
	if err := a.ForgotPassword(c, u.Email, cl); err != nil {
		t.Fatal(err)
	}
	a.FlushMail(c)
	mail.mu.Lock()
	n := len(mail.sent)
	mail.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d mails: a disabled account was sent a reset link", n)
	}
	if err := a.EnableUser(c, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := logIn("third password"); err != nil {
		t.Fatalf("login after enabling: %v", err)
	}
	for name, err := range map[string]error{"DisableUser": a.DisableUser(c, "nobody"), "EnableUser": a.EnableUser(c, "nobody")} {
		if !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("%s of an unknown user: %v", name, err)
		}
	}

	// Verification of a second account.
	v, err := a.Register(c, "verify-flow@example.com", "a password", cl)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.SendVerification(c, v.ID, cl); err != nil {
		t.Fatal(err)
	}
	vt := mail.token(t, a, v.Email, core.MailEmailVerification)
	if err := a.VerifyEmail(c, tok); !errors.Is(err, core.ErrInvalidGrant) {
		t.Fatalf("a reset token as a verification token: %v", err)
	}
	if err := a.VerifyEmail(c, vt); err != nil {
		t.Fatalf("VerifyEmail: %v", err)
	}
	if err := a.VerifyEmail(c, vt); !errors.Is(err, core.ErrInvalidGrant) {
		t.Fatalf("the same verification token again: %v", err)
	}
	if got, _ := us.User(c, v.ID); !got.EmailVerified {
		t.Fatal("the address is not verified")
	}
	vp, err := a.Login(c, v.Email, "a password", cl)
	if err != nil || !verify(t, a, vp.AccessToken).EmailVerified {
		t.Fatalf("a login after verification: email_verified missing (%v)", err)
	}
}
