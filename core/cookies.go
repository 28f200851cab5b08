package core

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// CookieConfig turns on cookie mode (Config.Cookies): browsers keep the
// refresh token in an HttpOnly; Secure; SameSite=Strict cookie scoped to the
// auth routes, out of reach of scripts, and /login and /refresh leave it out
// of the JSON body. A request whose credential is a cookie — /refresh or
// /logout with the refresh cookie and no refresh_token in the body, or any
// state-changing route (POST, DELETE) reached with an access token read from
// a cookie (the adapters' token lookup) — must pass a CSRF check: an Origin
// (or Referer) of the site itself, same scheme, host and port, or of
// TrustedOrigins, and a double-submit token, the CSRF cookie's value echoed
// in CSRFHeader. Clients that send tokens in the body or the Authorization
// header are unaffected.
type CookieConfig struct {
	// Path is where the auth routes are mounted, e.g. "/auth": the refresh
	// cookie is only sent there. Required.
	Path string
	// RefreshName names the refresh-token cookie. Default "a8_refresh".
	RefreshName string
	// CSRFName names the CSRF cookie, readable by the page's scripts (Path
	// "/"). Default "a8_csrf".
	CSRFName string
	// CSRFHeader carries the CSRF cookie's value back. Default "X-CSRF-Token".
	CSRFHeader string
	// Domain of both cookies. Default: none (the host only).
	Domain string
	// TrustedOrigins are other origins allowed to call the routes with the
	// cookie, e.g. "https://app.example.com". The site's own origin always is.
	TrustedOrigins []string
	// Insecure drops the Secure attribute, for local development over plain
	// http only.
	Insecure bool

	trusted []origin // TrustedOrigins, parsed
}

func (c *CookieConfig) withDefaults() (*CookieConfig, error) {
	if c == nil {
		return nil, nil
	}
	d := *c
	if d.Path == "" || d.Path[0] != '/' {
		return nil, errors.New(`authenik8: Config.Cookies.Path must be the mount point of the auth routes, such as "/auth"`)
	}
	if d.RefreshName == "" {
		d.RefreshName = "a8_refresh"
	}
	if d.CSRFName == "" {
		d.CSRFName = "a8_csrf"
	}
	if d.CSRFHeader == "" {
		d.CSRFHeader = "X-CSRF-Token"
	}
	d.trusted = nil
	for _, t := range d.TrustedOrigins {
		o, ok := parseOrigin(t)
		if !ok {
			return nil, fmt.Errorf("authenik8: Config.Cookies.TrustedOrigins: %q is not an origin such as \"https://app.example.com\"", t)
		}
		d.trusted = append(d.trusted, o)
	}
	return &d, nil
}

// setCookies adds the refresh and CSRF cookies to a token response.
func (c *CookieConfig) setCookies(r *Response, refresh string, maxAge int64) {
	r.Header = append(r.Header,
		Header{"Set-Cookie", c.cookie(c.RefreshName, refresh, c.Path, int(maxAge), true)},
		Header{"Set-Cookie", c.cookie(c.CSRFName, randomString(32), "/", int(maxAge), false)},
	)
}

// clearCookies adds the expiry of both cookies (logout).
func (c *CookieConfig) clearCookies(r *Response) *Response {
	out := &Response{Status: r.Status, Header: append([]Header(nil), r.Header...), Body: r.Body}
	out.Header = append(out.Header,
		Header{"Set-Cookie", c.cookie(c.RefreshName, "", c.Path, -1, true)},
		Header{"Set-Cookie", c.cookie(c.CSRFName, "", "/", -1, false)},
	)
	return out
}

func (c *CookieConfig) cookie(name, value, path string, maxAge int, httpOnly bool) string {
	ck := &http.Cookie{
		Name: name, Value: value, Path: path, Domain: c.Domain, MaxAge: maxAge,
		HttpOnly: httpOnly, Secure: !c.Insecure, SameSite: http.SameSiteStrictMode,
	}
	if maxAge < 0 {
		ck.Expires = time.Unix(0, 0)
	}
	return ck.String()
}

// refreshFromCookie returns the refresh token a request presents by cookie,
// after the CSRF check; "" when there is no such cookie.
func (c *CookieConfig) refreshFromCookie(r *Request) (string, error) {
	if c == nil || r.Cookie == nil {
		return "", nil
	}
	token := r.Cookie(c.RefreshName)
	if token == "" {
		return "", nil
	}
	if err := c.checkCSRF(r); err != nil {
		return "", err
	}
	return token, nil
}

// csrfConfig is the cookie-mode configuration, or its defaults when cookie
// mode is off: an access token read from a cookie is checked all the same,
// so such an application must issue the CSRF cookie (cookie mode does) or
// its state-changing routes refuse cookie-authenticated requests.
func (a *Auth) csrfConfig() *CookieConfig {
	if a.cookies != nil {
		return a.cookies
	}
	return defaultCSRF
}

var defaultCSRF, _ = (&CookieConfig{Path: "/"}).withDefaults()

// checkCSRF: the request comes from the site itself or a trusted origin, as
// far as the browser says (Origin, else Referer), and echoes the CSRF
// cookie in the header — which a cross-site page cannot read.
func (c *CookieConfig) checkCSRF(r *Request) error {
	header := func(k string) string {
		if r.Header == nil {
			return ""
		}
		return r.Header(k)
	}
	origin := header("Origin")
	if origin == "" {
		if ref, err := url.Parse(header("Referer")); err == nil && ref.Host != "" {
			origin = ref.Scheme + "://" + ref.Host
		}
	}
	if origin != "" && !c.sameOrTrusted(origin, r.Scheme, r.Host) {
		return ErrCSRF
	}
	var want string
	if r.Cookie != nil {
		want = r.Cookie(c.CSRFName)
	}
	got := header(c.CSRFHeader)
	if want == "" || subtle.ConstantTimeCompare([]byte(want), []byte(got)) != 1 {
		return ErrCSRF
	}
	return nil
}

// sameOrTrusted compares origins by scheme, host and port (RFC 6454): the
// request's own origin is its scheme ("" is http) and Host.
func (c *CookieConfig) sameOrTrusted(origin, scheme, host string) bool {
	o, ok := parseOrigin(origin)
	if !ok {
		return false
	}
	if scheme == "" {
		scheme = "http"
	}
	if self, ok := parseOrigin(scheme + "://" + host); ok && host != "" && o == self {
		return true
	}
	for _, t := range c.trusted {
		if o == t {
			return true
		}
	}
	return false
}

// origin is a normalized (scheme, host, port) triple.
type origin struct{ scheme, host, port string }

// parseOrigin reads "scheme://host[:port]" with the scheme's default port
// made explicit; "null" and anything with a path, user or query is not an
// origin.
func parseOrigin(s string) (origin, bool) {
	u, err := url.Parse(strings.TrimSuffix(s, "/"))
	if err != nil || u.Host == "" || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" {
		return origin{}, false
	}
	o := origin{scheme: strings.ToLower(u.Scheme), host: strings.ToLower(u.Hostname()), port: u.Port()}
	if o.port == "" {
		switch o.scheme {
		case "http":
			o.port = "80"
		case "https":
			o.port = "443"
		default:
			return origin{}, false
		}
	}
	return o, o.host != ""
}
