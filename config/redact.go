package config

import (
	"net/url"
	"strings"
)

// redacted replaces the password (or token) of a URL's user info.
const redacted = "xxxxx"

// RedactURL returns u with any password or token in its user info replaced
// by "xxxxx", as nats.go's ConnectedUrlRedacted does: what may be logged or
// put in an error. Text that does not parse as a URL with a scheme is
// returned with everything before a "@" replaced, if it has one.
func RedactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Scheme == "" || p.Host == "" {
		if i := strings.LastIndexByte(u, '@'); i >= 0 {
			return redacted + u[i:]
		}
		return u
	}
	if p.User == nil {
		return u
	}
	if _, ok := p.User.Password(); ok {
		p.User = url.UserPassword(p.User.Username(), redacted)
	} else {
		p.User = url.User(redacted) // a token
	}
	return p.String()
}

// RedactURLs is RedactURL of every URL of a comma-separated list.
func RedactURLs(list string) string {
	parts := strings.Split(list, ",")
	for i, u := range parts {
		parts[i] = RedactURL(u)
	}
	return strings.Join(parts, ",")
}
