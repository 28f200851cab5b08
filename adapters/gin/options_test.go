package ginauth_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/authenik8/authenik8-go/adapters/gin"
	"github.com/authenik8/authenik8-go/conformance/adaptertest"
	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/core/memstore"
)

func newAuth(t *testing.T) *core.Auth {
	return adaptertest.NewAuth(t, memstore.New(), memstore.NewUsers(nil), nil)
}

// TestErrorHandler: WithErrorHandler answers refusals of Authenticate and of
// the Require* after it, and is not called for allowed requests.
func TestErrorHandler(t *testing.T) {
	a := newAuth(t)
	var seen []error
	onError := func(c *gin.Context, err error) {
		seen = append(seen, err)
		c.AbortWithStatusJSON(418, gin.H{"custom": core.ErrorResponse(err).Status})
	}
	r := gin.New()
	api := r.Group("/api", ginauth.Authenticate(a, ginauth.WithErrorHandler(onError)))
	api.GET("/open", func(c *gin.Context) { c.String(200, "ok") })
	api.GET("/admin", ginauth.RequireAdmin(), func(c *gin.Context) { c.String(200, "ok") })
	p, err := a.IssueSession(t.Context(), core.User{ID: "u1", Roles: []string{"user"}}, core.Client{})
	if err != nil {
		t.Fatal(err)
	}
	get := func(path, token string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		r.ServeHTTP(w, req)
		return w
	}
	if w := get("/api/open", ""); w.Code != 418 || !strings.Contains(w.Body.String(), "401") {
		t.Fatalf("refused Authenticate: %d %s", w.Code, w.Body)
	}
	if w := get("/api/admin", p.AccessToken); w.Code != 418 || !strings.Contains(w.Body.String(), "403") {
		t.Fatalf("refused Require: %d %s", w.Code, w.Body)
	}
	if w := get("/api/open", p.AccessToken); w.Code != 200 {
		t.Fatalf("allowed request: %d %s", w.Code, w.Body)
	}
	if len(seen) != 2 || !errors.Is(seen[0], core.ErrMissingToken) || !errors.Is(seen[1], core.ErrForbidden) {
		t.Fatalf("handler saw %v", seen)
	}
}

// TestNoContent: a 204 has no body and no Content-Type.
func TestNoContent(t *testing.T) {
	a := newAuth(t)
	r := gin.New()
	ginauth.Mount(r.Group("/auth"), a)
	p, _ := a.IssueSession(t.Context(), core.User{ID: "u1"}, core.Client{})
	w := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/auth/logout", nil)
	req.Header.Set("Authorization", "Bearer "+p.AccessToken)
	r.ServeHTTP(w, req)
	if w.Code != 204 || w.Body.Len() != 0 || w.Header().Get("Content-Type") != "" || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("logout: %d %q %v", w.Code, w.Body, w.Header())
	}
}
