package adaptertest

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/authenik8/authenik8-go/core"
)

// lifecycleTokens mints the main account's link tokens for the catalog:
// the forged one first (the forger's store is the suite's, and a newer
// token replaces an older), then the genuine ones.
func (fx *badFixture) lifecycleTokens(forger *core.Auth) {
	if _, ok := fx.e.users.(core.LinkTokenStore); !ok {
		fx.t.Fatal("adaptertest: the user store is no core.LinkTokenStore")
	}
	ctx := context.Background()
	mint := func(a *core.Auth, purpose string) string {
		tok, err := a.NewLinkToken(ctx, fx.mainID, purpose, time.Hour)
		if err != nil {
			fx.t.Fatal(err)
		}
		return tok
	}
	fx.forgedReset = mint(forger, core.PurposePasswordReset)
	fx.resetTok = mint(fx.e.auth, core.PurposePasswordReset)
	fx.verifyTok = mint(fx.e.auth, core.PurposeEmailVerification)
}

func jsonOf(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// lifecycleCases are the catalog's cases for the account routes. A case
// that a route accepted by mistake shows in the state checks: a changed
// password no longer authenticates the main account with the suite's
// password, a disabled account is reported, ended sessions are in the
// snapshot.
func (fx *badFixture) lifecycleCases() []badCase {
	live := fx.live.AccessToken
	pw := password
	change := func(cur, next string) []byte {
		return jsonOf(map[string]string{"current_password": cur, "new_password": next})
	}
	reset := func(tok, next string) []byte { return jsonOf(map[string]string{"token": tok, "new_password": next}) }
	users := "/auth/users/"
	return []badCase{
		// POST /password, with the live session's bearer token unless said
		// otherwise: only the right current password and a valid new one
		// may change anything.
		post("password/malformed JSON", "/auth/password", ctJSON, []byte(`{"current_password":`), bearerH(live)).wants(core.ErrInvalidRequest),
		post("password/wrong types", "/auth/password", ctJSON, []byte(`{"current_password":1,"new_password":true}`), bearerH(live)).wants(core.ErrInvalidRequest),
		post("password/new password of 7 bytes", "/auth/password", ctJSON, change(pw, "1234567"), bearerH(live)).wants(core.ErrInvalidRequest),
		post("password/new password of 1025 bytes", "/auth/password", ctJSON, change(pw, strings.Repeat("p", 1025)), bearerH(live)).wants(core.ErrInvalidRequest),
		post("password/no new password", "/auth/password", ctJSON, jsonOf(map[string]string{"current_password": pw}), bearerH(live)).wants(core.ErrInvalidRequest),
		post("password/wrong current password", "/auth/password", ctJSON, change(badPass, "another password 1"), bearerH(live)).wants(core.ErrInvalidCredentials),
		post("password/text/plain", "/auth/password", "text/plain", change(pw, "another password 1"), bearerH(live)).wants(core.ErrInvalidRequest),
		post("password/no token", "/auth/password", ctJSON, change(pw, "another password 1")).wants(core.ErrMissingToken),
		post("password/garbage bearer", "/auth/password", ctJSON, change(pw, "another password 1"), bearerH("garbage")).wants(core.ErrInvalidToken),

		// POST /password/forgot: malformed addresses are refused; a
		// well-formed one is 202 whether or not it has an account.
		post("forgot/invalid email", "/auth/password/forgot", ctJSON, jsonOf(map[string]string{"email": "not-an-email"})).wants(core.ErrInvalidRequest),
		post("forgot/email an array", "/auth/password/forgot", ctJSON, []byte(`{"email":["`+badMain+`"]}`)).wants(core.ErrInvalidRequest),
		post("forgot/zero-width space in the email", "/auth/password/forgot", ctJSON, jsonOf(map[string]string{"email": "catalog\u200b@example.com"})).wants(core.ErrInvalidRequest),
		post("forgot/null body", "/auth/password/forgot", ctJSON, []byte(`null`)).wants(core.ErrInvalidRequest),
		post("forgot/over 16 KiB", "/auth/password/forgot", ctJSON, padded(core.DefaultBodyLimit+1)).wants(core.ErrPayloadTooLarge),
		post("forgot/unknown email is accepted", "/auth/password/forgot", ctJSON, jsonOf(map[string]string{"email": "nobody@example.com"})).succeeds(202),

		// POST /password/reset: only a genuine, unspent reset token with a
		// valid password may reset.
		post("reset/garbage token", "/auth/password/reset", ctJSON, reset("garbage", "another password 1")).wants(core.ErrInvalidGrant),
		post("reset/forged token for the main account", "/auth/password/reset", ctJSON, reset(fx.forgedReset, "another password 1")).wants(core.ErrInvalidGrant),
		post("reset/verification token as reset token", "/auth/password/reset", ctJSON, reset(fx.verifyTok, "another password 1")).wants(core.ErrInvalidGrant),
		post("reset/refresh token as reset token", "/auth/password/reset", ctJSON, reset(fx.live.RefreshToken, "another password 1")).wants(core.ErrInvalidGrant),
		post("reset/access token as reset token", "/auth/password/reset", ctJSON, reset(live, "another password 1")).wants(core.ErrInvalidGrant),
		post("reset/newline inside a genuine token", "/auth/password/reset", ctJSON, reset(fx.resetTok[:30]+"\n"+fx.resetTok[30:], "another password 1")).wants(core.ErrInvalidGrant),
		post("reset/genuine token with spare bits changed", "/auth/password/reset", ctJSON, reset(reencodeLast(fx.resetTok), "another password 1")).wants(core.ErrInvalidGrant),
		post("reset/genuine token with a 7-byte password", "/auth/password/reset", ctJSON, reset(fx.resetTok, "1234567")).wants(core.ErrInvalidRequest),
		post("reset/genuine token without a password", "/auth/password/reset", ctJSON, jsonOf(map[string]string{"token": fx.resetTok})).wants(core.ErrInvalidRequest),
		post("reset/token a number", "/auth/password/reset", ctJSON, []byte(`{"token":42,"new_password":"another password 1"}`)).wants(core.ErrInvalidRequest),

		// POST /email/verify and /email/verify/send.
		post("verify/garbage token", "/auth/email/verify", ctJSON, jsonOf(map[string]string{"token": "garbage"})).wants(core.ErrInvalidGrant),
		post("verify/reset token as verification token", "/auth/email/verify", ctJSON, jsonOf(map[string]string{"token": fx.resetTok})).wants(core.ErrInvalidGrant),
		post("verify/empty token", "/auth/email/verify", ctJSON, []byte(`{"token":""}`)).wants(core.ErrInvalidRequest),
		post("verify/send without a token", "/auth/email/verify/send", "", nil).wants(core.ErrMissingToken),

		// Sessions and the admin routes, with a user's token.
		post("logout-others/garbage bearer", "/auth/logout-others", "", nil, bearerH("garbage")).wants(core.ErrInvalidToken),
		get("admin/user sessions as a user", users+fx.mainID+"/sessions", bearerH(live)).wants(core.ErrForbidden),
		post("admin/disable oneself as a user", users+fx.mainID+"/disable", "", nil, bearerH(live)).wants(core.ErrForbidden),
		post("admin/disable another user as a user", users+fx.otherID+"/disable", "", nil, bearerH(live)).wants(core.ErrForbidden),
		post("admin/disable without a token", users+fx.mainID+"/disable", "", nil).wants(core.ErrMissingToken),
		post("admin/percent-encoded id as a user", users+"a%00b%FF/disable", "", nil, bearerH(live)).wants(core.ErrForbidden),
	}
}
