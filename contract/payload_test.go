package contract

import "testing"

func TestPayload(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"a":1}`, `{"a":1}`},
		{"{\n  \"a\": [1, 2]\n}", `{"a":[1,2]}`},
		{``, `null`},
		{`  `, `"  "`},
		{"\n", `"\n"`},
		{`hello`, `"hello"`},
		{`hello world`, `"hello world"`},
		{`42`, `42`},
		{`"s"`, `"s"`},
		{"\xff", `"\ufffd"`},
		{`{"a":`, `"{\"a\":"`},
	}
	for _, tt := range tests {
		if got := string(Payload([]byte(tt.in))); got != tt.want {
			t.Errorf("Payload(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
