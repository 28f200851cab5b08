package core

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// RedactURL returns rawURL fit for a log line or an error message: the
// password of its user info and the values of query parameters that carry
// secrets (names containing "password", "secret" or "token") become
// "xxxxx". A URL that does not parse, or that holds an '@' outside its user
// info (a password with an unescaped '/', '?' or '#' ends the host early),
// keeps nothing between the user name and its last '@', and no query or
// fragment: what it shows cannot be part of a password. (So an '@' in the
// query of a URL costs the view of what precedes it.)
//
// Use it on every URL that may carry credentials (Redis, PostgreSQL, SMTP)
// before it reaches a log or an error.
func RedactURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || strayAt(rawURL) {
		return redactUnparsed(rawURL)
	}
	if u.RawQuery != "" {
		parts := strings.Split(u.RawQuery, "&")
		for i, p := range parts {
			if k, _, ok := strings.Cut(p, "="); ok && secretParam(k) {
				parts[i] = k + "=" + redacted
			}
		}
		u.RawQuery = strings.Join(parts, "&")
	}
	return u.Redacted()
}

// RedactURLError returns an error that reads as err with rawURL's secrets
// taken out, for the errors of functions that parse rawURL (url.Parse,
// rueidis.ParseURL, …): they quote the URL whole or in pieces, such as the
// "port" of a host that a password with a '/' cut short. rawURL becomes
// RedactURL(rawURL), and every run of the message that is a piece of a
// secret (the password, a secret query value), 3 bytes or more or the
// whole secret, becomes "xxxxx". The result does not wrap err, whose fields
// (url.Error.URL) hold the secret. A nil err gives nil.
func RedactURLError(rawURL string, err error) error {
	if err == nil {
		return nil
	}
	msg := strings.ReplaceAll(err.Error(), rawURL, RedactURL(rawURL))
	return errors.New(maskSecrets(msg, urlSecrets(rawURL)))
}

// ParseURL is url.Parse for URLs that may carry credentials. Its errors
// show the URL redacted, and it refuses a URL with an '@' past its
// authority: url.Parse reads that '@' as part of the path, query or
// fragment, which is what a password with an unescaped '/', '?' or '#'
// gives, and a client would then dial a "host" made of half the password.
func ParseURL(rawURL string) (*url.URL, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without its copy of the URL
		}
		return nil, fmt.Errorf("invalid URL %q: %w", RedactURL(rawURL), RedactURLError(rawURL, err))
	}
	if strayAt(rawURL) {
		return nil, fmt.Errorf("invalid URL %q: an '@' after the host; percent-encode '@', '/', '?' and '#' in a user name or password (%%40, %%2F, %%3F, %%23)", RedactURL(rawURL))
	}
	return u, nil
}

// redacted stands for a secret, as in url.URL.Redacted.
const redacted = "xxxxx"

// secretParam reports whether a query parameter's name says it carries a
// secret (PostgreSQL's password and sslpassword, tokens of HTTP APIs).
func secretParam(name string) bool {
	if n, err := url.QueryUnescape(name); err == nil {
		name = n
	}
	name = strings.ToLower(name)
	return strings.Contains(name, "password") || strings.Contains(name, "secret") || strings.Contains(name, "token")
}

// userInfoSpan returns where the authority starts (after "scheme://", or 0)
// and the index of the last '@' after it (-1 when none): between them lies
// whatever a URL may hold as user info, however malformed.
func userInfoSpan(rawURL string) (start, at int) {
	if i := strings.Index(rawURL, "://"); i >= 0 {
		start = i + len("://")
	}
	at = strings.LastIndex(rawURL, "@")
	if at < start {
		at = -1
	}
	return start, at
}

// strayAt reports whether rawURL has an '@' past its authority (in the path,
// query or fragment), where url.Parse would not read it as the end of the
// user info: a password with an unescaped '/', '?' or '#' puts it there.
func strayAt(rawURL string) bool {
	start, at := userInfoSpan(rawURL)
	end := strings.IndexAny(rawURL[start:], "/?#")
	return at >= 0 && end >= 0 && at > start+end
}

// redactUnparsed redacts a URL that url.Parse refuses or misreads: the user
// name stays, the rest of the user info up to the last '@' goes, and so do
// the query and fragment.
func redactUnparsed(rawURL string) string {
	start, at := userInfoSpan(rawURL)
	var b strings.Builder
	b.WriteString(rawURL[:start])
	rest := rawURL[start:]
	if at >= 0 {
		if user, _, ok := strings.Cut(rawURL[start:at], ":"); ok {
			b.WriteString(user + ":")
		}
		b.WriteString(redacted + "@")
		rest = rawURL[at+1:]
	}
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		rest = rest[:i]
	}
	b.WriteString(rest)
	return b.String()
}

// urlSecrets lists the secrets rawURL may hold, as written and decoded: the
// password of the user info (found by the last '@', so a malformed one
// counts too) and the values of secret query parameters.
func urlSecrets(rawURL string) []string {
	var out []string
	add := func(s string) {
		out = append(out, s)
		if d, err := url.PathUnescape(s); err == nil && d != s {
			out = append(out, d)
		}
	}
	start, at := userInfoSpan(rawURL)
	query := rawURL[start:]
	if at >= 0 {
		if _, password, ok := strings.Cut(rawURL[start:at], ":"); ok && password != "" {
			add(password)
		}
		query = rawURL[at+1:]
	}
	if _, q, ok := strings.Cut(query, "?"); ok {
		q, _, _ = strings.Cut(q, "#")
		for p := range strings.SplitSeq(q, "&") {
			if k, v, ok := strings.Cut(p, "="); ok && v != "" && secretParam(k) {
				add(v)
				if d, err := url.QueryUnescape(v); err == nil && d != v {
					out = append(out, d)
				}
			}
		}
	}
	return out
}

// maskSecrets replaces every run of msg that is a piece of one of secrets,
// at least 3 bytes long or a whole secret, by "xxxxx". Shorter pieces are
// left: two bytes of a password say next to nothing, and masking them would
// eat ordinary words.
func maskSecrets(msg string, secrets []string) string {
	if len(secrets) == 0 {
		return msg
	}
	var b strings.Builder
	for i := 0; i < len(msg); {
		n := 0
		for _, s := range secrets {
			for l := min(len(s), len(msg)-i); l > n; l-- {
				if strings.Contains(s, msg[i:i+l]) {
					if l >= 3 || l == len(s) {
						n = l
					}
					break
				}
			}
		}
		if n == 0 {
			b.WriteByte(msg[i])
			i++
			continue
		}
		b.WriteString(redacted)
		i += n
	}
	return b.String()
}
