// Package connheader keeps, for the life of a connection, the headers of
// its opening HTTP request that backends may want (auth: backend sends
// them with every auth request as Http-<Name>, the lifecycle connect
// notice carries them but the credentials): a compact copy within a byte
// bound, without the headers that only served the handshake. The bridge
// and the Socket.IO transport share it.
package connheader

import (
	"encoding/binary"
	"iter"
	"maps"
	"net/http"
	"slices"
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

// credentials lists the headers that carry a client's credentials.
var credentials = []string{"Cookie", "Authorization", "Proxy-Authorization"}

// Credential reports whether the header name (in canonical form) carries
// a client's credentials: Cookie, Authorization, Proxy-Authorization.
func Credential(name string) bool { return slices.Contains(credentials, name) }

// Header is a compact, read-only copy of request headers made by Keep:
// one string holding every name and value, each behind its length. The
// zero Header holds none.
type Header struct{ s string }

// All yields every value with its header's name (in canonical form), in
// the order of the names, the values of one name in their order.
func (h Header) All() iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		for s := h.s; s != ""; {
			var name, value string
			name, s = field(s)
			value, s = field(s)
			if !yield(name, value) {
				return
			}
		}
	}
}

// field splits s after the field it starts with: a uvarint length and
// that many bytes.
func field(s string) (f, rest string) {
	n, shift, i := 0, 0, 0
	for ; s[i] >= 0x80; i++ {
		n |= int(s[i]&0x7f) << shift
		shift += 7
	}
	n |= int(s[i]) << shift
	i++
	return s[i : i+n], s[i+n:]
}

// Keep returns a copy of r's headers, and of its Host as header "Host",
// without the handshake headers, and without the credentials (Credential)
// unless withCredentials, of at most max bytes counted as HTTP/2 counts a
// header list: each value costs its length, its header name's and
// FieldOverhead, so that many tiny values cannot hold more memory than
// their count suggests. Headers are taken in the order of their names
// while they fit; one that does not fit in what is left is left out whole.
// The copy is one string that shares no memory with r.
func Keep(r *http.Request, max int, withCredentials bool) Header {
	h := r.Header
	if r.Host != "" {
		// The server moves Host out of the headers; keep it as one.
		h = make(http.Header, len(r.Header)+1)
		maps.Copy(h, r.Header)
		h["Host"] = []string{r.Host}
	}
	names := make([]string, 0, len(h))
	for name, vals := range h {
		if len(vals) > 0 && !slices.Contains(handshake, name) && (withCredentials || !Credential(name)) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	kept := names[:0]
	cost, size := 0, 0 // the bound's count, the bytes of the copy
	for _, name := range names {
		c, n := 0, 0
		for _, v := range h[name] {
			c += len(name) + len(v) + FieldOverhead
			n += len(name) + len(v) + 2*binary.MaxVarintLen64
		}
		if cost+c > max {
			continue
		}
		kept = append(kept, name)
		cost, size = cost+c, size+n
	}
	if len(kept) == 0 {
		return Header{}
	}
	b := make([]byte, 0, size)
	for _, name := range kept {
		for _, v := range h[name] {
			b = binary.AppendUvarint(b, uint64(len(name)))
			b = append(b, name...)
			b = binary.AppendUvarint(b, uint64(len(v)))
			b = append(b, v...)
		}
	}
	return Header{string(b)}
}
