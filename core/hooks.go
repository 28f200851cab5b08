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
}

// Event describes what happened. Fields that do not apply are empty.
type Event struct {
	Time      time.Time
	UserID    string
	SessionID string
	Email     string // login and failed login
	IP        string
	UserAgent string
	Sessions  int // sessions ended, for OnLogout and OnRevoke
}

func (a *Auth) emit(ctx context.Context, hook func(context.Context, Event), e Event) {
	if hook != nil {
		e.Time = a.now()
		hook(ctx, e)
	}
}
