package contract

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestHandshakeQueryJSON(t *testing.T) {
	tests := []struct {
		q    HandshakeQuery
		json string
	}{
		{nil, `{}`},
		{HandshakeQuery{}, `{}`},
		{HandshakeQuery{"a": {"b"}, "x": {"1", "2"}, "e": {""}}, `{"a":"b","e":"","x":["1","2"]}`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(tt.q)
		if err != nil || string(b) != tt.json {
			t.Errorf("Marshal(%v) = %s, %v; want %s", tt.q, b, err, tt.json)
		}
		var back HandshakeQuery
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("Unmarshal(%s): %v", b, err)
		}
		if want := tt.q; len(want) == 0 {
			if len(back) != 0 || back == nil {
				t.Errorf("Unmarshal(%s) = %#v, want an empty query", b, back)
			}
		} else if !reflect.DeepEqual(back, want) {
			t.Errorf("Unmarshal(%s) = %v, want %v", b, back, want)
		}
	}
	for _, bad := range []string{`[]`, `{"a":1}`, `{"a":[1]}`, `{"a":{"b":"c"}}`} {
		var q HandshakeQuery
		if err := json.Unmarshal([]byte(bad), &q); err == nil {
			t.Errorf("Unmarshal(%s) = %v, want an error", bad, q)
		}
	}
}
