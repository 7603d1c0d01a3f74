package router_test

// Tests of the router's side of the WebSocket protocol (docs/protocol.md): connect
// and sids, multiplexed namespaces, disconnect, rooms and their names,
// emits to rooms and sockets, server-bound events, presence and the pinned
// error codes. Each test starts a whole node in-process
// (internal/routertest: embedded NATS, router, bridge, HTTP) and talks to it
// through real WebSocket clients and real NATS backends. The wire side of
// the protocol (hello, subprotocol, frame decoding and its errors) is tested
// in bridge.

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/internal/routertest"
)

// protoSID is what a sid looks like (docs/protocol.md#names): at least 96 random bits
// written with [A-Za-z0-9_-] only, so at least 16 characters.
var protoSID = regexp.MustCompile(`^[A-Za-z0-9_-]{16,}$`)

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
	if r2.Has("id") || r2.Str("ns") != "news" || !protoSID.MatchString(r2.Str("sid")) {
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
	sidA := routertest.ConnectJoin(t, a, "tenant-a", "lobby")
	routertest.ConnectJoin(t, b, "tenant-a", "lobby")
	if !protoSID.MatchString(sidA) {
		t.Errorf("sid %q", sidA)
	}
	a.MustAck(map[string]any{"type": "emit", "ns": "tenant-a", "room": "lobby", "event": "hi", "data": 1})
	if ev := b.Next(routertest.IsEventFrom("hi", sidA)); ev.Str("ns") != "tenant-a" {
		t.Errorf("event in tenant-a: %v", ev)
	}
	// Another name matching the glob is a separate namespace.
	c := node.Dial()
	routertest.ConnectJoin(t, c, "tenant-b", "lobby")
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
	xChat := routertest.ConnectJoin(t, x, "chat", "lobby")
	xNews := routertest.ConnectJoin(t, x, "news", "lobby")
	if xChat == xNews {
		t.Fatalf("both attachments got sid %q", xChat)
	}
	y := node.Dial() // chat only
	yChat := routertest.ConnectJoin(t, y, "chat", "lobby")
	z := node.Dial() // news only
	zNews := routertest.ConnectJoin(t, z, "news", "lobby")

	y.MustAck(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "said", "data": "from chat"})
	ev := x.Next(routertest.IsEventFrom("said", yChat))
	if ev.Str("ns") != "chat" || ev.Str("room") != "lobby" || ev.JSON("data") != `"from chat"` {
		t.Errorf("chat event on x: %v", ev)
	}
	z.MustAck(map[string]any{"type": "emit", "ns": "news", "room": "lobby", "event": "said", "data": "from news"})
	ev = x.Next(routertest.IsEventFrom("said", zNews))
	if ev.Str("ns") != "news" || ev.Str("room") != "lobby" || ev.JSON("data") != `"from news"` {
		t.Errorf("news event on x: %v", ev)
	}
	// Each event reached x once, through the socket of its namespace; the
	// other namespace's members got nothing.
	x.None(routertest.IsEvent("said"))
	z.None(routertest.IsEventFrom("said", yChat))
	y.None(routertest.IsEventFrom("said", zNews))

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
	z.Next(routertest.IsPresence("$join", "lobby", xNews))
	_ = x.WS.Close()
	y.Next(routertest.IsPresence("$leave", "lobby", xChat))
	z.Next(routertest.IsPresence("$leave", "lobby", xNews))
}

func TestProtocolDisconnect(t *testing.T) {
	t.Parallel()
	node := routertest.Start(t, routertest.Config(t))
	a, b := node.Dial(), node.Dial()
	sidA := routertest.ConnectJoin(t, a, "chat", "lobby")
	sidB := routertest.ConnectJoin(t, b, "chat", "lobby")
	a.Next(routertest.IsPresence("$join", "lobby", sidB))

	r := a.Req(map[string]any{"type": "disconnect", "ns": "chat"})
	if r.Type() != "ack" {
		t.Fatalf("disconnect with id: %v, want ack", r)
	}
	leave := b.Next(routertest.IsPresence("$leave", "lobby", sidA))
	if leave.Str("ns") != "chat" || leave.Has("from") {
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
	sidB := routertest.ConnectJoin(t, b, "chat", "lobby")

	if r := a.Join("chat", "lobby"); r.Type() != "ack" {
		t.Errorf("join reply %v, want ack", r)
	}
	a.Join("chat", "lobby") // joining again is fine
	// A room event reaches a only once although it joined twice.
	b.MustAck(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "once", "data": 1})
	a.Next(routertest.IsEventFrom("once", sidB))
	a.None(routertest.IsEvent("once"))

	// Leaving a room one is not in is not an error.
	if r := a.MustAck(map[string]any{"type": "leave", "ns": "chat", "room": "elsewhere"}); r.Type() != "ack" {
		t.Errorf("leave of a room not joined: %v, want ack", r)
	}
	if r := a.MustAck(map[string]any{"type": "leave", "ns": "chat", "room": "lobby"}); r.Type() != "ack" {
		t.Errorf("leave: %v, want ack", r)
	}
	b.Next(routertest.IsPresence("$leave", "lobby", sidA))
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
	a.None(routertest.IsErrorNoID)
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
	sidA := routertest.ConnectJoin(t, a, "chat", "lobby")
	routertest.ConnectJoin(t, b, "chat", "lobby")
	routertest.ConnectJoin(t, c, "chat", "lobby")
	routertest.ConnectJoin(t, d, "chat", "other") // same namespace, other room

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
	routertest.ConnectJoin(t, b, "chat", "lobby")

	if code := a.ErrorCode(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "e", "data": 1}); code != "not_member" {
		t.Errorf("emit to a room not joined: %s, want not_member", code)
	}
	// Without an id the refusal is an error without id, and nothing is delivered.
	a.Send(`{"type":"emit","ns":"chat","room":"lobby","event":"e2"}`)
	if f := a.Next(routertest.IsType("error")); f.Has("id") || f.Str("code") != "not_member" {
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
	routertest.ConnectJoin(t, a, "chat", "lobby")
	sidB := routertest.ConnectJoin(t, b, "chat", "lobby")

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

func TestProtocolEmitTo(t *testing.T) {
	t.Parallel()
	node := routertest.Start(t, routertest.Config(t))
	a, b, c := node.Dial(), node.Dial(), node.Dial()
	sidA := routertest.ConnectJoin(t, a, "chat", "lobby")
	sidB := routertest.ConnectJoin(t, b, "chat", "lobby")
	routertest.ConnectJoin(t, c, "chat", "lobby")

	if r := a.Req(map[string]any{"type": "emit", "ns": "chat", "to": sidB, "event": "dm", "data": map[string]any{"x": 1}}); r.Type() != "ack" {
		t.Fatalf("emit to with id: %v, want ack", r)
	}
	ev := b.Next(routertest.IsEvent("dm"))
	if ev.Str("ns") != "chat" || ev.Str("from") != sidA || ev.JSON("data") != `{"x":1}` || ev.Has("room") {
		t.Errorf("direct event: %v", ev)
	}
	a.None(routertest.IsEvent("dm"))
	c.None(routertest.IsEvent("dm"))

	// Without id: delivered, no reply.
	a.Send(`{"type":"emit","ns":"chat","to":"` + sidB + `","event":"dm2","data":2}`)
	b.Next(routertest.IsEventFrom("dm2", sidA))
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
	a.None(func(f routertest.Frame) bool { return f.Type() == "ack" || routertest.IsErrorNoID(f) })
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
	if r.Type() != "ack" || !r.Has("data") || r["data"] != nil {
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
	routertest.CheckCompact(t, a)

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
	sidA := routertest.ConnectJoin(t, a, "chat", "lobby")
	sidB := routertest.ConnectJoin(t, b, "chat", "lobby")
	routertest.ConnectJoin(t, c, "chat", "other")

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
	sidA := routertest.ConnectJoin(t, a, "chat", "lobby")

	sidB := routertest.ConnectJoin(t, b, "chat", "lobby")
	j := a.Next(routertest.IsPresence("$join", "lobby", sidB))
	if j.Str("ns") != "chat" || j.JSON("data") != `{"sid":"`+sidB+`"}` || j.Has("from") {
		t.Errorf("$join frame: %v", j)
	}
	sidC := routertest.ConnectJoin(t, c, "chat", "lobby")
	a.Next(routertest.IsPresence("$join", "lobby", sidC))
	b.Next(routertest.IsPresence("$join", "lobby", sidC))
	// Nobody gets a notice about itself; c joined last, so it heard of no one.
	a.None(routertest.IsPresence("$join", "lobby", sidA))
	b.None(routertest.IsPresence("$join", "lobby", sidB))
	c.None(routertest.IsEvent("$join"))

	// Leave by a leave frame.
	c.MustAck(map[string]any{"type": "leave", "ns": "chat", "room": "lobby"})
	for _, m := range []*routertest.Client{a, b} {
		if l := m.Next(routertest.IsPresence("$leave", "lobby", sidC)); l.JSON("data") != `{"sid":"`+sidC+`"}` {
			t.Errorf("$leave frame: %v", l)
		}
	}
	c.None(routertest.IsEvent("$leave"))

	// Leave by an abrupt close of the WebSocket (no close frame).
	_ = b.WS.UnderlyingConn().Close()
	a.Next(routertest.IsPresence("$leave", "lobby", sidB))

	// A member of another room hears nothing of lobby.
	c.Join("chat", "side")
	d := node.Dial()
	sidD := routertest.ConnectJoin(t, d, "chat", "lobby")
	a.Next(routertest.IsPresence("$join", "lobby", sidD))
	c.None(routertest.IsPresence("$join", "lobby", sidD))
}

func TestProtocolPresenceEventsOff(t *testing.T) {
	t.Parallel()
	cfg := routertest.Config(t)
	quiet := config.DefaultNamespace() // presence_events: false
	cfg.Namespaces["quiet"] = quiet
	node := routertest.Start(t, cfg)
	a, b := node.Dial(), node.Dial()
	routertest.ConnectJoin(t, a, "quiet", "lobby")
	sidB := routertest.ConnectJoin(t, b, "quiet", "lobby")
	b.MustAck(map[string]any{"type": "emit", "ns": "quiet", "room": "lobby", "event": "hello"})
	a.Next(routertest.IsEventFrom("hello", sidB))
	a.None(routertest.IsEvent("$join"))
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
		if ev := b.Next(routertest.IsEvent("backend")); ev.Str("room") != room || ev.JSON("data") != fmt.Sprint(i) || ev.Has("from") {
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
