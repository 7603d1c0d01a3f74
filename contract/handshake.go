package contract

import (
	"encoding/json"
	"fmt"
	"time"
)

// Handshake describes the HTTP request a client's connection opened with
// (the native protocol's WebSocket upgrade, a Socket.IO session's first
// request), in the shape of Socket.IO's socket.handshake: the
// LifecycleNotice.Handshake of a connect notice.
type Handshake struct {
	// Headers are the request's headers and its Host, under lower-case
	// names (as Node.js gives them), several values of one name joined
	// with ", ". Hop-by-hop and WebSocket handshake headers are left out,
	// and so are the credentials Cookie, Authorization and
	// Proxy-Authorization, which only an auth backend gets (HeaderHTTPPrefix).
	// They are those the node kept within http.max_header_bytes.
	Headers map[string]string `json:"headers"`
	// Query is the query the client gave (HeaderQuery), decoded.
	Query HandshakeQuery `json:"query"`
	// URL is the request's target as the client sent it (HeaderURL).
	URL string `json:"url"`
	// Address is the client's IP address: the TCP peer, so behind a proxy
	// the proxy's (whose X-Forwarded-For header is among Headers).
	Address string `json:"address"`
	// Time is when the socket connected to the namespace, in UTC to the
	// millisecond (RFC 3339): Socket.IO builds socket.handshake at that
	// moment too.
	Time time.Time `json:"time"`
	// Issued is Time in milliseconds since the Unix epoch, as Socket.IO's
	// handshake.issued.
	Issued int64 `json:"issued"`
}

// HandshakeQuery is a decoded query string: every value of each name, in
// order. In JSON a name with one value maps to that string and a name with
// several to an array of strings, as in Node.js's ParsedUrlQuery
// (Socket.IO's handshake.query): ?a=b&x=1&x=2 is {"a":"b","x":["1","2"]}.
type HandshakeQuery map[string][]string

// MarshalJSON writes q as a JSON object of strings and string arrays; a
// nil q is {}.
func (q HandshakeQuery) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(q))
	for name, vals := range q {
		if len(vals) == 1 {
			m[name] = vals[0]
		} else {
			m[name] = vals
		}
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads an object whose values are strings or arrays of
// strings.
func (q *HandshakeQuery) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("handshake query: %w", err)
	}
	out := make(HandshakeQuery, len(m))
	for name, raw := range m {
		var one string
		if err := json.Unmarshal(raw, &one); err == nil {
			out[name] = []string{one}
			continue
		}
		var several []string
		if err := json.Unmarshal(raw, &several); err != nil {
			return fmt.Errorf("handshake query %q: not a string or an array of strings", name)
		}
		out[name] = several
	}
	*q = out
	return nil
}
