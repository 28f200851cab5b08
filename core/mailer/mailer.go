package mailer

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/authenik8/authenik8-go/core"
)

// Options configure an SMTP mailer. Zero fields take the default in their
// comment.
type Options struct {
	// From is the sender: "no-reply@example.com" or "Acme <no-reply@example.com>".
	// Required.
	From string
	// Timeout bounds one Send, from the dial to the server's last answer.
	// Default 10 seconds.
	Timeout time.Duration
	// TLSConfig is used for STARTTLS and smtps://. Default: the system's
	// roots, the URL's host as the server name.
	TLSConfig *tls.Config
	// LocalName is the name this client gives in EHLO. Default "localhost".
	LocalName string
}

// DefaultTimeout is the default of Options.Timeout.
const DefaultTimeout = 10 * time.Second

// SMTP is a core.Mailer that sends each mail through an SMTP server, one
// connection per mail. It is safe for concurrent use.
type SMTP struct {
	addr, host string
	implicit   bool // smtps://: TLS from the first byte
	auth       smtp.Auth
	from       *mail.Address
	timeout    time.Duration
	tls        *tls.Config
	localName  string
	redacted   string // the URL, for errors
}

var _ core.Mailer = (*SMTP)(nil)

// NewSMTP returns a mailer for the server named by rawURL:
//
//	smtp://[user:password@]host[:port]   port 587 by default; STARTTLS when
//	                                     the server offers it
//	smtps://[user:password@]host[:port]  port 465 by default; TLS at once
//
// With a user the mailer authenticates (AUTH PLAIN), which net/smtp only
// does over TLS or to a loopback host: credentials never cross a network in
// clear. It does no I/O.
func NewSMTP(rawURL string, opts Options) (*SMTP, error) {
	red := core.RedactURL(rawURL)
	u, err := core.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("mailer: %w", err)
	}
	m := &SMTP{redacted: red, timeout: opts.Timeout, localName: opts.LocalName}
	var port string
	switch u.Scheme {
	case "smtp":
		port = "587"
	case "smtps":
		port, m.implicit = "465", true
	default:
		return nil, fmt.Errorf("mailer: SMTP URL %q: the scheme must be smtp or smtps", red)
	}
	m.host = u.Hostname()
	if m.host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, fmt.Errorf("mailer: SMTP URL %q: want smtp://[user:password@]host[:port]", red)
	}
	if p := u.Port(); p != "" {
		port = p
	}
	m.addr = net.JoinHostPort(m.host, port)
	if u.User != nil && u.User.Username() != "" {
		pw, _ := u.User.Password()
		m.auth = smtp.PlainAuth("", u.User.Username(), pw, m.host)
	}
	if m.from, err = mail.ParseAddress(opts.From); err != nil || opts.From == "" {
		return nil, fmt.Errorf("mailer: Options.From %q is not an address: %v", opts.From, err)
	}
	if m.timeout <= 0 {
		m.timeout = DefaultTimeout
	}
	if m.localName == "" {
		m.localName = "localhost"
	}
	m.tls = &tls.Config{ServerName: m.host, MinVersion: tls.VersionTLS12}
	if opts.TLSConfig != nil {
		m.tls = opts.TLSConfig.Clone()
		if m.tls.ServerName == "" {
			m.tls.ServerName = m.host
		}
	}
	return m, nil
}

// Send implements core.Mailer: one SMTP session, bounded by ctx and
// Options.Timeout.
func (m *SMTP) Send(ctx context.Context, msg core.Mail) error {
	to, err := mail.ParseAddress(msg.To)
	if err != nil {
		return fmt.Errorf("mailer: recipient %q: %w", msg.To, err)
	}
	body, err := compose(m.from, to, msg)
	if err != nil {
		return err
	}
	if err := m.send(ctx, to.Address, body); err != nil {
		return fmt.Errorf("mailer: send through %s: %w", m.redacted, err)
	}
	return nil
}

func (m *SMTP) send(ctx context.Context, to string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", m.addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	// The deadline bounds every read and write; ctx's end cuts the
	// connection short.
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if m.implicit {
		tc := tls.Client(conn, m.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			return err
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, m.host)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello(m.localName); err != nil {
		return err
	}
	if ok, _ := c.Extension("STARTTLS"); ok && !m.implicit {
		if err := c.StartTLS(m.tls); err != nil {
			return fmt.Errorf("STARTTLS: %w", err)
		}
	}
	if m.auth != nil {
		if ok, _ := c.Extension("AUTH"); !ok {
			return errors.New("the URL has credentials but the server offers no AUTH")
		}
		if err := c.Auth(m.auth); err != nil {
			return fmt.Errorf("AUTH: %w", err)
		}
	}
	if err := c.Mail(m.from.Address); err != nil {
		return err
	}
	if err := c.Rcpt(to); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(body); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// compose writes the message: headers, then the text (and the HTML, as a
// multipart/alternative, when there is one). Bodies that are ASCII with
// short lines go as 7bit, so that a link stays whole on its line even in the
// raw message; others as quoted-printable.
func compose(from, to *mail.Address, msg core.Mail) ([]byte, error) {
	if strings.ContainsAny(msg.Subject, "\r\n") {
		return nil, errors.New("mailer: the subject has a line break")
	}
	var b bytes.Buffer
	hdr := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	hdr("From", from.String())
	hdr("To", to.String())
	hdr("Subject", mime.QEncoding.Encode("utf-8", msg.Subject))
	hdr("Date", time.Now().Format(time.RFC1123Z))
	hdr("Message-ID", "<"+randomHex(16)+"@"+domain(from.Address)+">")
	hdr("MIME-Version", "1.0")
	if msg.HTML == "" {
		writePart(&b, "text/plain; charset=utf-8", msg.Text)
		return b.Bytes(), nil
	}
	boundary := "a8-" + randomHex(12)
	hdr("Content-Type", `multipart/alternative; boundary="`+boundary+`"`)
	b.WriteString("\r\n")
	for _, p := range [][2]string{{"text/plain; charset=utf-8", msg.Text}, {"text/html; charset=utf-8", msg.HTML}} {
		b.WriteString("--" + boundary + "\r\n")
		writePart(&b, p[0], p[1])
		b.WriteString("\r\n")
	}
	b.WriteString("--" + boundary + "--\r\n")
	return b.Bytes(), nil
}

// writePart writes a part's headers, a blank line and its body.
func writePart(b *bytes.Buffer, contentType, text string) {
	b.WriteString("Content-Type: " + contentType + "\r\n")
	if plain(text) {
		b.WriteString("Content-Transfer-Encoding: 7bit\r\n\r\n")
		b.WriteString(crlf(text))
		return
	}
	b.WriteString("Content-Transfer-Encoding: quoted-printable\r\n\r\n")
	w := quotedprintable.NewWriter(b)
	io.WriteString(w, text)
	w.Close()
}

// plain: ASCII without NUL or a lone CR, no line over 998 bytes (RFC 5322).
func plain(s string) bool {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= utf8.RuneSelf || c == 0 || (c == '\r' && (i+1 == len(s) || s[i+1] != '\n')):
			return false
		case c == '\n':
			n = 0
		case c != '\r':
			if n++; n > 998 {
				return false
			}
		}
	}
	return true
}

// crlf ends every line with CRLF, and the text with one.
func crlf(s string) string {
	s = strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
	if !strings.HasSuffix(s, "\r\n") {
		s += "\r\n"
	}
	return s
}

func domain(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 && i+1 < len(addr) {
		return addr[i+1:]
	}
	return "localhost"
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Log is a core.Mailer for development: it writes each mail to a logger,
// link included, instead of sending it. In production the log would hold
// working reset links: use SMTP there.
type Log struct {
	logger *slog.Logger
}

// NewLog returns a Log mailer writing to logger (slog.Default() when nil).
func NewLog(logger *slog.Logger) *Log {
	if logger == nil {
		logger = slog.Default()
	}
	return &Log{logger: logger}
}

var _ core.Mailer = (*Log)(nil)

// Send implements core.Mailer: one log line with the recipient, the subject,
// the kind and the link.
func (l *Log) Send(ctx context.Context, msg core.Mail) error {
	l.logger.WarnContext(ctx, "mail not sent: written to the log (development only)",
		"to", msg.To, "subject", msg.Subject, "kind", string(msg.Kind), "link", msg.Link)
	return nil
}
