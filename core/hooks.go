package core

import (
	"context"
	"time"
)

// Hooks receive audit events. They run synchronously on the request's
// goroutine, after the change they report: keep them fast, and hand slow work
// (shipping logs, alerting) to a queue. A nil hook is skipped.
type Hooks struct {
	OnLogin         func(context.Context, Event) // a session was created
	OnLoginFailed   func(context.Context, Event) // wrong email or password
	OnRefresh       func(context.Context, Event) // a refresh token was rotated
	OnReuseDetected func(context.Context, Event) // a superseded refresh token came back: the session is revoked
	OnLogout        func(context.Context, Event) // Logout or LogoutAll
	OnRevoke        func(context.Context, Event) // RevokeSession

	OnPasswordChanged func(context.Context, Event) // ChangePassword; Sessions: the other sessions it ended
	OnPasswordReset   func(context.Context, Event) // ResetPassword; Sessions: the sessions it ended
	OnEmailVerified   func(context.Context, Event) // VerifyEmail
	OnUserDisabled    func(context.Context, Event) // DisableUser; Sessions: the sessions it ended
	OnUserEnabled     func(context.Context, Event) // EnableUser
	// OnMailSent and OnMailFailed run on the mail queue's goroutine, after
	// the request was answered: Mail says which mail, Err why it failed.
	OnMailSent   func(context.Context, Event)
	OnMailFailed func(context.Context, Event)
}

// Event describes what happened. Fields that do not apply are empty.
type Event struct {
	Time      time.Time
	UserID    string
	SessionID string
	Email     string // login and failed login
	IP        string
	UserAgent string
	Sessions  int      // sessions ended, for OnLogout, OnRevoke and the account hooks
	Mail      MailKind // OnMailSent and OnMailFailed
	Err       error    // OnMailFailed
}

func (a *Auth) emit(ctx context.Context, hook func(context.Context, Event), e Event) {
	if hook != nil {
		e.Time = a.now()
		hook(ctx, e)
	}
}
