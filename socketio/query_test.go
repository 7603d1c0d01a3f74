package socketio

import "testing"

// TestClientQuery: the query a client gave is the handshake's without
// Engine.IO's own parameters, however their names are encoded, and the
// rest stays as sent, in order.
func TestClientQuery(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"", ""},
		{"EIO=4&transport=polling&t=PaB1c", ""},
		{"a=b&EIO=4&transport=websocket", "a=b"},
		{"EIO=4&x=1&sid=s&x=2&j=0&b64=1&t=z&name=ann+b%C3%A9&bad=%zz", "x=1&x=2&name=ann+b%C3%A9&bad=%zz"},
		{"%45IO=4&transport&&flag&e=", "flag&e="},
		{"eio=4&T=1", "eio=4&T=1"}, // names are case-sensitive, as in Engine.IO
	}
	for _, tt := range tests {
		if got := clientQuery(tt.raw); got != tt.want {
			t.Errorf("clientQuery(%q) = %q, want %q", tt.raw, got, tt.want)
		}
	}
}
