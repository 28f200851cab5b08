package core

import (
	"context"
	"sync"
	"time"
)

// Mailer sends the mails of the account flows: password reset links and
// email verification links. core/mailer has an SMTP one and one that writes
// to a log, for development. Send may be slow (core calls it from a
// background queue, never while a request waits) and must honour ctx.
type Mailer interface {
	Send(ctx context.Context, m Mail) error
}

// Mail is one message. Text is the plain-text body core writes; Kind and
// Link let a Mailer that renders its own templates (HTML, translations)
// build another body around the same link.
type Mail struct {
	To      string
	Subject string
	Text    string
	// HTML is an optional HTML body, sent as an alternative to Text. core
	// leaves it empty.
	HTML string
	Kind MailKind
	// Link is the link the mail carries, with its token:
	// Config.AppURL + "/reset-password?token=…" or "/verify-email?token=…".
	Link string
}

// MailKind names what a Mail is for.
type MailKind string

// The mails core sends.
const (
	MailPasswordReset     MailKind = "password_reset"
	MailEmailVerification MailKind = "email_verification"
)

// DefaultMailQueue is the default of Config.MailQueue.
const DefaultMailQueue = 256

// Paths of the links, under Config.AppURL: the pages of the application
// that read the token and call POST /password/reset or POST /email/verify.
const (
	ResetPasswordPath = "/reset-password"
	VerifyEmailPath   = "/verify-email"
)

// resetMail and verificationMail are the texts of the mails.
func resetMail(to, link string) Mail {
	return Mail{
		To:      to,
		Subject: "Reset your password",
		Kind:    MailPasswordReset,
		Link:    link,
		Text: "Someone, probably you, asked to reset the password of the account " + to + ".\r\n" +
			"To choose a new password, open this link within 30 minutes:\r\n\r\n" +
			link + "\r\n\r\n" +
			"The link works once. If you did not ask for it, ignore this mail: your password stays as it is.\r\n",
	}
}

func verificationMail(to, link string) Mail {
	return Mail{
		To:      to,
		Subject: "Verify your email address",
		Kind:    MailEmailVerification,
		Link:    link,
		Text: "To confirm that " + to + " is your address, open this link within 24 hours:\r\n\r\n" +
			link + "\r\n\r\n" +
			"The link works once. If you did not sign up, ignore this mail.\r\n",
	}
}

// mailJob is the work of one /password/forgot or /email/verify/send after
// it was answered: find the account, mint and store a token, send the mail.
type mailJob struct {
	kind   MailKind
	email  string // MailPasswordReset: the address asked for
	userID string // MailEmailVerification: the signed-in user
	client Client
}

// mailTimeout bounds one job: its store calls and the mailer's Send.
const mailTimeout = time.Minute

// mailWorkers is how many jobs run at once: mail goes out in parallel, and
// a slow mail server holds at most this many goroutines.
const mailWorkers = 4

// mailQueue runs jobs after their request was answered, so that the answer
// of /password/forgot neither waits for the account lookup nor the mail
// server, nor shows in its timing whether an account exists. It holds at
// most Config.MailQueue jobs; workers start when jobs arrive and end when
// none are left, so an idle Auth holds no goroutine.
type mailQueue struct {
	jobs    chan mailJob
	workers chan struct{} // one token per running worker
	run     func(context.Context, mailJob)
	idle    sync.Cond // signalled when a worker ends (tests wait on it)
	mu      sync.Mutex
}

func newMailQueue(size int, run func(context.Context, mailJob)) *mailQueue {
	q := &mailQueue{jobs: make(chan mailJob, size), workers: make(chan struct{}, mailWorkers), run: run}
	q.idle.L = &q.mu
	return q
}

// push queues a job; false when the queue is full.
func (q *mailQueue) push(j mailJob) bool {
	select {
	case q.jobs <- j:
	default:
		return false
	}
	q.spawn()
	return true
}

// spawn starts a worker unless mailWorkers are running.
func (q *mailQueue) spawn() {
	select {
	case q.workers <- struct{}{}:
		go q.work()
	default:
	}
}

func (q *mailQueue) work() {
	for {
		select {
		case j := <-q.jobs:
			ctx, cancel := context.WithTimeout(context.Background(), mailTimeout)
			q.run(ctx, j)
			cancel()
			continue
		default:
		}
		<-q.workers
		// A job pushed while this worker was leaving may have found every
		// worker slot taken: look again, now that one is free.
		if len(q.jobs) > 0 {
			q.spawn()
		}
		q.mu.Lock()
		q.idle.Broadcast()
		q.mu.Unlock()
		return
	}
}

// wait blocks until the queue is empty and no worker runs, or ctx ends.
func (q *mailQueue) wait(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		q.mu.Lock()
		q.idle.Broadcast()
		q.mu.Unlock()
	})
	defer stop()
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.jobs) > 0 || len(q.workers) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		q.idle.Wait()
	}
	return nil
}
