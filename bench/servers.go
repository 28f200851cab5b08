package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	ginjwt "github.com/appleboy/gin-jwt/v2"
	"github.com/gin-gonic/gin"
	jwtware "github.com/gofiber/contrib/jwt"
	"github.com/gofiber/fiber/v2"
	echojwt "github.com/labstack/echo-jwt/v4"
	"github.com/labstack/echo/v4"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/redis/rueidis"

	echoauth "github.com/authenik8/authenik8-go/adapters/echo"
	fiberauth "github.com/authenik8/authenik8-go/adapters/fiber"
	ginauth "github.com/authenik8/authenik8-go/adapters/gin"
	"github.com/authenik8/authenik8-go/core"
)

// The four designs measured on each framework, behind one handler that
// answers the same static body.
const (
	open      = "open"      // (a) no authentication
	authenik8 = "authenik8" // (b) Authenticate on the Redis store: signature, claims, session alive
	peer      = "peer"      // (c) the stateless JWT middleware users would pick for the framework
	naive     = "naive"     // (d) jwx verification plus one plain Redis GET per request
)

var (
	scenarios  = []string{open, authenik8, peer, naive}
	frameworks = []string{"gin", "echo", "fiber"}
	okBody     = []byte(`{"ok":true}`)
)

// deps is what the servers share: the Auth on Redis, the HS256 secret the
// peers verify with, and a plain (uncached) Redis client for the naive design.
type deps struct {
	auth   *core.Auth
	secret []byte
	plain  rueidis.Client
}

// naiveCheck is the design Authenik8 is measured against: verify the JWT from
// scratch, then ask Redis whether the session lives, every request.
func (d *deps) naiveCheck(ctx context.Context, authorization string) error {
	tok, err := jwt.ParseString(core.BearerToken(authorization), jwt.WithKey(jwa.HS256, d.secret), jwt.WithValidate(true))
	if err != nil {
		return err
	}
	sid, _ := tok.PrivateClaims()["sid"].(string)
	v, err := d.plain.Do(ctx, d.plain.B().Get().Key("naive:"+sid).Build()).ToString()
	if err != nil || v != "1" {
		return errors.New("session not alive")
	}
	return nil
}

// server is one running framework server.
type server struct {
	url  string
	stop func()
}

func serveHTTP(h http.Handler) (*server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	return &server{url: "http://" + l.Addr().String(), stop: func() { srv.Close() }}, nil
}

// start runs framework fw with the scenario's middleware on GET /api/profile,
// and, for authenik8, the auth routes under /auth (the refresh measurement).
func start(fw, scenario string, d *deps) (*server, error) {
	switch fw {
	case "gin":
		return serveHTTP(ginServer(scenario, d))
	case "echo":
		return serveHTTP(echoServer(scenario, d))
	case "fiber":
		app := fiberServer(scenario, d)
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		go app.Listener(l)
		return &server{url: "http://" + l.Addr().String(), stop: func() { app.Shutdown() }}, nil
	}
	return nil, errors.New("unknown framework " + fw)
}

func ginServer(scenario string, d *deps) http.Handler {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	handler := func(c *gin.Context) { c.Data(200, "application/json", okBody) }
	var mw []gin.HandlerFunc
	switch scenario {
	case authenik8:
		ginauth.Mount(r.Group("/auth"), d.auth)
		mw = append(mw, ginauth.Authenticate(d.auth))
	case peer:
		m, err := ginjwt.New(&ginjwt.GinJWTMiddleware{Realm: "bench", Key: d.secret, Timeout: time.Hour, IdentityKey: "sub"})
		if err != nil {
			panic(err)
		}
		mw = append(mw, m.MiddlewareFunc())
	case naive:
		mw = append(mw, func(c *gin.Context) {
			if err := d.naiveCheck(c.Request.Context(), c.GetHeader("Authorization")); err != nil {
				c.AbortWithStatus(401)
				return
			}
			c.Next()
		})
	}
	r.GET("/api/profile", append(mw, handler)...)
	return r
}

func echoServer(scenario string, d *deps) http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	handler := func(c echo.Context) error { return c.Blob(200, "application/json", okBody) }
	var mw []echo.MiddlewareFunc
	switch scenario {
	case authenik8:
		echoauth.Mount(e.Group("/auth"), d.auth)
		mw = append(mw, echoauth.Authenticate(d.auth))
	case peer:
		mw = append(mw, echojwt.WithConfig(echojwt.Config{SigningKey: d.secret}))
	case naive:
		mw = append(mw, func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c echo.Context) error {
				if err := d.naiveCheck(c.Request().Context(), c.Request().Header.Get("Authorization")); err != nil {
					return c.NoContent(401)
				}
				return next(c)
			}
		})
	}
	e.GET("/api/profile", handler, mw...)
	return e
}

func fiberServer(scenario string, d *deps) *fiber.App {
	app := fiber.New(fiber.Config{DisableStartupMessage: true, ReadBufferSize: 16 << 10})
	handler := func(c *fiber.Ctx) error {
		c.Set("Content-Type", "application/json")
		return c.Send(okBody)
	}
	var mw []fiber.Handler
	switch scenario {
	case authenik8:
		fiberauth.Mount(app.Group("/auth"), d.auth)
		mw = append(mw, fiberauth.Authenticate(d.auth))
	case peer:
		mw = append(mw, jwtware.New(jwtware.Config{SigningKey: jwtware.SigningKey{JWTAlg: "HS256", Key: d.secret}}))
	case naive:
		mw = append(mw, func(c *fiber.Ctx) error {
			if err := d.naiveCheck(c.UserContext(), c.Get("Authorization")); err != nil {
				return c.SendStatus(401)
			}
			return c.Next()
		})
	}
	app.Get("/api/profile", append(mw, handler)...)
	return app
}
