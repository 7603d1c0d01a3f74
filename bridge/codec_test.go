package bridge

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/routerd/routerd/contract"
	"github.com/routerd/routerd/router"
)

func TestDecodeFrame(t *testing.T) {
	tests := []struct {
		in     string
		code   contract.Code // "" when valid
		id     uint64
		typ    string
		check  func(*clientFrame) bool
		reason string
	}{
		{in: `{"type":"join","ns":"chat","room":"lobby","id":3}`, id: 3, typ: "join",
			check: func(f *clientFrame) bool { return *f.NS == "chat" && *f.Room == "lobby" }},
		{in: ` {"type":"emit","ns":"chat","event":"e","data":{ "a" : [1, 2] }} `, typ: "emit",
			check: func(f *clientFrame) bool { return string(f.Data) == `{"a":[1,2]}` }, reason: "data is compacted"},
		{in: `{"type":"emit","data":null}`, typ: "emit", check: func(f *clientFrame) bool { return string(f.Data) == "null" }},
		{in: `{"type":"x","unknown":{"deep":[1]}}`, typ: "x", reason: "unknown fields are ignored"},
		{in: `{"type":"join","since":7}`, typ: "join", check: func(f *clientFrame) bool { return *f.Since == 7 }},
		{in: `{"type":"reply","ns":"chat","ack":3,"data":[1]}`, typ: "reply", check: func(f *clientFrame) bool { return *f.Ack == 3 && string(f.Data) == "[1]" }},
		{in: `{"type":"reply","ack":-3,"id":5}`, code: contract.CodeBadFrame, id: 5, reason: "ack is a positive integer"},
		{in: `{"type":"connect","ns":"chat","auth":{"token":"t"}}`, typ: "connect"},
		{in: `{"type":"connect","id":null}`, typ: "connect", reason: "a null id is no id"},
		{in: `not json`, code: contract.CodeBadFrame},
		{in: ``, code: contract.CodeBadFrame},
		{in: `[1,2]`, code: contract.CodeBadFrame, reason: "not an object"},
		{in: `"join"`, code: contract.CodeBadFrame},
		{in: `{"type":"join"`, code: contract.CodeBadFrame, reason: "truncated"},
		{in: `{"ns":"chat","id":4}`, code: contract.CodeBadFrame, id: 4, reason: "missing type keeps the id"},
		{in: `{"type":5}`, code: contract.CodeBadFrame},
		{in: `{"type":"join","room":5,"id":9}`, code: contract.CodeBadFrame, id: 9, reason: "mistyped field keeps the id"},
		{in: `{"type":"emit","self":"yes","id":2}`, code: contract.CodeBadFrame, id: 2},
		{in: `{"type":"join","id":0}`, code: contract.CodeBadFrame},
		{in: `{"type":"join","id":-1}`, code: contract.CodeBadFrame},
		{in: `{"type":"join","id":1.5}`, code: contract.CodeBadFrame},
		{in: `{"type":"join","id":"1"}`, code: contract.CodeBadFrame},
		{in: `{"type":"join","id":1e3}`, code: contract.CodeBadFrame},
		{in: `{"type":"join","id":01}`, code: contract.CodeBadFrame},
		{in: `{"type":"connect","auth":"tok","id":5}`, code: contract.CodeBadFrame, id: 5, reason: "auth must be an object"},
		{in: `{"type":"join","since":-1,"id":6}`, code: contract.CodeBadFrame, id: 6},
		{in: "{\"type\":\"emit\",\"data\":\"\xff\"}", code: contract.CodeBadFrame, reason: "invalid UTF-8"},
	}
	for _, tt := range tests {
		f, err := decodeFrame([]byte(tt.in))
		code := contract.Code("")
		if err != nil {
			code = err.Code
			if err.Message == "" {
				t.Errorf("%s: error without message", tt.in)
			}
		}
		if code != tt.code {
			t.Errorf("decodeFrame(%s) code = %q, want %q (%s)", tt.in, code, tt.code, tt.reason)
			continue
		}
		if f.id != tt.id {
			t.Errorf("decodeFrame(%s) id = %d, want %d (%s)", tt.in, f.id, tt.id, tt.reason)
		}
		if tt.code == "" && f.Type != tt.typ {
			t.Errorf("decodeFrame(%s) type = %q, want %q", tt.in, f.Type, tt.typ)
		}
		if tt.check != nil && !tt.check(f) {
			t.Errorf("decodeFrame(%s): check failed (%s): %+v", tt.in, tt.reason, f)
		}
	}
}

func TestSplitMessage(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{`{"type":"a"}`, []string{`{"type":"a"}`}},
		{"{\"type\":\"a\"}\n{\"type\":\"b\"}", []string{`{"type":"a"}`, `{"type":"b"}`}},
		{"{\"type\":\"a\"}\n\n{\"type\":\"b\"}\n", []string{`{"type":"a"}`, `{"type":"b"}`}},
		{"{\n  \"type\": \"a\"\n}", []string{"{\n  \"type\": \"a\"\n}"}},
		{"garbage\n{\"type\":\"b\"}", []string{"garbage", `{"type":"b"}`}},
	}
	for _, tt := range tests {
		got := splitMessage([]byte(tt.in))
		var gs []string
		for _, g := range got {
			gs = append(gs, string(g))
		}
		if strings.Join(gs, "|") != strings.Join(tt.want, "|") {
			t.Errorf("splitMessage(%q) = %q, want %q", tt.in, gs, tt.want)
		}
	}
}

func TestEncodeEvent(t *testing.T) {
	ev := &router.Event{NS: "chat", Room: "a\"b\n\u2028", Name: "msg", From: "SID", Seq: 7, Data: json.RawMessage(`{"x":1}`)}
	b := codec{}.EncodeEvent(ev)
	if bytes.ContainsAny(b, "\n\r") {
		t.Fatalf("raw newline in %s", b)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("not JSON: %s: %v", b, err)
	}
	want := map[string]any{"type": "event", "ns": "chat", "room": "a\"b\n\u2028", "event": "msg", "from": "SID", "seq": 7.0, "data": map[string]any{"x": 1.0}}
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(want)
	if string(gb) != string(wb) {
		t.Errorf("EncodeEvent = %s, want %s", gb, wb)
	}
	min := codec{}.EncodeEvent(&router.Event{NS: "n", Name: "e"})
	if string(min) != `{"type":"event","ns":"n","event":"e","data":null}` {
		t.Errorf("minimal event = %s", min)
	}
	asked := codec{}.EncodeEvent(&router.Event{NS: "n", Name: "e", Ack: 12, Data: json.RawMessage(`1`)})
	if string(asked) != `{"type":"event","ns":"n","event":"e","ack":12,"data":1}` {
		t.Errorf("event asking an ack = %s", asked)
	}
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", "q\"b\\", "\x00\x1f\x7f", "\t\r\n", "é日😀", "\xff\xfe", "\u2028\u2029", "<&>"} {
		got := appendString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Errorf("appendString(%q) = %s: not a JSON string: %v", s, got, err)
			continue
		}
		want, _ := json.Marshal(s)
		var wantBack string
		_ = json.Unmarshal(want, &wantBack)
		if back != wantBack {
			t.Errorf("appendString(%q) decodes to %q, encoding/json to %q", s, back, wantBack)
		}
	}
}

// FuzzDecodeFrame feeds arbitrary client messages through the decoder: it
// never panics, every error is a bad_frame with a message, and what it
// accepts has a type and compact data.
func FuzzDecodeFrame(f *testing.F) {
	for _, s := range []string{
		`{"type":"join","ns":"chat","room":"lobby","id":3}`,
		`{"type":"emit","ns":"chat","event":"e","data":{ "a" : [1, 2] },"self":true}`,
		`{"type":"connect","ns":"chat","auth":{"token":"x.y.z"}}`,
		`{"type":"join","id":1.5}`, `[1]`, `nul`, "{\"type\":\"a\"}\n{\"type\":\"b\"}", "\xff",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		for _, line := range splitMessage(msg) {
			fr, err := decodeFrame(line)
			if fr == nil {
				t.Fatal("nil frame")
			}
			if err != nil {
				if err.Code != contract.CodeBadFrame || err.Message == "" {
					t.Fatalf("error %v", err)
				}
				continue
			}
			if fr.Type == "" {
				t.Fatalf("accepted a frame without type: %q", line)
			}
			if fr.Data != nil && (bytes.ContainsAny(fr.Data, "\n\r") || !json.Valid(fr.Data) || !utf8.Valid(fr.Data)) {
				t.Fatalf("data not compact JSON: %q", fr.Data)
			}
		}
	})
}
