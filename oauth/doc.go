// Package oauth implements core.Provider for sign-in with OAuth 2.0 and
// OpenID Connect providers, on golang.org/x/oauth2 and
// github.com/coreos/go-oidc/v3: any OpenID Connect issuer found by
// discovery (OIDC), Google (Google) and GitHub (GitHub).
//
// Core runs the flow — the routes, state, nonce and PKCE verifier, the
// flow cookie, account resolution and login codes — and a provider only
// talks to the provider: it builds the authorization URL (code flow, PKCE
// S256, the nonce for OpenID Connect) and exchanges the code for a
// verified identity.
//
//	google, _ := oauth.Google(os.Getenv("GOOGLE_CLIENT_ID"), os.Getenv("GOOGLE_CLIENT_SECRET"))
//	github, _ := oauth.GitHub(os.Getenv("GITHUB_CLIENT_ID"), os.Getenv("GITHUB_CLIENT_SECRET"))
//	a, err := core.New(core.Config{
//		// Store, Users, AccessKeys, RefreshSecret…
//		OAuth: &core.OAuthConfig{
//			Providers:   map[string]core.Provider{"google": google, "github": github},
//			BaseURL:     "https://api.example.com/auth",       // where the auth routes are mounted
//			RedirectURL: "https://app.example.com/signed-in",  // ?login_code=… or ?error=…
//		},
//	})
//
// Register each provider's callback, BaseURL + "/oauth/{name}/callback"
// (core.Auth.OAuthCallbackURL), with the provider.
package oauth
