package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/routerd/routerd/contract"
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

func TestEncodeEvent(t *testing.T) {
	offs := &offsets{prefix: "T-"}
	tests := []struct {
		codec *codec
		ev    router.Event
		want  []string // the unit's packets; binary ones as Go strings of their bytes
	}{
		{&codec{nsp: "/"}, router.Event{NS: "chat", Name: "chat message", Data: json.RawMessage(`{"text":"hi"}`)},
			[]string{`42["chat message",{"text":"hi"}]`}},
		{&codec{}, router.Event{NS: "chat", Room: "lobby", Name: "message", Data: json.RawMessage(`"hi"`)},
			[]string{`42/chat,["message","hi"]`}},
		{&codec{nsp: "/admin", offsets: offs}, router.Event{NS: "ops", Name: "x", Data: json.RawMessage(`null`), Seq: 42},
			[]string{`42/admin,["x",null,"42"]`}},
		{&codec{nsp: "/admin", offsets: offs}, router.Event{NS: "ops", Name: "x", Data: json.RawMessage(`null`)},
			[]string{`42/admin,["x",null,"T-1"]`}},
		{&codec{offsets: offs}, router.Event{NS: "ops", Name: "y", Data: json.RawMessage(`2`)},
			[]string{`42/ops,["y",2,"T-2"]`}},
		{&codec{nsp: "/", offsets: offs}, router.Event{NS: "chat", Name: "q", Data: json.RawMessage(`1`), Seq: 9, Ack: 7},
			[]string{`427["q",1]`}},
		{&codec{nsp: "/", offsets: offs}, router.Event{NS: "chat", Name: "f", Data: json.RawMessage(`{"$binary":"AQ=="}`)},
			[]string{`451-["f",{"_placeholder":true,"num":0},"T-3"]`, "\x01"}},
		{&codec{nsp: "/"}, router.Event{NS: "chat", Name: "q", Data: json.RawMessage(`1`), Ack: 7},
			[]string{`427["q",1]`}},
		{&codec{}, router.Event{NS: "chat", Name: "q", Data: json.RawMessage(`{"$binary":"AQ=="}`), Ack: 8},
			[]string{`451-/chat,8["q",{"_placeholder":true,"num":0}]`, "\x01"}},
		{&codec{nsp: "/"}, router.Event{NS: "chat", Name: "file", Data: json.RawMessage(`{"name":"a","body":{"$binary":"AQID"}}`)},
			[]string{`451-["file",{"name":"a","body":{"_placeholder":true,"num":0}}]`, "\x01\x02\x03"}},
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
		{string(ackUnit("/chat", 12, errorArg(router.Errorf(contract.CodeNoResponders, "no backend is listening")))),
			`43/chat,12[{"error":{"code":"no_responders","message":"no backend is listening"}}]`},
		{string(connectUnit("/", "abc", "")), `40{"sid":"abc"}`},
		{string(connectUnit("/admin", "abc", "p1")), `40/admin,{"pid":"p1","sid":"abc"}`},
		{string(connectErrorUnit("/x", &router.Error{Code: contract.CodeUnknownNamespace, Message: "Invalid namespace"})),
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
// decoders and the attachment reassembly, as a session runs them: they
// never panic, a rebuilt packet is the size computed before building it,
// and what they accept, encoded as routerd sends it to Socket.IO clients,
// decodes again to the same packet: the same data, its binary values the
// same attachments.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		"4hello\x1e2\x1e4world", "4hello\x1ebAQIDBA==", `42["hello",1]`, `42/admin,456["project:delete",123]`,
		`40{"token":"123"}`, `451-["hello",{"_placeholder":true,"num":0}]` + "\x1ebAQID", `43/admin,456[]`, "1", "2probe",
		`452-/a,7[{"b":[{"_placeholder":true,"num":1}]}, {"num":0,"_placeholder":true}]` + "\x1ebAQID\x1eb",
		`461-3[{"_placeholder":true,"num":0},{"$binary":"AQ=="}]` + "\x1eb/w==",
		`452-["x",{"_placeholder":true,"num":0},{"_placeholder":true,"num":0}]` + "\x1ebAQID\x1ebAQID",
		`42["x",{"$binary":"AQID"},{"$binary":"AQ\nID"},"\u2028"]`, `44/x,{"message":"m"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		ps, err := decodePayload(in)
		if err != nil {
			return
		}
		for len(ps) > 0 {
			p := ps[0]
			ps = ps[1:]
			if p.binary || p.typ != eioMessage {
				continue
			}
			pkt, err := decodeSIO(p.data)
			if err != nil {
				continue
			}
			var atts [][]byte
			for len(atts) < pkt.attachments && len(ps) > 0 && ps[0].binary {
				atts = append(atts, ps[0].data)
				ps = ps[1:]
			}
			data, ok := rebuild(t, pkt, atts)
			if !ok {
				continue
			}
			// Encode it as routerd does and decode that again.
			var unit []byte
			switch pkt.typ {
			case sioEvent, sioBinaryEvent:
				unit = dataUnit(sioEvent, pkt.nsp, pkt.id, data)
			case sioAck, sioBinaryAck:
				unit = dataUnit(sioAck, pkt.nsp, pkt.id, data)
			default:
				unit = appendSIO([]byte{eioMessage}, pkt.typ, 0, pkt.nsp, pkt.id, data)
			}
			var packets []eioPacket
			_ = eachPacket(unit, func(bin bool, b []byte) error {
				packets = append(packets, eioPacket{typ: eioMessage, data: b, binary: bin})
				return nil
			})
			again, err := decodeSIO(packets[0].data[1:])
			if err != nil {
				t.Fatalf("%q decoded to %s, encoded %q, which does not decode: %v", p.data, describe(pkt, data), packets[0].data, err)
			}
			var reAtts [][]byte
			for _, q := range packets[1:] {
				reAtts = append(reAtts, q.data)
			}
			dataAgain, ok := rebuild(t, again, reAtts)
			sameData := ok && (dataAgain == nil) == (data == nil) && bytes.Equal(dataAgain, data)
			if !sameData || again.nsp != pkt.nsp || again.id != pkt.id || plainType(again.typ) != plainType(pkt.typ) || again.attachments != len(reAtts) {
				t.Fatalf("%q decoded to %s, encoded %q, decoded again to %s", p.data, describe(pkt, data), packets[0].data, describe(again, dataAgain))
			}
			// The attachments go out in the order of their placeholders
			// (and data written with binary values gets more).
			if pkt.attachments > 0 && !bytes.Contains(pkt.data, []byte(binaryKey)) {
				phs, _ := findPlaceholders(pkt.data, pkt.attachments)
				for i, ph := range phs {
					if i >= len(reAtts) || !bytes.Equal(reAtts[i], atts[ph.num]) {
						t.Fatalf("%q: attachments %q went out as %q", p.data, atts, reAtts)
					}
				}
				if len(reAtts) != len(atts) {
					t.Fatalf("%q: attachments %q went out as %q", p.data, atts, reAtts)
				}
			}
		}
	})
}

// rebuild returns the data of a decoded packet with its attachments as a
// session rebuilds it, and false where the session refuses the packet; the
// size it checks before building must be the size built.
func rebuild(t *testing.T, pkt sioPacket, atts [][]byte) (json.RawMessage, bool) {
	t.Helper()
	if pkt.attachments == 0 {
		return pkt.data, true
	}
	phs, err := findPlaceholders(pkt.data, pkt.attachments)
	if err != nil || len(atts) < pkt.attachments {
		return nil, false
	}
	data := reconstruct(pkt.data, phs, atts)
	if size := rebuiltSize(pkt.data, phs, atts); size != len(data) || !json.Valid(data) {
		t.Fatalf("rebuilt %q from %q: %d bytes, %d computed before (valid JSON: %v)", data, pkt.data, len(data), size, json.Valid(data))
	}
	return data, true
}

// plainType is the type of a packet without attachments: EVENT for
// BINARY_EVENT, ACK for BINARY_ACK.
func plainType(typ int) int {
	if typ == sioBinaryEvent || typ == sioBinaryAck {
		return typ - (sioBinaryEvent - sioEvent)
	}
	return typ
}

// describe writes a decoded packet and its rebuilt data for a failure
// message.
func describe(pkt sioPacket, data []byte) string {
	return fmt.Sprintf("{type %d, %d attachments, nsp %q, id %d, data %q}", pkt.typ, pkt.attachments, pkt.nsp, pkt.id, data)
}
