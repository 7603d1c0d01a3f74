package socketio_test

// Tests of requests between socket.io-client and backends: a session's
// events reach NATS in the order the client emitted them, acked or not;
// an acked event no backend serves gets no ack (socketio.no_responders);
// and backends ask Socket.IO clients for acks, answered with ACK packets.

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/internal/routertest"
)

// TestRequestsKeepOrder: 1000 events to the backends, acked and not, to
// two event names, emitted at once by socket.io-client, reach the backend
// in the order they were emitted; every ack gets its own reply.
func TestRequestsKeepOrder(t *testing.T) {
	cfg := sioConfig(t)
	cfg.Limits.Rate.PerSecond = 0
	n := routertest.Start(t, cfg)
	be := n.Backend()
	ch := make(chan *nats.Msg, 2048)
	sub, err := be.ChanSubscribe("router.chat.server.>", ch)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := be.Flush(); err != nil {
		t.Fatal(err)
	}
	d := startDriver(t)
	d.connect("a", n.HTTPURL(), nil)

	const total = 1000
	acked := func(i int) bool { return i%3 != 2 }
	emits := make([]map[string]any, total)
	var want []string
	for i := range emits {
		emits[i] = map[string]any{"event": []string{"a", "b"}[i%2], "args": []any{i}, "ack": acked(i)}
		if acked(i) {
			want = append(want, fmt.Sprintf(`{"n":%d}`, i))
		}
	}
	// The backend answers every request (so that the burst ends) and
	// reports the first message out of order.
	backend := make(chan error, 1)
	go func() {
		var first error
		for i := range total {
			var m *nats.Msg
			select {
			case m = <-ch:
			case <-time.After(routertest.Wait):
				backend <- fmt.Errorf("message %d did not arrive", i)
				return
			}
			if got := string(m.Data); first == nil && (got != strconv.Itoa(i) || (m.Reply != "") != acked(i)) {
				first = fmt.Errorf("message %d: the backend got %s (reply %q)", i, got, m.Reply)
			}
			if m.Reply != "" {
				if err := m.Respond([]byte(`{"n":` + string(m.Data) + `}`)); err != nil && first == nil {
					first = err
				}
			}
		}
		backend <- first
	}()
	r := d.do(map[string]any{"op": "burst", "name": "a", "emits": emits})
	if err := <-backend; err != nil {
		t.Fatal(err)
	}
	if !r.OK || len(r.Acks) != len(want) {
		t.Fatalf("burst: %+v", r.Error)
	}
	for k, a := range r.Acks {
		if string(a) != want[k] {
			t.Fatalf("ack %d = %s, want %s", k, a, want[k])
		}
	}
}

// TestNoResponders: an acked event no backend serves gets no ack, so the
// client's timeout fires, and it is counted; with socketio.no_responders
// "error" it is acked at once with the no_responders error.
func TestNoResponders(t *testing.T) {
	n := routertest.Start(t, sioConfig(t))
	d := startDriver(t)
	d.connect("a", n.HTTPURL(), wsOnly)
	if msg := d.emitAckError("a", "nobody", 300, 1); msg != "operation has timed out" {
		t.Fatalf("nobody: %s", msg)
	}
	if got := routertest.Metric(t, n, "routerd_socketio_no_responders_total"); got != "1" {
		t.Errorf("routerd_socketio_no_responders_total = %q, want 1", got)
	}

	cfg := sioConfig(t)
	cfg.SocketIO.NoResponders = config.NoRespondersError
	m := routertest.Start(t, cfg)
	d.connect("b", m.HTTPURL(), wsOnly)
	if got := d.emitAck("b", "nobody"); got != `{"error":{"code":"no_responders","message":"no backend is listening"}}` {
		t.Fatalf("nobody with no_responders error: %s", got)
	}
	// Native clients keep their error frame either way.
	c := n.Dial()
	c.Connect("chat")
	if code := c.ErrorCode(map[string]any{"type": "emit", "ns": "chat", "event": "nobody"}); code != "no_responders" {
		t.Errorf("native: %s", code)
	}
}

// TestBackendAsks: a request on a room of Socket.IO (polling and
// WebSocket) and native sockets asks each for an ack; each answer is one
// reply, named by Router-Sid. Socket.IO clients get the event with an ack
// callback and answer with ACK: several arguments as an array, binary as
// {"$binary"} (a BINARY_ACK).
func TestBackendAsks(t *testing.T) {
	n := routertest.Start(t, sioConfig(t))
	g := routertest.NewAsker(t, n.Backend())
	d := startDriver(t)
	ws := d.connect("ws", n.HTTPURL(), wsOnly)
	poll := d.connect("poll", n.HTTPURL(), map[string]any{"transports": []string{"polling"}})
	for _, name := range []string{"ws", "poll"} {
		if got := d.emitAck(name, "join", "vote"); got != `{"ok":true}` {
			t.Fatalf("%s join: %s", name, got)
		}
	}
	native := n.Dial()
	nsid := routertest.ConnectJoin(t, native, "chat", "vote")

	g.Ask(t, "router.chat.room.vote.poll", `{"q":"tabs or spaces?"}`, nil)
	answers := map[string][]any{"ws": {"tabs"}, "poll": {"spaces", 2}}
	for name, args := range answers {
		ev := d.event(name, "poll")
		if argsJSON(ev) != `[{"q":"tabs or spaces?"}]` || ev.AskID == 0 {
			t.Fatalf("%s got %s (ask %d)", name, argsJSON(ev), ev.AskID)
		}
		if r := d.do(map[string]any{"op": "answer", "askId": ev.AskID, "args": args}); !r.OK {
			t.Fatalf("answer: %+v", r.Error)
		}
	}
	f := native.Next(isEvent("poll"))
	native.Send(map[string]any{"type": "reply", "ns": "chat", "ack": f.Num("ack"), "data": "neither"})
	got := map[string]string{}
	for range 3 {
		m := g.Next(t)
		got[m.Header.Get("Router-Sid")] = string(m.Data)
	}
	want := map[string]string{ws: `"tabs"`, poll: `["spaces",2]`, nsid: `"neither"`}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("answers %v, want %v", got, want)
	}

	// A binary answer, to a request on one socket; none is null.
	g.Ask(t, "router.chat.socket."+ws+".thumb", `{"$binary":"AQID"}`, nil)
	ev := d.event("ws", "thumb")
	if argsJSON(ev) != `[{"$bytes":"AQID"}]` {
		t.Fatalf("thumb event %s", argsJSON(ev))
	}
	d.do(map[string]any{"op": "answer", "askId": ev.AskID, "args": []any{map[string]any{"$bytes": "/wA="}}})
	if m := g.Next(t); string(m.Data) != `{"$binary":"/wA="}` || m.Header.Get("Router-Sid") != ws {
		t.Errorf("binary answer %s %v", m.Data, m.Header)
	}
	g.Ask(t, "router.chat.socket."+poll+".q", `1`, nil)
	d.do(map[string]any{"op": "answer", "askId": d.event("poll", "q").AskID})
	if m := g.Next(t); string(m.Data) != "null" {
		t.Errorf("answer without arguments: %s", m.Data)
	}
}

// TestBackendAsksTimeoutAndDisconnect: a Socket.IO client that does not
// answer within limits.ack_timeout gets a timeout reply for it; one that
// disconnects before answering, not_connected.
func TestBackendAsksTimeoutAndDisconnect(t *testing.T) {
	cfg := sioConfig(t)
	cfg.Limits.AckTimeout = time.Second
	n := routertest.Start(t, cfg)
	g := routertest.NewAsker(t, n.Backend())
	d := startDriver(t)
	a := d.connect("a", n.HTTPURL(), wsOnly)
	g.Ask(t, "router.chat.socket."+a+".q", `1`, nil)
	late := d.event("a", "q")
	if m := g.Next(t); m.Header.Get("Router-Error") != "timeout" || m.Header.Get("Router-Sid") != a {
		t.Errorf("unanswered: %s %v", m.Data, m.Header)
	}
	// The late answer is ignored: the next reply on the inbox is the next
	// request's.
	d.do(map[string]any{"op": "answer", "askId": late.AskID, "args": []any{"late"}})
	g.Ask(t, "router.chat.socket."+a+".q", `2`, nil)
	d.do(map[string]any{"op": "answer", "askId": d.event("a", "q").AskID, "args": []any{"on time"}})
	if m := g.Next(t); string(m.Data) != `"on time"` {
		t.Errorf("after a late answer: %s %v", m.Data, m.Header)
	}

	b := d.connect("b", n.HTTPURL(), wsOnly)
	g.Ask(t, "router.chat.socket."+b+".q", `3`, nil)
	d.event("b", "q")
	d.do(map[string]any{"op": "disconnect", "name": "b"})
	if m := g.Next(t); m.Header.Get("Router-Error") != "not_connected" || m.Header.Get("Router-Sid") != b {
		t.Errorf("disconnected: %s %v", m.Data, m.Header)
	}
}

// TestUnknownAckIgnored: an ACK packet for an id the socket does not owe
// is ignored (the session stays, nothing is published), as a Socket.IO
// server ignores it; the right id answers.
func TestUnknownAckIgnored(t *testing.T) {
	n := routertest.Start(t, sioConfig(t))
	g := routertest.NewAsker(t, n.Backend())
	p := handshakePolling(t, n)
	p.post("40")
	body := p.get()
	var connected struct{ SID string }
	if !strings.HasPrefix(body, "40") || json.Unmarshal([]byte(body[2:]), &connected) != nil || connected.SID == "" {
		t.Fatalf("connect: %q", body)
	}
	g.Ask(t, "router.chat.socket."+connected.SID+".q", `"why?"`, nil)
	if body := p.get(); body != `421["q","why?"]` {
		t.Fatalf("asked: %q", body)
	}
	p.post("4399[\"not asked\"]\x1e430[0]")
	p.post(`431["because"]`)
	m := g.Next(t)
	if string(m.Data) != `"because"` || m.Header.Get("Router-Sid") != connected.SID {
		t.Errorf("answer %s %v", m.Data, m.Header)
	}
	if got := routertest.Metric(t, n, `routerd_dropped_total{reason="unknown_ack"}`); got != "2" {
		t.Errorf("unknown acks dropped = %q, want 2", got)
	}
}
