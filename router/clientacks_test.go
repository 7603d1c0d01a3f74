package router_test

// Tests of requests between clients and backends on the native protocol:
// a client's frames reach NATS in the order it sent them, acked or not;
// and backends ask clients for acks (NATS requests on socket, room, user
// and broadcast subjects), answered with reply frames.

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/internal/routertest"
	"github.com/routerd/routerd/router"
)

// TestRequestsKeepOrder: 1000 server-bound emits, acked and not, to two
// events, reach the backend in the order the client sent them; every
// request gets its own reply.
func TestRequestsKeepOrder(t *testing.T) {
	t.Parallel()
	n := routertest.StartWith(t, func(c *config.Config) { c.Limits.Rate.PerSecond = 0 })
	nc := n.Backend()
	ch := make(chan *nats.Msg, 2048)
	sub, err := nc.ChanSubscribe("router.chat.server.>", ch)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	a := n.Joined("chat")
	const total = 1000
	acked := func(i int) bool { return i%3 != 2 }
	for i := range total {
		f := map[string]any{"type": "emit", "ns": "chat", "event": "a", "data": i}
		if i%2 == 1 {
			f["event"] = "b"
		}
		if acked(i) {
			f["id"] = i + 1
		}
		a.C.Send(f)
	}
	for i := range total {
		var m *nats.Msg
		select {
		case m = <-ch:
		case <-time.After(routertest.Wait):
			t.Fatalf("message %d did not arrive", i)
		}
		if got := string(m.Data); got != strconv.Itoa(i) {
			t.Fatalf("message %d: the backend got %s first", i, got)
		}
		if (m.Reply != "") != acked(i) {
			t.Fatalf("message %d: reply subject %q", i, m.Reply)
		}
		if m.Reply != "" {
			if err := m.Respond([]byte(`{"n":` + string(m.Data) + `}`)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range total {
		if !acked(i) {
			continue
		}
		r := a.C.Next(routertest.IsReply(i + 1))
		if r.Type() != "ack" || r.JSON("data") != fmt.Sprintf(`{"n":%d}`, i) {
			t.Fatalf("reply to %d: %v", i+1, r)
		}
	}
}

// TestBackendAsksSocket: a NATS request on a socket's subject reaches the
// socket as an event with an ack id; the client's reply frame becomes the
// NATS reply, with the socket's headers. Only the socket asked can answer,
// once.
func TestBackendAsksSocket(t *testing.T) {
	t.Parallel()
	n := routertest.StartWith(t, nil)
	b := routertest.NewAsker(t, n.Backend())
	a := n.Joined("chat")
	other := n.Joined("chat")

	b.Ask(t, "router.chat.socket."+a.SID+".ping", `{"q":1}`, nil)
	ev := a.C.Next(routertest.IsEvent("ping"))
	if ev.JSON("data") != `{"q":1}` || ev.Num("ack") != 1 || ev.Has("from") {
		t.Fatalf("event %v, want data {\"q\":1} with ack 1", ev)
	}
	// Another socket cannot answer it: ack ids are per socket.
	r := other.C.Req(map[string]any{"type": "reply", "ns": "chat", "ack": 1, "data": "not mine"})
	if r.Type() != "error" || r.Str("code") != "bad_frame" {
		t.Fatalf("another socket's reply: %v", r)
	}
	// The socket asked answers, with an id: acked once published.
	a.C.MustAck(map[string]any{"type": "reply", "ns": "chat", "ack": 1, "data": map[string]any{"pong": true}})
	m := b.Next(t)
	if string(m.Data) != `{"pong":true}` {
		t.Errorf("reply data %s", m.Data)
	}
	wantHeaders(t, m, map[string]string{"Router-Sid": a.SID, "Router-Ns": "chat", "Router-Event": "ping", "Router-Node": "t1", "Router-Error": ""})
	// Once only: a second answer with an id is refused, without one dropped.
	r = a.C.Req(map[string]any{"type": "reply", "ns": "chat", "ack": 1, "data": 2})
	if r.Type() != "error" || r.Str("code") != "bad_frame" {
		t.Fatalf("second reply: %v", r)
	}
	a.C.Send(map[string]any{"type": "reply", "ns": "chat", "ack": 1, "data": 3})
	a.C.None(routertest.IsType("error"))

	// The next request gets the next id; no data is null. (Its reply is
	// the next on the inbox: the refused answers published nothing.)
	b.Ask(t, "router.chat.socket."+a.SID+".ping", ``, nil)
	if ev := a.C.Next(routertest.IsEvent("ping")); ev.Num("ack") != 2 || ev.JSON("data") != "null" {
		t.Fatalf("second event %v", ev)
	}
	a.C.Send(map[string]any{"type": "reply", "ns": "chat", "ack": 2})
	if m := b.Next(t); string(m.Data) != "null" {
		t.Errorf("reply without data: %s", m.Data)
	}

	// Bad reply frames.
	for _, f := range []map[string]any{
		{"type": "reply", "ns": "chat"},
		{"type": "reply", "ns": "chat", "ack": 0},
		{"type": "reply", "ns": "chat", "ack": -1},
		{"type": "reply", "ns": "chat", "ack": "1"},
	} {
		if code := a.C.ErrorCode(f); code != "bad_frame" {
			t.Errorf("%v: %s, want bad_frame", f, code)
		}
	}
	if code := a.C.ErrorCode(map[string]any{"type": "reply", "ns": "nowhere", "ack": 1}); code != "not_connected" {
		t.Errorf("reply in a namespace not connected: %s", code)
	}
	if got := routertest.Metric(t, n, `routerd_client_acks_total{outcome="answered"}`); got != "2" {
		t.Errorf("answered acks = %q, want 2", got)
	}
}

// TestBackendGathersRoomAcks: a request on a room (or user, or broadcast)
// subject asks every socket it reaches; each answer is one reply on the
// backend's inbox, named by Router-Sid. Router-Exclude skips a socket.
func TestBackendGathersRoomAcks(t *testing.T) {
	t.Parallel()
	n := routertest.StartWith(t, nil)
	b := routertest.NewAsker(t, n.Backend())
	members := []routertest.Member{n.Joined("chat", "poll"), n.Joined("chat", "poll"), n.Joined("chat", "poll")}
	skipped := members[2]
	outsider := n.Joined("chat")

	b.Ask(t, "router.chat.room.poll.vote", `"yes or no?"`, nats.Header{"Router-Exclude": {skipped.SID}})
	for _, m := range members[:2] {
		ev := m.C.Next(routertest.IsEvent("vote"))
		if ev.Str("room") != "poll" || ev.Num("ack") != 1 {
			t.Fatalf("event %v", ev)
		}
		m.C.Send(map[string]any{"type": "reply", "ns": "chat", "ack": 1, "data": m.SID})
	}
	var got []string
	for range 2 {
		m := b.Next(t)
		if sid := m.Header.Get("Router-Sid"); `"`+sid+`"` != string(m.Data) {
			t.Errorf("reply %s from %s", m.Data, sid)
		}
		got = append(got, m.Header.Get("Router-Sid"))
	}
	want := []string{members[0].SID, members[1].SID}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("answers from %v, want %v", got, want)
	}
	skipped.C.None(routertest.IsEvent("vote"))
	outsider.C.None(routertest.IsEvent("vote"))

	// A broadcast asks every socket of the namespace.
	b.Ask(t, "router.chat.broadcast.all", `1`, nil)
	for _, m := range append(members, outsider) {
		ev := m.C.Next(routertest.IsEvent("all"))
		m.C.Send(map[string]any{"type": "reply", "ns": "chat", "ack": ev.Num("ack")})
	}
	seen := map[string]bool{}
	for range 4 {
		seen[b.Next(t).Header.Get("Router-Sid")] = true
	}
	if len(seen) != 4 {
		t.Errorf("broadcast answers from %d sockets, want 4", len(seen))
	}
}

// TestClientAckTimeout: a socket that does not answer within
// limits.ack_timeout gets a reply with Router-Error timeout for it; a late
// answer is refused.
func TestClientAckTimeout(t *testing.T) {
	t.Parallel()
	const ackTimeout = 300 * time.Millisecond
	n := routertest.StartWith(t, func(c *config.Config) { c.Limits.AckTimeout = ackTimeout })
	b := routertest.NewAsker(t, n.Backend())
	a := n.Joined("chat")

	start := time.Now()
	b.Ask(t, "router.chat.socket."+a.SID+".q", `1`, nil)
	ev := a.C.Next(routertest.IsEvent("q"))
	m := b.Next(t)
	if took := time.Since(start); took < ackTimeout {
		t.Errorf("timeout reply after %s, before ack_timeout", took)
	}
	if m.Header.Get("Router-Error") != "timeout" || m.Header.Get("Router-Sid") != a.SID {
		t.Errorf("timeout reply %s %v", m.Data, m.Header)
	}
	if r := a.C.Req(map[string]any{"type": "reply", "ns": "chat", "ack": ev.Num("ack"), "data": "late"}); r.Str("code") != "bad_frame" {
		t.Errorf("late reply: %v", r)
	}
	if got := routertest.Metric(t, n, `routerd_client_acks_total{outcome="timeout"}`); got != "1" {
		t.Errorf("timed out acks = %q, want 1", got)
	}
}

// TestClientAckDisconnectAndLimit: a socket that disconnects (or whose
// connection closes) before answering gets a reply with Router-Error
// not_connected for each ack it owed, at once; beyond router.MaxClientAcks
// owed, a request gets limit_exceeded and is not delivered.
func TestClientAckDisconnectAndLimit(t *testing.T) {
	t.Parallel()
	n := routertest.StartWith(t, func(c *config.Config) { c.Limits.AckTimeout = time.Minute })
	b := routertest.NewAsker(t, n.Backend())

	// Disconnected before answering: not_connected, at once.
	for _, leave := range []func(m routertest.Member){
		func(m routertest.Member) { m.C.MustAck(map[string]any{"type": "disconnect", "ns": "chat"}) },
		func(m routertest.Member) { _ = m.C.WS.Close() },
	} {
		m := n.Joined("chat")
		b.Ask(t, "router.chat.socket."+m.SID+".q", `1`, nil)
		b.Ask(t, "router.chat.socket."+m.SID+".q", `2`, nil)
		m.C.Next(routertest.IsEvent("q"))
		m.C.Next(routertest.IsEvent("q"))
		leave(m)
		for range 2 {
			r := b.Next(t)
			if r.Header.Get("Router-Error") != "not_connected" || r.Header.Get("Router-Sid") != m.SID {
				t.Errorf("reply after disconnect: %s %v", r.Data, r.Header)
			}
		}
	}

	// Bounded: one ack beyond the limit is refused, not delivered.
	a := n.Joined("chat")
	for i := range router.MaxClientAcks + 1 {
		b.Ask(t, "router.chat.socket."+a.SID+".q", strconv.Itoa(i), nil)
	}
	r := b.Next(t)
	if r.Header.Get("Router-Error") != "limit_exceeded" || r.Header.Get("Router-Sid") != a.SID {
		t.Errorf("beyond the limit: %s %v", r.Data, r.Header)
	}
	for i := range router.MaxClientAcks {
		if ev := a.C.Next(routertest.IsEvent("q")); ev.Num("ack") != float64(i+1) || ev.JSON("data") != strconv.Itoa(i) {
			t.Fatalf("event %d: %v", i, ev)
		}
	}
	a.C.None(routertest.IsEvent("q"))
	// Answering one makes room for one more.
	a.C.Send(map[string]any{"type": "reply", "ns": "chat", "ack": 1})
	if r := b.Next(t); r.Header.Get("Router-Error") != "" {
		t.Fatalf("answer: %v", r.Header)
	}
	b.Ask(t, "router.chat.socket."+a.SID+".q", `"more"`, nil)
	if ev := a.C.Next(routertest.IsEvent("q")); ev.Num("ack") != float64(router.MaxClientAcks+1) || ev.JSON("data") != `"more"` {
		t.Fatalf("after an answer: %v", ev)
	}
}

// TestClientAckGuards: a request whose reply subject is one routerd never
// answers on (under P., a $ subject), or that carries Router-Node-Id (what
// routerd publishes for clients), is delivered as a plain event: no ack
// id, no reply.
func TestClientAckGuards(t *testing.T) {
	t.Parallel()
	n := routertest.StartWith(t, nil)
	nc := n.Backend()
	a := n.Joined("chat")
	for i, m := range []*nats.Msg{
		{Reply: "router.chat.room.lobby.spoof"},
		{Reply: "router"},
		{Reply: "$JS.API.STREAM.DELETE.x"},
		{Reply: "_INBOX.fine", Header: nats.Header{"Router-Node-Id": {"someone"}}},
	} {
		m.Subject = "router.chat.socket." + a.SID + ".plain"
		m.Data = []byte(strconv.Itoa(i))
		if err := nc.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
		if ev := a.C.Next(routertest.IsEvent("plain")); ev.Has("ack") || ev.JSON("data") != strconv.Itoa(i) {
			t.Errorf("reply %q: event %v, want no ack", m.Reply, ev)
		}
	}
	if r := a.C.Req(map[string]any{"type": "reply", "ns": "chat", "ack": 1}); r.Str("code") != "bad_frame" {
		t.Errorf("no ack was asked, yet a reply: %v", r)
	}
}

// TestClientAckHistoryRoom: acks on the rooms of a namespace with history
// are not supported. A request on such a room is stored, and JetStream
// answers it with its publish ack; members get the event with its seq
// (from the stream's republished copy, which has no reply subject) and no
// ack id.
func TestClientAckHistoryRoom(t *testing.T) {
	t.Parallel()
	n := routertest.Start(t, historyConfig(t, t.TempDir(), 10))
	nc, _ := histBackend(t, n)
	c := n.Dial()
	c.Connect("hist")
	c.Join("hist", "r")
	m, err := nc.Request("router.hist.room.r.ask", []byte(`"ready?"`), routertest.Wait)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(m.Data), `"stream":"routerd_router_hist"`) {
		t.Errorf("reply %s, want JetStream's publish ack", m.Data)
	}
	if ev := c.Next(routertest.IsEvent("ask")); ev.Has("ack") || ev.Num("seq") == 0 {
		t.Errorf("event %v, want a seq and no ack", ev)
	}
}
