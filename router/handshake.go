package router

import (
	"errors"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/contract"
	"github.com/routerd/routerd/internal/connheader"
)

// connectNotice publishes the lifecycle connect notice of s, with the
// handshake of the connection it attached through. A notice that NATS
// refuses as over its maximum payload (headers and URL near
// http.max_header_bytes of 1 MiB) is published without the handshake.
func (r *Router) connectNotice(s *Socket, info ConnInfo) {
	n := contract.LifecycleNotice{SID: s.sid, User: s.id.User, Node: r.node, Handshake: info.handshake(s.since)}
	m := &nats.Msg{Subject: r.subj.Lifecycle(s.ns, contract.LifecycleConnect), Data: marshal(n), Header: s.headers("", "")}
	err := s.nats.NC().PublishMsg(m)
	if !errors.Is(err, nats.ErrMaxPayload) {
		if err != nil {
			r.log.Warn("publish notice", "subject", m.Subject, "err", err)
		}
		return
	}
	r.log.Warn("lifecycle connect notice over the NATS maximum payload: published without its handshake", "ns", s.ns, "sid", s.sid, "bytes", len(m.Data))
	n.Handshake = nil
	m.Data = marshal(n)
	r.publishNotice(s.nats, m)
}

// handshake returns the handshake of a socket that connected at now
// through the connection info describes: its headers without the
// credentials, under lower-case names with several values joined by ", ";
// its query decoded; its URL; the client's IP address.
func (info ConnInfo) handshake(now time.Time) *contract.Handshake {
	hs := &contract.Handshake{
		Headers: map[string]string{},
		Query:   parseQuery(info.Query),
		URL:     info.URL,
		Address: info.RemoteAddr,
		Time:    now.UTC().Truncate(time.Millisecond),
		Issued:  now.UnixMilli(),
	}
	if host, _, err := net.SplitHostPort(info.RemoteAddr); err == nil {
		hs.Address = host
	}
	// All yields the values of a name one after the other.
	var name string
	var vals []string
	flush := func() {
		if len(vals) > 0 && !connheader.Credential(name) {
			hs.Headers[strings.ToLower(name)] = strings.Join(vals, ", ")
		}
	}
	for n, v := range info.Header.All() {
		if n != name {
			flush()
			name, vals = n, vals[:0]
		}
		vals = append(vals, v)
	}
	flush()
	return hs
}

// parseQuery decodes a URL-encoded query as Node.js's querystring does:
// pairs separated by "&", the name before the first "=", "+" a space; an
// empty pair is skipped, and a name or value that is not valid URL
// encoding is kept as it was sent.
func parseQuery(raw string) contract.HandshakeQuery {
	q := contract.HandshakeQuery{}
	for pair := range strings.SplitSeq(raw, "&") {
		if pair == "" {
			continue
		}
		name, value, _ := strings.Cut(pair, "=")
		name, value = unescapeQuery(name), unescapeQuery(value)
		q[name] = append(q[name], value)
	}
	return q
}

// unescapeQuery decodes one name or value of a query, or returns it as it
// is when it is not valid URL encoding.
func unescapeQuery(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}
