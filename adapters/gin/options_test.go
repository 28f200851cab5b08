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
// the Middleware's Require*, and is not called for allowed requests.
func TestErrorHandler(t *testing.T) {
	a := newAuth(t)
	var seen []error
	onError := func(c *gin.Context, err error) {
		seen = append(seen, err)
		c.AbortWithStatusJSON(418, gin.H{"custom": core.ErrorResponse(err).Status})
	}
	r := gin.New()
	m := ginauth.New(a, ginauth.WithErrorHandler(onError))
	api := r.Group("/api", m.Authenticate())
	api.GET("/open", func(c *gin.Context) { c.String(200, "ok") })
	api.GET("/admin", m.RequireAdmin(), func(c *gin.Context) { c.String(200, "ok") })
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

// BenchmarkAuthenticate measures the middleware over an open route: the
// difference is the adapter's and core's cost per request (memstore, warm
// token cache).
func BenchmarkAuthenticate(b *testing.B) {
	gin.SetMode(gin.ReleaseMode)
	a := adaptertest.NewAuth(b, memstore.New(), memstore.NewUsers(nil), nil)
	p, err := a.IssueSession(b.Context(), core.User{ID: "u1", Roles: []string{"admin"}}, core.Client{})
	if err != nil {
		b.Fatal(err)
	}
	r := gin.New()
	ok := func(c *gin.Context) { c.Status(200) }
	r.GET("/open", ok)
	r.GET("/authed", ginauth.Authenticate(a), ok)
	r.GET("/admin", ginauth.Authenticate(a), ginauth.RequireAdmin(), ok)
	for _, path := range []string{"/open", "/authed", "/admin"} {
		b.Run(strings.TrimPrefix(path, "/"), func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.Header.Set("Authorization", "Bearer "+p.AccessToken)
			w := &discard{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				w.code = 0
				r.ServeHTTP(w, req)
				if w.code != 200 {
					b.Fatalf("%s: %d", path, w.code)
				}
			}
		})
	}
}

// discard is a ResponseWriter that keeps only the status.
type discard struct {
	h    http.Header
	code int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(code int)        { d.code = code }
