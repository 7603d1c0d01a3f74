// Package connheader keeps, for the life of a connection, the headers of
// its opening HTTP request that an auth backend may want (auth: backend
// sends them with every auth request as Http-<Name>): a compact copy
// within a byte bound, without the headers that only served the
// handshake. The bridge and the Socket.IO transport share it.
package connheader

import (
	"net/http"
	"slices"
	"strings"
)

// FieldOverhead is what each header value costs Keep beyond the bytes of
// its name and value (HTTP/2's per-field overhead, RFC 7541 §4.1).
const FieldOverhead = 32

// handshake lists the headers not kept: hop-by-hop headers (RFC 9110
// §7.6.1) and those of the WebSocket handshake (RFC 6455 §4.1), which mean
// nothing once the connection is open.
var handshake = []string{
	"Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
	"Sec-Websocket-Key", "Sec-Websocket-Version", "Sec-Websocket-Extensions",
}

// Keep returns a copy of h without the handshake headers, of at most max
// bytes counted as HTTP/2 counts a header list: each value costs its
// length, its header name's and FieldOverhead, so that many tiny values
// cannot hold more memory than their count suggests. Headers are taken in
// the order of their names while they fit; one that does not fit in what
// is left is left out whole. The copy shares no memory with h: every name
// and value lives in one string, the values in one slice. Keep returns nil
// when nothing is kept.
func Keep(h http.Header, max int) http.Header {
	names := make([]string, 0, len(h))
	for name, vals := range h {
		if len(vals) > 0 && !slices.Contains(handshake, name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	kept := names[:0]
	cost, text, nvals := 0, 0, 0 // the bound's count, the bytes of names and values, the values
	for _, name := range names {
		c, t := 0, len(name)
		for _, v := range h[name] {
			c += len(name) + len(v) + FieldOverhead
			t += len(v)
		}
		if cost+c > max {
			continue
		}
		kept = append(kept, name)
		cost, text, nvals = cost+c, text+t, nvals+len(h[name])
	}
	if len(kept) == 0 {
		return nil
	}
	var b strings.Builder
	b.Grow(text)
	for _, name := range kept {
		b.WriteString(name)
		for _, v := range h[name] {
			b.WriteString(v)
		}
	}
	buf := b.String()
	next := func(n int) string {
		s := buf[:n]
		buf = buf[n:]
		return s
	}
	out := make(http.Header, len(kept))
	vals := make([]string, 0, nvals)
	for _, name := range kept {
		key, start := next(len(name)), len(vals)
		for _, v := range h[name] {
			vals = append(vals, next(len(v)))
		}
		out[key] = vals[start:len(vals):len(vals)]
	}
	return out
}
