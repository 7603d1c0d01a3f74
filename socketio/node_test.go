package socketio_test

import (
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/internal/routertest"
)

// sioConfig is routertest's config with Socket.IO on: "/" is namespace
// chat, and the routing table of docs/socketio.md.
func sioConfig(t *testing.T) config.Config {
	t.Helper()
	cfg := routertest.Config(t)
	cfg.SocketIO.Enabled = true
	cfg.SocketIO.Namespaces = map[string]string{"/": "chat"}
	cfg.SocketIO.Events = map[string]string{
		"join":         config.ActionJoin,
		"leave":        config.ActionLeave,
		"chat message": config.ActionBroadcastAll,
		"typing":       config.ActionBroadcast,
		"message":      config.ActionRoom,
		"shout":        config.ActionRoomAll,
	}
	return cfg
}

var wsOnly = map[string]any{"transports": []string{"websocket"}}

func isEvent(name string) func(routertest.Frame) bool { return routertest.IsEvent(name) }

// TestTransports: the client's default (long-polling, then the upgrade to
// WebSocket) and WebSocket only, talking to each other and to a native
// client in one room.
func TestTransports(t *testing.T) {
	n := routertest.Start(t, sioConfig(t))
	d := startDriver(t)
	a := d.connect("a", n.HTTPURL(), nil)
	if r := d.do(map[string]any{"op": "upgraded", "name": "a"}); !r.OK {
		t.Fatalf("upgrade: %+v", r)
	}
	d.connect("b", n.HTTPURL(), wsOnly)
	if r := d.do(map[string]any{"op": "transport", "name": "b"}); r.Transport != "websocket" {
		t.Fatalf("b transport %q", r.Transport)
	}
	c := d.connect("c", n.HTTPURL(), map[string]any{"transports": []string{"polling"}})
	for _, name := range []string{"a", "b", "c"} {
		if got := d.emitAck(name, "join", "lobby"); got != `{"ok":true}` {
			t.Fatalf("%s join: %s", name, got)
		}
	}
	native := n.Dial()
	native.Connect("chat")
	native.Join("chat", "lobby")

	d.emit("a", "message", "lobby", map[string]any{"text": "from a"})
	for _, name := range []string{"b", "c"} {
		if got := argsJSON(d.event(name, "message")); got != `[{"text":"from a"}]` {
			t.Fatalf("%s got %s", name, got)
		}
	}
	f := native.Next(isEvent("message"))
	if f.Str("room") != "lobby" || f.Str("from") != a || f.JSON("data") != `{"text":"from a"}` {
		t.Fatalf("native got %v", f)
	}

	native.Send(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "message", "data": []int{1, 2}})
	for _, name := range []string{"a", "b", "c"} {
		if got := argsJSON(d.event(name, "message")); got != `[[1,2]]` {
			t.Fatalf("%s got %s", name, got)
		}
	}
	// The sender of a room event does not get it back.
	d.emitAck("a", "join", "lobby")
	if d.has(func(m msg) bool { return m.Socket == "a" && m.Event == "message" }) {
		t.Fatal("a got its own message")
	}
	// Several arguments travel as an array; the polling client sends them.
	d.emit("c", "message", "lobby", "x", 2)
	if got := argsJSON(d.event("b", "message")); got != `[["x",2]]` {
		t.Fatalf("b got %s", got)
	}
	if f := native.Next(isEvent("message")); f.JSON("data") != `["x",2]` || f.Str("from") != c {
		t.Fatalf("native got %v", f)
	}
}

// TestRoutingActions: every action of docs/socketio.md's table, acks included.
func TestRoutingActions(t *testing.T) {
	n := routertest.Start(t, sioConfig(t))
	d := startDriver(t)
	d.connect("a", n.HTTPURL(), wsOnly)
	d.connect("b", n.HTTPURL(), wsOnly)
	native := n.Dial()
	native.Connect("chat")

	// broadcast_all: everyone in the namespace, the sender too.
	if got := d.emitAck("a", "chat message", "hello"); got != `{"ok":true}` {
		t.Fatalf("chat message ack %s", got)
	}
	for _, name := range []string{"a", "b"} {
		if got := argsJSON(d.event(name, "chat message")); got != `["hello"]` {
			t.Fatalf("%s got %s", name, got)
		}
	}
	if f := native.Next(isEvent("chat message")); f.JSON("data") != `"hello"` || f.Str("room") != "" {
		t.Fatalf("native got %v", f)
	}

	// broadcast: everyone but the sender.
	d.emit("a", "typing", map[string]any{"who": "a"})
	if got := argsJSON(d.event("b", "typing")); got != `[{"who":"a"}]` {
		t.Fatalf("b got %s", got)
	}
	native.Next(isEvent("typing"))
	d.emitAck("a", "chat message", "barrier")
	d.event("a", "chat message")
	if d.has(func(m msg) bool { return m.Socket == "a" && m.Event == "typing" }) {
		t.Fatal("a got its own broadcast")
	}

	// join / room / room_all / leave.
	d.emitAck("a", "join", "r1")
	d.emitAck("b", "join", "r1")
	if got := d.emitAck("a", "shout", "r1", "all of us"); got != `{"ok":true}` {
		t.Fatalf("shout ack %s", got)
	}
	for _, name := range []string{"a", "b"} {
		if got := argsJSON(d.event(name, "shout")); got != `["all of us"]` {
			t.Fatalf("%s got %s", name, got)
		}
	}
	if got := d.emitAck("b", "leave", "r1"); got != `{"ok":true}` {
		t.Fatalf("leave ack %s", got)
	}
	// Not a member any more: client_publish members refuses.
	if got := d.emitAck("b", "message", "r1", "x"); !strings.Contains(got, `"code":"not_member"`) {
		t.Fatalf("message after leave: %s", got)
	}
	// Bad arguments: the room must be a string.
	if got := d.emitAck("a", "join", 5); !strings.Contains(got, `"code":"bad_frame"`) {
		t.Fatalf("join 5: %s", got)
	}
	if got := d.emitAck("a", "message"); !strings.Contains(got, `"code":"bad_frame"`) {
		t.Fatalf("message without room: %s", got)
	}

	// server (any other event): a NATS request; its reply is the ack.
	be := n.Backend()
	got := make(chan *nats.Msg, 4)
	sub, err := be.QueueSubscribe("router.chat.server.nick", "workers", func(m *nats.Msg) {
		got <- m
		_ = m.Respond([]byte(`{"ok":true,"name":"ann"}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := be.Flush(); err != nil {
		t.Fatal(err)
	}
	if reply := d.emitAck("a", "nick", map[string]any{"name": "ann"}); reply != `{"ok":true,"name":"ann"}` {
		t.Fatalf("nick reply %s", reply)
	}
	if m := <-got; string(m.Data) != `{"name":"ann"}` || m.Header.Get("Router-Event") != "nick" {
		t.Fatalf("backend got %s %v", m.Data, m.Header)
	}
	// Several arguments reach the backend as an array; none as null.
	d.emitAck("a", "nick", "a", 1)
	if m := <-got; string(m.Data) != `["a",1]` {
		t.Fatalf("backend got %s", m.Data)
	}
	// Without an ack: published.
	seen := routertest.Subscribe(t, be, "router.chat.server.log")
	d.emit("a", "log", "line")
	if m := seen.WaitN(t, 1)[0]; string(m.Data) != `"line"` {
		t.Fatalf("backend got %s", m.Data)
	}
	// No backend: no ack (socketio.no_responders: ignore), the client's
	// timeout tells it.
	if msg := d.emitAckError("a", "nobody", 300); msg != "operation has timed out" {
		t.Fatalf("nobody: %s", msg)
	}
	// A Router-Error reply.
	sub2, _ := be.Subscribe("router.chat.server.deny", func(m *nats.Msg) {
		_ = m.RespondMsg(&nats.Msg{Data: []byte("not you"), Header: nats.Header{"Router-Error": {"forbidden"}}})
	})
	t.Cleanup(func() { _ = sub2.Unsubscribe() })
	_ = be.Flush()
	if reply := d.emitAck("a", "deny"); reply != `{"error":{"code":"forbidden","message":"not you"}}` {
		t.Fatalf("deny reply %s", reply)
	}
	// Reserved names are refused.
	if reply := d.emitAck("a", "$x"); !strings.Contains(reply, `"code":"invalid_name"`) {
		t.Fatalf("$x reply %s", reply)
	}

	// Backends reach Socket.IO sockets by broadcast, room, socket and user
	// subjects; the data arrives as emit(event, data).
	d.emitAck("a", "join", "r2")
	if err := be.Publish("router.chat.room.r2.news", []byte(`{"n":1}`)); err != nil {
		t.Fatal(err)
	}
	if got := argsJSON(d.event("a", "news")); got != `[{"n":1}]` {
		t.Fatalf("a got %s", got)
	}
	if err := be.Publish("router.chat.broadcast.all", []byte(`plain text`)); err != nil {
		t.Fatal(err)
	}
	if got := argsJSON(d.event("b", "all")); got != `["plain text"]` {
		t.Fatalf("b got %s", got)
	}
}

// TestBinary: attachments arrive intact between Socket.IO clients; native
// clients and backends see {"$binary": base64}, and that shape from them
// reaches Socket.IO clients as binary.
func TestBinary(t *testing.T) {
	n := routertest.Start(t, sioConfig(t))
	d := startDriver(t)
	d.connect("a", n.HTTPURL(), map[string]any{"transports": []string{"polling"}})
	d.connect("b", n.HTTPURL(), wsOnly)
	d.emitAck("a", "join", "files")
	d.emitAck("b", "join", "files")
	native := n.Dial()
	native.Connect("chat")
	native.Join("chat", "files")
	be := n.Backend()
	seen := routertest.Subscribe(t, be, "router.chat.room.files.>")

	file := map[string]any{"name": "a.bin", "body": map[string]any{"$bytes": "AAEC/w=="}}
	d.emit("a", "message", "files", file) // polling: base64 "b" packets
	if got := argsJSON(d.event("b", "message")); got != `[{"body":{"$bytes":"AAEC/w=="},"name":"a.bin"}]` {
		t.Fatalf("b got %s", got)
	}
	if f := native.Next(isEvent("message")); f.JSON("data") != `{"body":{"$binary":"AAEC/w=="},"name":"a.bin"}` {
		t.Fatalf("native got %v", f.JSON("data"))
	}
	if m := seen.WaitN(t, 1)[0]; string(m.Data) != `{"body":{"$binary":"AAEC/w=="},"name":"a.bin"}` {
		t.Fatalf("backend got %s", m.Data)
	}
	d.emit("b", "message", "files", map[string]any{"$bytes": "aGk="}, map[string]any{"$bytes": "AQ=="}) // WebSocket binary frames
	if got := argsJSON(d.event("a", "message")); got != `[[{"$bytes":"aGk="},{"$bytes":"AQ=="}]]` {
		t.Fatalf("a got %s", got)
	}
	native.Next(isEvent("message"))

	native.Send(map[string]any{"type": "emit", "ns": "chat", "room": "files", "event": "message", "data": map[string]any{"$binary": "3q2+7w=="}})
	for _, name := range []string{"a", "b"} {
		if got := argsJSON(d.event(name, "message")); got != `[{"$bytes":"3q2+7w=="}]` {
			t.Fatalf("%s got %s", name, got)
		}
	}
	// A backend reply with binary is a BINARY_ACK.
	sub, _ := be.Subscribe("router.chat.server.thumb", func(m *nats.Msg) { _ = m.Respond([]byte(`{"png":{"$binary":"iVBO"}}`)) })
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	_ = be.Flush()
	if got := d.emitAck("b", "thumb", map[string]any{"$bytes": "AQID"}); got != `{"png":{"$bytes":"iVBO"}}` {
		t.Fatalf("thumb reply %s", got)
	}
}

// TestNamespaces: several namespaces multiplexed on one connection, the
// mapping of docs/socketio.md, CONNECT_ERROR for unknown ones.
func TestNamespaces(t *testing.T) {
	cfg := sioConfig(t)
	ops := config.DefaultNamespace()
	ops.ClientPublish = config.PublishAny
	cfg.Namespaces["ops"] = ops
	cfg.Namespaces["tenant-*"] = config.DefaultNamespace()
	cfg.SocketIO.Namespaces["/admin"] = "ops"
	n := routertest.Start(t, cfg)
	d := startDriver(t)
	// Without forceNew the client multiplexes; the driver forces new
	// managers, so each name is its own connection except where the test
	// shares one through the same Manager (not exposed): each namespace
	// here is checked on its own connection, and multiplexing below.
	root := d.connect("root", n.HTTPURL()+"/", wsOnly)
	admin := d.connect("admin", n.HTTPURL()+"/admin", wsOnly)
	tenant := d.connect("tenant", n.HTTPURL()+"/tenant-a", nil)
	if root == admin || admin == tenant {
		t.Fatal("sids repeat")
	}
	native := n.Dial()
	native.Connect("ops")
	native.Join("ops", "x")
	d.emit("admin", "message", "x", "to ops") // publish any: no join needed
	if f := native.Next(isEvent("message")); f.Str("from") != admin || f.JSON("data") != `"to ops"` {
		t.Fatalf("native in ops got %v", f)
	}
	// An unlisted namespace maps to the routerd namespace of its name.
	nt := n.Dial()
	nt.Connect("tenant-a")
	nt.Join("tenant-a", "r")
	d.emitAck("tenant", "join", "r")
	d.emit("tenant", "message", "r", 1)
	if f := nt.Next(isEvent("message")); f.Str("from") != tenant {
		t.Fatalf("native in tenant-a got %v", f)
	}
	for _, nsp := range []string{"/nope", "/chat2"} {
		r := d.connectReply("bad"+nsp, n.HTTPURL()+nsp, wsOnly)
		if r.Error == nil || r.Error.Message != "Invalid namespace" || string(r.Error.Data) != `{"code":"unknown_namespace"}` {
			t.Fatalf("connect %s: %+v", nsp, r)
		}
	}
}

// TestMultiplex: one Engine.IO connection carries two namespaces (raw
// packets, since the driver gives every socket its own connection).
func TestMultiplex(t *testing.T) {
	cfg := sioConfig(t)
	cfg.Namespaces["ops"] = config.DefaultNamespace()
	n := routertest.Start(t, cfg)
	ws := dialEIO(t, n)
	ws.send("40")
	ws.send("40/ops,")
	s1 := ws.expectPrefix(`40{"sid":"`)
	s2 := ws.expectPrefix(`40/ops,{"sid":"`)
	if s1 == s2 {
		t.Fatal("same sid for two namespaces")
	}
	ws.send(`42/ops,1["join","r"]`)
	ws.expect(`43/ops,1[{"ok":true}]`)
	ws.send(`42/ops,2["message","other","hi"]`)
	ws.expect(`43/ops,2[{"error":{"code":"not_member","message":"not a member of room \"other\""}}]`)
	ws.send(`422["join","r"]`)
	ws.expect(`432[{"ok":true}]`)
	ws.send(`42/ops,3["shout","r","hi"]`)
	ws.expectAll(`42/ops,["shout","hi"]`, `43/ops,3[{"ok":true}]`)
	ws.send(`41/ops,`)
	ws.send(`42/ops,4["join","r"]`)
	ws.expect(`43/ops,4[{"error":{"code":"not_connected","message":"not connected to namespace \"/ops\""}}]`)
}
