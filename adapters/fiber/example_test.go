package fiberauth_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/gofiber/fiber/v2"

	"github.com/authenik8/authenik8-go/adapters/fiber"
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

	// Access tokens may be up to 8 KiB: leave room for them in the headers.
	app := fiber.New(fiber.Config{ReadBufferSize: 16 << 10, DisableStartupMessage: true})
	fiberauth.Mount(app.Group("/auth"), a)
	api := app.Group("/api")
	api.Get("/admin", fiberauth.Authenticate(a), fiberauth.RequireAdmin(), func(c *fiber.Ctx) error {
		return c.SendString("welcome")
	})

	resp, _ := app.Test(httptest.NewRequest(http.MethodGet, "/api/admin", nil), -1)
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	fmt.Println(string(body))
	// Output:
	// 401 Bearer
	// {"error":"missing_token","error_description":"A bearer token is required."}
}
