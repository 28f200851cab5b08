package memstore_test

import (
	"context"
	"fmt"

	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/core/memstore"
)

func ExampleNew() {
	ctx := context.Background()
	key, _ := core.NewHMACKey([]byte("an HS256 secret of at least 32 bytes!"))
	a, _ := core.New(core.Config{
		Store:         memstore.New(),
		AccessKeys:    []core.Key{key},
		RefreshSecret: []byte("a different refresh secret, 32+ bytes"),
	})
	pair, _ := a.IssueSession(ctx, core.User{ID: "u1"}, core.Client{UserAgent: "cli"})
	sessions, _ := a.Sessions(ctx, "u1", pair.SessionID)
	fmt.Println(len(sessions), sessions[0].UserAgent, sessions[0].Current)
	// Output: 1 cli true
}

func ExampleNewUsers() {
	ctx := context.Background()
	users := memstore.NewUsers(nil)
	u, _ := users.Register(ctx, "ada@example.com", "correct horse", []string{"user"})
	_, err := users.Authenticate(ctx, "ada@example.com", "wrong horse")
	fmt.Println(u.Email, u.Roles, err)
	// Output: ada@example.com [user] authenik8: invalid_credentials: The email or password is incorrect.
}
