package smtptest_test

import (
	"crypto/tls"
	"testing"
	"time"

	"github.com/authenik8/authenik8-go/conformance/smtptest"
)

// A test sends mail to a throwaway aiosmtpd and reads the link back; it
// skips (or fails, with AUTHENIK8_REQUIRE_SMTP=1) without aiosmtpd.
func Example() {
	_ = func(t *testing.T) {
		srv := smtptest.Start(t, smtptest.Options{STARTTLS: true, User: "u", Password: "p"})
		_ = srv.URL()                                             // smtp://u:p@127.0.0.1:port, for SMTP_URL
		_ = &tls.Config{RootCAs: srv.RootCAs()}                   // trust its certificate (another process: SSL_CERT_FILE=srv.CertFile())
		m := srv.WaitFor(t, "ada@example.com", 1, 10*time.Second) // the first mail to Ada
		_ = m.Token("https://app.example.com/reset-password")     // the token of its link
	}
}
