package socketio_test

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/internal/routertest"
)

// TestPollingWithoutStickySessions puts a load balancer that sends every
// HTTP request to the next of two clustered nodes in turn in front of them:
// long-polling sessions work (their requests are forwarded to the node that
// holds the session), and so does the client's default, which upgrades to
// WebSocket through the same balancer, whichever node the upgrade reaches.
func TestPollingWithoutStickySessions(t *testing.T) {
	nodes := routertest.StartCluster(t, 2, func(_ int, cfg *config.Config) {
		cfg.SocketIO = sioConfig(t).SocketIO
	})
	var targets []*url.URL
	for _, n := range nodes {
		targets = append(targets, targetURL(t, n))
	}
	var turn atomic.Int64
	hits := make([]atomic.Int64, len(targets))
	lb := balancer(t, func(pr *httputil.ProxyRequest) *url.URL {
		i := int(turn.Add(1)) % len(targets)
		hits[i].Add(1)
		return targets[i]
	})

	d := startDriver(t)
	polling := map[string]any{"transports": []string{"polling"}}
	d.connect("a", lb.URL, polling)
	d.connect("b", lb.URL, polling)
	d.connect("c", lb.URL, nil) // polling, then the upgrade
	if r := d.do(map[string]any{"op": "upgraded", "name": "c"}); !r.OK {
		t.Fatalf("c upgrade: %+v", r)
	}
	for _, name := range []string{"a", "b", "c"} {
		if got := d.emitAck(name, "join", "lobby"); got != `{"ok":true}` {
			t.Fatalf("%s join: %s", name, got)
		}
	}
	routertest.Eventually(t, "a's message reaches b and c", func() error {
		d.emit("a", "message", "lobby", "probe")
		if !d.has(func(m msg) bool { return m.Socket == "b" && m.Event == "message" }) ||
			!d.has(func(m msg) bool { return m.Socket == "c" && m.Event == "message" }) {
			return errors.New("not delivered yet")
		}
		return nil
	})
	for i := range 5 {
		d.emit("b", "message", "lobby", i)
		for _, name := range []string{"a", "c"} {
			d.next(name+" gets b's message", func(m msg) bool {
				return m.Socket == name && m.Event == "message" && argsJSON(m) == fmt.Sprintf("[%d]", i)
			})
		}
	}
	// A sid no node could have made is unknown at once, on every node.
	for _, sid := range []string{"a b.x", "a\r\nPUB x 1\r\n.x", ">.x", "*.x", "abcdefgh>.x"} {
		for _, n := range nodes {
			status, body := httpDo(t, "GET", eioURL(n, "transport=polling&sid="+url.QueryEscape(sid)), "", nil)
			if status != http.StatusBadRequest || body != `{"code":1,"message":"Session ID unknown"}` {
				t.Fatalf("sid %q: %d %s", sid, status, body)
			}
		}
	}
	if hits[0].Load() == 0 || hits[1].Load() == 0 {
		t.Fatalf("the balancer did not use both nodes: %d, %d", hits[0].Load(), hits[1].Load())
	}
}

// TestWebSocketWithoutStickySessions sends a session's handshake to one
// node and every later request to the other: its polls are forwarded, and
// its upgrade to WebSocket is tunnelled to the node that holds the session,
// which then serves it over the tunnel both ways (text and binary), until
// the client closes it.
func TestWebSocketWithoutStickySessions(t *testing.T) {
	nodes, d, a, native := tunnelledLobby(t, 2)
	tunnels := func(want int) {
		t.Helper()
		for i, side := range []string{"owner", "edge"} {
			metric := fmt.Sprintf(`routerd_socketio_tunnels{side=%q}`, side)
			routertest.Eventually(t, metric, func() error {
				if got := scrape(t, nodes[i], metric); got != fmt.Sprintf("%s %d", metric, want) {
					return fmt.Errorf("%q", got)
				}
				return nil
			})
		}
	}
	tunnels(1)
	d.emit("a", "message", "lobby", map[string]any{"$bytes": "AQID"}) // a binary frame up the tunnel
	if f := native.Next(isEvent("message")); f.Str("from") != a || f.JSON("data") != `{"$binary":"AQID"}` {
		t.Fatalf("native got %v", f)
	}
	for i := range 20 {
		native.Send(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "message", "data": i})
	}
	for i := range 20 {
		if m := d.event("a", "message"); argsJSON(m) != fmt.Sprintf("[%d]", i) {
			t.Fatalf("message %d: got %s", i, argsJSON(m))
		}
	}
	native.Send(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "message", "data": map[string]any{"$binary": "3q2+7w=="}})
	if m := d.event("a", "message"); argsJSON(m) != `[{"$bytes":"3q2+7w=="}]` {
		t.Fatalf("binary down the tunnel: got %s", argsJSON(m))
	}

	d.do(map[string]any{"op": "disconnect", "name": "a"})
	if f := native.Next(isEvent("$leave")); f.JSON("data") != `{"sid":"`+a+`"}` {
		t.Fatalf("leave %v", f)
	}
	tunnels(0)
}

// balancer is a load balancer in front of nodes: pick chooses the node of
// each request. Its errors (clients that go away) are not logged.
func balancer(t *testing.T, pick func(*httputil.ProxyRequest) *url.URL) *httptest.Server {
	t.Helper()
	lb := httptest.NewServer(&httputil.ReverseProxy{
		Rewrite:  func(pr *httputil.ProxyRequest) { pr.SetURL(pick(pr)) },
		ErrorLog: log.New(io.Discard, "", 0),
	})
	t.Cleanup(lb.Close)
	return lb
}

func targetURL(t *testing.T, n *routertest.Node) *url.URL {
	t.Helper()
	u, err := url.Parse(n.HTTPURL())
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// tunnelledLobby starts a cluster of n nodes, connects Socket.IO socket
// "a" with connectSplit (owner nodes[0], edge nodes[1]) and a native client
// to the last node, and has both join room lobby.
func tunnelledLobby(t *testing.T, n int) ([]*routertest.Node, *driver, string, *routertest.Client) {
	t.Helper()
	nodes := routertest.StartCluster(t, n, func(_ int, cfg *config.Config) {
		cfg.SocketIO = sioConfig(t).SocketIO
	})
	d := startDriver(t)
	a := connectSplit(t, d, nodes[0], nodes[1])
	if got := d.emitAck("a", "join", "lobby"); got != `{"ok":true}` {
		t.Fatalf("join: %s", got)
	}
	native := nodes[n-1].Dial()
	native.Connect("chat")
	native.Join("chat", "lobby")
	return nodes, d, a, native
}

// connectSplit connects socket "a" through a balancer that sends its
// handshake to owner and every later request to edge, and waits until it
// runs on WebSocket: through a tunnel from edge to owner.
func connectSplit(t *testing.T, d *driver, owner, edge *routertest.Node) string {
	t.Helper()
	ownerURL, edgeURL := targetURL(t, owner), targetURL(t, edge)
	var upgrades atomic.Int64
	lb := balancer(t, func(pr *httputil.ProxyRequest) *url.URL {
		if pr.In.URL.Query().Get("sid") == "" {
			return ownerURL
		}
		if pr.In.Header.Get("Upgrade") != "" {
			upgrades.Add(1)
		}
		return edgeURL
	})
	a := d.connect("a", lb.URL, map[string]any{"reconnection": false})
	if r := d.do(map[string]any{"op": "upgraded", "name": "a"}); !r.OK {
		t.Fatalf("upgrade: %+v", r)
	}
	if r := d.do(map[string]any{"op": "transport", "name": "a"}); r.Transport != "websocket" {
		t.Fatalf("a transport %q", r.Transport)
	}
	if upgrades.Load() == 0 {
		t.Fatal("the upgrade did not go to the edge node")
	}
	return a
}

// TestWebSocketTunnelEnds: a tunnelled session ends when either node
// shuts down, as a local one does: the client is told, and the session's
// sockets leave their rooms.
func TestWebSocketTunnelEnds(t *testing.T) {
	for _, stop := range []int{0, 1} {
		name := map[int]string{0: "owner stops", 1: "edge stops"}[stop]
		t.Run(name, func(t *testing.T) {
			nodes, d, a, native := tunnelledLobby(t, 3)
			nodes[stop].Stop()
			if m := d.event("a", "$disconnect"); m.Reason != "transport close" {
				t.Fatalf("a disconnected: %q", m.Reason)
			}
			if f := native.Next(isEvent("$leave")); f.JSON("data") != `{"sid":"`+a+`"}` {
				t.Fatalf("leave %v", f)
			}
		})
	}
}

// TestTunnelPackets drives tunnelled upgrades packet by packet: the owner
// answers a refused upgrade as it would a local one, and closes a tunnelled
// session with the same codes as a local WebSocket (too large, garbage).
func TestTunnelPackets(t *testing.T) {
	nodes := routertest.StartCluster(t, 2, func(_ int, cfg *config.Config) {
		cfg.SocketIO = sioConfig(t).SocketIO
		cfg.Limits.MaxFrameBytes = 1024
	})
	owner, edge := nodes[0], nodes[1]
	upgradeURL := func(sid string) string {
		return "ws" + strings.TrimPrefix(eioURL(edge, "transport=websocket&sid="+sid), "http")
	}
	// upgrade tunnels a polling session of owner's through edge.
	upgrade := func() (*eioConn, string) {
		p := handshakePolling(t, owner)
		c := &eioConn{t: t, ws: routertest.DialWebSocket(t, upgradeURL(p.sid), nil), in: routertest.NewInbox[string]()}
		go c.read()
		c.send("2probe")
		c.expect("3probe")
		if body := p.get(); body != "6" {
			t.Fatalf("the poll during the probe got %q, want the noop", body)
		}
		c.send("5")
		c.send("40")
		c.expectPrefix(`40{"sid":"`)
		return c, p.sid
	}

	c, _ := upgrade()
	c.send(`421["join","r"]`)
	c.expect(`431[{"ok":true}]`)
	c.send(`42["x","` + strings.Repeat("a", 1100) + `"]`)
	if code := c.closedWith(); code != websocket.CloseMessageTooBig {
		t.Fatalf("too large: close %d", code)
	}
	c, _ = upgrade()
	c.send("x")
	if code := c.closedWith(); code != websocket.CloseProtocolError {
		t.Fatalf("garbage: close %d", code)
	}

	// Refusals come from the owner, as its own would.
	c, sid := upgrade()
	tag, _, _ := strings.Cut(sid, ".")
	for name, tc := range map[string]struct{ sid, body string }{
		"unknown session":  {tag + ".nope", `{"code":1,"message":"Session ID unknown"}`},
		"upgraded already": {sid, `{"code":3,"message":"Bad request"}`},
	} {
		_, resp, err := websocket.DefaultDialer.Dial(upgradeURL(tc.sid), nil)
		if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("%s: %v", name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		if string(body) != tc.body {
			t.Fatalf("%s: %s", name, body)
		}
	}
	c.send(`422["join","r"]`) // the upgraded session is still served
	c.expect(`432[{"ok":true}]`)
}
