package httpauth

import (
	"net/http/httptest"
	"testing"

	"github.com/authenik8/authenik8-go/core"
)

// TestRouteParams: a route's parameter may sit anywhere in its path, and is
// found from the end of the request's path whatever the mount prefix.
func TestRouteParams(t *testing.T) {
	for _, tc := range []struct{ path, pattern, url, name, want string }{
		{"/sessions/:id", "/sessions/{id}", "/auth/sessions/u1.abc", "id", "u1.abc"},
		{"/users/:id/sessions", "/users/{id}/sessions", "/api/v1/auth/users/u%2F1/sessions", "id", "u/1"},
		{"/oauth/:provider/callback", "/oauth/{provider}/callback", "/oauth/github/callback?code=x", "provider", "github"},
		{"/users/:id/disable", "/users/{id}/disable", "/disable", "id", ""},
		{"/me", "/me", "/auth/me", "id", ""},
	} {
		if got := muxPattern(tc.path); got != tc.pattern {
			t.Errorf("muxPattern(%q) = %q, want %q", tc.path, got, tc.pattern)
		}
		r := reader{core.HTTPRequest{R: httptest.NewRequest("GET", tc.url, nil)}, tc.path}
		if got := r.PathParam(tc.name); got != tc.want {
			t.Errorf("%s on %s: PathParam(%q) = %q, want %q", tc.path, tc.url, tc.name, got, tc.want)
		}
	}
}
