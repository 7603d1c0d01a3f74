package daemon_test

// Integration tests of the WebSocket protocol (SPEC §2) through the real
// path: a node started in-process (embedded NATS, router, bridge, HTTP), real
// WebSocket clients and real NATS backends.

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/internal/routertest"
)

// protoSID is what a sid looks like (SPEC §1): at least 96 random bits
// written with [A-Za-z0-9_-] only, so at least 16 characters.
var protoSID = regexp.MustCompile(`^[A-Za-z0-9_-]{16,}$`)

// protoMember connects c to ns, joins room and returns the sid.
func protoMember(t *testing.T, c *routertest.Client, ns, room string) string {
	t.Helper()
	sid := c.Connect(ns)
	c.Join(ns, room)
	return sid
}

// protoHas reports whether frame f has field k at all.
func protoHas(f routertest.Frame, k string) bool {
	_, ok := f[k]
	return ok
}

// protoIsEventFrom matches event frames named name sent by sid.
func protoIsEventFrom(name, sid string) func(routertest.Frame) bool {
	return func(f routertest.Frame) bool {
		return f.Type() == "event" && f.Str("event") == name && f.Str("from") == sid
	}
}

// protoIsPresence matches $join / $leave frames about sid in room.
func protoIsPresence(event, room, sid string) func(routertest.Frame) bool {
	return func(f routertest.Frame) bool {
		if f.Type() != "event" || f.Str("event") != event || f.Str("room") != room {
			return false
		}
		d, _ := f["data"].(map[string]any)
		return d != nil && d["sid"] == sid
	}
}

// protoIsErrorNoID matches error frames that carry no id.
func protoIsErrorNoID(f routertest.Frame) bool {
	return f.Type() == "error" && !protoHas(f, "id")
}

// protoCheckCompact fails unless every line of every message c received so
// far is one JSON object with a type: the server sends compact frames
// separated by newlines, never a raw newline inside a frame.
func protoCheckCompact(t *testing.T, c *routertest.Client) {
	t.Helper()
	for _, msg := range c.Raw() {
		for _, line := range strings.Split(msg, "\n") {
			var f map[string]any
			if err := json.Unmarshal([]byte(line), &f); err != nil {
				t.Fatalf("server line is not a JSON object (%v): %q in message %q", err, line, msg)
			}
			if _, ok := f["type"].(string); !ok {
				t.Fatalf("server frame without type: %q", line)
			}
		}
	}
}

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

func TestProtocolConnect(t *testing.T) {
	t.Parallel()
	cfg := routertest.Config(t)
	cfg.Namespaces["news"] = config.DefaultNamespace()
	node := routertest.Start(t, cfg)
	c := node.Dial()

	c.Send(`{"type":"connect","ns":"chat","id":41}`)
	r := c.Next(routertest.IsReply(41))
	if r.Type() != "connected" {
		t.Fatalf("connect reply: %v, want connected", r)
	}
	if r.Str("ns") != "chat" {
		t.Errorf("connected ns = %q, want chat", r.Str("ns"))
	}
	sid := r.Str("sid")
	if !protoSID.MatchString(sid) {
		t.Errorf("sid %q: want at least 16 of [A-Za-z0-9_-]", sid)
	}
	c.None(routertest.IsType("ack")) // connect answers with connected, not ack

	if code := c.ErrorCode(map[string]any{"type": "connect", "ns": "chat"}); code != "already_connected" {
		t.Errorf("second connect to chat: %s, want already_connected", code)
	}
	// The refused connect left the first socket attached.
	c.Join("chat", "lobby")

	for _, ns := range []string{"nowhere", strings.Repeat("n", 64)} {
		if code := c.ErrorCode(map[string]any{"type": "connect", "ns": ns}); code != "unknown_namespace" {
			t.Errorf("connect to undeclared namespace %q: %s, want unknown_namespace", ns, code)
		}
	}
	for _, ns := range []string{"", "bad.ns", "a b", "café", "x>", strings.Repeat("n", 65)} {
		if code := c.ErrorCode(map[string]any{"type": "connect", "ns": ns}); code != "invalid_name" {
			t.Errorf("connect to %q: %s, want invalid_name", ns, code)
		}
	}
	if code := c.ErrorCode(map[string]any{"type": "connect"}); code != "bad_frame" {
		t.Errorf("connect without ns: %s, want bad_frame", code)
	}

	// Without an id the connected frame carries none.
	c.Send(`{"type":"connect","ns":"news"}`)
	r2 := c.Next(routertest.IsType("connected"))
	if protoHas(r2, "id") || r2.Str("ns") != "news" || !protoSID.MatchString(r2.Str("sid")) {
		t.Errorf("connected without id: %v", r2)
	}

	// sids are unique.
	seen := map[string]bool{sid: true, r2.Str("sid"): true}
	for i := 0; i < 20; i++ {
		s := node.Dial().Connect("chat")
		if seen[s] {
			t.Fatalf("sid %q handed out twice", s)
		}
		seen[s] = true
	}
}

func TestProtocolConnectGlobNamespace(t *testing.T) {
	t.Parallel()
	cfg := routertest.Config(t)
	cfg.Namespaces["tenant-*"] = config.DefaultNamespace()
	node := routertest.Start(t, cfg)

	a, b := node.Dial(), node.Dial()
	sidA := protoMember(t, a, "tenant-a", "lobby")
	protoMember(t, b, "tenant-a", "lobby")
	if !protoSID.MatchString(sidA) {
		t.Errorf("sid %q", sidA)
	}
	a.MustAck(map[string]any{"type": "emit", "ns": "tenant-a", "room": "lobby", "event": "hi", "data": 1})
	if ev := b.Next(protoIsEventFrom("hi", sidA)); ev.Str("ns") != "tenant-a" {
		t.Errorf("event in tenant-a: %v", ev)
	}
	// Another name matching the glob is a separate namespace.
	c := node.Dial()
	protoMember(t, c, "tenant-b", "lobby")
	c.None(routertest.IsEvent("hi"))

	if code := a.ErrorCode(map[string]any{"type": "connect", "ns": "tenantx"}); code != "unknown_namespace" {
		t.Errorf("connect to tenantx: %s, want unknown_namespace", code)
	}
}

func TestProtocolMultiplexing(t *testing.T) {
	t.Parallel()
	cfg := routertest.Config(t)
	news := config.DefaultNamespace()
	news.Direct = true
	news.PresenceEvents = true
	cfg.Namespaces["news"] = news
	node := routertest.Start(t, cfg)

	x := node.Dial() // attached to both namespaces
	xChat := protoMember(t, x, "chat", "lobby")
	xNews := protoMember(t, x, "news", "lobby")
	if xChat == xNews {
		t.Fatalf("both attachments got sid %q", xChat)
	}
	y := node.Dial() // chat only
	yChat := protoMember(t, y, "chat", "lobby")
	z := node.Dial() // news only
	zNews := protoMember(t, z, "news", "lobby")

	y.MustAck(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "said", "data": "from chat"})
	ev := x.Next(protoIsEventFrom("said", yChat))
	if ev.Str("ns") != "chat" || ev.Str("room") != "lobby" || ev.JSON("data") != `"from chat"` {
		t.Errorf("chat event on x: %v", ev)
	}
	z.MustAck(map[string]any{"type": "emit", "ns": "news", "room": "lobby", "event": "said", "data": "from news"})
	ev = x.Next(protoIsEventFrom("said", zNews))
	if ev.Str("ns") != "news" || ev.Str("room") != "lobby" || ev.JSON("data") != `"from news"` {
		t.Errorf("news event on x: %v", ev)
	}
	// Each event reached x once, through the socket of its namespace; the
	// other namespace's members got nothing.
	x.None(routertest.IsEvent("said"))
	z.None(protoIsEventFrom("said", yChat))
	y.None(protoIsEventFrom("said", zNews))

	// Direct messages reach the attachment of that sid, in its namespace.
	z.MustAck(map[string]any{"type": "emit", "ns": "news", "to": xNews, "event": "dm", "data": 1})
	if ev := x.Next(routertest.IsEvent("dm")); ev.Str("ns") != "news" || ev.Str("from") != zNews {
		t.Errorf("direct message on x: %v", ev)
	}

	// Detaching one namespace leaves the other attached.
	x.MustAck(map[string]any{"type": "disconnect", "ns": "news"})
	y.MustAck(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "still", "data": 2})
	if ev := x.Next(routertest.IsEvent("still")); ev.Str("ns") != "chat" {
		t.Errorf("chat event after leaving news: %v", ev)
	}
	if code := x.ErrorCode(map[string]any{"type": "join", "ns": "news", "room": "lobby"}); code != "not_connected" {
		t.Errorf("join news after disconnect: %s, want not_connected", code)
	}

	// Closing the connection detaches every socket on it.
	xNews = x.Connect("news")
	x.Join("news", "lobby")
	z.Next(protoIsPresence("$join", "lobby", xNews))
	_ = x.WS.Close()
	y.Next(protoIsPresence("$leave", "lobby", xChat))
	z.Next(protoIsPresence("$leave", "lobby", xNews))
}

func TestProtocolDisconnect(t *testing.T) {
	t.Parallel()
	node := routertest.Start(t, routertest.Config(t))
	a, b := node.Dial(), node.Dial()
	sidA := protoMember(t, a, "chat", "lobby")
	sidB := protoMember(t, b, "chat", "lobby")
	a.Next(protoIsPresence("$join", "lobby", sidB))

	r := a.Req(map[string]any{"type": "disconnect", "ns": "chat"})
	if r.Type() != "ack" {
		t.Fatalf("disconnect with id: %v, want ack", r)
	}
	leave := b.Next(protoIsPresence("$leave", "lobby", sidA))
	if leave.Str("ns") != "chat" || protoHas(leave, "from") {
		t.Errorf("$leave frame: %v", leave)
	}
	if code := a.ErrorCode(map[string]any{"type": "join", "ns": "chat", "room": "lobby"}); code != "not_connected" {
		t.Errorf("join after disconnect: %s, want not_connected", code)
	}
	if code := a.ErrorCode(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "e"}); code != "not_connected" {
		t.Errorf("emit after disconnect: %s, want not_connected", code)
	}
	if code := a.ErrorCode(map[string]any{"type": "disconnect", "ns": "chat"}); code != "not_connected" {
		t.Errorf("second disconnect: %s, want not_connected", code)
	}
	// The detached socket gets no more room events.
	b.MustAck(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "after", "self": true})
	b.Next(routertest.IsEvent("after"))
	a.None(routertest.IsEvent("after"))

	// Connecting again gives a new socket.
	if sid := a.Connect("chat"); sid == sidA {
		t.Errorf("reconnect reused sid %q", sid)
	}

	// Without an id a successful disconnect has no reply.
	a.Send(`{"type":"disconnect","ns":"chat"}`)
	a.None(func(f routertest.Frame) bool {
		return f.Type() == "ack" || f.Type() == "error" && f.Str("code") != "unknown_type"
	})
	if code := a.ErrorCode(map[string]any{"type": "leave", "ns": "chat", "room": "lobby"}); code != "not_connected" {
		t.Errorf("leave after disconnect without id: %s, want not_connected", code)
	}
}

func TestProtocolJoinLeave(t *testing.T) {
	t.Parallel()
	node := routertest.Start(t, routertest.Config(t))
	a, b := node.Dial(), node.Dial()

	if code := a.ErrorCode(map[string]any{"type": "join", "ns": "chat", "room": "lobby"}); code != "not_connected" {
		t.Errorf("join before connect: %s, want not_connected", code)
	}
	if code := a.ErrorCode(map[string]any{"type": "leave", "ns": "chat", "room": "lobby"}); code != "not_connected" {
		t.Errorf("leave before connect: %s, want not_connected", code)
	}
	sidA := a.Connect("chat")
	sidB := protoMember(t, b, "chat", "lobby")

	if r := a.Join("chat", "lobby"); r.Type() != "ack" {
		t.Errorf("join reply %v, want ack", r)
	}
	a.Join("chat", "lobby") // joining again is fine
	// A room event reaches a only once although it joined twice.
	b.MustAck(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "once", "data": 1})
	a.Next(protoIsEventFrom("once", sidB))
	a.None(routertest.IsEvent("once"))

	// Leaving a room one is not in is not an error.
	if r := a.MustAck(map[string]any{"type": "leave", "ns": "chat", "room": "elsewhere"}); r.Type() != "ack" {
		t.Errorf("leave of a room not joined: %v, want ack", r)
	}
	if r := a.MustAck(map[string]any{"type": "leave", "ns": "chat", "room": "lobby"}); r.Type() != "ack" {
		t.Errorf("leave: %v, want ack", r)
	}
	b.Next(protoIsPresence("$leave", "lobby", sidA))
	// Left: no more events, and publishing there needs membership again.
	b.MustAck(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "gone", "self": true})
	b.Next(routertest.IsEvent("gone"))
	a.None(routertest.IsEvent("gone"))
	if code := a.ErrorCode(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "e"}); code != "not_member" {
		t.Errorf("emit after leave: %s, want not_member", code)
	}
	if r := a.MustAck(map[string]any{"type": "leave", "ns": "chat", "room": "lobby"}); r.Type() != "ack" {
		t.Errorf("second leave: %v, want ack", r)
	}

	// Without an id, successful join and leave have no reply.
	a.Send(`{"type":"join","ns":"chat","room":"quiet"}`)
	a.Send(`{"type":"leave","ns":"chat","room":"quiet"}`)
	a.None(routertest.IsType("ack"))
	a.None(protoIsErrorNoID)
}

func TestProtocolRoomNames(t *testing.T) {
	t.Parallel()
	for _, maxName := range []int{128, 8} {
		t.Run(fmt.Sprint(maxName), func(t *testing.T) {
			t.Parallel()
			cfg := routertest.Config(t)
			cfg.Limits.MaxNameBytes = maxName
			node := routertest.Start(t, cfg)
			c := node.Dial()
			c.Connect("chat")

			valid := []string{
				"a",
				"a.b c",
				"*",
				"lobby>",
				"日本",
				strings.Repeat("r", maxName),
				strings.Repeat("é", maxName/2), // 2 bytes each: exactly the limit
			}
			invalid := []string{
				"",
				"a\x00b",
				"tab\there",
				"line\nbreak",
				"del\x7f",
				"c1\u0085",
				strings.Repeat("r", maxName+1),
				strings.Repeat("é", maxName/2) + "x", // the limit counts bytes, not characters
			}
			for _, room := range valid {
				if r := c.Req(map[string]any{"type": "join", "ns": "chat", "room": room}); r.Type() != "ack" {
					t.Errorf("join %q: %v, want ack", room, r)
				}
				if r := c.Req(map[string]any{"type": "leave", "ns": "chat", "room": room}); r.Type() != "ack" {
					t.Errorf("leave %q: %v, want ack", room, r)
				}
			}
			for _, room := range invalid {
				for _, typ := range []string{"join", "leave", "presence"} {
					if code := c.ErrorCode(map[string]any{"type": typ, "ns": "chat", "room": room}); code != "invalid_name" {
						t.Errorf("%s %q: %s, want invalid_name", typ, room, code)
					}
				}
				if code := c.ErrorCode(map[string]any{"type": "emit", "ns": "chat", "room": room, "event": "e"}); code != "invalid_name" {
					t.Errorf("emit to room %q: %s, want invalid_name", room, code)
				}
			}
		})
	}
}

func TestProtocolEmitRoom(t *testing.T) {
	t.Parallel()
	node := routertest.Start(t, routertest.Config(t))
	a, b, c, d := node.Dial(), node.Dial(), node.Dial(), node.Dial()
	sidA := protoMember(t, a, "chat", "lobby")
	protoMember(t, b, "chat", "lobby")
	protoMember(t, c, "chat", "lobby")
	protoMember(t, d, "chat", "other") // same namespace, other room

	r := a.Req(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "message", "data": map[string]any{"text": "hi"}})
	if r.Type() != "ack" {
		t.Fatalf("emit with id: %v, want ack", r)
	}
	for _, member := range []*routertest.Client{b, c} {
		ev := member.Next(routertest.IsEvent("message"))
		if ev.Str("ns") != "chat" || ev.Str("room") != "lobby" || ev.Str("from") != sidA || ev.JSON("data") != `{"text":"hi"}` {
			t.Errorf("event: %v", ev)
		}
	}
	a.None(routertest.IsEvent("message")) // not the sender
	d.None(routertest.IsEvent("message")) // not another room

	// self: true includes the sender.
	a.MustAck(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "echo", "data": 7, "self": true})
	for _, member := range []*routertest.Client{a, b, c} {
		if ev := member.Next(routertest.IsEvent("echo")); ev.Str("from") != sidA || ev.JSON("data") != "7" || ev.Str("room") != "lobby" {
			t.Errorf("self event: %v", ev)
		}
	}
	a.None(routertest.IsEvent("echo")) // exactly once
	// self: false is the default.
	a.MustAck(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "noself", "self": false})
	b.Next(routertest.IsEvent("noself"))
	a.None(routertest.IsEvent("noself"))

	// Without id: delivered, no reply.
	a.Send(`{"type":"emit","ns":"chat","room":"lobby","event":"quiet","data":[1,2]}`)
	if ev := b.Next(routertest.IsEvent("quiet")); ev.JSON("data") != "[1,2]" {
		t.Errorf("event without id: %v", ev)
	}
	a.None(routertest.IsType("ack"))

	// Events from one sender to one room arrive in order.
	for i := 0; i < 50; i++ {
		a.Send(fmt.Sprintf(`{"type":"emit","ns":"chat","room":"lobby","event":"seq","data":%d}`, i))
	}
	for i := 0; i < 50; i++ {
		if ev := b.Next(routertest.IsEvent("seq")); ev.JSON("data") != fmt.Sprint(i) {
			t.Fatalf("event %d arrived as %v", i, ev)
		}
	}
}

func TestProtocolEmitNotMember(t *testing.T) {
	t.Parallel()
	node := routertest.Start(t, routertest.Config(t))
	a, b := node.Dial(), node.Dial()
	a.Connect("chat")
	protoMember(t, b, "chat", "lobby")

	if code := a.ErrorCode(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "e", "data": 1}); code != "not_member" {
		t.Errorf("emit to a room not joined: %s, want not_member", code)
	}
	// Without an id the refusal is an error without id, and nothing is delivered.
	a.Send(`{"type":"emit","ns":"chat","room":"lobby","event":"e2"}`)
	if f := a.Next(routertest.IsType("error")); protoHas(f, "id") || f.Str("code") != "not_member" {
		t.Errorf("error for a frame without id: %v", f)
	}
	a.Join("chat", "lobby")
	a.MustAck(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "ok"})
	b.Next(routertest.IsEvent("ok"))
	b.None(routertest.IsEvent("e"))
	b.None(routertest.IsEvent("e2"))
}

func TestProtocolEventNames(t *testing.T) {
	t.Parallel()
	node := routertest.Start(t, routertest.Config(t))
	a, b := node.Dial(), node.Dial()
	protoMember(t, a, "chat", "lobby")
	sidB := protoMember(t, b, "chat", "lobby")

	bad := []string{"$join", "$leave", "$custom", "", "a\x01b", "new\nline", strings.Repeat("e", 65)}
	for _, ev := range bad {
		targets := []map[string]any{
			{"room": "lobby"},
			{"to": sidB},
			{},
		}
		for _, tgt := range targets {
			f := map[string]any{"type": "emit", "ns": "chat", "event": ev, "data": 1}
			for k, v := range tgt {
				f[k] = v
			}
			if code := a.ErrorCode(f); code != "invalid_name" {
				t.Errorf("emit %q %v: %s, want invalid_name", ev, tgt, code)
			}
		}
	}
	// The longest name and names that need escaping are fine.
	for _, ev := range []string{strings.Repeat("e", 64), "a.b c", "wild*card>", "ünï", "a$"} {
		a.MustAck(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": ev, "data": ev})
		if got := b.Next(routertest.IsEvent(ev)); got["data"] != ev {
			t.Errorf("event %q: %v", ev, got)
		}
	}
	b.None(func(f routertest.Frame) bool {
		return f.Type() == "event" && strings.HasPrefix(f.Str("event"), "$") && f.Str("event") != "$join" && f.Str("event") != "$leave"
	})
}

func TestProtocolEmitData(t *testing.T) {
	t.Parallel()
	node := routertest.Start(t, routertest.Config(t))
	a, b := node.Dial(), node.Dial()
	protoMember(t, a, "chat", "lobby")
	sidB := protoMember(t, b, "chat", "lobby")

	// data absent → null.
	a.MustAck(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "nodata"})
	ev := b.Next(routertest.IsEvent("nodata"))
	if v, ok := ev["data"]; !ok || v != nil {
		t.Errorf("event without data: %v, want data null", ev)
	}
	a.MustAck(map[string]any{"type": "emit", "ns": "chat", "to": sidB, "event": "nodata-to"})
	if ev := b.Next(routertest.IsEvent("nodata-to")); !protoHas(ev, "data") || ev["data"] != nil {
		t.Errorf("direct event without data: %v, want data null", ev)
	}
	a.Send(`{"type":"emit","ns":"chat","room":"lobby","event":"nulldata","data":null}`)
	if ev := b.Next(routertest.IsEvent("nulldata")); !protoHas(ev, "data") || ev["data"] != nil {
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
	protoCheckCompact(t, a)
	protoCheckCompact(t, b)
}

func TestProtocolEmitTo(t *testing.T) {
	t.Parallel()
	node := routertest.Start(t, routertest.Config(t))
	a, b, c := node.Dial(), node.Dial(), node.Dial()
	sidA := protoMember(t, a, "chat", "lobby")
	sidB := protoMember(t, b, "chat", "lobby")
	protoMember(t, c, "chat", "lobby")

	if r := a.Req(map[string]any{"type": "emit", "ns": "chat", "to": sidB, "event": "dm", "data": map[string]any{"x": 1}}); r.Type() != "ack" {
		t.Fatalf("emit to with id: %v, want ack", r)
	}
	ev := b.Next(routertest.IsEvent("dm"))
	if ev.Str("ns") != "chat" || ev.Str("from") != sidA || ev.JSON("data") != `{"x":1}` || protoHas(ev, "room") {
		t.Errorf("direct event: %v", ev)
	}
	a.None(routertest.IsEvent("dm"))
	c.None(routertest.IsEvent("dm"))

	// Without id: delivered, no reply.
	a.Send(`{"type":"emit","ns":"chat","to":"` + sidB + `","event":"dm2","data":2}`)
	b.Next(protoIsEventFrom("dm2", sidA))
	a.None(routertest.IsType("ack"))

	// To oneself.
	a.MustAck(map[string]any{"type": "emit", "ns": "chat", "to": sidA, "event": "me"})
	if ev := a.Next(routertest.IsEvent("me")); ev.Str("from") != sidA {
		t.Errorf("direct event to self: %v", ev)
	}

	// A sid that does not exist is not an error.
	for _, to := range []string{"AAAAAAAAAAAAAAAAAAAAAA", "no-such-socket"} {
		if r := a.Req(map[string]any{"type": "emit", "ns": "chat", "to": to, "event": "lost"}); r.Type() != "ack" {
			t.Errorf("emit to %q: %v, want ack", to, r)
		}
		a.Send(`{"type":"emit","ns":"chat","to":"` + to + `","event":"lost"}`)
	}
	a.None(routertest.IsType("error"))
	// Something that cannot be a sid is a bad name.
	if code := a.ErrorCode(map[string]any{"type": "emit", "ns": "chat", "to": "has.dots and spaces", "event": "lost"}); code != "invalid_name" {
		t.Errorf("emit to a malformed sid: %s, want invalid_name", code)
	}
	// A socket that is gone is a sid that does not exist.
	c.MustAck(map[string]any{"type": "disconnect", "ns": "chat"})
	if r := c.Req(map[string]any{"type": "connect", "ns": "chat"}); r.Type() != "connected" {
		t.Fatalf("reconnect: %v", r)
	}
	_ = b.WS.Close()
	b.Closed()
	routertest.Eventually(t, "b's socket gone", func() error {
		r := a.MustAck(map[string]any{"type": "presence", "ns": "chat", "room": "lobby"})
		if strings.Contains(r.JSON("data"), sidB) {
			return fmt.Errorf("still present: %s", r.JSON("data"))
		}
		return nil
	})
	if r := a.Req(map[string]any{"type": "emit", "ns": "chat", "to": sidB, "event": "late"}); r.Type() != "ack" {
		t.Errorf("emit to a closed socket: %v, want ack", r)
	}
}

func TestProtocolServerBoundPublish(t *testing.T) {
	t.Parallel()
	node := routertest.Start(t, routertest.Config(t))
	nc := node.Backend()
	got := routertest.Subscribe(t, nc, "router.chat.server.>")
	a := node.Dial()
	sidA := a.Connect("chat")

	a.Send(`{"type":"emit","ns":"chat","event":"order","data":{ "qty" : 3 }}`)
	a.Send(`{"type":"emit","ns":"chat","event":"ping"}`)
	msgs := got.WaitN(t, 2)
	if msgs[0].Subject != "router.chat.server.order" || string(msgs[0].Data) != `{"qty":3}` {
		t.Errorf("first server-bound message: %s %q", msgs[0].Subject, msgs[0].Data)
	}
	if msgs[1].Subject != "router.chat.server.ping" || string(msgs[1].Data) != "null" {
		t.Errorf("second server-bound message: %s %q", msgs[1].Subject, msgs[1].Data)
	}
	if msgs[0].Header.Get("Router-Sid") != sidA || msgs[0].Reply != "" {
		t.Errorf("server-bound publish: header %v, reply %q", msgs[0].Header, msgs[0].Reply)
	}
	// Published without an id: no reply at all, even though nobody answers.
	a.None(func(f routertest.Frame) bool { return f.Type() == "ack" || protoIsErrorNoID(f) })
	// Not a member of anything is no obstacle for server-bound events.
	a.Send(`{"type":"emit","ns":"chat","event":"ping"}`)
	got.WaitN(t, 3)
}

func TestProtocolServerBoundRequest(t *testing.T) {
	t.Parallel()
	cfg := routertest.Config(t)
	cfg.Limits.AckTimeout = 300 * time.Millisecond
	node := routertest.Start(t, cfg)
	nc := node.Backend()
	a := node.Dial()
	sidA := a.Connect("chat")

	sub := func(subject string, h nats.MsgHandler) {
		t.Helper()
		s, err := nc.Subscribe(subject, h)
		if err != nil {
			t.Fatalf("subscribe %s: %v", subject, err)
		}
		t.Cleanup(func() { _ = s.Unsubscribe() })
	}
	sub("router.chat.server.echo", func(m *nats.Msg) {
		_ = m.Respond([]byte(`{"got":` + string(m.Data) + `,"sid":"` + m.Header.Get("Router-Sid") + `"}`))
	})
	sub("router.chat.server.slow", func(*nats.Msg) {}) // never answers
	sub("router.chat.server.deny", func(m *nats.Msg) {
		_ = m.RespondMsg(&nats.Msg{Header: nats.Header{"Router-Error": {"forbidden"}}, Data: []byte("nope")})
	})
	sub("router.chat.server.plain", func(m *nats.Msg) { _ = m.Respond([]byte("hi")) })
	sub("router.chat.server.empty", func(m *nats.Msg) { _ = m.Respond(nil) })
	sub("router.chat.server.pretty", func(m *nats.Msg) { _ = m.Respond([]byte("{\n  \"a\": 1\n}\n")) })
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	r := a.Req(map[string]any{"type": "emit", "ns": "chat", "event": "echo", "data": map[string]any{"n": 1}})
	if r.Type() != "ack" || r.JSON("data") != `{"got":{"n":1},"sid":"`+sidA+`"}` {
		t.Errorf("request echo: %v", r)
	}
	r = a.Req(map[string]any{"type": "emit", "ns": "chat", "event": "plain"})
	if r.Type() != "ack" || r.JSON("data") != `"hi"` {
		t.Errorf("request with a non-JSON reply: %v, want ack data \"hi\"", r)
	}
	r = a.Req(map[string]any{"type": "emit", "ns": "chat", "event": "empty"})
	if r.Type() != "ack" || !protoHas(r, "data") || r["data"] != nil {
		t.Errorf("request with an empty reply: %v, want ack with data null", r)
	}
	r = a.Req(map[string]any{"type": "emit", "ns": "chat", "event": "pretty"})
	if r.Type() != "ack" || r.JSON("data") != `{"a":1}` {
		t.Errorf("request with a pretty-printed reply: %v", r)
	}
	r = a.Req(map[string]any{"type": "emit", "ns": "chat", "event": "deny"})
	if r.Type() != "error" || r.Str("code") != "forbidden" || r.Str("message") != "nope" {
		t.Errorf("request answered with Router-Error: %v, want error forbidden \"nope\"", r)
	}
	r = a.Req(map[string]any{"type": "emit", "ns": "chat", "event": "nobody"})
	if r.Type() != "error" || r.Str("code") != "no_responders" {
		t.Errorf("request without a backend: %v, want error no_responders", r)
	}
	start := time.Now()
	r = a.Req(map[string]any{"type": "emit", "ns": "chat", "event": "slow"})
	if r.Type() != "error" || r.Str("code") != "timeout" {
		t.Errorf("request to a silent backend: %v, want error timeout", r)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("timeout after %s, before ack_timeout", d)
	}
	protoCheckCompact(t, a)

	// The connection keeps reading while a request waits: a later frame is
	// answered before the slow request times out.
	a.Send(`{"type":"emit","ns":"chat","event":"slow","id":900}`)
	a.Send(`{"type":"emit","ns":"chat","event":"plain","id":901}`)
	if r := a.Next(routertest.IsReply(901)); r.Type() != "ack" || r.JSON("data") != `"hi"` {
		t.Errorf("request behind a slow one: %v", r)
	}
	if r := a.Next(routertest.IsReply(900)); r.Str("code") != "timeout" {
		t.Errorf("slow request: %v, want timeout", r)
	}
	raw := strings.Join(a.Raw(), "\n")
	if i, j := strings.Index(raw, `"id":901`), strings.Index(raw, `"id":900`); i < 0 || j < 0 || i > j {
		t.Errorf("the reply to 901 did not come before the timeout of 900: %q", raw)
	}
}

func TestProtocolPresence(t *testing.T) {
	t.Parallel()
	node := routertest.Start(t, routertest.Config(t))
	a, b, c := node.Dial(), node.Dial(), node.Dial()
	sidA := protoMember(t, a, "chat", "lobby")
	sidB := protoMember(t, b, "chat", "lobby")
	protoMember(t, c, "chat", "other")

	members := func(cl *routertest.Client, room string) map[string]map[string]any {
		t.Helper()
		r := cl.Req(map[string]any{"type": "presence", "ns": "chat", "room": room})
		if r.Type() != "ack" {
			t.Fatalf("presence %s: %v, want ack", room, r)
		}
		data, _ := r["data"].(map[string]any)
		list, ok := data["members"].([]any)
		if !ok {
			t.Fatalf("presence %s: data %s, want {\"members\":[...]}", room, r.JSON("data"))
		}
		out := map[string]map[string]any{}
		for _, m := range list {
			m, _ := m.(map[string]any)
			sid, _ := m["sid"].(string)
			if sid == "" {
				t.Fatalf("presence member without sid: %v", m)
			}
			if _, dup := out[sid]; dup {
				t.Fatalf("presence lists %s twice", sid)
			}
			out[sid] = m
		}
		return out
	}

	got := members(c, "lobby") // asking needs no membership
	if len(got) != 2 || got[sidA] == nil || got[sidB] == nil {
		t.Fatalf("lobby members %v, want %s and %s", got, sidA, sidB)
	}
	for sid, m := range got {
		if _, ok := m["user"]; ok {
			t.Errorf("anonymous member %s has a user: %v", sid, m)
		}
	}
	if got := members(a, "empty"); len(got) != 0 {
		t.Errorf("members of an empty room: %v", got)
	}
	r := a.Req(map[string]any{"type": "presence", "ns": "chat", "room": "empty"})
	if r.JSON("data") != `{"members":[]}` {
		t.Errorf("presence of an empty room: %s, want {\"members\":[]}", r.JSON("data"))
	}

	b.MustAck(map[string]any{"type": "leave", "ns": "chat", "room": "lobby"})
	if got := members(a, "lobby"); len(got) != 1 || got[sidA] == nil {
		t.Errorf("lobby after b left: %v", got)
	}
	_ = a.WS.Close()
	a.Closed()
	routertest.Eventually(t, "lobby empty after a closed", func() error {
		if got := members(c, "lobby"); len(got) != 0 {
			return fmt.Errorf("members %v", got)
		}
		return nil
	})

	d := node.Dial()
	if code := d.ErrorCode(map[string]any{"type": "presence", "ns": "chat", "room": "lobby"}); code != "not_connected" {
		t.Errorf("presence before connect: %s, want not_connected", code)
	}
	d.Connect("chat")
	if code := d.ErrorCode(map[string]any{"type": "presence", "ns": "chat"}); code != "bad_frame" {
		t.Errorf("presence without room: %s, want bad_frame", code)
	}
}

func TestProtocolPresenceEvents(t *testing.T) {
	t.Parallel()
	node := routertest.Start(t, routertest.Config(t))
	a, b, c := node.Dial(), node.Dial(), node.Dial()
	sidA := protoMember(t, a, "chat", "lobby")

	sidB := protoMember(t, b, "chat", "lobby")
	j := a.Next(protoIsPresence("$join", "lobby", sidB))
	if j.Str("ns") != "chat" || j.JSON("data") != `{"sid":"`+sidB+`"}` || protoHas(j, "from") {
		t.Errorf("$join frame: %v", j)
	}
	sidC := protoMember(t, c, "chat", "lobby")
	a.Next(protoIsPresence("$join", "lobby", sidC))
	b.Next(protoIsPresence("$join", "lobby", sidC))
	// Nobody gets a notice about itself; c joined last, so it heard of no one.
	a.None(protoIsPresence("$join", "lobby", sidA))
	b.None(protoIsPresence("$join", "lobby", sidB))
	c.None(routertest.IsEvent("$join"))

	// Leave by a leave frame.
	c.MustAck(map[string]any{"type": "leave", "ns": "chat", "room": "lobby"})
	for _, m := range []*routertest.Client{a, b} {
		if l := m.Next(protoIsPresence("$leave", "lobby", sidC)); l.JSON("data") != `{"sid":"`+sidC+`"}` {
			t.Errorf("$leave frame: %v", l)
		}
	}
	c.None(routertest.IsEvent("$leave"))

	// Leave by an abrupt close of the WebSocket (no close frame).
	_ = b.WS.UnderlyingConn().Close()
	a.Next(protoIsPresence("$leave", "lobby", sidB))

	// A member of another room hears nothing of lobby.
	c.Join("chat", "side")
	d := node.Dial()
	sidD := protoMember(t, d, "chat", "lobby")
	a.Next(protoIsPresence("$join", "lobby", sidD))
	c.None(protoIsPresence("$join", "lobby", sidD))
}

func TestProtocolPresenceEventsOff(t *testing.T) {
	t.Parallel()
	cfg := routertest.Config(t)
	quiet := config.DefaultNamespace() // presence_events: false
	cfg.Namespaces["quiet"] = quiet
	node := routertest.Start(t, cfg)
	a, b := node.Dial(), node.Dial()
	protoMember(t, a, "quiet", "lobby")
	sidB := protoMember(t, b, "quiet", "lobby")
	b.MustAck(map[string]any{"type": "emit", "ns": "quiet", "room": "lobby", "event": "hello"})
	a.Next(protoIsEventFrom("hello", sidB))
	a.None(routertest.IsEvent("$join"))
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
		if tc.id == 0 && protoHas(f, "id") {
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
	protoCheckCompact(t, c)
}

func TestProtocolBadInputKeepsConnection(t *testing.T) {
	t.Parallel()
	node := routertest.Start(t, routertest.Config(t))
	a, b := node.Dial(), node.Dial()
	protoMember(t, a, "chat", "lobby")
	sidB := protoMember(t, b, "chat", "lobby")

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
	a.Next(protoIsEventFrom("alive", sidB))
	a.MustAck(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "back"})
	b.Next(routertest.IsEvent("back"))
	// The other socket saw none of it.
	a.None(routertest.IsType("error"))
	protoCheckCompact(t, b)
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
	protoMember(t, b, "chat", "lobby")

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
	if e := a.Next(protoIsErrorNoID); e.Str("code") != "bad_frame" {
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

func TestProtocolJoinAckThenDelivery(t *testing.T) {
	t.Parallel()
	node := routertest.Start(t, routertest.Config(t))
	nc := node.Backend()
	a := node.Dial()
	sidA := a.Connect("chat")
	// Once a join is acked, events published to the room through this node
	// reach the socket: from a client and from a backend, also when the
	// join opened the room on this node.
	for i := 0; i < 20; i++ {
		room := fmt.Sprintf("fresh-%d", i)
		b := node.Dial()
		b.Connect("chat")
		b.Join("chat", room)
		if err := nc.Publish("router.chat.room."+room+".backend", []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
		if ev := b.Next(routertest.IsEvent("backend")); ev.Str("room") != room || ev.JSON("data") != fmt.Sprint(i) || protoHas(ev, "from") {
			t.Errorf("backend event: %v", ev)
		}
		a.Join("chat", room)
		b.MustAck(map[string]any{"type": "emit", "ns": "chat", "room": room, "event": "client", "data": i})
		a.Next(routertest.IsEvent("client"))
		a.MustAck(map[string]any{"type": "emit", "ns": "chat", "room": room, "event": "back", "data": i})
		if ev := b.Next(routertest.IsEvent("back")); ev.Str("from") != sidA {
			t.Errorf("event from a: %v", ev)
		}
	}
}

func TestProtocolPinnedErrorCodes(t *testing.T) {
	t.Parallel()
	cfg := routertest.Config(t)
	locked := config.DefaultNamespace()
	locked.ClientJoin = false
	cfg.Namespaces["locked"] = locked
	node := routertest.Start(t, cfg)
	c := node.Dial()
	c.Connect("chat")
	c.Connect("locked")

	// history where the namespace keeps none → forbidden.
	if code := c.ErrorCode(map[string]any{"type": "history", "ns": "chat", "room": "lobby"}); code != "forbidden" {
		t.Errorf("history without history: %s, want forbidden", code)
	}
	// join / leave where client_join is false → forbidden.
	for _, typ := range []string{"join", "leave"} {
		if code := c.ErrorCode(map[string]any{"type": typ, "ns": "locked", "room": "lobby"}); code != "forbidden" {
			t.Errorf("%s with client_join false: %s, want forbidden", typ, code)
		}
	}
	// A client event name starting with $ → invalid_name, whatever the target.
	if code := c.ErrorCode(map[string]any{"type": "emit", "ns": "chat", "event": "$x"}); code != "invalid_name" {
		t.Errorf("server-bound $ event: %s, want invalid_name", code)
	}
}
