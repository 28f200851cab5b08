package oauth_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/oauth"
)

// fakeGitHub imitates GitHub's OAuth endpoints and REST API as far as the
// provider uses them: authorize (PKCE S256), access_token (client
// credentials, code, verifier), GET /user and GET /user/emails.
type fakeGitHub struct {
	*httptest.Server
	mu     sync.Mutex
	id     int64
	emails []map[string]any
	status int               // of /user/emails; 0 is 200
	codes  map[string]string // code → challenge
}

func newFakeGitHub(t *testing.T) *fakeGitHub {
	g := &fakeGitHub{codes: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login/oauth/authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("client_id") != "gh-client" || q.Get("code_challenge_method") != "S256" || q.Get("scope") != "read:user user:email" {
			http.Error(w, "bad authorize request", 400)
			return
		}
		g.mu.Lock()
		code := "code-" + q.Get("state")[:8]
		g.codes[code] = q.Get("code_challenge")
		g.mu.Unlock()
		http.Redirect(w, r, q.Get("redirect_uri")+"?code="+code+"&state="+url.QueryEscape(q.Get("state")), 302)
	})
	mux.HandleFunc("POST /login/oauth/access_token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		id, secret, ok := r.BasicAuth()
		if !ok {
			id, secret = r.Form.Get("client_id"), r.Form.Get("client_secret")
		}
		sum := sha256.Sum256([]byte(r.Form.Get("code_verifier")))
		g.mu.Lock()
		challenge, known := g.codes[r.Form.Get("code")]
		delete(g.codes, r.Form.Get("code"))
		g.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if id != "gh-client" || secret != "gh-secret" || !known || base64.RawURLEncoding.EncodeToString(sum[:]) != challenge {
			// GitHub answers refusals with 200 and an error body.
			json.NewEncoder(w).Encode(map[string]string{"error": "bad_verification_code"})
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"access_token": "gho_test", "token_type": "bearer", "scope": "read:user,user:email"})
	})
	api := func(h func(w http.ResponseWriter)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer gho_test" {
				http.Error(w, `{"message":"Bad credentials"}`, 401)
				return
			}
			g.mu.Lock()
			defer g.mu.Unlock()
			h(w)
		}
	}
	mux.HandleFunc("GET /api/user", api(func(w http.ResponseWriter) {
		json.NewEncoder(w).Encode(map[string]any{"id": g.id, "login": "octocat", "email": nil})
	}))
	mux.HandleFunc("GET /api/user/emails", api(func(w http.ResponseWriter) {
		if g.status != 0 {
			w.WriteHeader(g.status)
			return
		}
		json.NewEncoder(w).Encode(g.emails)
	}))
	g.Server = httptest.NewServer(mux)
	t.Cleanup(g.Close)
	return g
}

func (g *fakeGitHub) set(id int64, status int, emails ...map[string]any) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.id, g.status, g.emails = id, status, emails
}

func email(addr string, primary, verified bool) map[string]any {
	return map[string]any{"email": addr, "primary": primary, "verified": verified, "visibility": "private"}
}

// TestGitHub: the subject is the numeric id; the email is the primary one,
// only when verified.
func TestGitHub(t *testing.T) {
	g := newFakeGitHub(t)
	ap := newApp(t, func(string) map[string]core.Provider {
		p, err := oauth.GitHub("gh-client", "gh-secret", oauth.WithGitHubURLs(g.URL, g.URL+"/api"))
		if err != nil {
			t.Fatal(err)
		}
		return map[string]core.Provider{"github": p}
	})
	b := ap.browser()
	start := ap.base + "/auth/oauth/github/start"

	g.set(583231, 0, email("octo@work.example", false, true), email("Octo@Example.com", true, true))
	sub := ap.signedIn(t, landing(t, b.get(t, start)))
	u, err := ap.users.UserByIdentity(context.Background(), "github", "583231")
	if err != nil || u.ID != sub || u.Email != "octo@example.com" || !u.EmailVerified {
		t.Fatalf("GitHub account %+v, %v", u, err)
	}

	ap.snapshot()
	for _, tc := range []struct {
		name   string
		status int
		emails []map[string]any
		want   string
	}{
		{"primary unverified, another verified", 0, []map[string]any{email("new@example.com", true, false), email("other@example.com", false, true)}, core.OAuthErrorEmailNotVerified},
		{"no emails", 0, nil, core.OAuthErrorEmailNotVerified},
		{"emails API refused", 403, nil, core.OAuthErrorProvider},
	} {
		g.set(777, tc.status, tc.emails...)
		if land := landing(t, b.get(t, start)); land.Get("error") != tc.want {
			t.Fatalf("%s: %v, want %s", tc.name, land, tc.want)
		}
		ap.unchanged(t)
	}
	// A refused code exchange (GitHub's 200 with an error body).
	auth := b.start(t, "github")
	cb := b.atProvider(t, auth.String())
	if land := landing(t, b.get(t, setParam(cb, "code", "code-unknown"))); land.Get("error") != core.OAuthErrorProvider {
		t.Fatalf("unknown code: %v", land)
	}
	ap.unchanged(t)
}

// TestGoogle: Google's endpoints are built in; its authorization URL asks
// for openid and email, with PKCE S256 and the nonce, and no request is
// made to build it.
func TestGoogle(t *testing.T) {
	p, err := oauth.Google("g-client", "g-secret", oauth.WithHTTPClient(&http.Client{Transport: failTransport{t}}))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Discover(context.Background()); err != nil {
		t.Fatalf("Discover of a provider with known endpoints: %v", err)
	}
	raw, err := p.AuthCodeURL(context.Background(), core.OAuthFlow{RedirectURL: "https://api.example.com/auth/oauth/google/callback", State: "st", Nonce: "nn", Verifier: strings.Repeat("v", 43)})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(raw)
	q := u.Query()
	if u.Host != "accounts.google.com" || u.Path != "/o/oauth2/v2/auth" || q.Get("client_id") != "g-client" || q.Get("scope") != "openid email" ||
		q.Get("state") != "st" || q.Get("nonce") != "nn" || q.Get("code_challenge_method") != "S256" || q.Get("response_type") != "code" {
		t.Fatalf("Google authorization URL %s", raw)
	}
	if p.Issuer() != "https://accounts.google.com" {
		t.Fatalf("issuer %s", p.Issuer())
	}
}

type failTransport struct{ t *testing.T }

func (f failTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	f.t.Errorf("unexpected request to %s", r.URL)
	return nil, http.ErrNotSupported
}

func TestProviderConstructors(t *testing.T) {
	for name, err := range map[string]error{
		"OIDC no secret":   second(oauth.OIDC("https://issuer.example", "id", "")),
		"OIDC bad issuer":  second(oauth.OIDC("issuer.example", "id", "secret")),
		"Google no id":     second(oauth.Google("", "secret")),
		"GitHub no secret": second(oauth.GitHub("id", "")),
	} {
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// Discovery failing is an error of the sign-in, not of the constructor,
	// and is tried again.
	p, err := oauth.OIDC("http://127.0.0.1:1/none", "id", "secret")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := p.AuthCodeURL(context.Background(), core.OAuthFlow{}); err == nil {
			t.Fatal("AuthCodeURL without a reachable issuer")
		}
	}
}

func second[T any](_ T, err error) error { return err }
