package core_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/core/memstore"
)

// The whole lifecycle: register, login, verify, refresh, replay, logout.
func Example() {
	ctx := context.Background()
	key, _ := core.NewHMACKey([]byte("an HS256 secret of at least 32 bytes!"))
	a, err := core.New(core.Config{
		Store:         memstore.New(),
		Users:         memstore.NewUsers(nil),
		AccessKeys:    []core.Key{key},
		RefreshSecret: []byte("a different refresh secret, 32+ bytes"),
		ReuseGrace:    -1, // no grace: a replay is reuse at once
	})
	if err != nil {
		panic(err)
	}
	if _, err := a.Register(ctx, "ada@example.com", "correct horse", core.Client{}); err != nil {
		panic(err)
	}
	pair, err := a.Login(ctx, "Ada@Example.com", "correct horse", core.Client{UserAgent: "example"})
	if err != nil {
		panic(err)
	}
	claims, _ := a.Verify(ctx, pair.AccessToken)
	fmt.Println("roles:", claims.Roles)

	next, _ := a.Refresh(ctx, pair.RefreshToken)
	_, err = a.Refresh(ctx, pair.RefreshToken) // the old token again
	fmt.Println("replay:", errors.Is(err, core.ErrRefreshTokenReused))
	_, err = a.Verify(ctx, next.AccessToken)
	fmt.Println("after reuse:", core.ErrorResponse(err).Status, errors.Is(err, core.ErrTokenRevoked))
	// Output:
	// roles: [user]
	// replay: true
	// after reuse: 401 true
}

// Role and permission checks are Rules; the adapters turn them into
// middleware.
func ExampleRule() {
	ctx := context.Background()
	key, _ := core.NewHMACKey([]byte("an HS256 secret of at least 32 bytes!"))
	a, _ := core.New(core.Config{
		Store:         memstore.New(),
		AccessKeys:    []core.Key{key},
		RefreshSecret: []byte("a different refresh secret, 32+ bytes"),
		Permissions:   map[string][]string{"editor": {"posts:write"}},
	})
	pair, _ := a.IssueSession(ctx, core.User{ID: "u1", Roles: []string{"editor"}}, core.Client{})
	claims, _ := a.Verify(ctx, pair.AccessToken)

	fmt.Println(core.Permission("posts:write")(claims))
	fmt.Println(core.Admin()(claims))
	// Output:
	// <nil>
	// authenik8: forbidden: You do not have permission to do this.
}

// ErrorResponse is the one place where an error becomes HTTP.
func ExampleErrorResponse() {
	r := core.ErrorResponse(core.ErrTokenExpired)
	fmt.Println(r.Status)
	for _, h := range r.Header {
		fmt.Printf("%s: %s\n", h.Key, h.Value)
	}
	fmt.Println(string(r.Body))
	// Output:
	// 401
	// Content-Type: application/json
	// Cache-Control: no-store
	// WWW-Authenticate: Bearer error="invalid_token"
	// {"error":"token_expired","error_description":"The access token has expired."}
}
