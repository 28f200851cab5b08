package core

import (
	"context"
	"errors"
	"time"
)

// The account flows after registration: change and reset a password,
// verify an email address, end the other sessions, and the administrator's
// view of a user's sessions, disable and enable. Each is a method usable
// without HTTP; the routes of http.go call them.

// ChangePassword replaces the password of c's user when current is right,
// and ends every other session of the user: the caller's (c.SessionID)
// stays. A wrong current password is ErrInvalidCredentials and counts as a
// failed login against the limits (ErrRateLimited once they trip); a new
// password out of bounds is ErrInvalidRequest. Needs Config.Users to be an
// AccountStore.
func (a *Auth) ChangePassword(ctx context.Context, c *Claims, current, newPassword string, client Client) error {
	accounts, err := a.accounts()
	if err != nil {
		return err
	}
	if c == nil {
		return ErrMissingToken
	}
	if current == "" || len(current) > MaxPasswordBytes {
		return ErrInvalidRequest.WithDescription("current_password is required; a password is at most 1024 bytes")
	}
	if err := CheckPassword(newPassword); err != nil {
		return ErrInvalidRequest.WithDescription("new_password must be 8 to 1024 bytes")
	}
	u, err := accounts.User(ctx, c.Subject)
	if errors.Is(err, ErrUserNotFound) {
		return ErrTokenRevoked // the account is gone: so is every session
	}
	if err != nil {
		return storeErr(err)
	}
	attempt, err := a.limits.beginLogin(ctx, u.Email, client.IP)
	if err != nil {
		return err
	}
	err = a.limits.withHashSlot(ctx, func() error {
		got, err := accounts.Authenticate(ctx, u.Email, current)
		if err == nil && got.ID != u.ID {
			err = ErrInvalidCredentials // the address moved to another account meanwhile
		}
		if err != nil {
			return err
		}
		// The new hash is computed in the same slot: one request, one slot.
		return accounts.SetPassword(ctx, u.ID, newPassword)
	})
	switch {
	case errors.Is(err, ErrInvalidCredentials):
		attempt.failed()
		a.emit(ctx, a.cfg.Hooks.OnLoginFailed, Event{UserID: u.ID, SessionID: c.SessionID, Email: u.Email, IP: client.IP, UserAgent: client.UserAgent})
		return ErrInvalidCredentials
	case errors.Is(err, ErrUserNotFound):
		attempt.abandoned(ctx)
		return ErrTokenRevoked
	case errors.Is(err, ErrServerBusy):
		attempt.abandoned(ctx)
		return err
	case err != nil:
		attempt.abandoned(ctx)
		return storeErr(err)
	}
	if err := attempt.succeeded(ctx); err != nil {
		return err
	}
	n, err := a.cfg.Store.RevokeOtherSessions(ctx, u.ID, c.SessionID)
	if err != nil {
		return storeErr(err)
	}
	a.emit(ctx, a.cfg.Hooks.OnPasswordChanged, Event{UserID: u.ID, SessionID: c.SessionID, IP: client.IP, UserAgent: client.UserAgent, Sessions: n})
	return nil
}

// ForgotPassword queues a password-reset mail to email and returns at once:
// nil whether or not an account has that address, after the same work
// either way (the address is checked, the limits counted, the job queued).
// The queue then looks the account up and, for an account that exists and
// is not disabled, stores a new reset token (voiding any earlier one) and
// mails AppURL+"/reset-password?token=…", valid 30 minutes. Errors:
// ErrInvalidRequest for a malformed address, ErrRateLimited
// (Config.RateLimits.ForgotPerAccount counts addresses, known or not, and
// ForgotPerIP), ErrServerBusy when the mail queue is full, ErrNotFound
// without Config.Mailer.
func (a *Auth) ForgotPassword(ctx context.Context, email string, client Client) error {
	if a.mail == nil {
		return errMailOff
	}
	email = NormalizeEmail(email)
	if err := CheckEmail(email); err != nil {
		return err
	}
	lim := a.limits.limits
	attempt, err := a.limits.beginMail(ctx, "forgot", hashedKey("forgot:acct:", email), lim.ForgotPerAccount, lim.ForgotPerIP, client.IP)
	if err != nil {
		return err
	}
	if !a.mail.push(mailJob{kind: MailPasswordReset, email: email, client: client}) {
		attempt.abandoned(ctx)
		return errServerBusy
	}
	return nil
}

// ResetPassword sets a new password with a token from a reset mail, and
// ends every session of the user. The new password is checked before the
// token is spent, so a refused password leaves the link usable. A token
// that is forged, expired, replaced by a newer one or already used is
// ErrInvalidGrant. The reset also marks the email address verified: the
// link reached it. Needs Config.Users to be an AccountStore and a
// LinkTokenStore.
func (a *Auth) ResetPassword(ctx context.Context, token, newPassword string) error {
	accounts, links, err := a.linkStores()
	if err != nil {
		return err
	}
	if err := CheckPassword(newPassword); err != nil {
		return ErrInvalidRequest.WithDescription("new_password must be 8 to 1024 bytes")
	}
	lt, err := a.links.parse(PurposePasswordReset, token)
	if err != nil {
		return err
	}
	// Spend the token only once a hashing slot is ours: a server too busy
	// to hash must not burn the link.
	err = a.limits.withHashSlot(ctx, func() error {
		if err := lt.redeem(ctx, links, PurposePasswordReset); err != nil {
			return err
		}
		return accounts.SetPassword(ctx, lt.userID, newPassword)
	})
	switch {
	case errors.Is(err, ErrUserNotFound):
		return ErrInvalidGrant
	case errors.Is(err, ErrInvalidGrant), errors.Is(err, ErrServerBusy):
		return err
	case err != nil:
		return storeErr(err)
	}
	n, err := a.cfg.Store.RevokeUser(ctx, lt.userID)
	if err != nil {
		return storeErr(err)
	}
	if err := accounts.SetEmailVerified(ctx, lt.userID); err != nil && !errors.Is(err, ErrUserNotFound) {
		return storeErr(err)
	}
	// The owner proved control of the address: failed logins of the past
	// no longer hold the account.
	if u, err := accounts.User(ctx, lt.userID); err == nil && a.limits.store != nil {
		a.limits.store.Reset(ctx, accountKey(u.Email))
	}
	a.emit(ctx, a.cfg.Hooks.OnPasswordReset, Event{UserID: lt.userID, Sessions: n})
	return nil
}

// SendVerification queues a mail to the user's address with a verification
// link, AppURL+"/verify-email?token=…", valid 24 hours; a newer one voids
// the older. It returns once the job is queued (nothing is sent for an
// address already verified, or a user that is gone). Errors: ErrRateLimited
// (Config.RateLimits.VerificationPerAccount and VerificationPerIP),
// ErrServerBusy when the mail queue is full, ErrNotFound without
// Config.Mailer.
func (a *Auth) SendVerification(ctx context.Context, userID string, client Client) error {
	if a.mail == nil {
		return errMailOff
	}
	if !ValidUserID(userID) {
		return ErrNotFound
	}
	lim := a.limits.limits
	attempt, err := a.limits.beginMail(ctx, "verify", hashedKey("verify:acct:", userID), lim.VerificationPerAccount, lim.VerificationPerIP, client.IP)
	if err != nil {
		return err
	}
	if !a.mail.push(mailJob{kind: MailEmailVerification, userID: userID, client: client}) {
		attempt.abandoned(ctx)
		return errServerBusy
	}
	return nil
}

// VerifyEmail marks the address of the user a verification token names as
// verified, and spends the token: ErrInvalidGrant for a token that is
// forged, expired, replaced or already used. Access tokens carry
// email_verified from the next login, or the next refresh with
// Config.ReloadUser.
func (a *Auth) VerifyEmail(ctx context.Context, token string) error {
	accounts, links, err := a.linkStores()
	if err != nil {
		return err
	}
	lt, err := a.links.parse(PurposeEmailVerification, token)
	if err != nil {
		return err
	}
	if err := lt.redeem(ctx, links, PurposeEmailVerification); err != nil {
		return err
	}
	err = accounts.SetEmailVerified(ctx, lt.userID)
	if errors.Is(err, ErrUserNotFound) {
		return ErrInvalidGrant
	}
	if err != nil {
		return storeErr(err)
	}
	a.emit(ctx, a.cfg.Hooks.OnEmailVerified, Event{UserID: lt.userID})
	return nil
}

// LogoutOthers ends every session of the user but keep (the caller's), in
// one store step, and returns how many ended.
func (a *Auth) LogoutOthers(ctx context.Context, userID, keep string) (int, error) {
	n, err := a.cfg.Store.RevokeOtherSessions(ctx, userID, keep)
	if err != nil {
		return 0, storeErr(err)
	}
	a.emit(ctx, a.cfg.Hooks.OnLogout, Event{UserID: userID, SessionID: keep, Sessions: n})
	return n, nil
}

// UserSessions lists another user's live sessions, for an administrator:
// ErrNotFound when Config.Users knows no such user. current marks the
// caller's own session if it is among them. The caller's authority is the
// application's business (the route asks for the admin role).
func (a *Auth) UserSessions(ctx context.Context, userID, current string) ([]SessionInfo, error) {
	if err := a.userExists(ctx, userID); err != nil {
		return nil, err
	}
	return a.Sessions(ctx, userID, current)
}

// DisableUser disables an account and ends its sessions: their access
// tokens are refused (401 token_revoked) from the next request — in this
// process at once, in others within the store's revocation latency — and
// login, IssueSession and a refresh that reloads the user answer 403
// account_disabled until EnableUser. ErrNotFound for an unknown user.
func (a *Auth) DisableUser(ctx context.Context, userID string) error {
	accounts, err := a.accounts()
	if err != nil {
		return err
	}
	if err := setDisabled(ctx, accounts, userID, true); err != nil {
		return err
	}
	n, err := a.cfg.Store.RevokeUser(ctx, userID)
	if err != nil {
		return storeErr(err)
	}
	a.emit(ctx, a.cfg.Hooks.OnUserDisabled, Event{UserID: userID, Sessions: n})
	return nil
}

// EnableUser enables a disabled account again. ErrNotFound for an unknown
// user.
func (a *Auth) EnableUser(ctx context.Context, userID string) error {
	accounts, err := a.accounts()
	if err != nil {
		return err
	}
	if err := setDisabled(ctx, accounts, userID, false); err != nil {
		return err
	}
	a.emit(ctx, a.cfg.Hooks.OnUserEnabled, Event{UserID: userID})
	return nil
}

// FlushMail waits until the mails queued so far have been sent (or have
// failed: Hooks.OnMailFailed), or ctx ends: for a graceful shutdown.
func (a *Auth) FlushMail(ctx context.Context) error {
	if a.mail == nil {
		return nil
	}
	return a.mail.wait(ctx)
}

var (
	errAccountsOff = ErrNotFound.WithDescription("Account management is not enabled.")
	errMailOff     = ErrNotFound.WithDescription("Mail is not enabled.")
)

func (a *Auth) accounts() (AccountStore, error) {
	if s, ok := a.cfg.Users.(AccountStore); ok {
		return s, nil
	}
	return nil, errAccountsOff
}

func (a *Auth) linkStores() (AccountStore, LinkTokenStore, error) {
	s, ok1 := a.cfg.Users.(AccountStore)
	l, ok2 := a.cfg.Users.(LinkTokenStore)
	if !ok1 || !ok2 {
		return nil, nil, errAccountsOff
	}
	return s, l, nil
}

// userExists answers ErrNotFound for a user Config.Users does not know;
// without Users every id exists.
func (a *Auth) userExists(ctx context.Context, userID string) error {
	if !ValidUserID(userID) {
		return ErrNotFound
	}
	if a.cfg.Users == nil {
		return nil
	}
	_, err := a.cfg.Users.User(ctx, userID)
	if errors.Is(err, ErrUserNotFound) {
		return ErrNotFound
	}
	return storeErr(err)
}

func setDisabled(ctx context.Context, accounts AccountStore, userID string, disabled bool) error {
	if !ValidUserID(userID) {
		return ErrNotFound
	}
	err := accounts.SetDisabled(ctx, userID, disabled)
	if errors.Is(err, ErrUserNotFound) {
		return ErrNotFound
	}
	return storeErr(err)
}

// runMailJob is the queued half of ForgotPassword and SendVerification.
func (a *Auth) runMailJob(ctx context.Context, j mailJob) {
	accounts, _, err := a.linkStores()
	if err != nil {
		return // New checked it
	}
	var (
		u       User
		purpose string
		ttl     time.Duration
	)
	switch j.kind {
	case MailPasswordReset:
		u, err = accounts.UserByEmail(ctx, j.email)
		purpose, ttl = PurposePasswordReset, PasswordResetTTL
	case MailEmailVerification:
		u, err = accounts.User(ctx, j.userID)
		purpose, ttl = PurposeEmailVerification, EmailVerificationTTL
	}
	switch {
	case errors.Is(err, ErrUserNotFound):
		return // no account: nothing to send, and the answer said nothing
	case err != nil:
		a.mailFailed(ctx, j, u, err)
		return
	case u.Disabled, j.kind == MailEmailVerification && u.EmailVerified:
		return
	}
	token, err := a.NewLinkToken(ctx, u.ID, purpose, ttl)
	if err != nil {
		a.mailFailed(ctx, j, u, err)
		return
	}
	var m Mail
	if j.kind == MailPasswordReset {
		m = resetMail(u.Email, a.cfg.AppURL+ResetPasswordPath+"?token="+token)
	} else {
		m = verificationMail(u.Email, a.cfg.AppURL+VerifyEmailPath+"?token="+token)
	}
	if err := a.cfg.Mailer.Send(ctx, m); err != nil {
		a.mailFailed(ctx, j, u, err)
		return
	}
	a.emit(ctx, a.cfg.Hooks.OnMailSent, Event{UserID: u.ID, IP: j.client.IP, UserAgent: j.client.UserAgent, Mail: j.kind})
}

func (a *Auth) mailFailed(ctx context.Context, j mailJob, u User, err error) {
	a.emit(ctx, a.cfg.Hooks.OnMailFailed, Event{UserID: u.ID, IP: j.client.IP, UserAgent: j.client.UserAgent, Mail: j.kind, Err: err})
}
