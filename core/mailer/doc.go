// Package mailer holds the core.Mailer implementations of Authenik8: SMTP,
// which sends through a mail server named by a URL (standard library only:
// net/smtp, STARTTLS whenever the server offers it, AUTH when the URL has
// credentials, a timeout), and Log, which writes each mail to a slog.Logger
// instead, for development.
//
//	m, err := mailer.NewSMTP(os.Getenv("SMTP_URL"), mailer.Options{From: "Acme <no-reply@acme.example>"})
//	a, err := core.New(core.Config{ /* … */ Mailer: m, AppURL: "https://app.acme.example"})
//
// Errors never show the URL's password: it appears as core.RedactURL gives it.
package mailer
