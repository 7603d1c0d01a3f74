package bridge_test

// Tests of the wire side of the WebSocket protocol (docs/protocol.md): the hello
// frame, the subprotocol, frame decoding and splitting, data compaction,
// error frames and bad input. Each test starts a whole node in-process
// (internal/routertest: embedded NATS, router, bridge, HTTP) and talks to it
// through real WebSocket clients. What the frames mean to rooms and sockets
// is tested in router.

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/routerd/routerd/internal/routertest"
)

func TestProtocolHello(t *testing.T) {
	t.Parallel()
	for _, maxFrame := range []int{65536, 4096} {
		t.Run(fmt.Sprint(maxFrame), func(t *testing.T) {
			t.Parallel()
			cfg := routertest.Config(t)
			cfg.Node.Name = "hello-node"
			cfg.Limits.MaxFrameBytes = maxFrame
			node := routertest.Start(t, cfg)

			ws, _, err := websocket.DefaultDialer.Dial(node.WSURL(), nil)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer ws.Close()
			_ = ws.SetReadDeadline(time.Now().Add(routertest.Wait))
			typ, msg, err := ws.ReadMessage()
			if err != nil {
				t.Fatalf("read hello: %v", err)
			}
			if typ != websocket.TextMessage {
				t.Fatalf("hello is message type %d, want text", typ)
			}
			// The first frame of the first message is the hello.
			first, _, _ := strings.Cut(string(msg), "\n")
			var hello map[string]any
			if err := json.Unmarshal([]byte(first), &hello); err != nil {
				t.Fatalf("hello %q: %v", first, err)
			}
			want := map[string]any{"type": "hello", "version": "1", "node": "hello-node", "max_frame_bytes": float64(maxFrame)}
			for k, v := range want {
				if hello[k] != v {
					t.Errorf("hello[%q] = %#v, want %#v (hello %s)", k, hello[k], v, first)
				}
			}
		})
	}
}

func TestProtocolSubprotocol(t *testing.T) {
	t.Parallel()
	node := routertest.Start(t, routertest.Config(t))
	cases := []struct {
		offer []string
		want  string
	}{
		{[]string{"routerd.v1"}, "routerd.v1"},
		{[]string{"other.v9", "routerd.v1"}, "routerd.v1"},
		{nil, ""}, // clients that offer none are served too
	}
	for _, tc := range cases {
		d := websocket.Dialer{Subprotocols: tc.offer, HandshakeTimeout: routertest.Wait}
		ws, resp, err := d.Dial(node.WSURL(), nil)
		if err != nil {
			t.Fatalf("offer %v: dial: %v", tc.offer, err)
		}
		if got := ws.Subprotocol(); got != tc.want {
			t.Errorf("offer %v: negotiated %q, want %q", tc.offer, got, tc.want)
		}
		if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != tc.want {
			t.Errorf("offer %v: Sec-WebSocket-Protocol %q, want %q", tc.offer, got, tc.want)
		}
		// The protocol works the same either way.
		_ = ws.SetReadDeadline(time.Now().Add(routertest.Wait))
		if _, msg, err := ws.ReadMessage(); err != nil || !strings.Contains(string(msg), `"type":"hello"`) {
			t.Errorf("offer %v: first message %q, %v", tc.offer, msg, err)
		}
		_ = ws.Close()
	}
}

func TestProtocolEmitData(t *testing.T) {
	t.Parallel()
	node := routertest.Start(t, routertest.Config(t))
	a, b := node.Dial(), node.Dial()
	routertest.ConnectJoin(t, a, "chat", "lobby")
	sidB := routertest.ConnectJoin(t, b, "chat", "lobby")

	// data absent → null.
	a.MustAck(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "nodata"})
	ev := b.Next(routertest.IsEvent("nodata"))
	if v, ok := ev["data"]; !ok || v != nil {
		t.Errorf("event without data: %v, want data null", ev)
	}
	a.MustAck(map[string]any{"type": "emit", "ns": "chat", "to": sidB, "event": "nodata-to"})
	if ev := b.Next(routertest.IsEvent("nodata-to")); !ev.Has("data") || ev["data"] != nil {
		t.Errorf("direct event without data: %v, want data null", ev)
	}
	a.Send(`{"type":"emit","ns":"chat","room":"lobby","event":"nulldata","data":null}`)
	if ev := b.Next(routertest.IsEvent("nulldata")); !ev.Has("data") || ev["data"] != nil {
		t.Errorf("event with data null: %v", ev)
	}

	// White space and newlines in data are compacted, strings keep theirs.
	a.Send("{\"type\":\"emit\",\"ns\":\"chat\",\"room\":\"lobby\",\"event\":\"pretty\",\"data\":{\n  \"a\" : [ 1,\n 2 ],\r\n\t\"s\" : \"x y\\nz\"\n}\n}")
	b.Next(routertest.IsEvent("pretty"))
	a.Send("{\"type\":\"emit\",\"ns\":\"chat\",\"to\":\"" + sidB + "\",\"event\":\"pretty-to\",\"data\":[\n1 ,\n 2\n]}")
	b.Next(routertest.IsEvent("pretty-to"))
	for _, want := range []string{`"data":{"a":[1,2],"s":"x y\nz"}`, `"data":[1,2]`} {
		found := false
		for _, msg := range b.Raw() {
			found = found || strings.Contains(msg, want)
		}
		if !found {
			t.Errorf("no server message holds %s; got %q", want, b.Raw())
		}
	}
	// Every value type travels unchanged.
	for _, v := range []string{`"str"`, `-1.5e3`, `true`, `false`, `{}`, `[]`, `{"nested":{"deep":[null,{"k":"v"}]}}`, `"\u2028 \"q\" \\"`} {
		a.Send(`{"type":"emit","ns":"chat","room":"lobby","event":"v","data":` + v + `}`)
		got := b.Next(routertest.IsEvent("v"))
		var want any
		_ = json.Unmarshal([]byte(v), &want)
		wantJSON, _ := json.Marshal(want)
		if got.JSON("data") != string(wantJSON) {
			t.Errorf("data %s arrived as %s", v, got.JSON("data"))
		}
	}
	routertest.CheckCompact(t, a)
	routertest.CheckCompact(t, b)
}

func TestProtocolErrorFrames(t *testing.T) {
	t.Parallel()
	node := routertest.Start(t, routertest.Config(t))
	c := node.Dial()
	c.Connect("chat")
	cases := []struct {
		name, frame, code string
		id                int // 0: the error carries no id
	}{
		{"not JSON", `hello there`, "bad_frame", 0},
		{"truncated JSON", `{"type":"join","ns":"chat",`, "bad_frame", 0},
		{"array", `[{"type":"join"}]`, "bad_frame", 0},
		{"string", `"join"`, "bad_frame", 0},
		{"number", `42`, "bad_frame", 0},
		{"null", `null`, "bad_frame", 0},
		{"missing type", `{"id":7,"ns":"chat"}`, "bad_frame", 7},
		{"type not a string", `{"type":5,"id":8}`, "bad_frame", 8},
		{"room not a string", `{"type":"join","ns":"chat","room":5,"id":9}`, "bad_frame", 9},
		{"ns not a string", `{"type":"join","ns":["chat"],"room":"r","id":10}`, "bad_frame", 10},
		{"event not a string", `{"type":"emit","ns":"chat","event":{},"id":11}`, "bad_frame", 11},
		{"self not a boolean", `{"type":"emit","ns":"chat","room":"r","event":"e","self":"yes","id":12}`, "bad_frame", 12},
		{"to not a string", `{"type":"emit","ns":"chat","to":5,"event":"e","id":13}`, "bad_frame", 13},
		{"auth not an object", `{"type":"connect","ns":"other","auth":"token","id":14}`, "bad_frame", 14},
		{"missing room", `{"type":"join","ns":"chat","id":15}`, "bad_frame", 15},
		{"missing event", `{"type":"emit","ns":"chat","room":"r","id":16}`, "bad_frame", 16},
		{"missing ns", `{"type":"join","room":"r","id":17}`, "bad_frame", 17},
		{"id zero", `{"type":"leave","ns":"chat","room":"r","id":0}`, "bad_frame", 0},
		{"id negative", `{"type":"leave","ns":"chat","room":"r","id":-3}`, "bad_frame", 0},
		{"id fraction", `{"type":"leave","ns":"chat","room":"r","id":1.5}`, "bad_frame", 0},
		{"id string", `{"type":"leave","ns":"chat","room":"r","id":"4"}`, "bad_frame", 0},
		{"id boolean", `{"type":"leave","ns":"chat","room":"r","id":true}`, "bad_frame", 0},
		{"id object", `{"type":"leave","ns":"chat","room":"r","id":{}}`, "bad_frame", 0},
		{"unknown type with id", `{"type":"subscribe","ns":"chat","id":18}`, "unknown_type", 18},
		{"unknown type", `{"type":"subscribe"}`, "unknown_type", 0},
		{"failure without id", `{"type":"join","ns":"chat","room":""}`, "invalid_name", 0},
		{"not connected without id", `{"type":"join","ns":"elsewhere","room":"r"}`, "not_connected", 0},
	}
	for _, tc := range cases {
		c.Send(tc.frame)
		var f routertest.Frame
		if tc.id != 0 {
			f = c.Next(routertest.IsReply(tc.id))
		} else {
			f = c.Next(routertest.IsType("error"))
		}
		if f.Type() != "error" || f.Str("code") != tc.code {
			t.Errorf("%s: %s → %v, want error %s", tc.name, tc.frame, f, tc.code)
			continue
		}
		if tc.id == 0 && f.Has("id") {
			t.Errorf("%s: error %v carries an id", tc.name, f)
		}
		if f.Str("message") == "" {
			t.Errorf("%s: error %v has no message", tc.name, f)
		}
	}
	c.None(routertest.IsType("error")) // exactly one error each
	// Unknown fields are ignored.
	if r := c.Req(map[string]any{"type": "join", "ns": "chat", "room": "r", "color": "blue", "extra": []int{1}}); r.Type() != "ack" {
		t.Errorf("join with unknown fields: %v, want ack", r)
	}
	// Errors about a namespace name it.
	if r := c.Req(map[string]any{"type": "emit", "ns": "chat", "room": "nowhere", "event": "e"}); r.Str("code") != "not_member" || r.Str("ns") != "chat" {
		t.Errorf("not_member error: %v, want ns chat", r)
	}
	// So does a frame refused for a mistyped field, when its ns decoded.
	c.Send(`{"type":"join","ns":"chat","room":5,"id":30}`)
	if r := c.Next(routertest.IsReply(30)); r.Str("code") != "bad_frame" || r.Str("ns") != "chat" {
		t.Errorf("mistyped room: %v, want bad_frame with ns chat", r)
	}
	routertest.CheckCompact(t, c)
}

func TestProtocolBadInputKeepsConnection(t *testing.T) {
	t.Parallel()
	node := routertest.Start(t, routertest.Config(t))
	a, b := node.Dial(), node.Dial()
	routertest.ConnectJoin(t, a, "chat", "lobby")
	sidB := routertest.ConnectJoin(t, b, "chat", "lobby")

	garbage := []string{
		`{"type":"emit","ns":"chat","room":"lobby","event":"deep","data":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + "}",
		"", " ", "\n\n", "{", "}", "{}", "[]", "nul", "\x00\x01\x02", "{\"type\":", `{"type":"join","ns":"chat","room":5}`,
		`{"type":"emit","ns":"chat","room":"lobby","event":"$join"}`, `{"type":"connect","ns":"chat"}`,
		`{"type":"leave","ns":"chat","room":"r","id":-1}`, `{"type":"nope"}`, strings.Repeat("[", 5000),
		"\xff\xfe invalid utf-8", `{"type":"emit","ns":"chat","room":"lobby","event":"e","data":{"unterminated":}`,
	}
	for i := 0; i < 3; i++ {
		for _, g := range garbage {
			b.Send(g)
		}
		if err := b.WS.WriteMessage(websocket.BinaryMessage, []byte{0, 1, 2, 3}); err != nil {
			t.Fatalf("binary: %v", err)
		}
	}
	// b still works: the same socket, its rooms and its sends.
	b.MustAck(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "alive", "data": 1})
	a.Next(routertest.IsEventFrom("alive", sidB))
	a.MustAck(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "back"})
	b.Next(routertest.IsEvent("back"))
	// The other socket saw none of it.
	a.None(routertest.IsType("error"))
	routertest.CheckCompact(t, b)
	// Binary messages get a bad_frame error.
	found := false
	for _, msg := range b.Raw() {
		found = found || strings.Contains(msg, "binary")
	}
	if !found {
		t.Errorf("no error about binary messages in %q", b.Raw())
	}
}

func TestProtocolMultiFrameMessage(t *testing.T) {
	t.Parallel()
	node := routertest.Start(t, routertest.Config(t))
	a, b := node.Dial(), node.Dial()
	routertest.ConnectJoin(t, b, "chat", "lobby")

	a.Send(`{"type":"connect","ns":"chat","id":101}` + "\n" + `{"type":"join","ns":"chat","room":"lobby","id":102}`)
	if r := a.Next(routertest.IsReply(101)); r.Type() != "connected" {
		t.Errorf("first frame: %v", r)
	}
	if r := a.Next(routertest.IsReply(102)); r.Type() != "ack" {
		t.Errorf("second frame: %v", r)
	}
	// Frames are processed in order; \r\n and blank lines are tolerated; a
	// bad frame in the middle does not stop the rest.
	a.Send(`{"type":"emit","ns":"chat","room":"lobby","event":"m","data":1,"id":103}` + "\r\n" +
		"\n" +
		`{"type":"emit","ns":"chat","room":"lobby","event":"m","data":2,"id":104}` + "\n" +
		`not json` + "\n" +
		`{"type":"emit","ns":"chat","room":"lobby","event":"m","data":3,"id":105}` + "\n")
	for id := 103; id <= 105; id++ {
		if r := a.Next(routertest.IsReply(id)); r.Type() != "ack" {
			t.Errorf("frame %d: %v", id, r)
		}
	}
	if e := a.Next(routertest.IsErrorNoID); e.Str("code") != "bad_frame" {
		t.Errorf("bad frame in the middle: %v", e)
	}
	for i := 1; i <= 3; i++ {
		if ev := b.Next(routertest.IsEvent("m")); ev.JSON("data") != fmt.Sprint(i) {
			t.Errorf("event %d: %v", i, ev)
		}
	}
	// One pretty-printed frame over several lines is one frame.
	a.Send("{\n  \"type\": \"leave\",\n  \"ns\": \"chat\",\n  \"room\": \"x\",\n  \"id\": 106\n}")
	if r := a.Next(routertest.IsReply(106)); r.Type() != "ack" {
		t.Errorf("pretty-printed frame: %v", r)
	}
	a.None(routertest.IsType("error"))
}
