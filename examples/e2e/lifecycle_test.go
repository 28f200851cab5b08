package e2e

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authenik8/authenik8-go/conformance/redistest"
	"github.com/authenik8/authenik8-go/conformance/smtptest"
)

// appURL is the APP_URL the account tests give the servers.
const appURL = "http://app.test"

// mailWait bounds how long a mail may take from the answer to the inbox.
const mailWait = 10 * time.Second

// TestPasswordResetByMail: against each example with SMTP_URL naming a real
// SMTP server (aiosmtpd, with STARTTLS and AUTH): forgot → a mail arrives,
// over TLS and authenticated → reset with its token → 204; the old password
// and every old refresh token are refused, the old access tokens too; the
// same token again → 400 invalid_grant; forgot for an unknown email → the
// same 202, and no mail. The SMTP password never reaches the log.
func TestPasswordResetByMail(t *testing.T) {
	const smtpPassword = "smtp-pass-Zq8"
	mail := smtptest.Start(t, smtptest.Options{STARTTLS: true, User: "a8", Password: smtpPassword})
	for _, fw := range frameworks {
		t.Run(fw, func(t *testing.T) {
			s := start(t, fw, "SMTP_URL="+mail.URL(), "SSL_CERT_FILE="+mail.CertFile(), "MAIL_FROM=Acme <no-reply@acme.example>", "APP_URL="+appURL)
			if !strings.Contains(s.Logs(), "mail: SMTP") || strings.Contains(s.Logs(), smtpPassword) || strings.Contains(s.Logs(), "SMTP_URL unset") {
				t.Fatalf("%s's log on SMTP:\n%s", fw, s.Logs())
			}
			email, sentinel := "reset-"+fw+"@example.com", "sentinel-"+fw+"@example.com"
			registerOn(t, s, email)
			registerOn(t, s, sentinel)
			one, two := loginOn(t, s, email), loginOn(t, s, email)

			known := postJSON(t, s.URL+"/auth/password/forgot", "", `{"email":"`+email+`"}`)
			unknown := postJSON(t, s.URL+"/auth/password/forgot", "", `{"email":"nobody-`+fw+`@example.com"}`)
			if known.Status != 202 || known.Body != "{}" || fmt.Sprint(known) != fmt.Sprint(unknown) {
				t.Fatalf("forgot: known %+v, unknown %+v; want the same 202 {}", known, unknown)
			}
			m := mail.WaitFor(t, email, 1, mailWait)
			token := m.Token(appURL + "/reset-password")
			if token == "" || !m.TLS || m.Auth != "a8" || m.From != "no-reply@acme.example" || m.Subject == "" {
				t.Fatalf("the reset mail: token %q, TLS %v, AUTH %q, from %q, subject %q\n%s", token, m.TLS, m.Auth, m.From, m.Subject, m.Text)
			}
			reset := func(pw string) answer {
				return postJSON(t, s.URL+"/auth/password/reset", "", `{"token":"`+token+`","new_password":"`+pw+`"}`)
			}
			if a := reset("short"); a.Status != 400 || !strings.Contains(a.Body, "invalid_request") {
				t.Fatalf("reset with a short password: %+v", a)
			}
			if a := reset("a brand new password"); a.Status != 204 {
				t.Fatalf("reset: %+v", a)
			}
			if a := reset("yet another password"); a.Status != 400 || !strings.Contains(a.Body, `"invalid_grant"`) {
				t.Fatalf("the same token again: %+v", a)
			}
			if a := postJSON(t, s.URL+"/auth/login", "", `{"email":"`+email+`","password":"correct horse battery"}`); a.Status != 401 || !strings.Contains(a.Body, "invalid_credentials") {
				t.Fatalf("the old password: %+v", a)
			}
			for _, p := range []pair{one, two} {
				if a := postJSON(t, s.URL+"/auth/refresh", "", `{"refresh_token":"`+p.RefreshToken+`"}`); a.Status != 401 || !strings.Contains(a.Body, "invalid_refresh_token") {
					t.Fatalf("an old refresh token: %+v", a)
				}
				if a := call(t, "GET", s.URL+"/api/profile", p.AccessToken, "", ""); a.Status != 401 || !strings.Contains(a.Body, "token_revoked") {
					t.Fatalf("an old access token: %+v", a)
				}
			}
			if a := postJSON(t, s.URL+"/auth/login", "", `{"email":"`+email+`","password":"a brand new password"}`); a.Status != 200 {
				t.Fatalf("the new password: %+v", a)
			}
			// No mail for the unknown address: a later mail (the sentinel's)
			// arrives, and still nothing for it.
			postJSON(t, s.URL+"/auth/password/forgot", "", `{"email":"`+sentinel+`"}`)
			mail.WaitFor(t, sentinel, 1, mailWait)
			time.Sleep(200 * time.Millisecond)
			if got := mail.To(t, "nobody-"+fw+"@example.com"); len(got) != 0 {
				t.Fatalf("%d mails to an address without an account", len(got))
			}
			if got := mail.To(t, email); len(got) != 1 {
				t.Fatalf("%d mails to %s, want 1", len(got), email)
			}
		})
	}
}

// TestChangePasswordKeepsCaller: on each example, a password change leaves
// the caller's session alive and ends the user's others, at once.
func TestChangePasswordKeepsCaller(t *testing.T) {
	for _, fw := range frameworks {
		t.Run(fw, func(t *testing.T) {
			s := start(t, fw)
			email := "change-" + fw + "@example.com"
			registerOn(t, s, email)
			mine, other := loginOn(t, s, email), loginOn(t, s, email)
			if a := postJSON(t, s.URL+"/auth/password", mine.AccessToken, `{"current_password":"wrong password","new_password":"a new password"}`); a.Status != 401 || !strings.Contains(a.Body, "invalid_credentials") {
				t.Fatalf("a wrong current password: %+v", a)
			}
			if a := postJSON(t, s.URL+"/auth/password", mine.AccessToken, `{"current_password":"correct horse battery","new_password":"a new password"}`); a.Status != 204 {
				t.Fatalf("change: %+v", a)
			}
			if a := call(t, "GET", s.URL+"/api/profile", mine.AccessToken, "", ""); a.Status != 200 {
				t.Fatalf("the caller after the change: %+v", a)
			}
			if a := postJSON(t, s.URL+"/auth/refresh", "", `{"refresh_token":"`+mine.RefreshToken+`"}`); a.Status != 200 {
				t.Fatalf("the caller's refresh after the change: %+v", a)
			}
			if a := call(t, "GET", s.URL+"/api/profile", other.AccessToken, "", ""); a.Status != 401 || !strings.Contains(a.Body, "token_revoked") {
				t.Fatalf("the other session after the change: %+v", a)
			}
			if a := postJSON(t, s.URL+"/auth/refresh", "", `{"refresh_token":"`+other.RefreshToken+`"}`); a.Status != 401 {
				t.Fatalf("the other session's refresh after the change: %+v", a)
			}
		})
	}
}

// TestDisableAcrossProcesses: three processes on one Redis; an admin
// disables a user through one of them. That process refuses the user's
// live access token at once (401 token_revoked); the others within p50
// 10 ms and p99 50 ms (HTTP polling included, as for logout); the user's
// login then gets 403 account_disabled on every process, their refresh
// 401; enabled again, they log in.
func TestDisableAcrossProcesses(t *testing.T) {
	const (
		rounds = 30 // two peers each: 60 trials
		p50Max = 10 * time.Millisecond
		p99Max = 50 * time.Millisecond
	)
	servers := sharedEnvOn(t, redistest.Start(t).URL(), "SEED_ADMIN_EMAIL=root@example.com", "SEED_ADMIN_PASSWORD=correct horse battery", "RATE_LIMITS=register_ip=1000/1h")
	admin := loginOn(t, servers[0], "root@example.com")
	var lat []time.Duration
	for round := range rounds {
		email := fmt.Sprintf("disabled-%d@example.com", round)
		registerOn(t, servers[round%3], email)
		p := loginOn(t, servers[round%3], email)
		var me struct{ Sub string }
		json.Unmarshal([]byte(call(t, "GET", servers[0].URL+"/auth/me", p.AccessToken, "", "").Body), &me)
		for _, s := range servers { // every process has the session cached as alive
			if a := call(t, "GET", s.URL+"/api/profile", p.AccessToken, "", ""); a.Status != 200 {
				t.Fatalf("profile on %s: %+v", s.Name, a)
			}
		}
		by := servers[(round+1)%3]
		if a := call(t, "POST", by.URL+"/auth/users/"+me.Sub+"/disable", admin.AccessToken, "", ""); a.Status != 204 {
			t.Fatalf("disable on %s: %+v", by.Name, a)
		}
		disabled := time.Now()
		if a := call(t, "GET", by.URL+"/api/profile", p.AccessToken, "", ""); a.Status != 401 || !strings.Contains(a.Body, "token_revoked") {
			t.Fatalf("after disable on %s, it answers %+v", by.Name, a)
		}
		lat = append(lat, untilRevoked(t, servers, by, p.AccessToken, disabled, "disable")...)
		if round%10 == 0 {
			for _, s := range servers {
				a := postJSON(t, s.URL+"/auth/login", "", `{"email":"`+email+`","password":"correct horse battery"}`)
				if a.Status != 403 || !strings.Contains(a.Body, `"account_disabled"`) {
					t.Fatalf("login of a disabled user on %s: %+v", s.Name, a)
				}
				if a := postJSON(t, s.URL+"/auth/refresh", "", `{"refresh_token":"`+p.RefreshToken+`"}`); a.Status != 401 {
					t.Fatalf("refresh of a disabled user on %s: %+v", s.Name, a)
				}
			}
			if a := call(t, "POST", servers[2].URL+"/auth/users/"+me.Sub+"/enable", admin.AccessToken, "", ""); a.Status != 204 {
				t.Fatalf("enable: %+v", a)
			}
			loginOn(t, servers[0], email)
		}
	}
	slices.Sort(lat)
	p50, p99 := percentile(lat, 50), percentile(lat, 99)
	t.Logf("disable seen by the other processes (HTTP polling included): n=%d p50=%v p99=%v max=%v", len(lat), p50, p99, lat[len(lat)-1])
	if len(lat) < 2*rounds || p50 >= p50Max || p99 >= p99Max {
		t.Errorf("n=%d p50=%v p99=%v: want %d trials, p50 < %v and p99 < %v", len(lat), p50, p99, 2*rounds, p50Max, p99Max)
	}
}

// TestLogMailerWarns: without SMTP_URL the examples write the mail, link
// included, to their log, and say that this is for development.
func TestLogMailerWarns(t *testing.T) {
	for _, fw := range frameworks {
		s := start(t, fw, "APP_URL="+appURL)
		if !strings.Contains(s.Logs(), "SMTP_URL unset") || !strings.Contains(s.Logs(), "for development only") {
			t.Fatalf("%s without SMTP_URL does not warn:\n%s", fw, s.Logs())
		}
		registerOn(t, s, "logged@example.com")
		if a := postJSON(t, s.URL+"/auth/password/forgot", "", `{"email":"logged@example.com"}`); a.Status != 202 {
			t.Fatalf("forgot: %+v", a)
		}
		deadline := time.Now().Add(mailWait)
		for !strings.Contains(s.Logs(), appURL+"/reset-password?token=") {
			if time.Now().After(deadline) {
				t.Fatalf("%s: no reset link in the log:\n%s", fw, s.Logs())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}
