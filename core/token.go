package core

import (
	"context"
	"errors"
	"mime"
	"net/url"
	"unicode/utf8"
)

// POST /token is the token endpoint of OAuth 2.0 (RFC 6749) for standard
// clients — golang.org/x/oauth2's TokenSource, browser OAuth SDKs — that
// refresh with the refresh grant (§6): a form-encoded
// grant_type=refresh_token&refresh_token=…, rotated exactly as /refresh
// rotates it, answered with the token response of §5.1 or an error body of
// §5.2. It always answers in the body, cookie mode or not: its clients are
// not browsers holding the refresh cookie.

// The error codes of RFC 6749 §5.2 that /token answers besides
// invalid_request and invalid_grant.
var (
	ErrUnsupportedGrantType = newError(400, "unsupported_grant_type", "The grant type is not supported; use refresh_token.", "")
)

// formContentType is what RFC 6749 §4.1.3 and §6 requests are sent as.
const formContentType = "application/x-www-form-urlencoded"

// hdrPragma is required beside Cache-Control: no-store by RFC 6749 §5.1.
var hdrPragma = Header{"Pragma", "no-cache"}

func (a *Auth) handleToken(ctx context.Context, r *Request) *Response {
	form, err := parseTokenForm(r)
	if err != nil {
		return ErrorResponse(err)
	}
	// client_id, client_secret and scope are accepted and ignored: the
	// application registers no clients, and refreshed tokens keep their
	// session's roles.
	switch gt := form.Get("grant_type"); gt {
	case "refresh_token":
	case "":
		return ErrorResponse(ErrInvalidRequest.WithDescription("grant_type is required"))
	default:
		return ErrorResponse(ErrUnsupportedGrantType)
	}
	token := form.Get("refresh_token")
	if token == "" {
		return ErrorResponse(ErrInvalidRequest.WithDescription("refresh_token is required"))
	}
	pair, err := a.Refresh(ctx, token)
	if err != nil {
		return ErrorResponse(tokenEndpointError(err))
	}
	resp := jsonResponse(200, pair)
	resp.Header = append(resp.Header, hdrPragma)
	return resp
}

// tokenEndpointError turns a refresh failure into RFC 6749's terms: every
// refusal of the grant — unknown, forged, expired, superseded (the session
// is revoked all the same), lost to a concurrent refresh, or of a disabled
// account — is invalid_grant, with /refresh's reason as its description.
// A store that cannot answer stays 503 store_unavailable.
func tokenEndpointError(err error) error {
	for _, e := range []*Error{ErrInvalidRefreshToken, ErrRefreshTokenReused, ErrRefreshConflict, ErrAccountDisabled} {
		if errors.Is(err, e) {
			return ErrInvalidGrant.WithDescription(e.Description)
		}
	}
	return err
}

// parseTokenForm reads a token request: form-encoded UTF-8, each parameter
// at most once (RFC 6749 §3.2).
func parseTokenForm(r *Request) (url.Values, error) {
	if r.BodyTooLarge {
		return nil, ErrPayloadTooLarge
	}
	if mt, _, err := mime.ParseMediaType(r.ContentType); err != nil || mt != formContentType {
		return nil, ErrInvalidRequest.WithDescription("Content-Type must be " + formContentType)
	}
	form, err := url.ParseQuery(string(r.Body))
	if err != nil {
		return nil, ErrInvalidRequest.WithDescription("the body is not a valid form")
	}
	for k, vs := range form {
		if !utf8.ValidString(k) || !utf8.ValidString(vs[0]) {
			return nil, ErrInvalidRequest.WithDescription("the form must be UTF-8")
		}
		if len(vs) > 1 {
			return nil, ErrInvalidRequest.WithDescription("a parameter is repeated: " + truncate(k, 64))
		}
	}
	return form, nil
}
