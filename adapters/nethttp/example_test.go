package httpauth_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/authenik8/authenik8-go/adapters/nethttp"
	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/core/memstore"
)

func Example() {
	key, _ := core.NewHMACKey([]byte("an HS256 secret of at least 32 bytes!"))
	a, _ := core.New(core.Config{
		Store:         memstore.New(),
		Users:         memstore.NewUsers(nil),
		AccessKeys:    []core.Key{key},
		RefreshSecret: []byte("a different refresh secret, 32+ bytes"),
	})

	m := httpauth.New(a)
	mux := http.NewServeMux()
	mux.Handle("/auth/", http.StripPrefix("/auth", m.Handler()))
	admin := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "welcome") })
	mux.Handle("GET /api/admin", m.Authenticate(m.RequireAdmin()(admin)))

	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/admin", nil))
	fmt.Println(w.Code, w.Header().Get("WWW-Authenticate"))
	fmt.Println(w.Body.String())
	// Output:
	// 401 Bearer
	// {"error":"missing_token","error_description":"A bearer token is required."}
}
