package daemon_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/daemon"
	rt "github.com/routerd/routerd/internal/routertest"
)

// tenantsNode is a node with JetStream whose "tenant-*" namespaces keep
// history, with backend users evil (tenant-evil), acme (tenant-acme) and
// ops (no namespaces).
func tenantsNode(t *testing.T) *rt.Node {
	t.Helper()
	cfg := rt.Config(t)
	cfg.NATS.JetStream.Enabled = true
	cfg.NATS.JetStream.StoreDir = t.TempDir()
	ns := config.DefaultNamespace()
	h := config.DefaultHistory()
	h.MaxMsgs = 100
	ns.History = &h
	cfg.Namespaces["tenant-*"] = ns
	cfg.NATS.Users = []config.User{
		{User: "evil", Password: "evil-pw", Namespaces: []string{"tenant-evil"}},
		{User: "acme", Password: "acme-pw", Namespaces: []string{"tenant-acme"}},
		{User: "ops", Password: "ops-pw"},
	}
	return rt.Start(t, cfg)
}

// roomEvents lists the events of a room's history, as "event:data".
func roomEvents(t *testing.T, c *rt.Client, ns, room string) []string {
	t.Helper()
	a := c.MustAck(map[string]any{"type": "history", "ns": ns, "room": room, "limit": 100})
	d, _ := a["data"].(map[string]any)
	evs, _ := d["events"].([]any)
	var out []string
	for _, e := range evs {
		f := rt.Frame(e.(map[string]any))
		out = append(out, f.Str("event")+":"+f.JSON("data"))
	}
	return out
}

// TestTenantIsolation replays every way one tenant's backend could make
// routerd (or JetStream) write into another tenant's namespace by naming
// the other's subject as the reply subject of its own request, and its
// reach for the other's JetStream streams and key-value buckets. None of it
// reaches acme: not its members, not its history.
func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	n := tenantsNode(t)
	var evilErrs asyncErrors
	evil := n.Backend(nats.UserInfo("evil", "evil-pw"), nats.CustomInboxPrefix(daemon.InboxPrefix("evil")), nats.ErrorHandler(evilErrs.handler))
	acme := n.Backend(nats.UserInfo("acme", "acme-pw"), nats.CustomInboxPrefix(daemon.InboxPrefix("acme")))

	a := n.Dial()
	a.Connect("tenant-acme")
	a.Join("tenant-acme", "lobby")
	a.MustAck(map[string]any{"type": "emit", "ns": "tenant-acme", "room": "lobby", "event": "message", "data": "before", "self": true})
	a.Next(rt.IsEvent("message"))
	e := n.Dial()
	e.Connect("tenant-evil") // its history stream exists from now on
	e.Join("tenant-evil", "x")

	// ctl replies aimed at acme's room and broadcast subjects
	for _, reply := range []string{"router.tenant-acme.room.lobby.message", "router.tenant-acme.broadcast.message"} {
		if err := evil.PublishRequest("router.tenant-evil.ctl.rooms", reply, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	// JetStream's PubAck for evil's own history room, aimed at acme's room
	if err := evil.PublishRequest("router.tenant-evil.room.x.message", "router.tenant-acme.room.lobby.message", []byte(`"evil"`)); err != nil {
		t.Fatal(err)
	}
	// evil's own ctl request still works, and was answered after the others
	if rep := rt.CtlCall(t, evil, "router.tenant-evil.ctl.rooms", `{}`); rep["ok"] != true {
		t.Fatalf("evil's own ctl request: %v", rep)
	}
	e.Next(rt.IsEvent("message")) // the stored publish reached evil's room
	if err := acme.Publish("router.tenant-acme.room.lobby.marker", []byte(`1`)); err != nil {
		t.Fatal(err)
	}
	a.Next(rt.IsEvent("marker"))
	a.None(rt.IsEvent("message"))
	if got := roomEvents(t, a, "tenant-acme", "lobby"); strings.Join(got, ",") != `message:"before",marker:1` {
		t.Errorf("acme's history = %v, want only its own two events", got)
	}

	// JetStream API and key-value buckets: of acme, of routerd, of anyone
	for _, subject := range []string{
		"$JS.API.INFO",
		"$JS.API.STREAM.NAMES",
		"$JS.API.STREAM.INFO.routerd_router_tenant-acme",
		"$JS.API.DIRECT.GET.routerd_router_tenant-acme",
		"$KV.router_socketio_recovery.x",
	} {
		if _, err := evil.Request(subject, nil, 300*time.Millisecond); err == nil {
			t.Errorf("%s answered evil", subject)
		}
		evilErrs.waitFor(t, fmt.Sprintf("Permissions Violation for Publish to %q", subject))
	}
}

// TestTenantStreamsApart: each tenant's history stream lives in its own
// NATS account, out of reach of the others and of routerd's own account,
// whose users still observe every tenant's traffic.
func TestTenantStreamsApart(t *testing.T) {
	t.Parallel()
	n := tenantsNode(t)
	ops := n.Backend(nats.UserInfo("ops", "ops-pw"))
	everything := rt.Subscribe(t, ops, "router.>")
	a, e := n.Dial(), n.Dial()
	a.Connect("tenant-acme")
	a.Join("tenant-acme", "lobby")
	e.Connect("tenant-evil")
	a.MustAck(map[string]any{"type": "emit", "ns": "tenant-acme", "room": "lobby", "event": "message", "data": 1, "self": true})
	rt.Eventually(t, "ops observes acme's room", func() error {
		for _, m := range everything.Msgs() {
			if m.Subject == "router.tenant-acme.room.lobby.message" {
				return nil
			}
		}
		return fmt.Errorf("not yet")
	})
	// routerd's own account holds no tenant stream
	js, err := ops.Request("$JS.API.STREAM.NAMES", nil, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(js.Data), "tenant-") {
		t.Errorf("routerd's account lists tenant streams: %s", js.Data)
	}
}

// TestTenantAccountsCluster: three clustered nodes with tenant accounts
// keep a tenant's replicated history in its account, and its traffic
// crosses nodes as in routerd's own account.
func TestTenantAccountsCluster(t *testing.T) {
	t.Parallel()
	// JetStream in a cluster wants routes configured on every node.
	var routes []string
	for range 3 {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", rt.FreePort(t)))
	}
	nodes := make([]*rt.Node, 3)
	for i := range nodes {
		cfg := rt.Config(t)
		cfg.Node.Name = fmt.Sprintf("t%d", i+1)
		cfg.NATS.Cluster.Name = "tenants"
		cfg.NATS.Cluster.Listen = strings.TrimPrefix(routes[i], "nats-route://")
		cfg.NATS.Cluster.Routes = slices.Delete(slices.Clone(routes), i, i+1)
		cfg.NATS.JetStream.Enabled = true
		cfg.NATS.JetStream.StoreDir = t.TempDir()
		ns := config.DefaultNamespace()
		h := config.DefaultHistory()
		h.MaxMsgs, h.Replicas = 100, 3
		ns.History = &h
		cfg.Namespaces["tenant-*"] = ns
		cfg.NATS.Users = []config.User{{User: "acme", Password: "acme-pw", Namespaces: []string{"tenant-acme"}}}
		nodes[i] = rt.Start(t, cfg)
	}
	for _, n := range nodes {
		rt.Eventually(t, "cluster formed", func() error {
			if got := n.Nodes(); got != 3 {
				return fmt.Errorf("%d nodes", got)
			}
			return nil
		})
	}
	a, b := nodes[0].Dial(), nodes[2].Dial()
	// In a fresh cluster the first connect waits for the stream's first
	// replicated creation, which may take longer than ack_timeout: it is
	// then refused as unavailable, and the client tries again.
	rt.EventuallyWithin(t, "the tenant's replicated stream is made", 30*time.Second, func() error {
		if r := a.ReqWithin(map[string]any{"type": "connect", "ns": "tenant-acme"}, 15*time.Second); r.Type() != "connected" {
			return fmt.Errorf("connect: %v", r)
		}
		return nil
	})
	a.Join("tenant-acme", "lobby")
	b.Connect("tenant-acme")
	b.Join("tenant-acme", "lobby")
	acme := nodes[1].Backend(nats.UserInfo("acme", "acme-pw"), nats.CustomInboxPrefix(daemon.InboxPrefix("acme")))
	seen := rt.Subscribe(t, acme, "router.tenant-acme.room.lobby.>")
	rt.Eventually(t, "a member on the other node gets the emit", func() error {
		b.Send(map[string]any{"type": "emit", "ns": "tenant-acme", "room": "lobby", "event": "hi", "data": 1})
		a.Barrier()
		if !a.Has(rt.IsEvent("hi")) {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	if err := acme.Publish("router.tenant-acme.room.lobby.news", []byte(`2`)); err != nil {
		t.Fatal(err)
	}
	a.Next(rt.IsEvent("news"))
	b.Next(rt.IsEvent("news"))
	seen.WaitN(t, 2)
	c := nodes[1].Dial()
	c.Connect("tenant-acme")
	r := c.MustAck(map[string]any{"type": "join", "ns": "tenant-acme", "room": "lobby", "since": 0})
	if r.JSON("data") != `{"recovered":true}` {
		t.Errorf("join with since 0 = %v", r)
	}
	if f := c.Next(rt.IsEvent("news")); f.Num("seq") == 0 {
		t.Errorf("replayed event without seq: %v", f)
	}
}
