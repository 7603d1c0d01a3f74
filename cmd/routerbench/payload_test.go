package main

import (
	"encoding/json"
	"testing"
)

func TestAppendPayload(t *testing.T) {
	s := stamp{sent: 1234567890123456789, pub: 7, seq: 42}
	for _, size := range []int{0, minPayload, minPayload + 1, 1000} {
		b := appendPayload([]byte("prefix"), s, size)
		p := b[len("prefix"):]
		if want := max(size, minPayload); len(p) != want {
			t.Errorf("size %d: payload is %d bytes, want %d: %s", size, len(p), want, p)
		}
		var v struct {
			T int64  `json:"t"`
			Q uint64 `json:"q"`
			P string `json:"p"`
		}
		if err := json.Unmarshal(p, &v); err != nil || v.T != s.sent || v.Q != 7<<32|42 {
			t.Errorf("size %d: %s: %v %+v", size, p, err, v)
		}
		if got, ok := parsePayload(b); !ok || got != s {
			t.Errorf("parsePayload = %+v, %v; want %+v", got, ok, s)
		}
	}
	// The longest numbers still fit minPayload without padding.
	if b := appendPayload(nil, stamp{sent: 1<<63 - 1, pub: 1<<32 - 1, seq: 1<<32 - 1}, 0); len(b) != minPayload {
		t.Errorf("longest payload is %d bytes, minPayload %d: %s", len(b), minPayload, b)
	}
}

func TestParsePayload(t *testing.T) {
	for in, want := range map[string]int64{
		`{"type":"event","data":{"t":42,"q":5,"p":"x"}}`:                42,
		`{"type":"event","room":"{\"t\":7","data":{"t":9,"q":1}}`:       9, // a quote in a string is escaped
		`{"type":"event","data":{"sid":"abc"}}`:                         -1,
		`{"type":"event","data":{"t":"x"}}`:                             -1,
		`{"type":"event","data":{"t":5,"p":"no sequence number"}}`:      -1,
		`{"type":"event","data":{"t":5,"q":"not a number","p":"xxxx"}}`: -1,
	} {
		got, ok := parsePayload([]byte(in))
		if !ok {
			got.sent = -1
		}
		if got.sent != want {
			t.Errorf("parsePayload(%s) = %d, want %d", in, got.sent, want)
		}
	}
}
