package daemon_test

// Tests of routerd edges: nodes whose embedded NATS servers are leaf nodes
// of one hub, the nats-server of examples/edge/hub.conf run in process
// (nothing else shared): rooms, presence, direct messages, ctl and history
// span the edges as they span a cluster.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/internal/natstest"
	rt "github.com/routerd/routerd/internal/routertest"
)

// edgeExample is the directory of the hub-and-edges example.
var edgeExample = filepath.Join("..", "examples", "edge")

// hub is a nats-server that routerd edges join as leaf nodes.
type hub struct {
	srv      *server.Server
	leafPort int
	storeDir string
	edit     func(*server.Options)
}

// startHub runs the hub of examples/edge/hub.conf in process, on free
// ports, with its JetStream in a temporary directory; edit, unless nil,
// changes its options first.
func startHub(t *testing.T, edit func(*server.Options)) *hub {
	t.Helper()
	h := &hub{leafPort: rt.FreePort(t), storeDir: t.TempDir(), edit: edit}
	h.start(t)
	return h
}

// start starts the hub's server, on its leafnode port and store.
func (h *hub) start(t *testing.T) {
	t.Helper()
	opts, err := server.ProcessConfigFile(filepath.Join(edgeExample, "hub.conf"))
	if err != nil {
		t.Fatal(err)
	}
	opts.LeafNode.Host, opts.LeafNode.Port = "127.0.0.1", h.leafPort
	opts.StoreDir = h.storeDir
	if h.edit != nil {
		h.edit(opts)
	}
	h.srv = natstest.Server(t, opts)
}

// leafURL is the hub's leafnode URL with a user's credentials.
func (h *hub) leafURL(user, password string) string {
	return fmt.Sprintf("nats-leaf://%s:%s@127.0.0.1:%d", user, password, h.leafPort)
}

// backend connects a NATS client to the hub's client port as user.
func (h *hub) backend(t *testing.T, user, password string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(h.srv.ClientURL(), append(opts, nats.UserInfo(user, password))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// exampleEdge loads examples/edge/{name}.yaml as `routerd -c` would, on free
// ports, with its leafnode remotes pointed at h.
func exampleEdge(t *testing.T, h *hub, name string) config.Config {
	t.Helper()
	fs := config.NewFlagSet("routerd")
	if err := fs.Parse([]string{"-c", filepath.Join(edgeExample, name+".yaml"),
		"--http.listen", "127.0.0.1:0", "--nats.listen", "127.0.0.1:0", "--log.level", "warn"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(fs, nil)
	if err != nil {
		t.Fatalf("%s.yaml: %v", name, err)
	}
	for _, r := range cfg.NATS.Leafnodes.Remotes {
		for i, raw := range r.URL {
			u, err := url.Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			u.Host = net.JoinHostPort(u.Hostname(), strconv.Itoa(h.leafPort))
			r.URL[i] = u.String()
		}
	}
	return cfg
}

// exampleEdges returns the configs of the example's two edges, each changed
// by edit unless nil.
func exampleEdges(t *testing.T, h *hub, edit func(*config.Config)) []config.Config {
	t.Helper()
	cfgs := []config.Config{exampleEdge(t, h, "edge-a"), exampleEdge(t, h, "edge-b")}
	if edit != nil {
		for i := range cfgs {
			edit(&cfgs[i])
		}
	}
	return cfgs
}

// startEdges starts a node for each config and waits until every node sees
// all of them: their heartbeats cross the hub.
func startEdges(t *testing.T, cfgs ...config.Config) []*rt.Node {
	t.Helper()
	nodes := make([]*rt.Node, len(cfgs))
	for i, cfg := range cfgs {
		nodes[i] = rt.Start(t, cfg)
	}
	for _, n := range nodes {
		rt.EventuallyWithin(t, n.Cfg.Node.Name+" sees every edge", 15*time.Second, func() error {
			if got := n.Nodes(); got != len(nodes) {
				return fmt.Errorf("%d nodes", got)
			}
			return nil
		})
	}
	return nodes
}

// presenceSIDs returns the sids of a presence ack or ctl presence reply.
func presenceSIDs(t *testing.T, data string) []string {
	t.Helper()
	d, _ := rt.JSONValue(t, data).(map[string]any)
	members, _ := d["members"].([]any)
	var sids []string
	for _, m := range members {
		mm, _ := m.(map[string]any)
		sid, _ := mm["sid"].(string)
		sids = append(sids, sid)
	}
	return sids
}

// sameSet reports whether got and want hold the same strings, each once.
func sameSet(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	seen := map[string]int{}
	for _, s := range got {
		seen[s]++
	}
	for _, s := range want {
		if seen[s] != 1 {
			return false
		}
	}
	return true
}

// warmCollect publishes on subject through nc until c has got a message
// there: NATS has then propagated c's interest to nc's server.
func warmCollect(t *testing.T, nc *nats.Conn, subject string, c *rt.Collect) {
	t.Helper()
	rt.Eventually(t, "interest propagated to "+subject, func() error {
		rt.Publish(t, nc, subject, []byte(`"warm"`), nil)
		if subjectCount(c.Msgs(), subject) == 0 {
			return errors.New("not yet")
		}
		return nil
	})
}

// subjectCount counts the messages of msgs on subject.
func subjectCount(msgs []*nats.Msg, subject string) int {
	n := 0
	for _, m := range msgs {
		if m.Subject == subject {
			n++
		}
	}
	return n
}

// TestLeafnodeEdges runs the example's hub and two edges (edge-a.yaml,
// edge-b.yaml): clients of both edges share a room, presence and ctl list
// them all, a direct message crosses, a backend on the hub or on an edge
// sees every edge's traffic, and history, on the hub's JetStream, replays
// an event of one edge to a client of the other.
func TestLeafnodeEdges(t *testing.T) {
	t.Parallel()
	h := startHub(t, nil)
	edges := startEdges(t, exampleEdges(t, h, nil)...)
	a, b := edges[0].Dial(), edges[1].Dial()
	sa, sb := a.Connect("chat"), b.Connect("chat")
	a.Join("chat", "lobby")
	b.Join("chat", "lobby")
	hubBackend := h.backend(t, "backend", "backend-secret")
	onHub := rt.Subscribe(t, hubBackend, "router.chat.room.lobby.>")
	onEdgeB := rt.Subscribe(t, edges[1].Backend(), "router.chat.room.lobby.>")
	warm(t, hubBackend, "router.chat.room.lobby.warmup", a, b)
	warmCollect(t, hubBackend, "router.chat.room.lobby.warmup", onEdgeB)

	// a room event of edge A reaches the member on edge B once, with its seq
	ack := a.MustAck(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "msg", "data": "hello"})
	seq := rt.JSONValue(t, ack.JSON("data")).(map[string]any)["seq"]
	if f := b.Next(rt.IsEventFrom("msg", sa)); f.JSON("data") != `"hello"` || f["seq"] != seq || seq == nil {
		t.Fatalf("event on edge B = %v, ack %v", f, ack)
	}
	b.None(rt.IsEvent("msg"))
	a.None(rt.IsEvent("msg")) // not the sender
	for name, c := range map[string]*rt.Collect{"hub": onHub, "edge B": onEdgeB} {
		rt.Eventually(t, "a backend on the "+name+" sees the event", func() error {
			if n := subjectCount(c.Msgs(), "router.chat.room.lobby.msg"); n != 1 {
				return fmt.Errorf("%d events", n)
			}
			return nil
		})
	}

	// presence from either edge lists the members of both
	for _, c := range []*rt.Client{a, b} {
		p := c.MustAck(map[string]any{"type": "presence", "ns": "chat", "room": "lobby"})
		if got := presenceSIDs(t, p.JSON("data")); !sameSet(got, []string{sa, sb}) {
			t.Errorf("presence = %v, want %s and %s", got, sa, sb)
		}
	}

	// a direct message from edge B to the socket on edge A
	rt.Eventually(t, "a direct message crosses the hub", func() error {
		b.Send(map[string]any{"type": "emit", "ns": "chat", "to": sa, "event": "dm", "data": "psst"})
		a.Barrier()
		if !a.Has(rt.IsEventFrom("dm", sb)) {
			return errors.New("not yet")
		}
		return nil
	})

	// ctl from a backend on the hub answers for, and acts on, both edges
	rep := rt.CtlCall(t, hubBackend, "router.chat.ctl.presence", `{"room":"lobby"}`)
	if got := presenceSIDs(t, rt.MustJSON(t, rep)); !sameSet(got, []string{sa, sb}) {
		t.Errorf("ctl presence = %v, want %s and %s", rep, sa, sb)
	}
	for _, sid := range []string{sa, sb} {
		rt.WantCount(t, "ctl join "+sid, rt.CtlCall(t, hubBackend, "router.chat.ctl.join", fmt.Sprintf(`{"sid":%q,"room":"vip"}`, sid)), 1)
	}
	rep = rt.CtlCall(t, hubBackend, "router.chat.ctl.rooms", `{}`)
	rt.EqualJSON(t, "ctl rooms", rt.MustJSON(t, rep["rooms"]), `[{"room":"lobby","members":2},{"room":"vip","members":2}]`)

	// history lives once, on the hub: a client of edge B replays the event
	// of edge A, and pages back to it
	c := edges[1].Dial()
	c.Connect("chat")
	if r := c.MustAck(map[string]any{"type": "join", "ns": "chat", "room": "lobby", "since": 0}); r.JSON("data") != `{"recovered":true}` {
		t.Errorf("join since 0 = %v", r)
	}
	if f := c.Next(rt.IsEventFrom("msg", sa)); f.JSON("data") != `"hello"` || f["seq"] != seq {
		t.Errorf("replayed %v, want seq %v", f, seq)
	}
	if got := roomEvents(t, c, "chat", "lobby"); !strings.Contains(strings.Join(got, " "), `msg:"hello"`) {
		t.Errorf("history = %v", got)
	}
	js, err := jetstream.New(hubBackend)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), rt.Wait)
	defer cancel()
	stream, err := js.Stream(ctx, "routerd_router_chat")
	if err != nil {
		t.Fatalf("the history stream on the hub: %v", err)
	}
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter("router.chat.room.lobby.msg"))
	if err != nil {
		t.Fatal(err)
	}
	if n := info.State.Subjects["router.chat.room.lobby.msg"]; n != 1 {
		t.Errorf("the hub's stream holds the event %d times, want once", n)
	}

	// ctl disconnect from the hub reaches every socket of the room
	rt.WantCount(t, "ctl disconnect", rt.CtlCall(t, hubBackend, "router.chat.ctl.disconnect", `{"room":"lobby"}`), 3)
	for _, c := range []*rt.Client{a, b, c} {
		c.Next(rt.IsType("disconnected"))
	}
}

// TestLeafnodeTenants: edges with a tenant account join it to the tenant's
// hub account with a remote of its own. The tenant's rooms and history span
// the edges in its account; routerd's own account, which observes every
// tenant, gets the tenant's traffic from its edge's tenant account only,
// once, and the hub's routerd account never sees it.
func TestLeafnodeTenants(t *testing.T) {
	t.Parallel()
	h := startHub(t, nil)
	edges := startEdges(t, exampleEdges(t, h, func(cfg *config.Config) {
		cfg.NATS.Users = []config.User{
			{User: "acme", Password: "acme-pw", Namespaces: []string{"acme-chat"}},
			{User: "ops", Password: "ops-pw"},
		}
		cfg.NATS.Leafnodes.Remotes = append(cfg.NATS.Leafnodes.Remotes,
			config.LeafRemote{URL: []string{h.leafURL("acme-edge", "acme-edge-secret")}, Account: "acme"})
		cfg.Namespaces["acme-chat"] = cfg.Namespaces["chat"]
	})...)
	a, b := edges[0].Dial(), edges[1].Dial()
	a.Connect("acme-chat")
	sb := b.Connect("acme-chat")
	a.Join("acme-chat", "lobby")
	b.Join("acme-chat", "lobby")
	acmeHub := h.backend(t, "acme", "acme-secret")
	warm(t, acmeHub, "router.acme-chat.room.lobby.warmup", a, b)

	ops := edges[0].Backend(nats.UserInfo("ops", "ops-pw"))
	observed := rt.Subscribe(t, ops, "router.acme-chat.room.lobby.>")
	markers := rt.Subscribe(t, ops, "router.marker")
	warmCollect(t, acmeHub, "router.acme-chat.room.lobby.warmup", observed)
	hubOwnNC := h.backend(t, "backend", "backend-secret")
	hubOwn := rt.Subscribe(t, hubOwnNC, "router.acme-chat.>")
	acmeSeen := rt.Subscribe(t, acmeHub, "router.acme-chat.room.lobby.>")

	b.MustAck(map[string]any{"type": "emit", "ns": "acme-chat", "room": "lobby", "event": "hi", "data": 1})
	b.MustAck(map[string]any{"type": "emit", "ns": "acme-chat", "room": "lobby", "event": "done", "data": 2})
	a.Next(rt.IsEventFrom("hi", sb))
	acmeSeen.WaitN(t, 2)
	// The tenant path (B's tenant account, the hub's ACME, A's tenant
	// account, the import) delivers in order: once done is observed, hi
	// is. A duplicate would travel B's own account, the hub's ROUTERD and
	// A's own account: a marker published in B's own account after the
	// hub had hi follows it there.
	rt.Eventually(t, "done observed on edge A", func() error {
		if subjectCount(observed.Msgs(), "router.acme-chat.room.lobby.done") == 0 {
			return errors.New("not yet")
		}
		return nil
	})
	opsB := edges[1].Backend(nats.UserInfo("ops", "ops-pw"))
	rt.Eventually(t, "a marker from edge B's own account reaches edge A's", func() error {
		rt.Publish(t, opsB, "router.marker", []byte(`1`), nil)
		if len(markers.Msgs()) == 0 {
			return errors.New("not yet")
		}
		return nil
	})
	if n := subjectCount(observed.Msgs(), "router.acme-chat.room.lobby.hi"); n != 1 {
		t.Errorf("routerd's account on edge A observed the tenant's event %d times, want once", n)
	}
	// The hub's ROUTERD account gets no tenant traffic from the edges, and
	// what it publishes under a tenant's namespace does not reach the
	// edges' own accounts: a marker it publishes next arrives alone.
	rt.Publish(t, hubOwnNC, "router.acme-chat.room.lobby.forged", []byte(`1`), nil)
	before := len(markers.Msgs())
	rt.Publish(t, hubOwnNC, "router.marker", []byte(`2`), nil)
	rt.Eventually(t, "the hub's marker reaches edge A", func() error {
		if len(markers.Msgs()) == before {
			return errors.New("not yet")
		}
		return nil
	})
	if n := subjectCount(observed.Msgs(), "router.acme-chat.room.lobby.forged"); n != 0 {
		t.Errorf("a tenant subject of the hub's ROUTERD account reached edge A's own account %d times", n)
	}
	for _, m := range hubOwn.Msgs() {
		if m.Subject != "router.acme-chat.room.lobby.forged" {
			t.Errorf("the hub's ROUTERD account got the tenant's %s", m.Subject)
		}
	}

	// the tenant's history is in its hub account, read from either edge
	c := edges[0].Dial()
	c.Connect("acme-chat")
	c.MustAck(map[string]any{"type": "join", "ns": "acme-chat", "room": "lobby", "since": 0})
	if f := c.Next(rt.IsEventFrom("hi", sb)); f.Num("seq") == 0 {
		t.Errorf("replayed %v without seq", f)
	}
	ctx, cancel := context.WithTimeout(context.Background(), rt.Wait)
	defer cancel()
	for _, tc := range []struct {
		nc   *nats.Conn
		want error
	}{{acmeHub, nil}, {hubOwnNC, jetstream.ErrStreamNotFound}} {
		js, err := jetstream.New(tc.nc)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.Stream(ctx, "routerd_router_acme-chat"); !errors.Is(err, tc.want) {
			t.Errorf("the tenant's stream in the hub account of %s: %v, want %v", tc.nc.Opts.User, err, tc.want)
		}
	}
}

// TestLeafnodeTLS: an edge joins a hub whose leafnode port requires TLS,
// with a certificate of its own that the edge trusts through tls.ca_file
// (not by the system's roots): a hub's event reaches its client.
func TestLeafnodeTLS(t *testing.T) {
	t.Parallel()
	cert, key, _ := selfSigned(t)
	h := startHub(t, func(o *server.Options) {
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: cert, KeyFile: key})
		if err != nil {
			t.Fatal(err)
		}
		o.LeafNode.TLSConfig = tc
	})
	cfg := exampleEdge(t, h, "edge-a")
	r := &cfg.NATS.Leafnodes.Remotes[0]
	r.URL = []string{strings.Replace(r.URL[0], "nats-leaf://", "tls://", 1)}
	r.TLS.CAFile = cert
	edge := startEdges(t, cfg)[0]
	c := edge.Dial()
	c.Connect("chat")
	c.Join("chat", "lobby")
	warm(t, h.backend(t, "backend", "backend-secret"), "router.chat.room.lobby.warmup", c)
}

// TestLeafnodeSecretNotLogged: the password in a leafnode URL is in no log
// line, at debug level, of an edge that joins the hub nor of one the hub
// refuses.
func TestLeafnodeSecretNotLogged(t *testing.T) {
	t.Parallel()
	h := startHub(t, nil)
	const wrong = "wrong-leaf-secret"
	good := exampleEdge(t, h, "edge-a")
	good.Log.Level = "debug"
	bad := exampleEdge(t, h, "edge-b")
	bad.Log.Level = "debug"
	bad.NATS.Leafnodes.Remotes[0].URL = []string{h.leafURL("edge", wrong)}
	_, goodLogs := rt.StartLogged(t, good)
	_, badLogs := rt.StartLogged(t, bad)
	rt.Eventually(t, "the edge joined and the other was refused", func() error {
		if n := h.srv.NumLeafNodes(); n != 1 {
			return fmt.Errorf("%d leafnode connections", n)
		}
		if !strings.Contains(badLogs.String(), "Authorization Violation") {
			return errors.New("no refusal logged yet")
		}
		return nil
	})
	for name, logs := range map[string]*rt.SyncBuffer{"joined": goodLogs, "refused": badLogs} {
		text := logs.String()
		for _, secret := range []string{"edge-secret", wrong} {
			if strings.Contains(text, secret) {
				t.Errorf("%s edge: %q is in the logs:\n%s", name, secret, text)
			}
		}
	}
}

// TestLeafnodeHubOutage: while the hub is down an edge serves its own
// clients in a namespace without history; a namespace whose history lives
// on the hub refuses acked room emits as unavailable; once the hub is back
// (the same store) the edges share rooms and history again.
func TestLeafnodeHubOutage(t *testing.T) {
	t.Parallel()
	h := startHub(t, nil)
	edges := startEdges(t, exampleEdges(t, h, func(cfg *config.Config) {
		local := cfg.Namespaces["chat"]
		local.History = nil
		cfg.Namespaces["local"] = local
	})...)
	a1, a2, b := edges[0].Dial(), edges[0].Dial(), edges[1].Dial()
	for _, c := range []*rt.Client{a1, a2, b} {
		for _, ns := range []string{"chat", "local"} {
			c.Connect(ns)
			c.Join(ns, "lobby")
		}
	}
	warm(t, h.backend(t, "backend", "backend-secret"), "router.chat.room.lobby.warmup", a1, a2, b)
	first := a1.MustAck(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "before", "data": 1})
	b.Next(rt.IsEvent("before"))

	leafnodes(t, edges[0], 1)
	h.srv.Shutdown()
	h.srv.WaitForShutdown()
	leafnodes(t, edges[0], 0)
	// An emit sent before the edge saw its leafnode connection close
	// waits for a store that never answers (timeout, after ack_timeout).
	rt.EventuallyWithin(t, "history rooms are unavailable without the hub", 4*rt.Wait, func() error {
		if r := a1.ReqWithin(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "during", "data": 2}, 2*rt.Wait); r.Str("code") != "unavailable" {
			return fmt.Errorf("emit answered %v", r)
		}
		return nil
	})
	a1.MustAck(map[string]any{"type": "emit", "ns": "local", "room": "lobby", "event": "local", "data": 3})
	if f := a2.Next(rt.IsEvent("local")); f.Str("ns") != "local" || f.JSON("data") != "3" {
		t.Fatalf("local event = %v", f)
	}

	h.start(t)
	leafnodes(t, edges[0], 1)
	rt.EventuallyWithin(t, "the edges share history rooms again", 15*time.Second, func() error {
		r := a1.Req(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "after", "data": 4})
		if r.Type() != "ack" {
			return fmt.Errorf("emit answered %v", r)
		}
		b.Barrier()
		if !b.Has(rt.IsEvent("after")) {
			return errors.New("not on edge B yet")
		}
		return nil
	})
	c := edges[1].Dial()
	c.Connect("chat")
	c.MustAck(map[string]any{"type": "join", "ns": "chat", "room": "lobby", "since": 0})
	if f := c.Next(rt.IsEvent("before")); f.JSON("seq") != rt.MustJSON(t, rt.JSONValue(t, first.JSON("data")).(map[string]any)["seq"]) {
		t.Errorf("replayed %v after the outage, want the seq of %v", f, first)
	}
}

// leafnodes waits until edge's /metrics shows want of its one leafnode
// remote up.
func leafnodes(t *testing.T, edge *rt.Node, want int) {
	t.Helper()
	lines := []string{fmt.Sprintf("\nrouterd_nats_leafnodes %d\n", want), "\nrouterd_nats_leafnode_remotes 1\n"}
	rt.EventuallyWithin(t, fmt.Sprintf("routerd_nats_leafnodes %d", want), 15*time.Second, func() error {
		resp, err := http.Get(edge.HTTPURL() + "/metrics")
		if err != nil {
			return err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		for _, l := range lines {
			if !strings.Contains(string(body), l) {
				return fmt.Errorf("no %q in /metrics", strings.TrimSpace(l))
			}
		}
		return nil
	})
}
