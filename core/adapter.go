package core

import (
	"context"
	"net/http"
	"net/netip"
	"net/textproto"
	"strings"
)

// This file is the half of every adapter that does not depend on its
// framework. An adapter implements RequestReader over its framework's
// request in a few lines and builds one Adapter when its middleware is
// built; every decision about what a request says — which token, which
// client IP, which scheme, whether a CSRF check applies — is made here, once,
// for every framework.

// RequestReader is what core reads from an HTTP request. Strings may alias
// the framework's buffers until the handler returns: core copies what it
// keeps beyond the request.
type RequestReader interface {
	// Header returns the header's value; a header sent on several lines
	// gives its values joined with ", " (RFC 9110 §5.3). "" when absent.
	Header(name string) string
	// Cookie returns the value of the named cookie, "" when absent.
	Cookie(name string) string
	// Query returns the first value of the named query parameter.
	Query(name string) string
	// PathParam returns the named path parameter of the route, percent-
	// decoded (the auth API has one: the :id of DELETE /sessions/:id).
	PathParam(name string) string
	// Host is the request's Host.
	Host() string
	// RemoteAddr is the connection's peer address, "ip:port" or "ip".
	RemoteAddr() string
	// TLS reports whether the request came over TLS.
	TLS() bool
	// Body reads the request body, at most limit bytes; tooLarge is set
	// when it is longer (ReadBody implements it for an io.Reader).
	Body(limit int64) (body []byte, tooLarge bool)
}

// AdapterOptions are an adapter's options that do not depend on its
// framework. Adapters set them through their With… options.
type AdapterOptions struct {
	// TokenLookup is where the access token is read, in order. Default:
	// DefaultTokenLookup, the Authorization header's Bearer token.
	TokenLookup []TokenSource
	// BodyLimit is the largest body the mounted routes read. Default
	// DefaultBodyLimit; larger bodies get 413.
	BodyLimit int64
	// TrustedProxy, when Header is set, takes the client IP (and the
	// scheme, from X-Forwarded-Proto) from a proxy's header. Default: the
	// connection's address; no forwarding header is believed.
	TrustedProxy TrustedProxy
	// DisabledRoutes are left out of the mounted auth API: an application
	// that creates accounts itself turns off RouteRegister.
	DisabledRoutes []RouteID
}

// TrustedProxy names the header a reverse proxy sets to the client's
// address (X-Forwarded-For, X-Real-IP, …) and the addresses of the proxies
// allowed to set it.
type TrustedProxy struct {
	Header string
	// Proxies are the networks of the trusted proxies. Empty: loopback,
	// link-local and private addresses (RFC 1918, RFC 4193), where a
	// reverse proxy in front of the application usually sits.
	Proxies []netip.Prefix
}

// Adapter is an Auth with one adapter's options resolved, once, when the
// adapter's middleware is built. It is safe for concurrent use.
type Adapter struct {
	auth      *Auth
	lookup    []TokenSource
	bodyLimit int64
	proxyHdr  string
	proxies   []netip.Prefix
	routes    []Route
}

// NewAdapter resolves o for a. Adapters call it when their middleware or
// routes are built.
func NewAdapter(a *Auth, o AdapterOptions) *Adapter {
	ad := &Adapter{auth: a, lookup: defaultLookup, bodyLimit: o.BodyLimit}
	if len(o.TokenLookup) > 0 {
		ad.lookup = append([]TokenSource(nil), o.TokenLookup...)
	}
	if ad.bodyLimit <= 0 {
		ad.bodyLimit = DefaultBodyLimit
	}
	if o.TrustedProxy.Header != "" {
		ad.proxyHdr = textproto.CanonicalMIMEHeaderKey(o.TrustedProxy.Header)
		ad.proxies = append([]netip.Prefix(nil), o.TrustedProxy.Proxies...)
		if len(ad.proxies) == 0 {
			ad.proxies = localNetworks
		}
	}
	if a != nil {
		for _, rt := range a.Routes() {
			if !containsRoute(o.DisabledRoutes, rt.ID) {
				ad.routes = append(ad.routes, rt)
			}
		}
	}
	return ad
}

// Auth returns the Auth the adapter serves.
func (ad *Adapter) Auth() *Auth { return ad.auth }

// Authenticate is the decision of the Authenticate middleware: the verified
// claims of the request's access token, or the error to answer with
// (ErrorResponse gives its HTTP form).
func (ad *Adapter) Authenticate(ctx context.Context, r RequestReader) (*Claims, error) {
	tok, _ := ad.Token(r)
	return ad.auth.Verify(ctx, tok)
}

// Optional is the decision of the Optional middleware: a request without a
// token passes with no claims (nil, nil); a token that was sent must be
// valid.
func (ad *Adapter) Optional(ctx context.Context, r RequestReader) (*Claims, error) {
	tok, _ := ad.Token(r)
	if tok == "" {
		return nil, nil
	}
	return ad.auth.Verify(ctx, tok)
}

// Token returns the access token of the first lookup source that has one,
// and whether that source is a cookie (a credential the browser sends by
// itself, so state-changing routes check CSRF).
func (ad *Adapter) Token(r RequestReader) (token string, fromCookie bool) {
	for _, s := range ad.lookup {
		if t := s.token(s.read(r)); t != "" {
			return t, s.kind == srcCookie
		}
	}
	return "", false
}

// Routes returns the mounted auth API: Auth.Routes less the disabled ones.
func (ad *Adapter) Routes() []Route { return ad.routes }

// Serve answers one request of a mounted route: it reads what the route
// needs from r — token, body, client, path parameter, scheme — and runs it.
func (ad *Adapter) Serve(ctx context.Context, rt Route, r RequestReader) *Response {
	req := Request{
		ContentType: r.Header("Content-Type"),
		// Stores and hooks keep these beyond the request; the reader's
		// strings may alias a buffer the framework reuses (fasthttp).
		Client: Client{UserAgent: strings.Clone(r.Header("User-Agent")), IP: ad.ClientIP(r)},
		Host:   r.Host(),
		Scheme: ad.Scheme(r),
		Cookie: r.Cookie,
		Header: r.Header,
		Query:  r.Query,
	}
	req.Token, req.TokenFromCookie = ad.Token(r)
	if p := rt.Param(); p != "" {
		req.ID = strings.Clone(r.PathParam(p))
	}
	if rt.Method != http.MethodGet {
		req.Body, req.BodyTooLarge = r.Body(ad.bodyLimit)
	}
	return rt.Handle(ctx, &req)
}

// ClientIP is the client's address as the client-IP policy says: the
// connection's peer, unless TrustedProxy is set and the peer is one of the
// trusted proxies; then the proxy header's addresses are walked right to
// left, skipping trusted proxies, and the first other address is the
// client's (the leftmost when all are trusted). A header entry that is not
// an address stops the walk at the peer. "" when the peer is not an
// address either.
func (ad *Adapter) ClientIP(r RequestReader) string {
	peer := parseIP(r.RemoteAddr())
	if !peer.IsValid() {
		return ""
	}
	if !ad.trusts(peer) {
		return peer.String()
	}
	client := peer
	for rest := r.Header(ad.proxyHdr); rest != ""; {
		i := strings.LastIndexByte(rest, ',')
		hop := parseIP(strings.TrimSpace(rest[i+1:]))
		if !hop.IsValid() {
			return peer.String()
		}
		client = hop
		if !ad.trusts(hop) {
			break
		}
		rest = rest[:max(i, 0)]
	}
	return client.String()
}

// Scheme is "https" for a request over TLS, or one a trusted proxy says
// came over https (the last X-Forwarded-Proto entry); "http" otherwise.
func (ad *Adapter) Scheme(r RequestReader) string {
	if r.TLS() {
		return "https"
	}
	if ad.proxyHdr != "" && ad.trusts(parseIP(r.RemoteAddr())) {
		p := r.Header("X-Forwarded-Proto")
		if strings.EqualFold(strings.TrimSpace(p[strings.LastIndexByte(p, ',')+1:]), "https") {
			return "https"
		}
	}
	return "http"
}

func (ad *Adapter) trusts(ip netip.Addr) bool {
	if ad.proxyHdr == "" || !ip.IsValid() {
		return false
	}
	for _, p := range ad.proxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// localNetworks are the trusted proxies when TrustedProxy lists none.
var localNetworks = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("172.16.0.0/12"), netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("fc00::/7"),
	netip.MustParsePrefix("169.254.0.0/16"), netip.MustParsePrefix("fe80::/10"),
}

// parseIP reads "ip", "ip:port" or "[ipv6]:port"; IPv4-mapped IPv6
// addresses become IPv4 and zones are dropped, so one client has one form.
func parseIP(s string) netip.Addr {
	ip, err := netip.ParseAddr(s)
	if err != nil {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return netip.Addr{}
		}
		ip = ap.Addr()
	}
	return ip.Unmap().WithZone("")
}

// BearerToken extracts the token of an "Authorization: Bearer <token>"
// header value; "" when there is none or the scheme is another.
func BearerToken(authorization string) string {
	const scheme = "bearer "
	if len(authorization) < len(scheme) || !strings.EqualFold(authorization[:len(scheme)], scheme) {
		return ""
	}
	return strings.TrimSpace(authorization[len(scheme):])
}

// TokenSource is one place the adapters look for the access token: made by
// FromHeader, FromCookie or FromQuery.
type TokenSource struct {
	kind sourceKind
	name string
}

type sourceKind uint8

const (
	srcHeader sourceKind = iota + 1
	srcCookie
	srcQuery
)

// FromHeader, FromCookie and FromQuery name token sources, for the
// adapters' WithTokenLookup option. The Authorization header must use the
// Bearer scheme; another header may carry the token bare or after
// "Bearer "; cookies and query parameters carry it bare.
func FromHeader(name string) TokenSource {
	return TokenSource{srcHeader, textproto.CanonicalMIMEHeaderKey(name)}
}
func FromCookie(name string) TokenSource { return TokenSource{srcCookie, name} }
func FromQuery(name string) TokenSource  { return TokenSource{srcQuery, name} }

// DefaultTokenLookup is where the adapters look for the access token when
// not told otherwise: the Authorization header's Bearer token.
func DefaultTokenLookup() []TokenSource { return []TokenSource{FromHeader("Authorization")} }

var defaultLookup = DefaultTokenLookup()

// String is "header Authorization", "cookie at" or "query access_token".
func (s TokenSource) String() string {
	return [...]string{"none", "header", "cookie", "query"}[s.kind] + " " + s.name
}

func (s TokenSource) read(r RequestReader) string {
	switch s.kind {
	case srcHeader:
		return r.Header(s.name)
	case srcCookie:
		return r.Cookie(s.name)
	case srcQuery:
		return r.Query(s.name)
	}
	return ""
}

func (s TokenSource) token(raw string) string {
	if s.kind != srcHeader {
		return raw
	}
	if t := BearerToken(raw); t != "" || s.name == "Authorization" {
		return t
	}
	return strings.TrimSpace(raw)
}

// WriteHTTP writes r to w — status, headers in order, body — unchanged: the
// Write of the adapters built on net/http. A Response without a body gets
// no Content-Type either. It returns the error of writing the body.
func WriteHTTP(w http.ResponseWriter, r *Response) error {
	h := w.Header()
	for i, kv := range r.Header {
		if i > 0 && r.Header[i-1].Key == kv.Key {
			h.Add(kv.Key, kv.Value) // repeated headers (Set-Cookie) are adjacent
		} else {
			h.Set(kv.Key, kv.Value)
		}
	}
	w.WriteHeader(r.Status)
	if r.Body == nil {
		return nil
	}
	_, err := w.Write(r.Body)
	return err
}

// HTTPRequest is the RequestReader of a net/http request, for adapters built
// on net/http. PathParam is r.PathValue; Body reads with ReadBody.
type HTTPRequest struct{ R *http.Request }

func (h HTTPRequest) Header(name string) string {
	switch vs := h.R.Header[name]; len(vs) {
	case 0:
		if vs = h.R.Header.Values(name); len(vs) == 0 { // a name not in canonical form
			return ""
		}
		return strings.Join(vs, ", ")
	case 1:
		return vs[0]
	default:
		return strings.Join(vs, ", ")
	}
}

func (h HTTPRequest) Cookie(name string) string {
	if c, err := h.R.Cookie(name); err == nil {
		return c.Value
	}
	return ""
}

func (h HTTPRequest) Query(name string) string     { return h.R.URL.Query().Get(name) }
func (h HTTPRequest) PathParam(name string) string { return h.R.PathValue(name) }
func (h HTTPRequest) Host() string                 { return h.R.Host }
func (h HTTPRequest) RemoteAddr() string           { return h.R.RemoteAddr }
func (h HTTPRequest) TLS() bool                    { return h.R.TLS != nil }
func (h HTTPRequest) Body(limit int64) ([]byte, bool) {
	return ReadBody(h.R.Body, h.R.ContentLength, limit)
}
