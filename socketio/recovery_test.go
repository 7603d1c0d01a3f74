package socketio_test

import (
	"encoding/json"
	"strconv"
	"testing"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/internal/routertest"
)

// historyConfig adds namespace hist, which keeps history, on JetStream.
func historyConfig(t *testing.T) config.Config {
	t.Helper()
	cfg := sioConfig(t)
	cfg.NATS.JetStream.Enabled = true
	cfg.NATS.JetStream.StoreDir = t.TempDir()
	hist := config.DefaultNamespace()
	hist.PresenceEvents = true
	hist.History = &config.History{MaxMsgs: 100, Replicas: 1}
	cfg.Namespaces["hist"] = hist
	return cfg
}

// offsetOf returns the offset (the last argument, a string) of an event
// from a history room.
func offsetOf(t *testing.T, m msg) uint64 {
	t.Helper()
	var s string
	if len(m.Args) < 2 || json.Unmarshal(m.Args[len(m.Args)-1], &s) != nil {
		t.Fatalf("no offset in %s", argsJSON(m))
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("offset %q: %v", s, err)
	}
	return n
}

// TestRecovery: Socket.IO's connection state recovery where the namespace
// keeps history: events carry their offset, a client that lost its
// connection reconnects (to another node here) with pid and offset, gets
// its rooms back with the events it missed, in order, and
// socket.recovered is true.
func TestRecovery(t *testing.T) {
	// Two nodes on one bus: the second uses the first's NATS (and its
	// JetStream) as an external NATS.
	n1 := routertest.Start(t, historyConfig(t))
	cfg2 := historyConfig(t)
	cfg2.Node.Name = "t2"
	cfg2.NATS.JetStream.Enabled = false
	cfg2.NATS.URL = []string{n1.NATSURL()}
	nodes := []*routertest.Node{n1, routertest.Start(t, cfg2)}
	d := startDriver(t)
	url := nodes[0].HTTPURL() + "/hist"
	d.connect("a", url, wsOnly)
	if got := d.emitAck("a", "join", "r"); got != `{"ok":true}` {
		t.Fatalf("join %s", got)
	}
	native := nodes[0].Dial()
	native.Connect("hist")
	native.Join("hist", "r")
	d.event("a", "$join")

	native.Send(map[string]any{"type": "emit", "ns": "hist", "room": "r", "event": "message", "data": 1})
	m := d.event("a", "message")
	if string(m.Args[0]) != "1" {
		t.Fatalf("a got %s", argsJSON(m))
	}
	first := offsetOf(t, m)

	// The connection is lost; the server keeps the socket's state.
	d.do(map[string]any{"op": "drop", "name": "a", "stay": true})
	if m := d.event("a", "$disconnect"); m.Reason != "transport close" {
		t.Fatalf("reason %q", m.Reason)
	}
	native.Next(isEvent("$leave")) // once it left, its state is saved
	for i := 2; i <= 3; i++ {
		native.MustAck(map[string]any{"type": "emit", "ns": "hist", "room": "r", "event": "message", "data": i})
	}

	// It comes back, through the other node.
	d.do(map[string]any{"op": "reconnect", "name": "a", "url": nodes[1].HTTPURL()})
	c := d.event("a", "$connect")
	if !c.Recovered {
		t.Fatalf("not recovered: %+v", c)
	}
	if got := scrape(t, nodes[1], `routerd_sockets{namespace="hist"}`); got != `routerd_sockets{namespace="hist"} 1` {
		t.Fatalf("socket not on the second node: %q", got)
	}
	last := first
	for i := 2; i <= 3; i++ {
		m := d.event("a", "message")
		if string(m.Args[0]) != strconv.Itoa(i) {
			t.Fatalf("replay %d: got %s", i, argsJSON(m))
		}
		if off := offsetOf(t, m); off <= last {
			t.Fatalf("offset %d after %d", off, last)
		} else {
			last = off
		}
	}
	// And it is in its room again, live.
	native.Send(map[string]any{"type": "emit", "ns": "hist", "room": "r", "event": "message", "data": 4})
	if m := d.event("a", "message"); string(m.Args[0]) != "4" {
		t.Fatalf("live after recovery: %s", argsJSON(m))
	}
	if d.has(func(m msg) bool { return m.Event == "message" }) {
		t.Fatal("duplicate events after recovery")
	}

	// A socket that saw no event has no offset: nothing to recover from.
	d.connect("b", url, wsOnly)
	d.do(map[string]any{"op": "drop", "name": "b", "stay": true})
	d.event("b", "$disconnect")
	d.do(map[string]any{"op": "reconnect", "name": "b"})
	if c := d.event("b", "$connect"); c.Recovered {
		t.Fatalf("b recovered without an offset: %+v", c)
	}
}

// TestRecoveryLargerThanSendQueue: a recovery replay of more events than
// limits.send_queue is paced to the client's reading, over WebSocket and
// over long-polling, instead of closing the session as a slow consumer.
func TestRecoveryLargerThanSendQueue(t *testing.T) {
	const missed = 60
	cfg := historyConfig(t)
	cfg.Limits.SendQueue = 8
	n := routertest.Start(t, cfg)
	for name, opts := range map[string]map[string]any{
		"websocket": wsOnly,
		"polling":   {"transports": []string{"polling"}},
	} {
		t.Run(name, func(t *testing.T) {
			d := startDriver(t)
			room := "big-" + name
			d.connect("a", n.HTTPURL()+"/hist", opts)
			if got := d.emitAck("a", "join", room); got != `{"ok":true}` {
				t.Fatalf("join %s", got)
			}
			native := n.Dial()
			native.Connect("hist")
			native.Join("hist", room)
			native.MustAck(map[string]any{"type": "emit", "ns": "hist", "room": room, "event": "message", "data": 0})
			d.event("a", "message")

			d.do(map[string]any{"op": "drop", "name": "a", "stay": true})
			d.event("a", "$disconnect")
			native.Next(isEvent("$leave"))
			for i := 1; i <= missed; i++ {
				native.MustAck(map[string]any{"type": "emit", "ns": "hist", "room": room, "event": "message", "data": i})
			}

			d.do(map[string]any{"op": "reconnect", "name": "a"})
			if c := d.event("a", "$connect"); !c.Recovered {
				t.Fatalf("not recovered: %+v", c)
			}
			for i := 1; i <= missed; i++ {
				if m := d.event("a", "message"); string(m.Args[0]) != strconv.Itoa(i) {
					t.Fatalf("replay %d: got %s", i, argsJSON(m))
				}
			}
			if d.has(func(m msg) bool { return m.Event == "$disconnect" }) {
				t.Fatal("the session was closed during the replay")
			}
			native.MustAck(map[string]any{"type": "emit", "ns": "hist", "room": room, "event": "message", "data": "live"})
			if m := d.event("a", "message"); string(m.Args[0]) != `"live"` {
				t.Fatalf("live after recovery: %s", argsJSON(m))
			}
		})
	}
}
