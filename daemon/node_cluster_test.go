package daemon_test

// Tests of three nodes whose embedded NATS servers form one cluster (routes
// on random ports): everything a client or backend does must behave as it
// does on one node.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/internal/routertest"
)

// warm publishes warm-up events on subject through nc until every client
// got one: NATS has then propagated the clients' interest across the
// cluster to the publisher's server.
func warm(t *testing.T, nc *nats.Conn, subject string, clients ...*routertest.Client) {
	t.Helper()
	pending := append([]*routertest.Client(nil), clients...)
	routertest.Eventually(t, "interest propagated to "+subject, func() error {
		if err := nc.Publish(subject, []byte(`"warm"`)); err != nil {
			return err
		}
		_ = nc.Flush()
		left := pending[:0]
		for _, c := range pending {
			if !c.Has(routertest.IsEvent("warmup")) {
				left = append(left, c)
			}
		}
		pending = left
		if len(pending) > 0 {
			return fmt.Errorf("%d clients still waiting", len(pending))
		}
		return nil
	})
	for _, c := range clients {
		c.Drop(routertest.IsEvent("warmup"))
	}
}

func TestClusterRoomFanout(t *testing.T) {
	t.Parallel()
	nodes := routertest.StartCluster(t, 3, nil)
	var clients []*routertest.Client
	var sids []string
	for _, n := range nodes {
		c := n.Dial()
		sids = append(sids, c.Connect("chat"))
		c.Join("chat", "lobby")
		clients = append(clients, c)
	}
	warm(t, nodes[0].Backend(), "router.chat.room.lobby.warmup", clients...)
	const count = 100
	for i := 0; i < count; i++ {
		clients[0].Send(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "seq", "data": i})
	}
	for _, c := range clients[1:] {
		for i := 0; i < count; i++ {
			f := c.Next(routertest.IsEvent("seq"))
			if f.JSON("data") != fmt.Sprint(i) || f.Str("from") != sids[0] || f.Str("room") != "lobby" {
				t.Fatalf("event %d: %v", i, f)
			}
		}
		c.None(routertest.IsEvent("seq")) // each exactly once
	}
	clients[0].None(routertest.IsEvent("seq")) // not the sender
}

func TestClusterDirectUserBroadcast(t *testing.T) {
	t.Parallel()
	const secret = "cluster-secret-cluster-secret-32!"
	nodes := routertest.StartCluster(t, 3, func(_ int, cfg *config.Config) {
		p := config.DefaultNamespace()
		p.Auth = config.AuthJWT
		cfg.Namespaces["secure"] = p
		cfg.Auth.JWT.Secret = secret
	})
	token := func(sub string) string {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": sub}).SignedString([]byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	tok := token("erin")
	// erin has a socket on node 2 and one on node 3; a stranger on node 1.
	var erin []*routertest.Client
	for _, n := range nodes[1:] {
		c := n.Dial()
		if r := c.Req(map[string]any{"type": "connect", "ns": "secure", "auth": map[string]any{"token": tok}}); r.Type() != "connected" {
			t.Fatalf("connect: %v", r)
		}
		erin = append(erin, c)
	}
	stranger := nodes[0].Dial()
	if r := stranger.Req(map[string]any{"type": "connect", "ns": "secure", "auth": map[string]any{"token": token("frank")}}); r.Type() != "connected" {
		t.Fatalf("connect: %v", r)
	}
	be := nodes[0].Backend()
	warm(t, be, "router.secure.user.erin.warmup", erin...)
	if err := be.Publish("router.secure.user.erin.note", []byte(`{"hi":"erin"}`)); err != nil {
		t.Fatal(err)
	}
	for _, c := range erin {
		if f := c.Next(routertest.IsEvent("note")); f.JSON("data") != `{"hi":"erin"}` {
			t.Fatalf("user event: %v", f)
		}
	}
	// broadcast from a backend on node 3 reaches every socket on every node
	all := append([]*routertest.Client{stranger}, erin...)
	warm(t, nodes[2].Backend(), "router.secure.broadcast.warmup", all...)
	stranger.None(routertest.IsEvent("note"))
	if err := nodes[2].Backend().Publish("router.secure.broadcast.news", []byte(`1`)); err != nil {
		t.Fatal(err)
	}
	for _, c := range all {
		c.Next(routertest.IsEvent("news"))
	}

	// direct to a sid held by another node
	a, b := nodes[0].Dial(), nodes[2].Dial()
	a.Connect("chat")
	sb := b.Connect("chat")
	routertest.Eventually(t, "direct across nodes", func() error {
		a.MustAck(map[string]any{"type": "emit", "ns": "chat", "to": sb, "event": "dm", "data": "psst"})
		if !b.Has(routertest.IsEvent("dm")) {
			return fmt.Errorf("not delivered yet")
		}
		return nil
	})
}

func TestClusterCtlPresenceAndWorkers(t *testing.T) {
	t.Parallel()
	nodes := routertest.StartCluster(t, 3, nil)
	var sids []string
	var clients []*routertest.Client
	for _, n := range nodes {
		c := n.Dial()
		sids = append(sids, c.Connect("chat"))
		c.Join("chat", "lobby")
		clients = append(clients, c)
	}
	// presence from a client on node 1 lists the members of all three nodes
	p := clients[0].MustAck(map[string]any{"type": "presence", "ns": "chat", "room": "lobby"})
	var got struct {
		Members []struct {
			SID string `json:"sid"`
		} `json:"members"`
	}
	if err := json.Unmarshal([]byte(p.JSON("data")), &got); err != nil || len(got.Members) != 3 {
		t.Fatalf("presence = %s (%v)", p.JSON("data"), err)
	}
	seen := map[string]bool{}
	for _, m := range got.Members {
		seen[m.SID] = true
	}
	for _, s := range sids {
		if !seen[s] {
			t.Errorf("presence lacks %s: %s", s, p.JSON("data"))
		}
	}
	// one ctl request answers for the whole cluster
	be := nodes[1].Backend()
	rep := routertest.CtlCall(t, be, "router.chat.ctl.rooms", `{}`)
	if routertest.MustJSON(t, rep["rooms"]) != `[{"members":3,"room":"lobby"}]` {
		t.Errorf("rooms = %v", rep)
	}
	rep = routertest.CtlCall(t, be, "router.chat.ctl.join", fmt.Sprintf(`{"sid":%q,"room":"vip"}`, sids[2]))
	routertest.WantCount(t, "ctl join across nodes", rep, 1)
	rep = routertest.CtlCall(t, be, "router.chat.ctl.disconnect", `{"room":"lobby"}`)
	routertest.WantCount(t, "ctl disconnect across nodes", rep, 3)
	for _, c := range clients {
		if f := c.Next(routertest.IsType("disconnected")); f.Str("ns") != "chat" {
			t.Errorf("disconnected = %v", f)
		}
	}

	// a server-bound request from node 1 answered by a worker on node 3
	worker := nodes[2].Backend()
	sub, err := worker.QueueSubscribe("router.chat.server.work", "workers", func(m *nats.Msg) { _ = m.Respond([]byte(`"done"`)) })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	_ = worker.Flush()
	c := nodes[0].Dial()
	c.Connect("chat")
	routertest.Eventually(t, "request answered across nodes", func() error {
		r := c.Req(map[string]any{"type": "emit", "ns": "chat", "event": "work"})
		if r.Type() != "ack" || r.JSON("data") != `"done"` {
			return fmt.Errorf("reply %v", r)
		}
		return nil
	})
}

func TestClusterPresenceEvents(t *testing.T) {
	t.Parallel()
	nodes := routertest.StartCluster(t, 2, nil)
	a, b := nodes[0].Dial(), nodes[1].Dial()
	a.Connect("chat")
	a.Join("chat", "lobby")
	warm(t, nodes[1].Backend(), "router.chat.room.lobby.warmup", a)
	sb := b.Connect("chat")
	b.Join("chat", "lobby")
	if f := a.Next(routertest.IsEvent("$join")); f.JSON("data") != fmt.Sprintf(`{"sid":%q}`, sb) {
		t.Fatalf("$join = %v", f)
	}
	b.MustAck(map[string]any{"type": "leave", "ns": "chat", "room": "lobby"})
	if f := a.Next(routertest.IsEvent("$leave")); f.JSON("data") != fmt.Sprintf(`{"sid":%q}`, sb) {
		t.Fatalf("$leave = %v", f)
	}
}

func TestClusterNodeRestartRejoins(t *testing.T) {
	t.Parallel()
	nodes := routertest.StartCluster(t, 2, nil)
	cfg := nodes[1].Cfg
	nodes[1].Stop()
	routertest.Eventually(t, "node 1 sees the other leave", func() error {
		if n := nodes[0].Nodes(); n != 1 {
			return fmt.Errorf("%d nodes", n)
		}
		return nil
	})
	cfg.NATS.Cluster.Routes = []string{nodes[0].ClusterURL()}
	again := routertest.Start(t, cfg)
	routertest.Eventually(t, "restarted node rejoins", func() error {
		if n, m := nodes[0].Nodes(), again.Nodes(); n != 2 || m != 2 {
			return fmt.Errorf("%d and %d nodes", n, m)
		}
		return nil
	})
}

// TestClusterReadyAfterDiscovery: a node that may share NATS with others
// is not ready before its first discovery round is over. The first node of
// a cluster (its routes lead nowhere yet) answers /readyz 503 until the
// round's bound (2 s), then 200; the next one is ready as soon as the first
// answered its probe, and by then each knows the other. A node alone on its
// embedded server is ready at once.
func TestClusterReadyAfterDiscovery(t *testing.T) {
	t.Parallel()
	alone := routertest.Start(t, routertest.Config(t))
	if code := alone.Readyz(); code != http.StatusOK {
		t.Errorf("readyz of a node alone on its embedded server: %d", code)
	}

	cfg := routertest.Config(t)
	cfg.Node.Name = "first"
	cfg.NATS.Cluster.Name = "discovery"
	cfg.NATS.Cluster.Listen = "127.0.0.1:0"
	cfg.NATS.Cluster.Routes = []string{fmt.Sprintf("nats-route://127.0.0.1:%d", routertest.FreePort(t))} // nobody there
	began := time.Now()
	first := routertest.Start(t, cfg)
	if code := first.Readyz(); code != http.StatusServiceUnavailable && time.Since(began) < 1900*time.Millisecond {
		t.Errorf("readyz %d %s after the start of the first node of a cluster, before its discovery round could end", code, time.Since(began))
	}
	eventuallyReadyz(t, first, "the first node ready after its discovery round", http.StatusOK)

	cfg = routertest.Config(t)
	cfg.Node.Name = "second"
	cfg.NATS.Cluster = first.Cfg.NATS.Cluster
	cfg.NATS.Cluster.Listen = "127.0.0.1:0"
	cfg.NATS.Cluster.Routes = []string{first.ClusterURL()}
	second := routertest.Start(t, cfg)
	eventuallyReadyz(t, second, "the second node ready", http.StatusOK)
	if n, m := first.Nodes(), second.Nodes(); n != 2 || m != 2 {
		t.Errorf("once the second node is ready the nodes count %d and %d nodes, want 2 and 2", n, m)
	}
}
