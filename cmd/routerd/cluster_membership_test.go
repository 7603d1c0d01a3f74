package main

// Real-process tests of cluster membership: nodes know each other before
// they are ready, a node lost at any age is announced once, and a
// partition that heals is not a death.

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/internal/routertest"
)

// lossBound is how long after a node dies (or is cut off) the others
// announce it: nodeExpiry (6 s) + 2 s.
const lossBound = 8 * time.Second

// presence asks c for the members of lobby and returns their sids and
// whether the answer is partial.
func presence(t *testing.T, c *routertest.Client) (map[string]bool, bool) {
	t.Helper()
	f := c.ReqWithin(map[string]any{"type": "presence", "ns": "chat", "room": "lobby"}, 2*routertest.Wait)
	if f.Type() != "ack" {
		t.Fatalf("presence: %v", f)
	}
	var d struct {
		Partial bool `json:"partial"`
	}
	if err := json.Unmarshal([]byte(f.JSON("data")), &d); err != nil {
		t.Fatalf("presence %v: %v", f, err)
	}
	return members(t, f), d.Partial
}

// isPresence matches the $join or $leave event of sid.
func isPresence(event, sid string) func(routertest.Frame) bool {
	return func(f routertest.Frame) bool {
		return f.Type() == "event" && f.Str("event") == event && f.JSON("data") == fmt.Sprintf(`{"sid":%q}`, sid)
	}
}

// nextBy waits for a frame matching pred until deadline.
func nextBy(t *testing.T, c *routertest.Client, pred func(routertest.Frame) bool, deadline time.Time) routertest.Frame {
	t.Helper()
	return c.NextWithin(pred, max(time.Until(deadline), time.Millisecond))
}

// TestClusterDiscoveryOneAfterAnother starts three nodes one after
// another, each as soon as the one before is ready: a node knows every node
// started before it, and they know it, by the time it reports ready, so
// presence asked on any node right away lists the members of all three.
func TestClusterDiscoveryOneAfterAnother(t *testing.T) {
	t.Parallel()
	configs, httpAddrs, _ := clusterConfigs(t)
	var clients [3]*routertest.Client
	var sids [3]string
	for i := range configs {
		p := startProc(t, configs[i], httpAddrs[i])
		for j := 0; j <= i; j++ {
			if v := metric(t, "http://"+httpAddrs[j]+"/metrics", "routerd_nodes"); v != float64(i+1) {
				t.Errorf("n%d ready: routerd_nodes on n%d is %v, want %d", i+1, j+1, v, i+1)
			}
		}
		clients[i] = p.dial()
		sids[i] = clients[i].Connect("chat")
		clients[i].Join("chat", "lobby")
	}
	checkPresence(t, clients[:], sids[:])
}

// TestClusterDiscoveryAtOnce starts three nodes at the same time (their
// routes come up while they start): once all are ready, each counts three
// nodes, and presence asked on any node right after a member joined on
// each lists the three.
func TestClusterDiscoveryAtOnce(t *testing.T) {
	t.Parallel()
	configs, httpAddrs, _ := clusterConfigs(t)
	procs := launchAll(t, configs[:], httpAddrs[:])
	checkCluster(t, "all ready", procs, httpAddrs[:])
}

// checkCluster checks, as soon as procs are ready, that each counts them
// all, then joins a member to lobby on each and asks presence on each at
// once: each answer lists every member.
func checkCluster(t *testing.T, what string, procs []*proc, httpAddrs []string) {
	t.Helper()
	for i := range procs {
		if v := metric(t, "http://"+httpAddrs[i]+"/metrics", "routerd_nodes"); v != float64(len(procs)) {
			t.Errorf("%s: routerd_nodes on n%d is %v, want %d", what, i+1, v, len(procs))
		}
	}
	var clients []*routertest.Client
	var sids []string
	for _, p := range procs {
		c := p.dial()
		sids = append(sids, c.Connect("chat"))
		c.Join("chat", "lobby")
		clients = append(clients, c)
	}
	checkPresence(t, clients, sids)
}

// launchAll starts routerd on each config at once and waits until all are
// ready.
func launchAll(t *testing.T, configs, httpAddrs []string) []*proc {
	t.Helper()
	binary(t) // built before, so that the processes start together
	procs := make([]*proc, len(configs))
	for i := range configs {
		procs[i] = launch(t, configs[i], httpAddrs[i])
	}
	for _, p := range procs {
		p.waitReady()
	}
	logsOnFailure(t, procs...)
	return procs
}

// logsOnFailure prints the logs of procs at the end of a test that failed.
func logsOnFailure(t *testing.T, procs ...*proc) {
	t.Cleanup(func() {
		if t.Failed() {
			for i, p := range procs {
				t.Logf("logs of process %d:\n%s", i+1, p.logs.String())
			}
		}
	})
}

// checkPresence asks presence of lobby once through each client: each
// answer lists every sid, and is not partial.
func checkPresence(t *testing.T, clients []*routertest.Client, sids []string) {
	t.Helper()
	for i, c := range clients {
		got, partial := presence(t, c)
		ok := len(got) == len(sids) && !partial
		for _, sid := range sids {
			ok = ok && got[sid]
		}
		if !ok {
			t.Errorf("presence through client %d right away: %v (partial %v), want %v", i, got, partial, sids)
		}
	}
}

// slowRouteConfigs writes the configs of three clustered nodes: n1 and n2
// route to each other, and n3 routes to both through proxies that hold up
// each new connection for routeDelay, so its routes come up well after it
// started (as over a slow network, or while the others are busy).
func slowRouteConfigs(t *testing.T) (configs, httpAddrs, natsURLs [3]string) {
	t.Helper()
	const routeDelay = 200 * time.Millisecond
	cluster := [3]int{routertest.FreePort(t), routertest.FreePort(t), routertest.FreePort(t)}
	var slow []string
	for _, port := range cluster[:2] {
		p := routertest.StartProxy(t, fmt.Sprintf("127.0.0.1:%d", port))
		p.Delay(routeDelay)
		slow = append(slow, "nats-route://"+p.Addr())
	}
	routes := [3][]string{
		{fmt.Sprintf("nats-route://127.0.0.1:%d", cluster[1])},
		{fmt.Sprintf("nats-route://127.0.0.1:%d", cluster[0])},
		slow,
	}
	for i := range configs {
		configs[i], httpAddrs[i], natsURLs[i] = nodeConfig(t, i+1, cluster[i], routes[i])
	}
	return configs, httpAddrs, natsURLs
}

// nodeConfig writes the config of node n{i} of cluster "membership"
// (namespace chat with presence events), listening for routes on
// clusterPort and dialling routes, and returns it with its HTTP address and
// NATS URL.
func nodeConfig(t *testing.T, i, clusterPort int, routes []string) (config, httpAddr, natsURL string) {
	t.Helper()
	httpAddr = fmt.Sprintf("127.0.0.1:%d", routertest.FreePort(t))
	natsPort := routertest.FreePort(t)
	quoted, err := json.Marshal(routes)
	if err != nil {
		t.Fatal(err)
	}
	config = writeConfig(t, fmt.Sprintf(`
node: {name: n%d}
log: {level: warn}
http: {listen: %q}
nats:
  listen: "127.0.0.1:%d"
  cluster: {name: membership, listen: "127.0.0.1:%d", routes: %s}
namespaces: {chat: {presence_events: true}}
`, i, httpAddr, natsPort, clusterPort, quoted))
	return config, httpAddr, fmt.Sprintf("nats://127.0.0.1:%d", natsPort)
}

// TestClusterDiscoverySlowRoutes starts a third node whose routes come up
// only after it started: by the time it reports ready it knows the two
// others and they know it, so presence asked on any node right away lists
// the members of all three.
func TestClusterDiscoverySlowRoutes(t *testing.T) {
	t.Parallel()
	configs, httpAddrs, _ := slowRouteConfigs(t)
	procs := launchAll(t, configs[:2], httpAddrs[:2])
	procs = append(procs, startProc(t, configs[2], httpAddrs[2]))
	logsOnFailure(t, procs[2])
	checkCluster(t, "n3 ready", procs, httpAddrs[:])
}

// TestClusterYoungNodeLoss kills a node (SIGKILL) within about a second of
// its start, before its first periodic heartbeat, and whose routes came up
// only after it started: the members on the two other nodes, who got its
// member's $join, get its $leave once each, and backends get its socket's
// presence leave and lifecycle disconnect notices once, all within
// nodeExpiry + 2 s.
func TestClusterYoungNodeLoss(t *testing.T) {
	t.Parallel()
	configs, httpAddrs, natsURLs := slowRouteConfigs(t)
	procs := launchAll(t, configs[:2], httpAddrs[:2])
	watch := watchLoss(t, natsURLs[0])
	var clients []*routertest.Client
	for _, p := range procs {
		c := p.dial()
		c.Connect("chat")
		c.Join("chat", "lobby")
		clients = append(clients, c)
	}

	born := time.Now()
	young := startProc(t, configs[2], httpAddrs[2])
	logsOnFailure(t, young)
	yc := young.dial()
	sid := yc.Connect("chat")
	yc.Join("chat", "lobby")
	for _, c := range clients {
		c.Next(isPresence("$join", sid))
	}
	young.kill()
	killed := time.Now()
	t.Logf("n3 killed %s after it was started", killed.Sub(born).Round(time.Millisecond))

	for _, c := range clients {
		nextBy(t, c, isPresence("$leave", sid), killed.Add(lossBound))
	}
	routertest.EventuallyWithin(t, "the node_lost notices", time.Until(killed.Add(lossBound)), func() error {
		var leave, disconnect bool
		for _, m := range watch.notices.Msgs() {
			if m.Header.Get("Router-Reason") == "node_lost" && m.Header.Get("Router-Sid") == sid {
				leave = leave || m.Subject == "router.chat.presence.lobby"
				disconnect = disconnect || m.Subject == "router.chat.lifecycle.disconnect"
			}
		}
		if !leave || !disconnect {
			return fmt.Errorf("leave %v, disconnect %v", leave, disconnect)
		}
		return nil
	})
	t.Logf("announced %s after the kill", time.Since(killed).Round(time.Millisecond))
	watch.check(t, clients, []string{"http://" + httpAddrs[0] + "/metrics", "http://" + httpAddrs[1] + "/metrics"}, sid)
	for _, c := range clients {
		c.None(isPresence("$leave", sid))
	}
}

// pairConfigs writes the configs of two clustered nodes n1 and n2 whose
// only route goes through a proxy (n2 dials n1 through it; n1 dials
// nobody), and returns them with their HTTP and NATS addresses and the
// proxy.
func pairConfigs(t *testing.T) (configs, httpAddrs, natsURLs [2]string, proxy *routertest.Proxy) {
	t.Helper()
	cluster := [2]int{routertest.FreePort(t), routertest.FreePort(t)}
	proxy = routertest.StartProxy(t, fmt.Sprintf("127.0.0.1:%d", cluster[0]))
	routes := [2][]string{{}, {"nats-route://" + proxy.Addr()}}
	for i := range configs {
		configs[i], httpAddrs[i], natsURLs[i] = nodeConfig(t, i+1, cluster[i], routes[i])
	}
	return configs, httpAddrs, natsURLs, proxy
}

// notices counts, per sid, the notices one backend got with a
// Router-Reason.
type notices map[string]map[string]int // sid → "reason subject" → count

func countNotices(msgs []*nats.Msg) notices {
	out := notices{}
	for _, m := range msgs {
		reason := m.Header.Get("Router-Reason")
		if reason == "" || !strings.HasPrefix(m.Subject, "router.chat.") {
			continue
		}
		sid := m.Header.Get("Router-Sid")
		if out[sid] == nil {
			out[sid] = map[string]int{}
		}
		kind := strings.TrimPrefix(m.Subject, "router.chat.")
		if strings.HasPrefix(kind, "presence.") {
			var n struct {
				Action string `json:"action"`
			}
			_ = json.Unmarshal(m.Data, &n)
			kind += " " + n.Action
		}
		out[sid][reason+" "+kind]++
	}
	return out
}

// TestClusterPartitionHeals cuts the route between two nodes (a TCP proxy
// between their embedded servers), then restores it. While cut, each side
// answers presence as partial until it counts the other side lost; then
// its members get $leave for the other side's members, once, and its
// backends the other side's node_lost notices, once, within nodeExpiry +
// 2 s. A socket that leaves and one that joins on the far side meanwhile
// are followed. Once the route is back, the nodes hear each other again,
// the same instances: the members get $join for the other side's members
// still there, once, and every backend gets a node_returned lifecycle
// connect and presence join for each of them, once.
func TestClusterPartitionHeals(t *testing.T) {
	t.Parallel()
	configs, httpAddrs, natsURLs, proxy := pairConfigs(t)
	var procs [2]*proc
	var backends [2]*routertest.Collect
	var ncs [2]*nats.Conn
	for i := range procs {
		procs[i] = startProc(t, configs[i], httpAddrs[i])
		nc, err := nats.Connect(natsURLs[i])
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		ncs[i] = nc
		backends[i] = routertest.Subscribe(t, nc, "router.chat.>")
	}
	logsOnFailure(t, procs[:]...)
	b1, b2 := procs[1].dial(), procs[1].dial()
	sb1, sb2 := b1.Connect("chat"), b2.Connect("chat")
	b1.Join("chat", "lobby")
	b2.Join("chat", "lobby")
	a := procs[0].dial()
	sa := a.Connect("chat")
	a.Join("chat", "lobby")
	routertest.Eventually(t, "n1 sees n2's members", func() error {
		if got, _ := presence(t, a); len(got) != 3 {
			return fmt.Errorf("presence %v", got)
		}
		return nil
	})
	b1.Next(isPresence("$join", sa))

	// n1's server tells its clients of n2's while the route is up.
	routed := func() bool {
		return slices.ContainsFunc(ncs[0].DiscoveredServers(), func(url string) bool {
			return strings.HasSuffix(url, strings.TrimPrefix(natsURLs[1], "nats://"))
		})
	}
	routertest.Eventually(t, "n2's server known to n1's clients", func() error {
		if !routed() {
			return fmt.Errorf("not yet")
		}
		return nil
	})

	proxy.Cut()
	cut := time.Now()
	// A request in flight as the route breaks is lost (NATS is at most
	// once): wait until n1's server dropped the route.
	routertest.Eventually(t, "the route cut", func() error {
		if routed() {
			return fmt.Errorf("n1's server still routes to n2's")
		}
		return nil
	})
	// Before n2 counts as lost, n1 answers without it, and says so.
	var ctl *nats.Msg
	var ctlErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ctl, ctlErr = ncs[0].Request("router.chat.ctl.presence", []byte(`{"room":"lobby"}`), routertest.Wait)
	}()
	got, partial := presence(t, a)
	wg.Wait()
	if len(got) != 1 || !got[sa] || !partial {
		t.Errorf("presence on n1 while n2 is cut off: %v (partial %v), want only %s, partial", got, partial, sa)
	}
	if ctlErr != nil {
		t.Fatalf("ctl presence: %v", ctlErr)
	}
	if ctl.Header.Get("Router-Partial") != "true" || !strings.Contains(string(ctl.Data), sa) || strings.Contains(string(ctl.Data), sb1) {
		t.Errorf("ctl presence while n2 is cut off: %s %v, want only %s and Router-Partial: true", ctl.Data, ctl.Header, sa)
	}
	if v := metric(t, "http://"+httpAddrs[0]+"/metrics", `routerd_gather_partial_total{op="presence"}`); v < 2 {
		t.Errorf("routerd_gather_partial_total{op=\"presence\"} = %v, want 2 or more", v)
	}

	// Each side counts the other lost.
	nextBy(t, a, isPresence("$leave", sb1), cut.Add(lossBound))
	nextBy(t, a, isPresence("$leave", sb2), cut.Add(lossBound))
	nextBy(t, b1, isPresence("$leave", sa), cut.Add(lossBound))
	lost := func(i int, sids ...string) {
		t.Helper()
		routertest.EventuallyWithin(t, fmt.Sprintf("node_lost notices on n%d's side", i+1), max(time.Until(cut.Add(lossBound)), time.Millisecond), func() error {
			n := countNotices(backends[i].Msgs())
			for _, sid := range sids {
				if n[sid]["node_lost presence.lobby leave"] == 0 || n[sid]["node_lost lifecycle.disconnect"] == 0 {
					return fmt.Errorf("%s: %v", sid, n[sid])
				}
			}
			return nil
		})
	}
	lost(0, sb1, sb2)
	lost(1, sa)
	t.Logf("both sides announced the loss %s after the cut", time.Since(cut).Round(time.Millisecond))
	for i := range procs {
		routertest.Eventually(t, "routerd_nodes 1", func() error {
			if v := metric(t, "http://"+httpAddrs[i]+"/metrics", "routerd_nodes"); v != 1 {
				return fmt.Errorf("routerd_nodes on n%d: %v", i+1, v)
			}
			return nil
		})
	}
	// Meanwhile on n2, one member leaves and another joins.
	b2.MustAck(map[string]any{"type": "disconnect", "ns": "chat"})
	b1.Next(isPresence("$leave", sb2))
	b3 := procs[1].dial()
	sb3 := b3.Connect("chat")
	b3.Join("chat", "lobby")
	b1.Next(isPresence("$join", sb3))
	if got, partial := presence(t, a); len(got) != 1 || partial {
		t.Errorf("presence on n1 with n2 lost: %v (partial %v), want only %s", got, partial, sa)
	}

	proxy.Restore()
	healed := time.Now()
	nextBy(t, a, isPresence("$join", sb1), healed.Add(routertest.Wait))
	nextBy(t, a, isPresence("$join", sb3), healed.Add(routertest.Wait))
	nextBy(t, b1, isPresence("$join", sa), healed.Add(routertest.Wait))
	t.Logf("members told of the return %s after the route was restored", time.Since(healed).Round(time.Millisecond))
	routertest.Eventually(t, "presence on n1 after the heal", func() error {
		if got, partial := presence(t, a); len(got) != 3 || !got[sb1] || !got[sb3] || partial {
			return fmt.Errorf("presence %v (partial %v)", got, partial)
		}
		return nil
	})
	returned := []string{sa, sb1, sb3}
	for i := range backends {
		routertest.Eventually(t, fmt.Sprintf("node_returned notices on n%d's side", i+1), func() error {
			n := countNotices(backends[i].Msgs())
			for _, sid := range returned {
				if n[sid]["node_returned presence.lobby join"] == 0 || n[sid]["node_returned lifecycle.connect"] == 0 {
					return fmt.Errorf("%s: %v", sid, n[sid])
				}
			}
			return nil
		})
	}
	for i, url := range httpAddrs {
		if v := metric(t, "http://"+url+"/metrics", "routerd_nodes_returned_total"); v != 1 {
			t.Errorf("routerd_nodes_returned_total on n%d = %v, want 1", i+1, v)
		}
	}

	// Nothing was told or published twice: whatever was queued before a
	// marker from each side reached each backend is in.
	for _, c := range []*routertest.Client{a, b1} {
		c.Send(map[string]any{"type": "emit", "ns": "chat", "event": "marker"})
	}
	for i := range backends {
		routertest.Eventually(t, "markers", func() error {
			n := 0
			for _, m := range backends[i].Msgs() {
				if m.Subject == "router.chat.server.marker" {
					n++
				}
			}
			if n < 2 {
				return fmt.Errorf("%d markers on n%d's side", n, i+1)
			}
			return nil
		})
	}
	want := [2]map[string]map[string]int{{
		sa:  {"node_returned lifecycle.connect": 1, "node_returned presence.lobby join": 1},
		sb1: {"node_lost presence.lobby leave": 1, "node_lost lifecycle.disconnect": 1, "node_returned lifecycle.connect": 1, "node_returned presence.lobby join": 1},
		sb2: {"node_lost presence.lobby leave": 1, "node_lost lifecycle.disconnect": 1},
		sb3: {"node_returned lifecycle.connect": 1, "node_returned presence.lobby join": 1},
	}, {
		sa:  {"node_lost presence.lobby leave": 1, "node_lost lifecycle.disconnect": 1, "node_returned lifecycle.connect": 1, "node_returned presence.lobby join": 1},
		sb1: {"node_returned lifecycle.connect": 1, "node_returned presence.lobby join": 1},
		sb3: {"node_returned lifecycle.connect": 1, "node_returned presence.lobby join": 1},
	}}
	for i := range backends {
		if got := countNotices(backends[i].Msgs()); fmt.Sprint(got) != fmt.Sprint(notices(want[i])) {
			t.Errorf("notices with a Router-Reason on n%d's side:\n got %v\nwant %v", i+1, got, want[i])
		}
	}
	// Which socket an unexpected frame below is about (a rare second $join
	// seen once in a CI run at 0951aa3, cause not found).
	t.Logf("sockets: sa %s (n1), sb1 %s, sb2 %s, sb3 %s (n2)", sa, sb1, sb2, sb3)
	for _, sid := range []string{sb1, sb2, sb3} {
		a.None(isPresence("$leave", sid))
		a.None(isPresence("$join", sid))
	}
	b1.None(isPresence("$leave", sa))
	b1.None(isPresence("$join", sa))
}
