package mailer_test

import (
	"context"
	"log/slog"
	"os"

	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/core/mailer"
)

// An SMTP mailer for core.Config.Mailer: the URL as in SMTP_URL, STARTTLS
// whenever the server offers it.
func ExampleNewSMTP() {
	m, err := mailer.NewSMTP("smtp://apikey:secret@smtp.example.com:587", mailer.Options{From: "Acme <no-reply@acme.example>"})
	if err != nil {
		panic(err) // the error shows the URL with its password redacted
	}
	_ = core.Config{Mailer: m, AppURL: "https://app.acme.example" /* , Store, Users, keys… */}
}

// The log mailer of development: the link goes to the log.
func ExampleNewLog() {
	m := mailer.NewLog(slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{} // a stable example output
			}
			return a
		},
	})))
	m.Send(context.Background(), core.Mail{To: "ada@example.com", Subject: "Hello", Text: "Hi!", Link: "https://app.acme.example/"})
	// Output:
	// level=WARN msg="mail not sent: written to the log (development only)" to=ada@example.com subject=Hello kind="" link=https://app.acme.example/
}
