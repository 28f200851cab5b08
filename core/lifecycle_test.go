package core_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/core/memstore"
)

const appURL = "https://app.example.com"

// mailbox is a core.Mailer that keeps what it is given; with gate set, Send
// waits until the gate is closed.
type mailbox struct {
	mu   sync.Mutex
	sent []core.Mail
	gate chan struct{}
}

func (m *mailbox) Send(ctx context.Context, mail core.Mail) error {
	if m.gate != nil {
		select {
		case <-m.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, mail)
	return nil
}

func (m *mailbox) all() []core.Mail {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.sent)
}

// token returns the token of the last mail of kind to to, after the queue
// is flushed.
func (m *mailbox) token(t testing.TB, a *core.Auth, to string, kind core.MailKind) string {
	t.Helper()
	flush(t, a)
	sent := m.all()
	for i := len(sent) - 1; i >= 0; i-- {
		if sent[i].To == to && sent[i].Kind == kind {
			_, tok, _ := strings.Cut(sent[i].Link, "?token=")
			return tok
		}
	}
	t.Fatalf("no %s mail to %s among %d", kind, to, len(sent))
	return ""
}

func flush(t testing.TB, a *core.Auth) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.FlushMail(ctx); err != nil {
		t.Fatalf("FlushMail: %v", err)
	}
}

// lifecycleAuth is an Auth with memstore users (cheap hashing), a mailbox
// and generous limits; mod adjusts it.
func lifecycleAuth(t testing.TB, mod func(*core.Config)) (*core.Auth, *memstore.Users, *mailbox) {
	t.Helper()
	users, mail := memstore.NewUsers(cheap), &mailbox{}
	a := newAuth(t, func(c *core.Config) {
		c.Users, c.Mailer, c.AppURL = users, mail, appURL
		big := core.Limit{Max: 100000, Window: time.Hour}
		c.RateLimits = core.RateLimits{LoginPerAccount: big, LoginPerIP: big, RegisterPerIP: big,
			ForgotPerAccount: big, ForgotPerIP: big, VerificationPerAccount: big, VerificationPerIP: big}
		if mod != nil {
			mod(c)
		}
	})
	return a, users, mail
}

func register(t testing.TB, us *memstore.Users, email string, roles ...string) core.User {
	t.Helper()
	u, err := us.Register(context.Background(), email, "the password", roles)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

var client = core.Client{UserAgent: "core-test", IP: "198.51.100.7"}

// TestLinkTokens: single use; refused when forged, garbled, of another
// purpose or MAC'd with another secret, without being spent; valid across a
// refresh-secret rotation; 256 random bits; the store sees only its hash.
func TestLinkTokens(t *testing.T) {
	a, users, _ := lifecycleAuth(t, nil)
	ctx := context.Background()
	u := register(t, users, "link@example.com")
	tok, err := a.NewLinkToken(ctx, u.ID, core.PurposePasswordReset, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(tok)
	if err != nil || len(raw) != 1+32+len(u.ID)+32 || !bytes.Contains(raw, []byte(u.ID)) {
		t.Fatalf("token %q decodes to %d bytes (%v); want version, 32 random bytes, the user id and a 32-byte MAC", tok, len(raw), err)
	}
	again, _ := a.NewLinkToken(ctx, u.ID, core.PurposeEmailVerification, time.Hour)
	if raw2, _ := base64.RawURLEncoding.DecodeString(again); bytes.Equal(raw[1:33], raw2[1:33]) {
		t.Fatal("two tokens share their random part")
	}

	// The same bytes in standard base64: a different spelling, unless the
	// token happens to hold no '-' or '_' and need no padding (a few percent
	// of tokens), when a padding character makes it one.
	std := base64.StdEncoding.EncodeToString(raw)
	if std == tok {
		std += "="
	}
	refused := map[string]string{
		"empty":                 "",
		"garbage":               "garbage",
		"truncated":             tok[:len(tok)-1],
		"last byte changed":     tok[:len(tok)-2] + string("AB"[boolInt(tok[len(tok)-2] == 'A')]) + tok[len(tok)-1:],
		"newline inside":        tok[:20] + "\n" + tok[20:],
		"padded std base64":     std,
		"over the length bound": tok + strings.Repeat("A", 400),
		"MAC of another secret": mintWith(t, []byte("another refresh secret of 32+ bytes....."), u.ID, core.PurposePasswordReset),
		"user id swapped":       swapUser(raw, u.ID, "other-user"),
	}
	for i := 0; i < len(raw); i += 7 { // a flipped bit anywhere
		b := slices.Clone(raw)
		b[i] ^= 0x10
		refused[fmt.Sprintf("bit flipped in byte %d", i)] = base64.RawURLEncoding.EncodeToString(b)
	}
	// Refused before the store is asked: the MAC decides, not a lookup.
	watched := &spyLinks{Users: users}
	w := newAuth(t, func(c *core.Config) { c.Users = watched })
	for name, bad := range refused {
		if _, err := w.RedeemLinkToken(ctx, core.PurposePasswordReset, bad); !errors.Is(err, core.ErrInvalidGrant) {
			t.Fatalf("%s: %v, want invalid_grant", name, err)
		}
	}
	if _, err := w.RedeemLinkToken(ctx, core.PurposeEmailVerification, tok); !errors.Is(err, core.ErrInvalidGrant) {
		t.Fatalf("a reset token as a verification token: %v", err)
	}
	if n := watched.redeems.Load(); n != 0 {
		t.Fatalf("forged, garbled or misused tokens reached the store %d times", n)
	}
	// None of that spent it.
	if uid, err := a.RedeemLinkToken(ctx, core.PurposePasswordReset, tok); err != nil || uid != u.ID {
		t.Fatalf("RedeemLinkToken: %q, %v", uid, err)
	}
	if _, err := a.RedeemLinkToken(ctx, core.PurposePasswordReset, tok); !errors.Is(err, core.ErrInvalidGrant) {
		t.Fatalf("a spent token: %v", err)
	}

	// Rotation: a token minted before the refresh secret changed still
	// redeems while the old secret is listed as previous.
	old, _ := a.NewLinkToken(ctx, u.ID, "login_code", time.Hour)
	rotated := newAuth(t, func(c *core.Config) {
		c.Users = users
		c.RefreshSecret, c.PreviousRefreshSecrets = []byte("the new refresh secret, 32 bytes or more"), [][]byte{refreshSecret}
	})
	if uid, err := rotated.RedeemLinkToken(ctx, "login_code", old); err != nil || uid != u.ID {
		t.Fatalf("a token from before the rotation: %q, %v", uid, err)
	}

	for _, p := range []string{"", "Reset", "with space", strings.Repeat("p", 33), "ünï"} {
		if _, err := a.NewLinkToken(ctx, u.ID, p, time.Hour); err == nil {
			t.Fatalf("NewLinkToken with purpose %q: no error", p)
		}
	}
	if _, err := a.NewLinkToken(ctx, u.ID, "p", 0); err == nil {
		t.Fatal("NewLinkToken with no lifetime: no error")
	}

	// The store gets the token's SHA-256, never the token.
	spy := &spyLinks{Users: users}
	s := newAuth(t, func(c *core.Config) { c.Users = spy })
	tok, err = s.NewLinkToken(ctx, u.ID, core.PurposePasswordReset, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ = base64.RawURLEncoding.DecodeString(tok)
	sum := sha256.Sum256(raw)
	if spy.put != hex.EncodeToString(sum[:]) || strings.Contains(spy.put, tok) || spy.ttl != time.Minute {
		t.Fatalf("PutLinkToken got %q for %v; want the token's SHA-256 for 1m", spy.put, spy.ttl)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// mintWith mints a token with another refresh secret (and store).
func mintWith(t *testing.T, secret []byte, uid, purpose string) string {
	other := newAuth(t, func(c *core.Config) { c.Users, c.RefreshSecret = memstore.NewUsers(cheap), secret })
	tok, err := other.NewLinkToken(context.Background(), uid, purpose, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// swapUser replaces the user id inside a token, keeping its MAC.
func swapUser(raw []byte, from, to string) string {
	return base64.RawURLEncoding.EncodeToString(bytes.Replace(raw, []byte(from), []byte(to), 1))
}

type spyLinks struct {
	*memstore.Users
	put     string
	ttl     time.Duration
	redeems atomic.Int64
}

func (s *spyLinks) RedeemLinkToken(ctx context.Context, uid, purpose, hash string) (bool, error) {
	s.redeems.Add(1)
	return s.Users.RedeemLinkToken(ctx, uid, purpose, hash)
}

func (s *spyLinks) PutLinkToken(ctx context.Context, uid, purpose, hash string, ttl time.Duration) error {
	s.put, s.ttl = hash, ttl
	return s.Users.PutLinkToken(ctx, uid, purpose, hash, ttl)
}

// gatedUsers holds UserByEmail until its gate closes, and counts the calls.
type gatedUsers struct {
	*memstore.Users
	gate    chan struct{}
	byEmail atomic.Int64
}

func (u *gatedUsers) UserByEmail(ctx context.Context, email string) (core.User, error) {
	u.byEmail.Add(1)
	<-u.gate
	return u.Users.UserByEmail(ctx, email)
}

// TestForgotPasswordAnswersFirst: /password/forgot answers 202 {} before
// the user store is asked anything, with the same bytes for a known and an
// unknown address; the lookup and the mail follow: a mail for the known
// address with the link to the app, none for the unknown one.
func TestForgotPasswordAnswersFirst(t *testing.T) {
	users := &gatedUsers{Users: memstore.NewUsers(cheap), gate: make(chan struct{})}
	a, _, mail := lifecycleAuth(t, func(c *core.Config) { c.Users = users })
	register(t, users.Users, "known@example.com")
	forgot := lroute(t, a, "POST", "/password/forgot")
	var answers []*core.Response
	for _, email := range []string{"known@example.com", "unknown@example.com", " KNOWN@example.com "} {
		done := make(chan *core.Response, 1)
		go func() { done <- forgot.Handle(context.Background(), jsonRequest(map[string]string{"email": email})) }()
		select {
		case r := <-done:
			answers = append(answers, r)
		case <-time.After(5 * time.Second):
			close(users.gate) // let the stuck request finish
			t.Fatalf("forgot %q did not answer while the user store's lookup was held", email)
		}
	}
	if n := users.byEmail.Load(); n > mailWorkersMax {
		t.Fatalf("%d lookups started", n)
	}
	for i, r := range answers {
		if r.Status != 202 || string(r.Body) != "{}" || fmt.Sprint(r.Header) != fmt.Sprint(answers[0].Header) {
			t.Fatalf("answer %d: %d %s %v; want 202 {} with the headers of the first", i, r.Status, r.Body, r.Header)
		}
	}
	if len(mail.all()) != 0 {
		t.Fatal("mail sent before the lookups were let through")
	}
	close(users.gate)
	flush(t, a)
	sent := mail.all()
	if len(sent) != 2 || sent[0].To != "known@example.com" || sent[1].To != "known@example.com" {
		t.Fatalf("mails %+v; want two to known@example.com and none to the unknown address", sent)
	}
	m := sent[1]
	_, tok, _ := strings.Cut(m.Link, "?token=")
	if m.Kind != core.MailPasswordReset || !strings.HasPrefix(m.Link, appURL+"/reset-password?token=") || tok == "" ||
		!strings.Contains(m.Text, appURL+"/reset-password?token="+tok) || m.Subject == "" {
		t.Fatalf("reset mail %+v", m)
	}
	// The newer link voided the older.
	_, older, _ := strings.Cut(sent[0].Link, "?token=")
	if err := a.ResetPassword(context.Background(), older, "a new password"); !errors.Is(err, core.ErrInvalidGrant) {
		t.Fatalf("the older of two reset links: %v", err)
	}
	if err := a.ResetPassword(context.Background(), tok, "a new password"); err != nil {
		t.Fatalf("the newer reset link: %v", err)
	}
}

// mailWorkersMax is the queue's worker count: at most that many lookups can
// have started while the test holds them.
const mailWorkersMax = 4

// TestForgotPasswordTiming: answering /password/forgot costs the same for a
// known and an unknown address: interleaved samples, each after the queue
// has drained, agree within ±10 % at the median. Every sample names an
// address of its own, known or not, so that each counts a fresh limiter key
// alike.
func TestForgotPasswordTiming(t *testing.T) {
	a, users, _ := lifecycleAuth(t, nil)
	const pairs = 301
	for i := range pairs {
		register(t, users, fmt.Sprintf("known%d@example.com", i))
	}
	register(t, users, "known@example.com")
	forgot := lroute(t, a, "POST", "/password/forgot")
	sample := func(email string) time.Duration {
		req := jsonRequest(map[string]string{"email": email})
		start := time.Now()
		r := forgot.Handle(context.Background(), req)
		d := time.Since(start)
		if r.Status != 202 {
			t.Fatalf("forgot %s: %d %s", email, r.Status, r.Body)
		}
		flush(t, a) // the known address's mail goes out between samples
		return d
	}
	for range 20 { // warm up
		sample("known@example.com")
		sample("warm@example.com")
	}
	ratios := make([]float64, pairs)
	for i := range ratios {
		var k, u time.Duration
		known, unknown := fmt.Sprintf("known%d@example.com", i), fmt.Sprintf("unknown%d@example.com", i)
		if i%2 == 0 {
			k, u = sample(known), sample(unknown)
		} else {
			u, k = sample(unknown), sample(known)
		}
		ratios[i] = float64(u) / float64(k)
	}
	slices.Sort(ratios)
	median := ratios[pairs/2]
	t.Logf("%d interleaved forgot-password answers: median ratio unknown/known %.3f (quartiles %.3f–%.3f)", pairs, median, ratios[pairs/4], ratios[pairs*3/4])
	if median < 0.9 || median > 1.1 {
		t.Fatalf("an unknown address is answered in %.2f× the time of a known one (median of %d pairs); want within ±10 %%", median, pairs)
	}
}

// TestMailQueueBounded: when the mail queue is full, forgot and
// send-verification answer 503 server_busy with Retry-After and give their
// rate-limit counts back; the queued mails all go out once the mailer
// answers.
func TestMailQueueBounded(t *testing.T) {
	gate := make(chan struct{})
	a, users, mail := lifecycleAuth(t, func(c *core.Config) {
		c.MailQueue = 2
		c.RateLimits.ForgotPerIP = core.Limit{Max: 7, Window: time.Hour}
	})
	mail.gate = gate
	u := register(t, users, "queue@example.com")
	ctx := context.Background()
	// Up to the 4 workers (each holding a mail) plus 2 queued go in; the
	// next is refused. The workers start asynchronously: wait for them to
	// take their job.
	accepted := 0
	var busy error
	for i := 0; i < 20 && busy == nil; i++ {
		err := a.ForgotPassword(ctx, "queue@example.com", client)
		switch {
		case err == nil:
			accepted++
			time.Sleep(5 * time.Millisecond)
		case errors.Is(err, core.ErrServerBusy):
			busy = err
		default:
			t.Fatalf("forgot %d: %v", i, err)
		}
	}
	if busy == nil || accepted != mailWorkersMax+2 {
		t.Fatalf("%d accepted before server_busy (%v); want %d", accepted, busy, mailWorkersMax+2)
	}
	if r := core.ErrorResponse(busy); r.Status != 503 || header(r, "Retry-After") == "" {
		t.Fatalf("a full queue answers %d %v", r.Status, r.Header)
	}
	if err := a.SendVerification(ctx, u.ID, client); !errors.Is(err, core.ErrServerBusy) {
		t.Fatalf("send-verification with the queue full: %v", err)
	}
	// The refused request's IP count was given back: 6 counted of 7.
	if err := a.ForgotPassword(ctx, "other@example.com", core.Client{IP: "203.0.113.200"}); !errors.Is(err, core.ErrServerBusy) {
		t.Fatalf("from another IP with the queue full: %v", err)
	}
	close(gate)
	flush(t, a)
	if n := len(mail.all()); n != accepted {
		t.Fatalf("%d mails sent, want %d", n, accepted)
	}
	if err := a.ForgotPassword(ctx, "queue@example.com", client); err != nil {
		t.Fatalf("the 7th request from the IP (the refused ones gave their counts back): %v", err)
	}
	if err := a.ForgotPassword(ctx, "queue@example.com", client); !errors.Is(err, core.ErrRateLimited) {
		t.Fatalf("the 8th request from the IP: %v", err)
	}
}

// TestMailLimits: forgot is limited per address — known or unknown alike,
// so a 429 tells nothing — and per IP; send-verification per account and
// per IP.
func TestMailLimits(t *testing.T) {
	a, users, _ := lifecycleAuth(t, func(c *core.Config) {
		c.RateLimits.ForgotPerAccount = core.Limit{Max: 2, Window: time.Hour}
		c.RateLimits.ForgotPerIP = core.Limit{Max: 5, Window: time.Hour}
		c.RateLimits.VerificationPerAccount = core.Limit{Max: 2, Window: time.Hour}
		c.RateLimits.VerificationPerIP = core.Limit{Max: 3, Window: time.Hour}
	})
	ctx := context.Background()
	u := register(t, users, "known@example.com")
	v := register(t, users, "second@example.com")
	for _, email := range []string{"known@example.com", "unknown@example.com"} {
		for i := range 2 {
			if err := a.ForgotPassword(ctx, email, client); err != nil {
				t.Fatalf("forgot %s #%d: %v", email, i+1, err)
			}
		}
		wantLimited(t, "the third forgot for "+email, a.ForgotPassword(ctx, strings.ToUpper(email), client), time.Hour)
	}
	if err := a.ForgotPassword(ctx, "fifth@example.com", client); err != nil {
		t.Fatalf("the fifth forgot from the IP: %v", err)
	}
	wantLimited(t, "the sixth forgot from the IP", a.ForgotPassword(ctx, "sixth@example.com", client), time.Hour)
	if err := a.ForgotPassword(ctx, "sixth@example.com", core.Client{IP: "203.0.113.9"}); err != nil {
		t.Fatalf("forgot from another IP: %v", err)
	}

	for i := range 2 {
		if err := a.SendVerification(ctx, u.ID, client); err != nil {
			t.Fatalf("send-verification #%d: %v", i+1, err)
		}
	}
	wantLimited(t, "the third send-verification for the account", a.SendVerification(ctx, u.ID, core.Client{IP: "203.0.113.10"}), time.Hour)
	if err := a.SendVerification(ctx, v.ID, client); err != nil {
		t.Fatal(err)
	}
	wantLimited(t, "the fourth send-verification from the IP", a.SendVerification(ctx, v.ID, client), time.Hour)
	flush(t, a)
}

// TestChangePassword: a wrong current password is invalid_credentials and
// counts against the login limits (and fires OnLoginFailed); the right one
// changes the password and ends every other session, the caller's stays.
func TestChangePassword(t *testing.T) {
	var failed, changed atomic.Int64
	a, users, _ := lifecycleAuth(t, func(c *core.Config) {
		c.RateLimits.LoginPerAccount = core.Limit{Max: 3, Window: time.Hour}
		c.Hooks.OnLoginFailed = func(context.Context, core.Event) { failed.Add(1) }
		c.Hooks.OnPasswordChanged = func(_ context.Context, e core.Event) { changed.Add(int64(e.Sessions)) }
	})
	ctx := context.Background()
	register(t, users, "change@example.com")
	login := func(pw string) (*core.TokenPair, error) { return a.Login(ctx, "change@example.com", pw, client) }
	mine, _ := login("the password")
	other1, _ := login("the password")
	other2, _ := login("the password")
	claims := must(a.Verify(ctx, mine.AccessToken))
	for _, tc := range []struct {
		current, next string
		want          error
	}{
		{"", "a new password", core.ErrInvalidRequest},
		{"the password", "short", core.ErrInvalidRequest},
		{"the password", strings.Repeat("p", 1025), core.ErrInvalidRequest},
		{strings.Repeat("p", 1025), "a new password", core.ErrInvalidRequest},
	} {
		if err := a.ChangePassword(ctx, claims, tc.current, tc.next, client); !errors.Is(err, tc.want) {
			t.Fatalf("ChangePassword(%.10q, %.10q): %v, want %v", tc.current, tc.next, err, tc.want)
		}
	}
	if err := a.ChangePassword(ctx, claims, "wrong password", "a new password", client); !errors.Is(err, core.ErrInvalidCredentials) {
		t.Fatalf("a wrong current password: %v", err)
	}
	if failed.Load() != 1 {
		t.Fatalf("OnLoginFailed fired %d times", failed.Load())
	}
	if err := a.ChangePassword(ctx, claims, "the password", "a new password", client); err != nil {
		t.Fatalf("ChangePassword: %v", err)
	}
	if _, err := a.Verify(ctx, mine.AccessToken); err != nil {
		t.Fatalf("the caller's session after the change: %v", err)
	}
	for _, p := range []*core.TokenPair{other1, other2} {
		if _, err := a.Verify(ctx, p.AccessToken); !errors.Is(err, core.ErrTokenRevoked) {
			t.Fatalf("another session after the change: %v", err)
		}
	}
	if changed.Load() != 2 {
		t.Fatalf("OnPasswordChanged reported %d sessions ended, want 2", changed.Load())
	}
	if _, err := login("the password"); !errors.Is(err, core.ErrInvalidCredentials) {
		t.Fatalf("the old password: %v", err)
	}
	if _, err := login("a new password"); err != nil {
		t.Fatalf("the new password: %v", err)
	}
	// Three wrong current passwords lock the account like three failed
	// logins: the right password then gets 429 too.
	for range 3 {
		a.ChangePassword(ctx, claims, "wrong password", "another password", client)
	}
	wantLimited(t, "login after three wrong current passwords", func() error { _, err := login("a new password"); return err }(), time.Hour)
	wantLimited(t, "change with the right password while limited", a.ChangePassword(ctx, claims, "a new password", "another password", client), time.Hour)

	// Without an AccountStore the route is off.
	plain := newAuth(t, nil)
	if err := plain.ChangePassword(ctx, claims, "a", "b", client); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("ChangePassword without an AccountStore: %v", err)
	}
}

// blockingUsers holds Authenticate until release is closed, while it holds
// a hashing slot.
type blockingUsers struct {
	*memstore.Users
	entered chan struct{}
	release chan struct{}
}

func (u *blockingUsers) Authenticate(ctx context.Context, email, password string) (core.User, error) {
	u.entered <- struct{}{}
	<-u.release
	return u.Users.Authenticate(ctx, email, password)
}

// TestResetPasswordSparesTheToken: a refused new password, or a server too
// busy to hash, leaves the reset link usable; the reset ends every session
// and marks the address verified.
func TestResetPasswordSparesTheToken(t *testing.T) {
	users := &blockingUsers{Users: memstore.NewUsers(cheap), entered: make(chan struct{}, 1), release: make(chan struct{})}
	var reset atomic.Int64
	a, _, _ := lifecycleAuth(t, func(c *core.Config) {
		c.Users = users
		c.MaxConcurrentHashes, c.MaxHashWait = 1, 50*time.Millisecond
		c.Hooks.OnPasswordReset = func(_ context.Context, e core.Event) { reset.Add(int64(e.Sessions)) }
	})
	ctx := context.Background()
	u := register(t, users.Users, "spare@example.com")
	p1 := must(a.IssueSession(ctx, u, client))
	p2 := must(a.IssueSession(ctx, u, client))
	tok, err := a.NewLinkToken(ctx, u.ID, core.PurposePasswordReset, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, pw := range []string{"short", strings.Repeat("p", 1025)} {
		if err := a.ResetPassword(ctx, tok, pw); !errors.Is(err, core.ErrInvalidRequest) {
			t.Fatalf("ResetPassword with %d bytes: %v", len(pw), err)
		}
	}
	// A login holds the only hashing slot.
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.Login(ctx, "spare@example.com", "the password", client)
	}()
	<-users.entered
	if err := a.ResetPassword(ctx, tok, "a new password"); !errors.Is(err, core.ErrServerBusy) {
		t.Fatalf("ResetPassword with no hashing slot: %v", err)
	}
	close(users.release)
	<-done
	if err := a.ResetPassword(ctx, tok, "a new password"); err != nil {
		t.Fatalf("ResetPassword after the refusals: %v", err)
	}
	for _, p := range []*core.TokenPair{p1, p2} {
		if _, err := a.Verify(ctx, p.AccessToken); !errors.Is(err, core.ErrTokenRevoked) {
			t.Fatalf("a session after the reset: %v", err)
		}
	}
	if reset.Load() != 3 { // p1, p2 and the login's
		t.Fatalf("OnPasswordReset reported %d sessions ended, want 3", reset.Load())
	}
	if got, _ := users.User(ctx, u.ID); !got.EmailVerified {
		t.Fatal("a reset by mailed link did not verify the address")
	}
	if err := a.ResetPassword(ctx, tok, "another password"); !errors.Is(err, core.ErrInvalidGrant) {
		t.Fatalf("the same token again: %v", err)
	}
	users.entered = make(chan struct{}, 10)
	if _, err := users.Users.Authenticate(ctx, "spare@example.com", "a new password"); err != nil {
		t.Fatalf("the reset password: %v", err)
	}
}

// TestLoginRefusals: a disabled account is refused with 403
// account_disabled after the right password (a wrong one is still 401);
// with RequireVerifiedEmail an unverified one with 403 email_not_verified;
// IssueSession refuses a disabled user.
func TestLoginRefusals(t *testing.T) {
	a, users, _ := lifecycleAuth(t, func(c *core.Config) { c.RequireVerifiedEmail = true })
	ctx := context.Background()
	u := register(t, users, "refuse@example.com")
	login := func(pw string) error { _, err := a.Login(ctx, u.Email, pw, client); return err }
	if err := login("the password"); !errors.Is(err, core.ErrEmailNotVerified) {
		t.Fatalf("an unverified login: %v", err)
	}
	if r := core.ErrorResponse(core.ErrEmailNotVerified); r.Status != 403 {
		t.Fatalf("email_not_verified is %d", r.Status)
	}
	users.SetEmailVerified(ctx, u.ID)
	if err := login("the password"); err != nil {
		t.Fatalf("a verified login: %v", err)
	}
	if err := a.DisableUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if err := login("the password"); !errors.Is(err, core.ErrAccountDisabled) {
		t.Fatalf("a disabled login: %v", err)
	}
	if err := login("wrong password"); !errors.Is(err, core.ErrInvalidCredentials) {
		t.Fatalf("a disabled account's wrong password: %v", err)
	}
	got, _ := users.User(ctx, u.ID)
	if _, err := a.IssueSession(ctx, got, client); !errors.Is(err, core.ErrAccountDisabled) {
		t.Fatalf("IssueSession of a disabled user: %v", err)
	}
	if err := a.EnableUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if err := login("the password"); err != nil {
		t.Fatalf("login after enabling: %v", err)
	}
	// Without RequireVerifiedEmail an unverified account logs in.
	b, busers, _ := lifecycleAuth(t, nil)
	register(t, busers, "lax@example.com")
	if _, err := b.Login(ctx, "lax@example.com", "the password", client); err != nil {
		t.Fatalf("an unverified login without RequireVerifiedEmail: %v", err)
	}
}

// TestVerifiedEmailRule: the rule behind every adapter's
// RequireVerifiedEmail.
func TestVerifiedEmailRule(t *testing.T) {
	rule := core.VerifiedEmail()
	if err := rule(nil); !errors.Is(err, core.ErrMissingToken) {
		t.Fatalf("no claims: %v", err)
	}
	if err := rule(&core.Claims{Subject: "u"}); !errors.Is(err, core.ErrEmailNotVerified) {
		t.Fatalf("unverified: %v", err)
	}
	if err := rule(&core.Claims{Subject: "u", EmailVerified: true}); err != nil {
		t.Fatalf("verified: %v", err)
	}
}

func TestNeedsRehash(t *testing.T) {
	weak := &core.PasswordHasher{Params: core.PasswordParams{Time: 1, MemoryKiB: 64, Threads: 1}}
	strong := &core.PasswordHasher{Params: core.PasswordParams{Time: 2, MemoryKiB: 64, Threads: 1}}
	h := must(weak.Hash("password"))
	if weak.NeedsRehash(h) {
		t.Fatal("a hash with the hasher's own parameters needs a rehash")
	}
	if !strong.NeedsRehash(h) {
		t.Fatal("a hash with fewer iterations does not need a rehash")
	}
	for _, bad := range []string{"", "$2a$10$bcrypt", strings.Replace(h, "argon2id", "argon2i", 1)} {
		if !weak.NeedsRehash(bad) {
			t.Fatalf("%q does not need a rehash", bad)
		}
	}
	// A hash with a shorter key than Hash makes.
	parts := strings.Split(h, "$")
	parts[5] = parts[5][:20]
	if !weak.NeedsRehash(strings.Join(parts, "$")) {
		t.Fatal("a hash with a short key does not need a rehash")
	}
	if (&core.PasswordHasher{}).NeedsRehash(must((&core.PasswordHasher{}).Hash("p"))) {
		t.Fatal("the default hasher wants to rehash its own hash")
	}
}

// TestLifecycleSettings: New refuses a Mailer without a usable AppURL or
// without stores that keep accounts and link tokens.
func TestLifecycleSettings(t *testing.T) {
	base := func(c *core.Config) { c.Users, c.Mailer, c.AppURL = memstore.NewUsers(cheap), &mailbox{}, appURL }
	for name, tc := range map[string]struct {
		mod  func(*core.Config)
		want string
	}{
		"no AppURL":         {func(c *core.Config) { c.AppURL = "" }, "Config.AppURL"},
		"relative AppURL":   {func(c *core.Config) { c.AppURL = "/app" }, "Config.AppURL"},
		"AppURL with query": {func(c *core.Config) { c.AppURL = appURL + "?x=1" }, "Config.AppURL"},
		"ftp AppURL":        {func(c *core.Config) { c.AppURL = "ftp://example.com" }, "Config.AppURL"},
		"no AccountStore":   {func(c *core.Config) { c.Users = plainUsers{} }, "core.AccountStore"},
		"negative queue":    {func(c *core.Config) { c.MailQueue = -1 }, "MailQueue"},
		"negative limit": {func(c *core.Config) {
			c.RateLimits.ForgotPerIP = core.Limit{Max: -1}
		}, "ForgotPerIP"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := core.Config{Store: memstore.New(), AccessKeys: []core.Key{hmacKey(t)}, RefreshSecret: refreshSecret}
			base(&cfg)
			tc.mod(&cfg)
			if _, err := core.New(cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v; want an error about %s", err, tc.want)
			}
		})
	}
	a := newAuth(t, base)
	if _, err := core.New(core.Config{Store: memstore.New(), AccessKeys: []core.Key{hmacKey(t)}, RefreshSecret: refreshSecret, Mailer: &mailbox{}, AppURL: appURL + "/",
		Users: memstore.NewUsers(cheap)}); err != nil || a == nil {
		t.Fatalf("control: %v", err)
	}
}

type plainUsers struct{ core.UserStore }

// lroute returns a's route method path.
func lroute(t testing.TB, a *core.Auth, method, path string) core.Route {
	t.Helper()
	for _, r := range a.Routes() {
		if r.Method == method && r.Path == path {
			return r
		}
	}
	t.Fatalf("no route %s %s", method, path)
	return core.Route{}
}

func jsonRequest(v any) *core.Request {
	b, _ := json.Marshal(v)
	return &core.Request{ContentType: "application/json", Body: b, Client: client}
}

// TestLifecycleRoutes drives the routes without HTTP: each answers core's
// statuses and bodies; the admin routes want the admin role and answer 404
// for an unknown user; without a Mailer the mail routes are off.
func TestLifecycleRoutes(t *testing.T) {
	a, users, mail := lifecycleAuth(t, nil)
	ctx := context.Background()
	u := register(t, users, "routes@example.com", "user")
	adm := register(t, users, "root@example.com", "admin")
	mine := must(a.IssueSession(ctx, u, client))
	other := must(a.IssueSession(ctx, u, client))
	admin := must(a.IssueSession(ctx, adm, client))
	call := func(method, path, id, token string, body any) *core.Response {
		t.Helper()
		req := &core.Request{Token: token, ID: id, Client: client}
		if body != nil {
			req = jsonRequest(body)
			req.Token, req.ID = token, id
		}
		return lroute(t, a, method, path).Handle(ctx, req)
	}
	want := func(what string, r *core.Response, status int, err error) {
		t.Helper()
		if r.Status != status || (err != nil && !bytes.Equal(r.Body, core.ErrorResponse(err).Body)) {
			t.Fatalf("%s: %d %s; want %d %v", what, r.Status, r.Body, status, err)
		}
	}
	// /me shows email_verified.
	var me map[string]any
	json.Unmarshal(call("GET", "/me", "", mine.AccessToken, nil).Body, &me)
	if v, ok := me["email_verified"].(bool); !ok || v {
		t.Fatalf("/me %v: want email_verified false", me)
	}

	want("verify/send without a token", call("POST", "/email/verify/send", "", "", nil), 401, core.ErrMissingToken)
	r := call("POST", "/email/verify/send", "", mine.AccessToken, nil)
	want("verify/send", r, 202, nil)
	if string(r.Body) != "{}" {
		t.Fatalf("verify/send body %s", r.Body)
	}
	vt := mail.token(t, a, u.Email, core.MailEmailVerification)
	if m := mail.all()[0]; !strings.Contains(m.Text, appURL+"/verify-email?token="+vt) {
		t.Fatalf("verification mail text %q", m.Text)
	}
	want("verify missing token", call("POST", "/email/verify", "", "", map[string]string{}), 400, nil)
	want("verify garbage", call("POST", "/email/verify", "", "", map[string]string{"token": "garbage"}), 400, core.ErrInvalidGrant)
	want("verify", call("POST", "/email/verify", "", "", map[string]string{"token": vt}), 204, nil)
	want("verify again", call("POST", "/email/verify", "", "", map[string]string{"token": vt}), 400, core.ErrInvalidGrant)
	// A new login carries it.
	fresh := must(a.Login(ctx, u.Email, "the password", client))
	json.Unmarshal(call("GET", "/me", "", fresh.AccessToken, nil).Body, &me)
	if me["email_verified"] != true {
		t.Fatalf("/me after verification %v", me)
	}

	want("forgot bad email", call("POST", "/password/forgot", "", "", map[string]string{"email": "nope"}), 400, nil)
	want("forgot no email", call("POST", "/password/forgot", "", "", map[string]string{}), 400, nil)
	want("reset no password", call("POST", "/password/reset", "", "", map[string]string{"token": "x"}), 400, nil)
	want("reset garbage", call("POST", "/password/reset", "", "", map[string]string{"token": "garbage", "new_password": "a new password"}), 400, core.ErrInvalidGrant)
	want("change no body", call("POST", "/password", "", mine.AccessToken, map[string]string{}), 400, nil)
	want("change wrong", call("POST", "/password", "", mine.AccessToken, map[string]string{"current_password": "wrong password", "new_password": "a new password"}), 401, core.ErrInvalidCredentials)
	want("change", call("POST", "/password", "", mine.AccessToken, map[string]string{"current_password": "the password", "new_password": "a new password"}), 204, nil)
	want("other session after change", call("GET", "/me", "", other.AccessToken, nil), 401, core.ErrTokenRevoked)
	want("caller after change", call("GET", "/me", "", mine.AccessToken, nil), 200, nil)

	again := must(a.Login(ctx, u.Email, "a new password", client))
	want("logout-others", call("POST", "/logout-others", "", mine.AccessToken, nil), 204, nil)
	want("after logout-others", call("GET", "/me", "", again.AccessToken, nil), 401, core.ErrTokenRevoked)
	want("caller after logout-others", call("GET", "/me", "", mine.AccessToken, nil), 200, nil)

	for _, rt := range []struct{ method, path string }{{"GET", "/users/:id/sessions"}, {"POST", "/users/:id/disable"}, {"POST", "/users/:id/enable"}} {
		want(rt.path+" as a user", call(rt.method, rt.path, u.ID, mine.AccessToken, nil), 403, core.ErrForbidden)
		want(rt.path+" without a token", call(rt.method, rt.path, u.ID, "", nil), 401, core.ErrMissingToken)
		for _, id := range []string{"nobody", "", "has space", strings.Repeat("x", 200)} {
			want(rt.path+" of "+id, call(rt.method, rt.path, id, admin.AccessToken, nil), 404, core.ErrNotFound)
		}
	}
	r = call("GET", "/users/:id/sessions", u.ID, admin.AccessToken, nil)
	var list struct {
		Sessions []core.SessionInfo `json:"sessions"`
	}
	if r.Status != 200 || json.Unmarshal(r.Body, &list) != nil || len(list.Sessions) != 1 || list.Sessions[0].ID != mine.SessionID || list.Sessions[0].Current {
		t.Fatalf("user sessions: %d %s", r.Status, r.Body)
	}
	want("disable", call("POST", "/users/:id/disable", u.ID, admin.AccessToken, nil), 204, nil)
	want("a disabled user's token", call("GET", "/me", "", mine.AccessToken, nil), 401, core.ErrTokenRevoked)
	want("login of a disabled user", lroute(t, a, "POST", "/login").Handle(ctx, jsonRequest(map[string]string{"email": u.Email, "password": "a new password"})), 403, core.ErrAccountDisabled)
	want("enable", call("POST", "/users/:id/enable", u.ID, admin.AccessToken, nil), 204, nil)
	want("login after enable", lroute(t, a, "POST", "/login").Handle(ctx, jsonRequest(map[string]string{"email": u.Email, "password": "a new password"})), 200, nil)

	// Without a Mailer, the mail routes answer 404; the others work.
	off := newAuth(t, func(c *core.Config) { c.Users = users })
	offToken := must(off.IssueSession(ctx, u, client)).AccessToken
	for _, p := range []string{"/password/forgot", "/email/verify/send"} {
		r := lroute(t, off, "POST", p).Handle(ctx, &core.Request{ContentType: "application/json", Body: []byte(`{"email":"routes@example.com"}`), Token: offToken})
		if r.Status != 404 {
			t.Fatalf("%s without a Mailer: %d %s", p, r.Status, r.Body)
		}
	}
}

// disablingUsers disables the account right after a successful password
// check, before Login opens the session: the race of a login with
// DisableUser, made deterministic.
type disablingUsers struct{ *memstore.Users }

func (u disablingUsers) Authenticate(ctx context.Context, email, password string) (core.User, error) {
	got, err := u.Users.Authenticate(ctx, email, password)
	if err == nil {
		u.Users.SetDisabled(ctx, got.ID, true)
	}
	return got, err // the user as it was when checked: enabled
}

// TestLoginRacingDisable: a login whose password check saw the account
// enabled, but which opens its session after the account was disabled, is
// refused with account_disabled and leaves no session.
func TestLoginRacingDisable(t *testing.T) {
	users := memstore.NewUsers(cheap)
	a, _, _ := lifecycleAuth(t, func(c *core.Config) { c.Users = disablingUsers{users} })
	ctx := context.Background()
	u := register(t, users, "race@example.com")
	if _, err := a.Login(ctx, u.Email, "the password", client); !errors.Is(err, core.ErrAccountDisabled) {
		t.Fatalf("a login racing a disable: %v, want account_disabled", err)
	}
	if list, err := a.Sessions(ctx, u.ID, ""); err != nil || len(list) != 0 {
		t.Fatalf("sessions after the refused login: %+v, %v", list, err)
	}
}
