package oauth_test

import (
	"fmt"

	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/core/memstore"
	"github.com/authenik8/authenik8-go/oauth"
)

// Sign-in with GitHub and any OpenID Connect provider: the providers go in
// core.Config.OAuth, the routes come with the adapters' Mount.
func Example() {
	github, err := oauth.GitHub("github-client-id", "github-client-secret")
	if err != nil {
		panic(err)
	}
	// No request is made until the first sign-in (Discover checks earlier).
	corp, err := oauth.OIDC("https://login.example.com/realms/acme", "client-id", "client-secret")
	if err != nil {
		panic(err)
	}
	key, _ := core.NewHMACKey([]byte("an HS256 secret of at least 32 bytes!"))
	a, err := core.New(core.Config{
		Store: memstore.New(), Users: memstore.NewUsers(nil),
		AccessKeys: []core.Key{key}, RefreshSecret: []byte("a different refresh secret, 32+ bytes"),
		OAuth: &core.OAuthConfig{
			Providers:   map[string]core.Provider{"github": github, "oidc": corp},
			BaseURL:     "https://api.example.com/auth",
			RedirectURL: "https://app.example.com/signed-in",
		},
	})
	if err != nil {
		panic(err)
	}
	// Register this callback with GitHub.
	fmt.Println(a.OAuthCallbackURL("github"))
}
