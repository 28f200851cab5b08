package core

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// CookieConfig turns on cookie mode (Config.Cookies): browsers keep the
// refresh token in an HttpOnly; Secure; SameSite=Strict cookie scoped to the
// auth routes, out of reach of scripts, and /login and /refresh leave it out
// of the JSON body. A request that presents the refresh token by cookie —
// /refresh or /logout without a refresh_token in the body — must pass a CSRF
// check: an Origin (or Referer) of the site itself or of TrustedOrigins, and
// a double-submit token, the CSRF cookie's value echoed in CSRFHeader.
// Clients that send the refresh token in the body are unaffected.
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
	for i, o := range d.TrustedOrigins {
		d.TrustedOrigins[i] = strings.TrimSuffix(strings.ToLower(o), "/")
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
	if origin != "" && !c.sameOrTrusted(origin, r.Host) {
		return ErrCSRF
	}
	want, got := r.Cookie(c.CSRFName), header(c.CSRFHeader)
	if want == "" || subtle.ConstantTimeCompare([]byte(want), []byte(got)) != 1 {
		return ErrCSRF
	}
	return nil
}

func (c *CookieConfig) sameOrTrusted(origin, host string) bool {
	origin = strings.TrimSuffix(strings.ToLower(origin), "/")
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || origin == "null" {
		return false
	}
	if host != "" && strings.EqualFold(u.Host, host) {
		return true
	}
	for _, t := range c.TrustedOrigins {
		if origin == t {
			return true
		}
	}
	return false
}
