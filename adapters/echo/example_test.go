package echoauth_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/labstack/echo/v4"

	"github.com/authenik8/authenik8-go/adapters/echo"
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

	e := echo.New()
	echoauth.Mount(e.Group("/auth"), a)
	api := e.Group("/api", echoauth.Authenticate(a))
	api.GET("/admin", func(c echo.Context) error { return c.String(200, "welcome") }, echoauth.RequireAdmin())

	w := httptest.NewRecorder()
	e.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/admin", nil))
	fmt.Println(w.Code, w.Header().Get("WWW-Authenticate"))
	fmt.Println(w.Body.String())
	// Output:
	// 401 Bearer
	// {"error":"missing_token","error_description":"A bearer token is required."}
}
