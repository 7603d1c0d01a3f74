package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/routerd/routerd/router"
)

// Examples from https://socket.io/docs/v4/engine-io-protocol/ (packet
// encoding, payloads).
func TestDecodePayload(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []eioPacket
		err  bool
	}{
		{"one message", "4hello", []eioPacket{{typ: eioMessage, data: []byte("hello")}}, false},
		{"several", "4hello\x1e2\x1e4world", []eioPacket{
			{typ: eioMessage, data: []byte("hello")}, {typ: eioPing, data: []byte{}}, {typ: eioMessage, data: []byte("world")},
		}, false},
		{"binary", "4hello\x1ebAQIDBA==", []eioPacket{
			{typ: eioMessage, data: []byte("hello")}, {typ: eioMessage, data: []byte{1, 2, 3, 4}, binary: true},
		}, false},
		{"pong", "3", []eioPacket{{typ: eioPong, data: []byte{}}}, false},
		{"close", "1", []eioPacket{{typ: eioClose, data: []byte{}}}, false},
		{"probe", "2probe", []eioPacket{{typ: eioPing, data: []byte("probe")}}, false},
		{"empty", "", nil, true},
		{"empty piece", "4a\x1e", nil, true},
		{"unknown type", "7", nil, true},
		{"letter", "x", nil, true},
		{"bad base64", "b!!!", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodePayload([]byte(tt.in))
			if tt.err {
				if !errors.Is(err, errPacket) {
					t.Fatalf("err = %v, want errPacket", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestAppendPolling(t *testing.T) {
	var body []byte
	body = appendPolling(body, []byte("4hello"))
	body = appendPolling(body, []byte{eioPing})
	body = appendPolling(body, multiUnit([]byte("451-[\"x\",{\"_placeholder\":true,\"num\":0}]"), [][]byte{{1, 2, 3, 4}}))
	want := "4hello\x1e2\x1e451-[\"x\",{\"_placeholder\":true,\"num\":0}]\x1ebAQIDBA=="
	if string(body) != want {
		t.Fatalf("got %q, want %q", body, want)
	}
	// What it wrote decodes back to the same packets.
	ps, err := decodePayload(body)
	if err != nil || len(ps) != 4 || !ps[3].binary || !bytes.Equal(ps[3].data, []byte{1, 2, 3, 4}) {
		t.Fatalf("round trip: %+v %v", ps, err)
	}
}

// Examples from https://socket.io/docs/v4/socket-io-protocol/ (and
// socket.io-parser's decoder rules).
func TestDecodeSIO(t *testing.T) {
	tests := []struct {
		in   string
		want sioPacket
	}{
		{`0`, sioPacket{typ: sioConnect, nsp: "/", id: noID}},
		{`0{"token":"123"}`, sioPacket{typ: sioConnect, nsp: "/", id: noID, data: json.RawMessage(`{"token":"123"}`)}},
		{`0/admin,{"token":"123"}`, sioPacket{typ: sioConnect, nsp: "/admin", id: noID, data: json.RawMessage(`{"token":"123"}`)}},
		{`0/admin,`, sioPacket{typ: sioConnect, nsp: "/admin", id: noID}},
		{`0/admin`, sioPacket{typ: sioConnect, nsp: "/admin", id: noID}},
		{`1/admin,`, sioPacket{typ: sioDisconnect, nsp: "/admin", id: noID}},
		{`1`, sioPacket{typ: sioDisconnect, nsp: "/", id: noID}},
		{`2["foo"]`, sioPacket{typ: sioEvent, nsp: "/", id: noID, data: json.RawMessage(`["foo"]`)}},
		{`2["hello",1]`, sioPacket{typ: sioEvent, nsp: "/", id: noID, data: json.RawMessage(`["hello",1]`)}},
		{`2/admin,456["project:delete",123]`, sioPacket{typ: sioEvent, nsp: "/admin", id: 456, data: json.RawMessage(`["project:delete",123]`)}},
		{`212["bar"]`, sioPacket{typ: sioEvent, nsp: "/", id: 12, data: json.RawMessage(`["bar"]`)}},
		{`3/admin,456[]`, sioPacket{typ: sioAck, nsp: "/admin", id: 456, data: json.RawMessage(`[]`)}},
		{`4{"message":"Not authorized"}`, sioPacket{typ: sioConnectError, nsp: "/", id: noID, data: json.RawMessage(`{"message":"Not authorized"}`)}},
		{`51-["hello",{"_placeholder":true,"num":0}]`, sioPacket{typ: sioBinaryEvent, attachments: 1, nsp: "/", id: noID, data: json.RawMessage(`["hello",{"_placeholder":true,"num":0}]`)}},
		{`52-/admin,["x",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, sioPacket{typ: sioBinaryEvent, attachments: 2, nsp: "/admin", id: noID, data: json.RawMessage(`["x",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`)}},
		{`61-/admin,456[{"_placeholder":true,"num":0}]`, sioPacket{typ: sioBinaryAck, attachments: 1, nsp: "/admin", id: 456, data: json.RawMessage(`[{"_placeholder":true,"num":0}]`)}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := decodeSIO([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			// The encoder writes the same text back (CONNECT/DISCONNECT
			// without data always end the namespace with a comma).
			enc := appendSIO(nil, got.typ, got.attachments, got.nsp, got.id, got.data)
			if want := strings.TrimSuffix(tt.in, ","); strings.TrimSuffix(string(enc), ",") != want && tt.in != `0/admin` {
				t.Fatalf("encoded %q, want %q", enc, tt.in)
			}
		})
	}
}

func TestDecodeSIOErrors(t *testing.T) {
	for _, in := range []string{
		``, `7`, `a`, `2`, `2[]`, `2{}`, `2"x"`, `2[1`, `2["x"]junk`, `1{}`, `1/a,"x"`,
		`0"x"`, `0[]`, `3{}`, `4[]`, `5["x"]`, `50-["x"]`, `511-["x"]`, `5x-["x"]`, `5-["x"]`,
		`21234567890123456["x"]`, `99999999999999999999["x"]`,
	} {
		if _, err := decodeSIO([]byte(in)); !errors.Is(err, errPacket) {
			t.Errorf("decodeSIO(%q) = %v, want errPacket", in, err)
		}
	}
}

func TestBinaryRoundTrip(t *testing.T) {
	data, err := reconstruct(json.RawMessage(`["hello",{"_placeholder":true,"num":0},{"a":[{"_placeholder":true,"num":1}],"n":1.50}]`),
		[][]byte{{1, 2, 3}, {0xff}})
	if err != nil {
		t.Fatal(err)
	}
	if want := `["hello",{"$binary":"AQID"},{"a":[{"$binary":"/w=="}],"n":1.50}]`; string(data) != want {
		t.Fatalf("reconstruct = %s, want %s", data, want)
	}
	back, atts := deconstruct(data)
	if want := `["hello",{"_placeholder":true,"num":0},{"a":[{"_placeholder":true,"num":1}],"n":1.50}]`; string(back) != want {
		t.Fatalf("deconstruct = %s, want %s", back, want)
	}
	if !reflect.DeepEqual(atts, [][]byte{{1, 2, 3}, {0xff}}) {
		t.Fatalf("attachments %v", atts)
	}
	for _, in := range []string{
		`["x",{"_placeholder":true,"num":1}]`,  // names no attachment
		`["x",{"_placeholder":true,"num":-1}]`, // negative
		`["x"]`,                                // no placeholder at all
	} {
		if _, err := reconstruct(json.RawMessage(in), [][]byte{{1}}); !errors.Is(err, errPacket) {
			t.Errorf("reconstruct(%s) = %v, want errPacket", in, err)
		}
	}
	// Values that are not exactly {"$binary":<base64 string>} stay JSON.
	for _, in := range []string{`{"$binary":"AQID","x":1}`, `{"$binary":"!!"}`, `{"$binary":3}`, `"$binary"`} {
		if out, atts := deconstruct(json.RawMessage(in)); string(out) != in || atts != nil {
			t.Errorf("deconstruct(%s) = %s %v", in, out, atts)
		}
	}
}

func TestEncodeEvent(t *testing.T) {
	tests := []struct {
		codec *codec
		ev    router.Event
		want  []string // the unit's packets; binary ones as Go strings of their bytes
	}{
		{&codec{nsp: "/"}, router.Event{NS: "chat", Name: "chat message", Data: json.RawMessage(`{"text":"hi"}`)},
			[]string{`42["chat message",{"text":"hi"}]`}},
		{&codec{}, router.Event{NS: "chat", Room: "lobby", Name: "message", Data: json.RawMessage(`"hi"`)},
			[]string{`42/chat,["message","hi"]`}},
		{&codec{nsp: "/admin"}, router.Event{NS: "ops", Name: "x", Data: json.RawMessage(`null`), Seq: 42},
			[]string{`42/admin,["x",null,"42"]`}},
		{&codec{nsp: "/"}, router.Event{NS: "chat", Name: "file", Data: json.RawMessage(`{"name":"a","body":{"$binary":"AQID"}}`)},
			[]string{`451-["file",{"body":{"_placeholder":true,"num":0},"name":"a"}]`, "\x01\x02\x03"}},
	}
	for _, tt := range tests {
		var got []string
		_ = eachPacket(tt.codec.EncodeEvent(&tt.ev), func(_ bool, p []byte) error {
			got = append(got, string(p))
			return nil
		})
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("EncodeEvent(%+v) = %q, want %q", tt.ev, got, tt.want)
		}
	}
}

func TestReplies(t *testing.T) {
	tests := []struct{ got, want string }{
		{string(ackUnit("/", 3, okArg)), `433[{"ok":true}]`},
		{string(ackUnit("/chat", 12, errorArg(router.Errorf(router.CodeNoResponders, "no backend is listening")))),
			`43/chat,12[{"error":{"code":"no_responders","message":"no backend is listening"}}]`},
		{string(connectUnit("/", "abc", "")), `40{"sid":"abc"}`},
		{string(connectUnit("/admin", "abc", "p1")), `40/admin,{"pid":"p1","sid":"abc"}`},
		{string(connectErrorUnit("/x", &router.Error{Code: router.CodeUnknownNamespace, Message: "Invalid namespace"})),
			`44/x,{"data":{"code":"unknown_namespace"},"message":"Invalid namespace"}`},
		{string(disconnectUnit("/admin")), `41/admin,`},
		{string(argsData(nil)), `null`},
		{string(argsData([]json.RawMessage{json.RawMessage(`{ "a" : 1 }`)})), `{"a":1}`},
		{string(argsData([]json.RawMessage{json.RawMessage(`1`), json.RawMessage(`"b"`)})), `[1,"b"]`},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %s, want %s", tt.got, tt.want)
		}
	}
}

func TestSplitAuth(t *testing.T) {
	tests := []struct{ in, auth, pid, offset string }{
		{``, ``, "", ""},
		{`{"token":"t"}`, `{"token":"t"}`, "", ""},
		{`{"token":"t","pid":"p","offset":"12"}`, `{"token":"t"}`, "p", "12"},
		{`{"pid":"p"}`, ``, "p", ""},
	}
	for _, tt := range tests {
		var in json.RawMessage
		if tt.in != "" {
			in = json.RawMessage(tt.in)
		}
		auth, r := splitAuth(in)
		if string(auth) != tt.auth || r.pid != tt.pid || r.offset != tt.offset {
			t.Errorf("splitAuth(%s) = %s %+v", tt.in, auth, r)
		}
	}
}

// FuzzDecode feeds arbitrary client input to the Engine.IO and Socket.IO
// decoders and the attachment reassembly: they never panic, and what they
// accept encodes back to a packet they accept again.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		"4hello\x1e2\x1e4world", "4hello\x1ebAQIDBA==", `42["hello",1]`, `42/admin,456["project:delete",123]`,
		`40{"token":"123"}`, `451-["hello",{"_placeholder":true,"num":0}]` + "\x1ebAQID", `43/admin,456[]`, "1", "2probe",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		ps, err := decodePayload(in)
		if err != nil {
			return
		}
		var atts [][]byte
		for _, p := range ps {
			if p.binary {
				atts = append(atts, p.data)
				continue
			}
			if p.typ != eioMessage {
				continue
			}
			pkt, err := decodeSIO(p.data)
			if err != nil {
				continue
			}
			enc := appendSIO(nil, pkt.typ, pkt.attachments, pkt.nsp, pkt.id, pkt.data)
			again, err := decodeSIO(enc)
			if err != nil || again.typ != pkt.typ || again.id != pkt.id || again.nsp != pkt.nsp {
				t.Fatalf("%q decoded to %+v, encoded %q, decoded again %+v (%v)", p.data, pkt, enc, again, err)
			}
			if pkt.typ == sioBinaryEvent {
				if data, err := reconstruct(pkt.data, atts); err == nil && !json.Valid(data) {
					t.Fatalf("reconstruct gave invalid JSON %q", data)
				}
			}
			if pkt.typ == sioEvent {
				_, _ = deconstruct(pkt.data)
			}
		}
	})
}
