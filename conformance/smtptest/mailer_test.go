package smtptest_test

// core/mailer against a real SMTP server: these tests live beside the
// server they start, because core's own tests may not import the
// conformance module (it requires core).

import (
	"bytes"
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/authenik8/authenik8-go/conformance/smtptest"
	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/core/mailer"
)

const link = "https://app.example.com/reset-password?token=AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbCdEfGhIjKlMnOpQrStUvWxYz"

func resetMail(to string) core.Mail {
	return core.Mail{To: to, Subject: "Reset your password", Kind: core.MailPasswordReset, Link: link,
		Text: "Open this link within 30 minutes:\r\n\r\n" + link + "\r\n\r\nThe link works once.\r\n"}
}

func send(t *testing.T, m core.Mailer, mail core.Mail) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return m.Send(ctx, mail)
}

// TestSMTPPlain: a plain server gets the mail: envelope, headers, and the
// link whole on its own line of the raw message (7bit).
func TestSMTPPlain(t *testing.T) {
	srv := smtptest.Start(t)
	m, err := mailer.NewSMTP(srv.URL(), mailer.Options{From: "Acme <no-reply@acme.example>"})
	if err != nil {
		t.Fatal(err)
	}
	if err := send(t, m, resetMail("ada@example.com")); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := srv.WaitFor(t, "ada@example.com", 1, 5*time.Second)
	if got.From != "no-reply@acme.example" || got.Subject != "Reset your password" || got.TLS || got.Auth != "" ||
		got.Header.Get("From") != `"Acme" <no-reply@acme.example>` || got.Header.Get("To") != "<ada@example.com>" ||
		got.Header.Get("Message-ID") == "" || got.Header.Get("Date") == "" {
		t.Fatalf("message %+v", got)
	}
	if got.Link("https://app.example.com/reset-password?token=") != link || !bytes.Contains(got.Raw, []byte("\r\n"+link+"\r\n")) {
		t.Fatalf("the link is not whole in the message:\n%s", got.Raw)
	}
	if got.Token("https://app.example.com/reset-password") != strings.TrimPrefix(link, "https://app.example.com/reset-password?token=") {
		t.Fatalf("token %q", got.Token("https://app.example.com/reset-password"))
	}
}

// TestSMTPStartTLSAndAuth: against a server that offers STARTTLS and
// requires AUTH, the mailer encrypts first and then authenticates with the
// URL's credentials; a wrong password fails, and the error does not show
// it; an untrusted certificate fails closed.
func TestSMTPStartTLSAndAuth(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{STARTTLS: true, User: "mailer", Password: "s3cret-pass"})
	trust := &tls.Config{RootCAs: srv.RootCAs()}
	m, err := mailer.NewSMTP(srv.URL(), mailer.Options{From: "no-reply@acme.example", TLSConfig: trust})
	if err != nil {
		t.Fatal(err)
	}
	if err := send(t, m, resetMail("tls@example.com")); err != nil {
		t.Fatalf("Send over STARTTLS with AUTH: %v", err)
	}
	if got := srv.WaitFor(t, "tls@example.com", 1, 5*time.Second); !got.TLS || got.Auth != "mailer" || got.Link("https://") != link {
		t.Fatalf("message: TLS %v, auth %q, link %q", got.TLS, got.Auth, got.Link("https://"))
	}

	wrong := strings.Replace(srv.URL(), "s3cret-pass", "wrong-pass", 1)
	m, _ = mailer.NewSMTP(wrong, mailer.Options{From: "no-reply@acme.example", TLSConfig: trust})
	err = send(t, m, resetMail("wrong@example.com"))
	if err == nil || strings.Contains(err.Error(), "wrong-pass") || !strings.Contains(err.Error(), "xxxxx") {
		t.Fatalf("a wrong password: %v; want an error with the URL redacted", err)
	}
	// Without AUTH the server refuses the mail.
	anon, _ := mailer.NewSMTP("smtp://"+srv.Addr, mailer.Options{From: "no-reply@acme.example", TLSConfig: trust})
	if err := send(t, anon, resetMail("anon@example.com")); err == nil {
		t.Fatal("a mail without AUTH was accepted by a server that requires it")
	}
	// The system roots do not trust the test's certificate.
	untrusted, _ := mailer.NewSMTP(srv.URL(), mailer.Options{From: "no-reply@acme.example"})
	if err := send(t, untrusted, resetMail("untrusted@example.com")); err == nil || strings.Contains(err.Error(), "s3cret-pass") {
		t.Fatalf("an untrusted certificate: %v", err)
	}
	if n := len(srv.Messages(t)); n != 1 {
		t.Fatalf("%d messages delivered, want only the first", n)
	}
}

// TestSMTPCredentialsNeedAUTH: with credentials in the URL and a server
// that offers no AUTH (aiosmtpd offers it only over TLS), nothing is sent
// and the error says why.
func TestSMTPCredentialsNeedAUTH(t *testing.T) {
	srv := smtptest.Start(t)
	m, err := mailer.NewSMTP("smtp://user:pw-secret@"+srv.Addr, mailer.Options{From: "no-reply@acme.example"})
	if err != nil {
		t.Fatal(err)
	}
	err = send(t, m, resetMail("cred@example.com"))
	if err == nil || !strings.Contains(err.Error(), "no AUTH") || strings.Contains(err.Error(), "pw-secret") {
		t.Fatalf("Send: %v", err)
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(srv.Messages(t)); n != 0 {
		t.Fatalf("%d messages delivered", n)
	}
}

// TestSMTPHTMLAndUnicode: a mail with an HTML alternative and non-ASCII
// text arrives decoded as sent.
func TestSMTPHTMLAndUnicode(t *testing.T) {
	srv := smtptest.Start(t)
	m, _ := mailer.NewSMTP(srv.URL(), mailer.Options{From: "Zoë <no-reply@acme.example>"})
	text := "Grüße, Zoë — open " + link + "\r\n" + strings.Repeat("long line ", 150) + "\r\n"
	html := `<p>Grüße — <a href="` + link + `">reset</a></p>`
	if err := send(t, m, core.Mail{To: "zoe@example.com", Subject: "Réinitialiser", Text: text, HTML: html}); err != nil {
		t.Fatal(err)
	}
	got := srv.WaitFor(t, "zoe@example.com", 1, 5*time.Second)
	if got.Subject != "Réinitialiser" || got.Text != text || got.HTML != html {
		t.Fatalf("subject %q\ntext %q\nhtml %q", got.Subject, got.Text, got.HTML)
	}
}

// TestSMTPTimeout: a server that never answers costs at most the timeout;
// so does one that ctx gives up on.
func TestSMTPTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close() // accepted, never greeted
		}
	}()
	m, _ := mailer.NewSMTP("smtp://"+l.Addr().String(), mailer.Options{From: "a@b.example", Timeout: 300 * time.Millisecond})
	start := time.Now()
	if err := m.Send(context.Background(), resetMail("x@example.com")); err == nil {
		t.Fatal("a silent server: no error")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("a silent server held Send %v with a 300ms timeout", d)
	}
	m, _ = mailer.NewSMTP("smtp://"+l.Addr().String(), mailer.Options{From: "a@b.example", Timeout: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start = time.Now()
	if err := m.Send(ctx, resetMail("x@example.com")); err == nil || time.Since(start) > 2*time.Second {
		t.Fatalf("a silent server with a 300ms context: %v after %v", err, time.Since(start))
	}
}

// TestNewSMTPRefuses: malformed settings are refused at construction, the
// password never shown; headers cannot be injected.
func TestNewSMTPRefuses(t *testing.T) {
	for name, tc := range map[string]struct{ url, from string }{
		"http scheme":       {"http://u:topsecret@mail.example:25", "a@b.example"},
		"no host":           {"smtp://u:topsecret@:25", "a@b.example"},
		"path":              {"smtp://u:topsecret@mail.example:25/x", "a@b.example"},
		"no from":           {"smtp://u:topsecret@mail.example:25", ""},
		"bad from":          {"smtp://u:topsecret@mail.example:25", "not an address"},
		"stray at":          {"smtp://u:top/secret@mail.example:25", "a@b.example"},
		"query":             {"smtp://u:topsecret@mail.example:25?x=1", "a@b.example"},
		"unparseable":       {"smtp://u:topsecret@mail example:25", "a@b.example"},
		"from with newline": {"smtp://mail.example:25", "a@b.example\r\nBcc: x@y.example"},
	} {
		_, err := mailer.NewSMTP(tc.url, mailer.Options{From: tc.from})
		if err == nil || strings.Contains(err.Error(), "topsecret") || strings.Contains(err.Error(), "top/secret") {
			t.Errorf("%s: %v", name, err)
		}
	}
	srv := smtptest.Start(t)
	m, _ := mailer.NewSMTP(srv.URL(), mailer.Options{From: "a@b.example"})
	for name, mail := range map[string]core.Mail{
		"subject with CRLF": {To: "x@example.com", Subject: "hi\r\nBcc: victim@example.com", Text: "x"},
		"to with CRLF":      {To: "x@example.com\r\nBcc: victim@example.com", Subject: "hi", Text: "x"},
	} {
		if err := send(t, m, mail); err == nil {
			t.Errorf("%s: sent", name)
		}
	}
	if n := len(srv.Messages(t)); n != 0 {
		t.Fatalf("%d messages delivered", n)
	}
}

// TestLogMailer: the development mailer writes the link to the log and
// sends nothing.
func TestLogMailer(t *testing.T) {
	var buf bytes.Buffer
	m := mailer.NewLog(slog.New(slog.NewTextHandler(&buf, nil)))
	if err := m.Send(context.Background(), resetMail("ada@example.com")); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"level=WARN", "to=ada@example.com", `link="` + link + `"`, "kind=password_reset", "development"} {
		if !strings.Contains(out, want) {
			t.Fatalf("log %q lacks %q", out, want)
		}
	}
}
