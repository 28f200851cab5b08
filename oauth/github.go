package oauth

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"golang.org/x/oauth2"

	"github.com/authenik8/authenik8-go/core"
)

// GitHubProvider is GitHub (OAuth 2.0, no ID token): the authorization
// code flow with PKCE S256, then the user from the REST API. The subject is
// the user's numeric id, which survives a change of login; the email is
// the primary address, and only when GitHub marks it verified.
type GitHubProvider struct {
	config oauth2.Config
	api    string
	client *http.Client
}

// GitHub returns the GitHub provider of an OAuth app (or a GitHub App's
// user authorization).
func GitHub(clientID, clientSecret string, opts ...Option) (*GitHubProvider, error) {
	if err := checkClient(clientID, clientSecret); err != nil {
		return nil, err
	}
	o := newOptions(opts)
	if o.web == "" {
		o.web = "https://github.com"
	}
	if o.api == "" {
		o.api = "https://api.github.com"
	}
	if len(o.scopes) == 0 {
		o.scopes = []string{"read:user", "user:email"}
	}
	return &GitHubProvider{
		config: oauth2.Config{
			ClientID: clientID, ClientSecret: clientSecret, Scopes: o.scopes,
			Endpoint: oauth2.Endpoint{
				AuthURL:  o.web + "/login/oauth/authorize",
				TokenURL: o.web + "/login/oauth/access_token",
			},
		},
		api:    o.api,
		client: o.client,
	}, nil
}

// AuthCodeURL implements core.Provider. GitHub has no nonce.
func (p *GitHubProvider) AuthCodeURL(_ context.Context, f core.OAuthFlow) (string, error) {
	c := p.config
	c.RedirectURL = f.RedirectURL
	return c.AuthCodeURL(f.State, oauth2.S256ChallengeOption(f.Verifier)), nil
}

// Exchange implements core.Provider: the code for an access token, then
// GET /user and GET /user/emails.
func (p *GitHubProvider) Exchange(ctx context.Context, f core.OAuthFlow, code string) (core.Identity, error) {
	c := p.config
	c.RedirectURL = f.RedirectURL
	tok, err := c.Exchange(context.WithValue(ctx, oauth2.HTTPClient, p.client), code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		return core.Identity{}, fmt.Errorf("oauth: GitHub code exchange: %w", err)
	}
	var user struct {
		ID int64 `json:"id"`
	}
	if err := p.get(ctx, tok, "/user", &user); err != nil {
		return core.Identity{}, err
	}
	if user.ID <= 0 {
		return core.Identity{}, fmt.Errorf("oauth: GitHub /user has no id")
	}
	var emails []struct {
		Email    string `json:"email"`
		Primary  bool   `json:"primary"`
		Verified bool   `json:"verified"`
	}
	if err := p.get(ctx, tok, "/user/emails", &emails); err != nil {
		return core.Identity{}, err
	}
	id := core.Identity{Subject: strconv.FormatInt(user.ID, 10)}
	for _, e := range emails {
		if e.Primary && e.Verified {
			id.Email, id.EmailVerified = e.Email, true
		}
	}
	return id, nil
}

// get reads one JSON resource of GitHub's REST API.
func (p *GitHubProvider) get(ctx context.Context, tok *oauth2.Token, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.api+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	tok.SetAuthHeader(req)
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("oauth: GitHub %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("oauth: GitHub %s answered %s", path, resp.Status)
	}
	if err := decodeJSON(resp, v); err != nil {
		return fmt.Errorf("oauth: GitHub %s: %w", path, err)
	}
	return nil
}
