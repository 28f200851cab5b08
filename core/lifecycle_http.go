package core

import "context"

// The routes of the account flows (lifecycle.go). Bodies are decoded as
// every route's are (decodeJSON): a missing field is 400 invalid_request
// before anything is looked up or spent.

// accepted is the answer of the routes that queue a mail: the same bytes
// whether or not the account exists.
var accepted = &Response{Status: 202, Header: []Header{hdrJSON, hdrNoStore}, Body: []byte("{}")}

type changePasswordBody struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

type emailBody struct {
	Email string `json:"email"`
}

type resetBody struct {
	Token       string `json:"token"`
	NewPassword string `json:"new_password"`
}

type tokenBody struct {
	Token string `json:"token"`
}

// admin lets an admin's claims through to h; others get 403 forbidden.
func (a *Auth) admin(h func(context.Context, *Request, *Claims) *Response) func(context.Context, *Request, *Claims) *Response {
	return func(ctx context.Context, r *Request, c *Claims) *Response {
		if err := decide(c, c.IsAdmin()); err != nil {
			return ErrorResponse(err)
		}
		return h(ctx, r, c)
	}
}

func (a *Auth) handleChangePassword(ctx context.Context, r *Request, c *Claims) *Response {
	var in changePasswordBody
	if err := decodeJSON(r, &in); err != nil {
		return ErrorResponse(err)
	}
	if in.CurrentPassword == "" || in.NewPassword == "" {
		return ErrorResponse(ErrInvalidRequest.WithDescription("current_password and new_password are required"))
	}
	if err := a.ChangePassword(ctx, c, in.CurrentPassword, in.NewPassword, r.Client); err != nil {
		return ErrorResponse(err)
	}
	return noContent
}

func (a *Auth) handleForgotPassword(ctx context.Context, r *Request) *Response {
	var in emailBody
	if err := decodeJSON(r, &in); err != nil {
		return ErrorResponse(err)
	}
	if in.Email == "" {
		return ErrorResponse(ErrInvalidRequest.WithDescription("email is required"))
	}
	if err := a.ForgotPassword(ctx, in.Email, r.Client); err != nil {
		return ErrorResponse(err)
	}
	return accepted
}

func (a *Auth) handleResetPassword(ctx context.Context, r *Request) *Response {
	var in resetBody
	if err := decodeJSON(r, &in); err != nil {
		return ErrorResponse(err)
	}
	if in.Token == "" || in.NewPassword == "" {
		return ErrorResponse(ErrInvalidRequest.WithDescription("token and new_password are required"))
	}
	if err := a.ResetPassword(ctx, in.Token, in.NewPassword); err != nil {
		return ErrorResponse(err)
	}
	return a.loggedOut()
}

func (a *Auth) handleSendVerification(ctx context.Context, r *Request, c *Claims) *Response {
	if err := a.SendVerification(ctx, c.Subject, r.Client); err != nil {
		return ErrorResponse(err)
	}
	return accepted
}

func (a *Auth) handleVerifyEmail(ctx context.Context, r *Request) *Response {
	var in tokenBody
	if err := decodeJSON(r, &in); err != nil {
		return ErrorResponse(err)
	}
	if in.Token == "" {
		return ErrorResponse(ErrInvalidRequest.WithDescription("token is required"))
	}
	if err := a.VerifyEmail(ctx, in.Token); err != nil {
		return ErrorResponse(err)
	}
	return noContent
}

func (a *Auth) handleLogoutOthers(ctx context.Context, _ *Request, c *Claims) *Response {
	if _, err := a.LogoutOthers(ctx, c.Subject, c.SessionID); err != nil {
		return ErrorResponse(err)
	}
	return noContent
}

func (a *Auth) handleUserSessions(ctx context.Context, r *Request, c *Claims) *Response {
	list, err := a.UserSessions(ctx, r.ID, c.SessionID)
	if err != nil {
		return ErrorResponse(err)
	}
	return jsonResponse(200, struct {
		Sessions []SessionInfo `json:"sessions"`
	}{list})
}

func (a *Auth) handleDisableUser(ctx context.Context, r *Request, _ *Claims) *Response {
	if err := a.DisableUser(ctx, r.ID); err != nil {
		return ErrorResponse(err)
	}
	return noContent
}

func (a *Auth) handleEnableUser(ctx context.Context, r *Request, _ *Claims) *Response {
	if err := a.EnableUser(ctx, r.ID); err != nil {
		return ErrorResponse(err)
	}
	return noContent
}
