package socketio_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats.go"

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

// recoveryConfig is sioConfig with connection state recovery for every
// namespace (chat keeps no history).
func recoveryConfig(t *testing.T) config.Config {
	t.Helper()
	cfg := sioConfig(t)
	cfg.SocketIO.Recovery.AllNamespaces = true
	return cfg
}

// offset returns the offset of an event: its last argument, a string.
func offset(t *testing.T, m msg) string {
	t.Helper()
	var s string
	if len(m.Args) < 2 || json.Unmarshal(m.Args[len(m.Args)-1], &s) != nil || s == "" {
		t.Fatalf("no offset in %s", argsJSON(m))
	}
	return s
}

// offsetOf returns the offset of an event from a history room: its seq.
func offsetOf(t *testing.T, m msg) uint64 {
	t.Helper()
	s := offset(t, m)
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("offset %q: %v", s, err)
	}
	return n
}

// observer is a backend that sees everything published in a namespace.
type observer struct {
	t  *testing.T
	ns string
	in *routertest.Inbox[*nats.Msg]
}

// observe subscribes a backend of node n to every subject of ns.
func observe(t *testing.T, n *routertest.Node, ns string) *observer {
	t.Helper()
	o := &observer{t: t, ns: ns, in: routertest.NewInbox[*nats.Msg]()}
	nc := n.Backend()
	if _, err := nc.Subscribe("router."+ns+".>", func(m *nats.Msg) { o.in.Add(m) }); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return o
}

// notice waits for the lifecycle or presence notice (kind "disconnect",
// "leave", ...) about sid.
func (o *observer) notice(kind, sid string) *nats.Msg {
	o.t.Helper()
	m, ok := o.in.Next(func(m *nats.Msg) bool { return isNotice(m, o.ns, kind, sid) }, routertest.Wait)
	if !ok {
		o.t.Fatalf("no %s notice for %s", kind, sid)
	}
	return m
}

// isNotice reports whether m is a lifecycle disconnect (kind "disconnect")
// or a presence notice (kind "leave", "join") about sid.
func isNotice(m *nats.Msg, ns, kind, sid string) bool {
	var n struct{ Action, SID string }
	if json.Unmarshal(m.Data, &n) != nil || n.SID != sid {
		return false
	}
	switch kind {
	case "disconnect", "connect":
		return m.Subject == "router."+ns+".lifecycle."+kind
	}
	return m.Header.Get("Router-Room") != "" && n.Action == kind
}

// quiet checks that no node published a disconnect or leave notice for
// sid so far: each native client (one per node) publishes a marker, and
// once the markers are in, everything those nodes published before is.
func (o *observer) quiet(sid string, natives ...*routertest.Client) {
	o.t.Helper()
	for i, c := range natives {
		c.Send(map[string]any{"type": "emit", "ns": o.ns, "event": "mark", "data": i})
	}
	for i := range natives {
		if _, ok := o.in.Next(func(m *nats.Msg) bool {
			return m.Subject == "router."+o.ns+".server.mark" && string(m.Data) == strconv.Itoa(i)
		}, routertest.Wait); !ok {
			o.t.Fatalf("marker %d did not come", i)
		}
	}
	for _, m := range o.in.Pending() {
		if isNotice(m, o.ns, "disconnect", sid) || isNotice(m, o.ns, "leave", sid) {
			o.t.Fatalf("a notice for %s: %s %s", sid, m.Subject, m.Data)
		}
	}
}

// drop loses socket name's connection as a network failure would; it
// reconnects only when told to (resumeOn).
func (d *driver) drop(name string) {
	d.t.Helper()
	d.do(map[string]any{"op": "drop", "name": name, "stay": true})
	if m := d.event(name, "$disconnect"); m.Reason != "transport close" {
		d.t.Fatalf("%s: reason %q", name, m.Reason)
	}
}

// resumeOn reconnects socket name (to url, or where it was when "") and
// returns its reconnect.
func (d *driver) resumeOn(name, url string) msg {
	d.t.Helper()
	cmd := map[string]any{"op": "reconnect", "name": name}
	if url != "" {
		cmd["url"] = url
	}
	d.do(cmd)
	return d.event(name, "$connect")
}

// missed checks that socket "a" gets the events want ("event data"), each
// once with an offset of its own (not seen, the offset before them), the
// events of one name in the order given: the order of one subject. The
// events of different subjects (a room, the socket's own, the broadcast)
// may come in any order, as they do live.
func missed(t *testing.T, d *driver, seen string, want ...string) {
	t.Helper()
	offsets := map[string]bool{seen: true}
	var got []string
	for range want {
		m := d.next("missed events", func(m msg) bool { return m.Socket == "a" && m.Event != "$connect" })
		if off := offset(t, m); offsets[off] {
			t.Fatalf("offset %q twice", off)
		} else {
			offsets[off] = true
		}
		got = append(got, m.Event+" "+string(m.Args[0]))
	}
	byName := func(list []string) map[string][]string {
		out := map[string][]string{}
		for _, e := range list {
			name, _, _ := strings.Cut(e, " ")
			out[name] = append(out[name], e)
		}
		return out
	}
	if g, w := fmt.Sprint(byName(got)), fmt.Sprint(byName(want)); g != w {
		t.Fatalf("missed events %q, want %q (by name: %s, want %s)", got, want, g, w)
	}
}

// waitParked waits until node n keeps want parked sockets.
func waitParked(t *testing.T, n *routertest.Node, want int) {
	t.Helper()
	metric := "routerd_socketio_parked"
	routertest.Eventually(t, "parked sockets", func() error {
		if got := scrape(t, n, metric); got != fmt.Sprintf("%s %d", metric, want) {
			return fmt.Errorf("%q", got)
		}
		return nil
	})
}

// historyPair starts two nodes with historyConfig on one bus: the second
// uses the first's NATS (and its JetStream) as an external NATS.
func historyPair(t *testing.T) []*routertest.Node {
	t.Helper()
	n1 := routertest.Start(t, historyConfig(t))
	cfg2 := historyConfig(t)
	cfg2.Node.Name = "t2"
	cfg2.NATS.JetStream.Enabled = false
	cfg2.NATS.URL = []string{n1.NATSURL()}
	return []*routertest.Node{n1, routertest.Start(t, cfg2)}
}

// TestRecovery: Socket.IO's connection state recovery where the namespace
// keeps history: events carry their offset, a client that lost its
// connection reconnects (to another node here) with pid and offset, gets
// the same socket back (its sid, its rooms) with the events it missed, in
// order, and socket.recovered is true; nobody saw it leave.
func TestRecovery(t *testing.T) {
	nodes := historyPair(t)
	obs := observe(t, nodes[0], "hist")
	d := startDriver(t)
	url := nodes[0].HTTPURL() + "/hist"
	sid := d.connect("a", url, wsOnly)
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

	// The connection is lost; the server keeps the socket.
	d.drop("a")
	waitParked(t, nodes[0], 1)
	for i := 2; i <= 3; i++ {
		native.MustAck(map[string]any{"type": "emit", "ns": "hist", "room": "r", "event": "message", "data": i})
	}

	// It comes back, through the other node.
	c := d.resumeOn("a", nodes[1].HTTPURL())
	if !c.Recovered || c.SID != sid {
		t.Fatalf("not recovered as %s: %+v", sid, c)
	}
	for i, want := range []string{"1", "1"} { // node 1: the native client; node 2: a
		metric := `routerd_sockets{namespace="hist"}`
		if got := scrape(t, nodes[i], metric); got != metric+" "+want {
			t.Fatalf("node %d: %q, want %s", i+1, got, want)
		}
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
	native.None(routertest.IsPresence("$leave", "r", sid))
	native2 := nodes[1].Dial()
	native2.Connect("hist")
	obs.quiet(sid, native, native2)

	// A socket that saw no event has no offset: nothing to recover from,
	// as with Socket.IO; its parked socket ends.
	bSID := d.connect("b", url, wsOnly)
	d.drop("b")
	waitParked(t, nodes[0], 1)
	if c := d.resumeOn("b", ""); c.Recovered || c.SID == bSID {
		t.Fatalf("b recovered without an offset: %+v", c)
	}
	obs.notice("disconnect", bSID)
	waitParked(t, nodes[0], 0)
}

// TestRecoveryLargerThanSendQueue: a recovery replay of more events than
// limits.send_queue is paced to the client's reading, over WebSocket and
// over long-polling, instead of closing the session as a slow consumer.
func TestRecoveryLargerThanSendQueue(t *testing.T) {
	const missed = 60
	for name, opts := range map[string]map[string]any{
		"websocket": wsOnly,
		"polling":   {"transports": []string{"polling"}},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := historyConfig(t)
			cfg.Limits.SendQueue = 8
			n := routertest.Start(t, cfg)
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

			d.drop("a")
			waitParked(t, n, 1)
			for i := 1; i <= missed; i++ {
				native.MustAck(map[string]any{"type": "emit", "ns": "hist", "room": room, "event": "message", "data": i})
			}

			if c := d.resumeOn("a", ""); !c.Recovered {
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

// TestRecoveryWithoutHistory: with socketio.recovery.all_namespaces a
// socket of a namespace without history recovers on the same node, over
// WebSocket and over long-polling: the same sid, its room, and what it
// missed while away (room events, a direct message, a broadcast) in
// order after its offset, then live; no leave or disconnect notice.
func TestRecoveryWithoutHistory(t *testing.T) {
	cfg := recoveryConfig(t)
	n := routertest.Start(t, cfg)
	for name, opts := range map[string]map[string]any{
		"websocket": wsOnly,
		"polling":   {"transports": []string{"polling"}},
	} {
		t.Run(name, func(t *testing.T) {
			obs := observe(t, n, "chat")
			backend := n.Backend()
			d := startDriver(t)
			room := "r-" + name
			sid := d.connect("a", n.HTTPURL(), opts)
			if got := d.emitAck("a", "join", room); got != `{"ok":true}` {
				t.Fatalf("join %s", got)
			}
			native := n.Dial()
			native.Connect("chat")
			native.Join("chat", room)
			d.event("a", "$join")
			native.Send(map[string]any{"type": "emit", "ns": "chat", "room": room, "event": "message", "data": "seen"})
			seen := d.event("a", "message")
			if string(seen.Args[0]) != `"seen"` {
				t.Fatalf("a got %s", argsJSON(seen))
			}
			offset(t, seen)

			d.drop("a")
			waitParked(t, n, 1)
			native.MustAck(map[string]any{"type": "emit", "ns": "chat", "room": room, "event": "message", "data": 1})
			native.MustAck(map[string]any{"type": "emit", "ns": "chat", "to": sid, "event": "psst", "data": 2})
			routertest.Publish(t, backend, "router.chat.broadcast.news", []byte("3"), nil)
			native.MustAck(map[string]any{"type": "emit", "ns": "chat", "room": room, "event": "message", "data": 4})
			if err := backend.Flush(); err != nil {
				t.Fatal(err)
			}

			if c := d.resumeOn("a", ""); !c.Recovered || c.SID != sid {
				t.Fatalf("not recovered as %s: %+v", sid, c)
			}
			// As with Socket.IO, the missed events come before "connect".
			if n := len(d.in.Pending()); n != 4 {
				t.Fatalf("%d events before connect: %v", n, d.in.Pending())
			}
			missed(t, d, offset(t, seen), "message 1", "psst 2", "news 3", "message 4")
			native.Send(map[string]any{"type": "emit", "ns": "chat", "room": room, "event": "message", "data": "live"})
			if m := d.event("a", "message"); string(m.Args[0]) != `"live"` {
				t.Fatalf("live after recovery: %s", argsJSON(m))
			}
			if d.has(func(m msg) bool { return m.Socket == "a" && m.Event != "$disconnect" }) {
				t.Fatalf("more than was missed: %v", d.in.Pending())
			}
			native.None(routertest.IsPresence("$leave", room, sid))
			obs.quiet(sid, native)
			if got := scrape(t, n, `routerd_socketio_recoveries_total{outcome="local"}`); got == "" {
				t.Fatal("no local recovery counted")
			}

			// Its client's own disconnect() ends it for good, at once.
			d.do(map[string]any{"op": "disconnect", "name": "a"})
			obs.notice("leave", sid)
			obs.notice("disconnect", sid)
			waitParked(t, n, 0)
		})
	}
}

// TestRecoveryAcrossNodes: behind a load balancer that sends each
// connection to the next of two clustered nodes, a WebSocket client whose
// connection is lost comes back through the other node, which takes the
// socket over from the node that kept it: the same sid, its room, what it
// missed (room events, a direct message) in order, then live, from the new
// node; no notice then, and the new node's when it leaves.
func TestRecoveryAcrossNodes(t *testing.T) {
	nodes := routertest.StartCluster(t, 2, func(_ int, cfg *config.Config) {
		cfg.SocketIO = recoveryConfig(t).SocketIO
	})
	var targets []*url.URL
	for _, n := range nodes {
		targets = append(targets, targetURL(t, n))
	}
	var turn atomic.Int64
	picked := make(chan int, 10)
	lb := balancer(t, func(*httputil.ProxyRequest) *url.URL {
		i := int(turn.Add(1)) % len(targets)
		picked <- i
		return targets[i]
	})
	obs := observe(t, nodes[0], "chat")
	d := startDriver(t)
	sid := d.connect("a", lb.URL, wsOnly)
	first := <-picked
	if got := d.emitAck("a", "join", "lobby"); got != `{"ok":true}` {
		t.Fatalf("join %s", got)
	}
	natives := []*routertest.Client{nodes[0].Dial(), nodes[1].Dial()}
	for _, c := range natives {
		c.Connect("chat")
		c.Join("chat", "lobby")
	}
	native := natives[1-first] // on the node the client comes back to
	d.event("a", "$join")
	d.event("a", "$join")
	native.Send(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "message", "data": 0})
	d.event("a", "message")

	d.drop("a")
	waitParked(t, nodes[first], 1)
	for i := 1; i <= 3; i++ {
		native.MustAck(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "message", "data": i})
	}
	native.MustAck(map[string]any{"type": "emit", "ns": "chat", "to": sid, "event": "psst", "data": 4})

	c := d.resumeOn("a", "")
	if again := <-picked; again == first {
		t.Fatal("the balancer sent the client back to the same node")
	}
	if !c.Recovered || c.SID != sid {
		t.Fatalf("not recovered as %s: %+v", sid, c)
	}
	missed(t, d, "", "message 1", "message 2", "message 3", "psst 4")
	metric := `routerd_sockets{namespace="chat"}`
	routertest.Eventually(t, "the socket moved", func() error {
		if got := scrape(t, nodes[1-first], metric); got != metric+" 2" {
			return fmt.Errorf("new node: %q", got)
		}
		if got := scrape(t, nodes[first], metric); got != metric+" 1" {
			return fmt.Errorf("old node: %q", got)
		}
		return nil
	})
	waitParked(t, nodes[first], 0)
	for _, c := range natives { // live, from its new node
		c.Send(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "message", "data": "live"})
		if m := d.event("a", "message"); string(m.Args[0]) != `"live"` {
			t.Fatalf("live after recovery: %s", argsJSON(m))
		}
	}
	native.MustAck(map[string]any{"type": "emit", "ns": "chat", "to": sid, "event": "psst", "data": "live"})
	if m := d.event("a", "psst"); string(m.Args[0]) != `"live"` {
		t.Fatalf("direct after recovery: %s", argsJSON(m))
	}
	for _, c := range natives {
		c.None(routertest.IsPresence("$leave", "lobby", sid))
	}
	obs.quiet(sid, natives...)

	d.do(map[string]any{"op": "disconnect", "name": "a"})
	for _, kind := range []string{"leave", "disconnect"} {
		if m := obs.notice(kind, sid); m.Header.Get("Router-Node") != nodes[1-first].Cfg.Node.Name {
			t.Fatalf("%s notice from %s", kind, m.Header.Get("Router-Node"))
		}
	}
}

// parkedInRoom starts a node with recoveryConfig changed by edit, a backend
// observing chat, and Socket.IO socket "a" in room r with a native member,
// which has sent it one message; then a loses its connection and the node
// parks its socket, whose sid it returns.
func parkedInRoom(t *testing.T, edit func(*config.Recovery)) (*routertest.Node, *observer, *driver, *routertest.Client, string) {
	t.Helper()
	cfg := recoveryConfig(t)
	edit(&cfg.SocketIO.Recovery)
	n := routertest.Start(t, cfg)
	obs := observe(t, n, "chat")
	d := startDriver(t)
	sid := d.connect("a", n.HTTPURL(), wsOnly)
	if got := d.emitAck("a", "join", "r"); got != `{"ok":true}` {
		t.Fatalf("join %s", got)
	}
	native := n.Dial()
	native.Connect("chat")
	native.Join("chat", "r")
	d.event("a", "$join")
	native.Send(map[string]any{"type": "emit", "ns": "chat", "room": "r", "event": "message", "data": 0})
	d.event("a", "message")
	d.drop("a")
	waitParked(t, n, 1)
	return n, obs, d, native, sid
}

// endedThenNew checks that the parked socket sid (parkedInRoom's) ended:
// the member saw it leave, backends got its leave and disconnect notices,
// the node keeps it no more; and that its client, back, gets a new socket.
func endedThenNew(t *testing.T, n *routertest.Node, obs *observer, d *driver, native *routertest.Client, sid string) {
	t.Helper()
	if f := native.Next(isEvent("$leave")); f.JSON("data") != `{"sid":"`+sid+`"}` {
		t.Fatalf("leave %v", f)
	}
	obs.notice("leave", sid)
	obs.notice("disconnect", sid)
	waitParked(t, n, 0)
	if c := d.resumeOn("a", ""); c.Recovered || c.SID == sid {
		t.Fatalf("recovered: %+v", c)
	}
}

// TestRecoveryWindowExpires: a socket not resumed within
// socketio.recovery.max_disconnection ends then, with its leave and
// disconnect notices; its client comes back to a new socket
// (socket.recovered false) and nothing of what it missed.
func TestRecoveryWindowExpires(t *testing.T) {
	n, obs, d, native, sid := parkedInRoom(t, func(rc *config.Recovery) { rc.MaxDisconnection = 300 * time.Millisecond })
	native.MustAck(map[string]any{"type": "emit", "ns": "chat", "room": "r", "event": "message", "data": 2})
	endedThenNew(t, n, obs, d, native, sid)
	// What the old socket missed would come first: a broadcast after it
	// is the first event of the new one.
	routertest.Publish(t, n.Backend(), "router.chat.broadcast.news", []byte("1"), nil)
	if m := d.next("the first event", func(m msg) bool { return m.Socket == "a" && m.ID == 0 }); m.Event != "news" {
		t.Fatalf("the new socket got %s %s", m.Event, argsJSON(m))
	}
}

// TestRecoveryBufferOverflow: a parked socket that is sent more than
// socketio.recovery.max_buffer_packets ends at once, with its notices;
// its client comes back to a new socket (socket.recovered false) and none
// of what it missed: nothing duplicated, nothing out of order.
func TestRecoveryBufferOverflow(t *testing.T) {
	n, obs, d, native, sid := parkedInRoom(t, func(rc *config.Recovery) { rc.MaxBufferPackets = 5 })
	for i := 1; i <= 8; i++ {
		native.MustAck(map[string]any{"type": "emit", "ns": "chat", "room": "r", "event": "message", "data": i})
	}
	endedThenNew(t, n, obs, d, native, sid)
	if got := d.emitAck("a", "join", "r"); got != `{"ok":true}` {
		t.Fatalf("join %s", got)
	}
	native.Send(map[string]any{"type": "emit", "ns": "chat", "room": "r", "event": "message", "data": "live"})
	if m := d.event("a", "message"); string(m.Args[0]) != `"live"` {
		t.Fatalf("after the overflow: got %s before live", argsJSON(m))
	}
	if d.has(func(m msg) bool { return m.Event == "message" }) {
		t.Fatalf("missed events after all: %v", d.in.Pending())
	}
}

// TestRecoveryHolderGone: where the node that kept a parked socket is
// gone (here: shut down), a namespace with history falls back to the rooms
// it saved in the recovery store: the client gets its room back with the
// events it missed, socket.recovered true, and a new sid (the old one's
// notices were published as its node went).
func TestRecoveryHolderGone(t *testing.T) {
	nodes := historyPair(t)
	n1, n2 := nodes[0], nodes[1]
	obs := observe(t, n1, "hist")
	d := startDriver(t)
	sid := d.connect("a", n2.HTTPURL()+"/hist", wsOnly)
	if got := d.emitAck("a", "join", "r"); got != `{"ok":true}` {
		t.Fatalf("join %s", got)
	}
	native := n1.Dial()
	native.Connect("hist")
	native.Join("hist", "r")
	d.event("a", "$join") // the last event it gets before the loss is a room event, with a seq
	native.MustAck(map[string]any{"type": "emit", "ns": "hist", "room": "r", "event": "message", "data": 1})
	d.event("a", "message")

	d.drop("a")
	waitParked(t, n2, 1)
	native.MustAck(map[string]any{"type": "emit", "ns": "hist", "room": "r", "event": "message", "data": 2})
	n2.Stop()
	obs.notice("disconnect", sid)

	c := d.resumeOn("a", n1.HTTPURL())
	if !c.Recovered || c.SID == sid {
		t.Fatalf("want recovered with a new sid: %+v", c)
	}
	if m := d.event("a", "message"); string(m.Args[0]) != "2" {
		t.Fatalf("replay: %s", argsJSON(m))
	}
	if got := scrape(t, n1, `routerd_socketio_recoveries_total{outcome="history"}`); got != `routerd_socketio_recoveries_total{outcome="history"} 1` {
		t.Fatalf("recoveries: %q", got)
	}
}

// TestRecoveryKeepsIdentity: a socket taken over by another node keeps
// what its token established (as Socket.IO skips middlewares on a
// recovery, the token is not checked again): its user, with the messages
// published to that user while it was away and after, and its token's
// rooms claim.
func TestRecoveryKeepsIdentity(t *testing.T) {
	nodes := routertest.StartCluster(t, 2, func(_ int, cfg *config.Config) {
		cfg.SocketIO = recoveryConfig(t).SocketIO
		cfg.Auth.JWT.Secret = "s3cret"
		secure := config.DefaultNamespace()
		secure.Auth = config.AuthJWT
		cfg.Namespaces["secure"] = secure
	})
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "ann", "rooms": []string{"r*"}}).SignedString([]byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	backend := nodes[0].Backend()
	d := startDriver(t)
	opts := map[string]any{"transports": []string{"websocket"}, "auth": map[string]any{"token": tok}}
	sid := d.connect("a", nodes[0].HTTPURL()+"/secure", opts)
	if got := d.emitAck("a", "join", "r1"); got != `{"ok":true}` {
		t.Fatalf("join %s", got)
	}
	routertest.Publish(t, backend, "router.secure.user.ann.note", []byte("1"), nil)
	d.event("a", "note")

	d.drop("a")
	waitParked(t, nodes[0], 1)
	routertest.Publish(t, backend, "router.secure.user.ann.note", []byte("2"), nil)
	if err := backend.Flush(); err != nil {
		t.Fatal(err)
	}
	if c := d.resumeOn("a", nodes[1].HTTPURL()); !c.Recovered || c.SID != sid {
		t.Fatalf("not recovered as %s: %+v", sid, c)
	}
	if m := d.event("a", "note"); string(m.Args[0]) != "2" {
		t.Fatalf("missed user message: %s", argsJSON(m))
	}
	routertest.Eventually(t, "user messages reach it on its new node", func() error {
		routertest.Publish(t, backend, "router.secure.user.ann.note", []byte(`"live"`), nil)
		if !d.has(func(m msg) bool { return m.Event == "note" && string(m.Args[0]) == `"live"` }) {
			return errors.New("not yet")
		}
		return nil
	})
	native := nodes[1].Dial()
	native.MustAck(map[string]any{"type": "connect", "ns": "secure", "auth": map[string]any{"token": tok}})
	r := native.MustAck(map[string]any{"type": "presence", "ns": "secure", "room": "r1"})
	if got := r.JSON("data"); got != `{"members":[{"sid":"`+sid+`","user":"ann"}]}` {
		t.Fatalf("presence %s", got)
	}
	if got := d.emitAck("a", "join", "x"); !strings.Contains(got, `"code":"forbidden"`) {
		t.Fatalf("a room the token does not allow: %s", got)
	}
}

// connectPacket reads a CONNECT reply for namespace "/": its pid and sid.
func connectPacket(t *testing.T, c *eioConn) (pid, sid string) {
	t.Helper()
	m := c.next("CONNECT", func(m string) bool { return strings.HasPrefix(m, "40{") })
	var v struct{ PID, SID string }
	if err := json.Unmarshal([]byte(m[2:]), &v); err != nil || v.PID == "" || v.SID == "" {
		t.Fatalf("CONNECT %q: %v", m, err)
	}
	return v.PID, v.SID
}

// newsOffset waits for news event data and returns its offset.
func newsOffset(t *testing.T, c *eioConn, data string) string {
	t.Helper()
	prefix := `42["news",` + data + `,"`
	m := c.next("news "+data, func(m string) bool { return strings.HasPrefix(m, prefix) })
	off := strings.TrimSuffix(m[len(prefix):], `"]`)
	if off == "" || strings.ContainsAny(off, `"[],`) {
		t.Fatalf("news %s: %q", data, m)
	}
	return off
}

// TestRecoveryPackets, on the wire: the CONNECT reply has a pid, events
// carry an offset; a CONNECT with the pid and an offset on a new session,
// while the old one is still open, takes the socket from it (a client
// that lost a connection the server has not seen end yet): the packets
// after the offset, then CONNECT with the same sid and pid, then live,
// and the old session no longer has the namespace. A pid that is not one
// gets a new socket; so does an offset the socket never sent, and then
// the socket, still live where it is, is left alone.
func TestRecoveryPackets(t *testing.T) {
	n := routertest.Start(t, recoveryConfig(t))
	backend := n.Backend()
	news := func(data string) {
		t.Helper()
		routertest.Publish(t, backend, "router.chat.broadcast.news", []byte(data), nil)
	}
	old := dialEIO(t, n)
	old.send("40")
	pid, sid := connectPacket(t, old)
	news("1")
	first := newsOffset(t, old, "1")
	news("2")
	second := newsOffset(t, old, "2")
	if first == second {
		t.Fatalf("one offset twice: %q", first)
	}

	c := dialEIO(t, n)
	c.send(`40{"pid":"` + pid + `","offset":"` + first + `"}`)
	if got := newsOffset(t, c, "2"); got != second {
		t.Fatalf("replayed with offset %q, want %q", got, second)
	}
	if p, s := connectPacket(t, c); p != pid || s != sid {
		t.Fatalf("resumed as %s/%s, want %s/%s", p, s, pid, sid)
	}
	news("3")
	newsOffset(t, c, "3")
	old.send(`421["x"]`) // the old session no longer has "/": and nothing queued before the answer
	old.expect(`431[{"error":{"code":"not_connected","message":"not connected to namespace \"/\""}}]`)
	if got := old.in.Pending(); len(got) != 0 {
		t.Fatalf("the old session got %q", got)
	}

	for _, auth := range []string{`{"pid":"not a pid","offset":"` + second + `"}`, `{"pid":"` + pid + `","offset":"nope"}`} {
		other := dialEIO(t, n)
		other.send(`40` + auth)
		if p, s := connectPacket(t, other); p == pid || s == sid {
			t.Fatalf("%s: resumed as %s/%s", auth, p, s)
		}
	}
	news("4")
	newsOffset(t, c, "4") // still there, live
}
