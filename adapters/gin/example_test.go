package ginauth_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/gin-gonic/gin"

	"github.com/authenik8/authenik8-go/adapters/gin"
	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/core/memstore"
)

func Example() {
	gin.SetMode(gin.ReleaseMode)
	key, _ := core.NewHMACKey([]byte("an HS256 secret of at least 32 bytes!"))
	a, _ := core.New(core.Config{
		Store:         memstore.New(),
		Users:         memstore.NewUsers(nil),
		AccessKeys:    []core.Key{key},
		RefreshSecret: []byte("a different refresh secret, 32+ bytes"),
	})

	r := gin.New()
	ginauth.Mount(r.Group("/auth"), a)
	api := r.Group("/api", ginauth.Authenticate(a))
	api.GET("/admin", ginauth.RequireAdmin(), func(c *gin.Context) { c.String(200, "welcome") })

	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/admin", nil))
	fmt.Println(w.Code, w.Header().Get("WWW-Authenticate"))
	fmt.Println(w.Body.String())
	// Output:
	// 401 Bearer
	// {"error":"missing_token","error_description":"A bearer token is required."}
}
