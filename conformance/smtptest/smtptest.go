// Package smtptest starts throwaway SMTP servers for tests: aiosmtpd (Debian's
// python3-aiosmtpd) on a free loopback port, with a handler that writes every
// accepted message to a folder, from which the test reads it back — to
// follow the link a mail carries, or to check that none was sent.
//
// A server may offer STARTTLS (with a self-signed certificate made for it,
// which its clients must trust: RootCAs) and require AUTH with a user and
// password.
//
// Without aiosmtpd the tests that need it skip, unless
// AUTHENIK8_REQUIRE_SMTP=1, which turns the skip into a failure (CI sets
// it). The interpreter is AUTHENIK8_PYTHON when set, else the first of
// python3 (PATH) and /usr/bin/python3 that can import aiosmtpd.
package smtptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Required reports whether AUTHENIK8_REQUIRE_SMTP=1: a missing aiosmtpd is
// then a failure, not a skip.
func Required() bool { return os.Getenv("AUTHENIK8_REQUIRE_SMTP") == "1" }

// Options shape a server. The zero value is a plain server that accepts
// any mail.
type Options struct {
	// STARTTLS makes the server offer STARTTLS, with a self-signed
	// certificate for 127.0.0.1 and localhost, and refuse mail before it.
	STARTTLS bool
	// User and Password, when set, make the server require AUTH with them
	// (aiosmtpd offers AUTH only over TLS: set STARTTLS too).
	User, Password string
}

// Server is a running aiosmtpd.
type Server struct {
	// Addr is 127.0.0.1:port.
	Addr string

	opts     Options
	dir      string
	rootCAs  *x509.CertPool
	certFile string
}

// Message is a mail the server accepted.
type Message struct {
	From string   // the envelope sender (MAIL FROM)
	To   []string // the envelope recipients (RCPT TO)
	// TLS reports whether the session was encrypted (STARTTLS), Auth the
	// user it authenticated as ("" for none).
	TLS  bool
	Auth string
	// Header is the message's header; Subject decoded.
	Header  mail.Header
	Subject string
	// Text and HTML are the decoded text/plain and text/html bodies ("" when
	// absent), whatever their transfer encoding.
	Text, HTML string
	// Raw is the message as received.
	Raw []byte
}

//go:embed handler.py
var handlerSource []byte

// Start runs a server for the test, stopped at its cleanup.
func Start(t testing.TB, opts ...Options) *Server {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	python := interpreter(t)
	dir := t.TempDir()
	s := &Server{opts: o, dir: filepath.Join(dir, "mail")}
	if err := os.Mkdir(s.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "smtptest_handler.py"), handlerSource, 0o644); err != nil {
		t.Fatal(err)
	}
	var tlsArgs []string
	if o.STARTTLS {
		cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
		s.rootCAs, s.certFile = selfSigned(t, cert, key), cert
		tlsArgs = []string{"--tlscert", cert, "--tlskey", key}
	}
	var last error
	for range 5 { // a free port can be taken between the check and the bind
		port := freePort(t)
		s.Addr = net.JoinHostPort("127.0.0.1", port)
		args := append([]string{"-m", "aiosmtpd", "-n", "-l", s.Addr}, tlsArgs...)
		args = append(args, "-c", "smtptest_handler.Maildir", s.dir)
		if o.User != "" {
			args = append(args, o.User, o.Password)
		}
		cmd := exec.Command(python, args...)
		cmd.Env = append(os.Environ(), "PYTHONPATH="+dir, "PYTHONDONTWRITEBYTECODE=1")
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = io.Discard, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatalf("smtptest: start %s -m aiosmtpd: %v", python, err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		if last = waitListening(s.Addr, exited, 10*time.Second); last == nil {
			t.Cleanup(func() {
				cmd.Process.Kill()
				<-exited
			})
			return s
		}
		cmd.Process.Kill()
		<-exited
		last = fmt.Errorf("%w: %s", last, strings.TrimSpace(stderr.String()))
	}
	t.Fatalf("smtptest: aiosmtpd did not start: %v", last)
	return nil
}

// URL is the server's smtp:// URL, with the user and password when it
// requires AUTH.
func (s *Server) URL() string {
	u := url.URL{Scheme: "smtp", Host: s.Addr}
	if s.opts.User != "" {
		u.User = url.UserPassword(s.opts.User, s.opts.Password)
	}
	return u.String()
}

// RootCAs trusts the server's certificate (nil without STARTTLS).
func (s *Server) RootCAs() *x509.CertPool { return s.rootCAs }

// CertFile is the PEM file of the server's certificate ("" without
// STARTTLS): SSL_CERT_FILE=CertFile() makes another process trust it.
func (s *Server) CertFile() string { return s.certFile }

// Messages returns the messages accepted so far, oldest first.
func (s *Server) Messages(t testing.TB) []Message {
	t.Helper()
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		t.Fatalf("smtptest: %v", err)
	}
	var names []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") && strings.HasSuffix(e.Name(), ".json") {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	out := make([]Message, 0, len(names))
	for _, n := range names {
		m, err := readMessage(filepath.Join(s.dir, n))
		if err != nil {
			t.Fatalf("smtptest: %s: %v", n, err)
		}
		out = append(out, m)
	}
	return out
}

// To returns the messages accepted so far for the recipient.
func (s *Server) To(t testing.TB, to string) []Message {
	t.Helper()
	var out []Message
	for _, m := range s.Messages(t) {
		if slices.ContainsFunc(m.To, func(r string) bool { return strings.EqualFold(r, to) }) {
			out = append(out, m)
		}
	}
	return out
}

// WaitFor waits up to timeout for the n-th message to the recipient (n
// from 1) and returns it; it fails t when none comes.
func (s *Server) WaitFor(t testing.TB, to string, n int, timeout time.Duration) Message {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if got := s.To(t, to); len(got) >= n {
			return got[n-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("smtptest: no message #%d to %s within %v (%d messages in all)", n, to, timeout, len(s.Messages(t)))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Link returns the first URL in the message's text that starts with
// prefix, up to the end of its line: "" when there is none.
func (m Message) Link(prefix string) string {
	i := strings.Index(m.Text, prefix)
	if i < 0 {
		return ""
	}
	link := m.Text[i:]
	if j := strings.IndexAny(link, " \t\r\n"); j >= 0 {
		link = link[:j]
	}
	return link
}

// Token returns the token query parameter of the message's first link that
// starts with prefix: "" when there is none.
func (m Message) Token(prefix string) string {
	u, err := url.Parse(m.Link(prefix))
	if err != nil {
		return ""
	}
	return u.Query().Get("token")
}

// interpreter finds a Python that has aiosmtpd, or skips (fails) t.
func interpreter(t testing.TB) string {
	t.Helper()
	candidates := []string{"python3", "/usr/bin/python3"}
	if p := os.Getenv("AUTHENIK8_PYTHON"); p != "" {
		candidates = []string{p}
	}
	pyOnce.Do(func() {
		for _, c := range candidates {
			if exec.Command(c, "-c", "import aiosmtpd").Run() == nil {
				pyFound = c
				return
			}
		}
	})
	if pyFound == "" {
		msg := fmt.Sprintf("smtptest: no Python with aiosmtpd among %v", candidates)
		if Required() {
			t.Fatalf("%s (AUTHENIK8_REQUIRE_SMTP=1; apt-get install python3-aiosmtpd)", msg)
		}
		t.Skipf("%s; skipping (apt-get install python3-aiosmtpd; AUTHENIK8_REQUIRE_SMTP=1 makes this a failure)", msg)
	}
	return pyFound
}

var (
	pyOnce  sync.Once
	pyFound string
)

func freePort(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// waitListening waits until addr greets with 220, or the process exits.
func waitListening(addr string, exited <-chan error, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("aiosmtpd exited: %v", err)
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.SetDeadline(time.Now().Add(2 * time.Second))
			greeting := make([]byte, 3)
			_, err := io.ReadFull(c, greeting)
			c.Write([]byte("QUIT\r\n"))
			c.Close()
			if err == nil && string(greeting) == "220" {
				return nil
			}
		}
		time.Sleep(30 * time.Millisecond)
	}
	return fmt.Errorf("no SMTP greeting on %s within %v", addr, timeout)
}

// selfSigned writes a certificate for 127.0.0.1 and localhost and its key,
// and returns a pool that trusts it.
func selfSigned(t testing.TB, certFile, keyFile string) *x509.CertPool {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "smtptest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}

// readMessage reads one file the handler wrote.
func readMessage(path string) (Message, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Message{}, err
	}
	var rec struct {
		MailFrom string   `json:"mail_from"`
		RcptTos  []string `json:"rcpt_tos"`
		Data     string   `json:"data"`
		TLS      bool     `json:"tls"`
		Auth     string   `json:"auth"`
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return Message{}, err
	}
	raw, err := base64.StdEncoding.DecodeString(rec.Data)
	if err != nil {
		return Message{}, err
	}
	m := Message{From: rec.MailFrom, To: rec.RcptTos, TLS: rec.TLS, Auth: rec.Auth, Raw: raw}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Message{}, fmt.Errorf("parse: %w", err)
	}
	m.Header = msg.Header
	if m.Subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return Message{}, fmt.Errorf("subject: %w", err)
	}
	if err := m.readPart(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body); err != nil {
		return Message{}, err
	}
	return m, nil
}

// readPart decodes a body, walking into multipart ones.
func (m *Message) readPart(contentType, encoding string, body io.Reader) error {
	if contentType == "" {
		contentType = "text/plain"
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return fmt.Errorf("content type %q: %w", contentType, err)
	}
	if strings.HasPrefix(mt, "multipart/") {
		r := multipart.NewReader(body, params["boundary"])
		for {
			p, err := r.NextRawPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := m.readPart(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p); err != nil {
				return err
			}
		}
	}
	switch strings.ToLower(encoding) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, &crlfStripper{r: body})
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return fmt.Errorf("%s body: %w", mt, err)
	}
	switch mt {
	case "text/plain":
		m.Text = string(b)
	case "text/html":
		m.HTML = string(b)
	}
	return nil
}

// crlfStripper drops line breaks, which base64 bodies carry every 76
// characters.
type crlfStripper struct{ r io.Reader }

func (c *crlfStripper) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	j := 0
	for _, b := range p[:n] {
		if b != '\r' && b != '\n' {
			p[j] = b
			j++
		}
	}
	return j, err
}
