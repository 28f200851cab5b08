package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"
)

// respConn is one plain connection to a Redis server, for the protocol
// checks of doctor: what the server answers to HELLO 3 and CLIENT TRACKING
// is the question, so they are asked directly rather than through a client
// library that negotiates them on its own.
type respConn struct {
	conn    net.Conn
	r       *bufio.Reader
	timeout time.Duration
}

// respError is an error reply of the server.
type respError string

func (e respError) Error() string { return string(e) }

// respPush is an out-of-band push (RESP3 '>'), such as an invalidation.
type respPush []any

// dialRedis connects to addr as rueidis would with co: TLS, custom dialers.
func dialRedis(ctx context.Context, co rueidis.ClientOption, addr string, timeout time.Duration) (*respConn, error) {
	d := &net.Dialer{Timeout: timeout}
	var (
		conn net.Conn
		err  error
	)
	switch {
	case co.DialCtxFn != nil:
		conn, err = co.DialCtxFn(ctx, addr, d, co.TLSConfig)
	case co.TLSConfig != nil:
		conn, err = (&tls.Dialer{NetDialer: d, Config: co.TLSConfig}).DialContext(ctx, "tcp", addr)
	default:
		conn, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	return &respConn{conn: conn, r: bufio.NewReader(conn), timeout: timeout}, nil
}

func (c *respConn) Close() error { return c.conn.Close() }

// do sends one command and returns its reply, skipping pushes. An error
// reply is returned as a respError.
func (c *respConn) do(args ...string) (any, error) {
	c.conn.SetDeadline(time.Now().Add(c.timeout))
	var b bytes.Buffer
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.conn.Write(b.Bytes()); err != nil {
		return nil, err
	}
	for {
		v, err := c.read()
		if err != nil {
			return nil, err
		}
		if _, push := v.(respPush); push {
			continue
		}
		if e, ok := v.(respError); ok {
			return nil, e
		}
		return v, nil
	}
}

// Bounds on what a reply may make this process allocate.
const (
	maxBulk  = 64 << 20
	maxItems = 1 << 20
)

// read parses one RESP2 or RESP3 value: strings (simple, bulk, verbatim)
// and numbers as string, arrays and sets as []any, maps as map[string]any,
// nulls as nil, booleans as bool, errors as respError.
func (c *respConn) read() (any, error) {
	line, err := c.r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return nil, errors.New("redis: empty reply line")
	}
	kind, rest := line[0], line[1:]
	switch kind {
	case '+', ':', ',', '(':
		return rest, nil
	case '-':
		return respError(rest), nil
	case '#':
		return rest == "t", nil
	case '_':
		return nil, nil
	case '$', '=', '!':
		n, err := strconv.Atoi(rest)
		if err != nil || n > maxBulk {
			return nil, fmt.Errorf("redis: bad bulk length %q", rest)
		}
		if n < 0 {
			return nil, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(c.r, buf); err != nil {
			return nil, err
		}
		s := string(buf[:n])
		switch kind {
		case '=': // verbatim: "txt:" then the text
			if len(s) >= 4 {
				s = s[4:]
			}
		case '!':
			return respError(s), nil
		}
		return s, nil
	case '*', '~', '>', '%', '|':
		n, err := strconv.Atoi(rest)
		if err != nil || n > maxItems {
			return nil, fmt.Errorf("redis: bad aggregate length %q", rest)
		}
		if n < 0 {
			return nil, nil
		}
		if kind == '%' || kind == '|' {
			m := make(map[string]any, n)
			for range n {
				k, err := c.read()
				if err != nil {
					return nil, err
				}
				v, err := c.read()
				if err != nil {
					return nil, err
				}
				m[fmt.Sprint(k)] = v
			}
			if kind == '|' { // attributes, then the reply they describe
				return c.read()
			}
			return m, nil
		}
		items := make([]any, n)
		for i := range items {
			if items[i], err = c.read(); err != nil {
				return nil, err
			}
		}
		if kind == '>' {
			return respPush(items), nil
		}
		return items, nil
	}
	return nil, fmt.Errorf("redis: unexpected reply type %q", kind)
}

// infoField returns a field of an INFO reply ("cluster_enabled:0" lines).
func infoField(info, field string) string {
	for _, line := range strings.Split(info, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && k == field {
			return v
		}
	}
	return ""
}
