package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
)

// The chaos scenario starts a cluster of three routerd processes (on their
// embedded NATS, or with -nats-server on three nats-server processes),
// spreads history-room members and publishers over them, and kills one
// node with SIGKILL every -every, restarting it after the presence check.

const (
	chaosNodes     = 3
	chaosNs        = "history"
	presenceBound  = 10 * time.Second // presence must be right this soon after a kill
	goroutineSlack = 0.10             // a survivor's goroutines may grow this much (and by 20)
)

// chaosFigures are the results of a chaos run.
type chaosFigures struct {
	External bool          `json:"external_nats"`
	Kills    []chaosKill   `json:"kills"`
	History  *histCheck    `json:"history"`
	Survivor *serverFigure `json:"survivor"` // n1, never killed: before the clients and after they left
}

// chaosKill is one kill of a node.
type chaosKill struct {
	Node            string  `json:"node"`
	At              float64 `json:"at_seconds"`
	PresenceSeconds float64 `json:"presence_seconds"` // kill to presence right on every live node; -1: not within the bound
	Moved           int     `json:"moved"`            // clients that were on the node
}

// serverFigure is a node's gauges at two moments.
type serverFigure struct {
	Before map[string]float64 `json:"before"`
	After  map[string]float64 `json:"after"`
}

func (f *chaosFigures) rows(row rowFunc) {
	mode := "embedded NATS cluster"
	if f.External {
		mode = "external nats-server cluster"
	}
	row("cluster", "3 routerd nodes, %s", mode)
	for i, k := range f.Kills {
		pres := fmt.Sprintf("%.1fs", k.PresenceSeconds)
		if k.PresenceSeconds < 0 {
			pres = "NOT within 10s"
		}
		row(fmt.Sprintf("kill %d", i+1), "%s at %.0fs: %d clients moved, presence right after %s", k.Node, k.At, k.Moved, pres)
	}
	f.History.rows(row)
	if s := f.Survivor; s != nil {
		for _, g := range slices.Sorted(maps.Keys(s.After)) {
			row("survivor n1 "+g, "%s -> %s (no clients, before and after)", bytesOrCount(g, s.Before[g]), bytesOrCount(g, s.After[g]))
		}
	}
}

func chaosFlags(fs *flag.FlagSet) runFunc {
	routerd := fs.String("routerd", "", "routerd binary to run the three nodes with (go build -o /tmp/routerd ./cmd/routerd)")
	natsServer := fs.String("nats-server", "", "nats-server binary: run the nodes on an external cluster of three nats-server processes (go build -o /tmp/nats-server github.com/nats-io/nats-server/v2); default: the nodes' embedded NATS")
	duration := fs.Duration("duration", 2*time.Minute, "how long the publishers publish and nodes are killed")
	every := fs.Duration("every", 15*time.Second, "a node is killed this often (n2 and n3 in turn; n1 survives)")
	clients := fs.Int("clients", 60, "clients, spread over the nodes")
	rooms := fs.Int("rooms", 4, "history rooms the clients join, round robin")
	pubs := fs.Int("publishers", 3, "publishers per room (one per node with 3)")
	rate := fs.Int("rate", 5000, "deliveries per second across all rooms (messages/s × (members per room - 1))")
	port := fs.Int("port", 19080, "first of the ports used: HTTP port+1.., NATS port+11.., routes port+21..")
	dir := fs.String("dir", "", "working directory for configs, logs and JetStream (default: a new temporary one, removed after a run that passed)")
	return func(ctx context.Context, o *options) (*report, error) {
		if *routerd == "" {
			return nil, errors.New("-routerd: the routerd binary to start is required")
		}
		if err := positive(map[string]int{"clients": *clients, "rooms": *rooms, "publishers": *pubs, "rate": *rate}); err != nil {
			return nil, err
		}
		if *clients < *rooms*2 || *pubs >= *clients / *rooms {
			return nil, errors.New("-clients must give every room more members than -publishers")
		}
		c := &chaos{o: o, routerd: *routerd, natsServer: *natsServer, duration: *duration, every: *every,
			clients: *clients, rooms: *rooms, pubs: *pubs, rate: *rate, port: *port, dir: *dir}
		return c.run(ctx)
	}
}

// chaos is one chaos run.
type chaos struct {
	o                   *options
	routerd, natsServer string
	duration, every     time.Duration
	clients, rooms      int
	pubs, rate, port    int
	dir                 string

	procs  []*proc // routerd nodes
	nproc  []*proc // nats-servers (external)
	up     []bool
	ncs    []*nats.Conn // for ctl presence, one per node's NATS server
	prefer atomic.Int32 // the node reconnecting clients go to first
	mu     sync.Mutex
}

func (c *chaos) httpAddr(i int) string   { return fmt.Sprintf("127.0.0.1:%d", c.port+1+i) }
func (c *chaos) natsPort(i int) int      { return c.port + 11 + i }
func (c *chaos) routePort(i int) int     { return c.port + 21 + i }
func (c *chaos) wsURL(i int) string      { return "ws://" + c.httpAddr(i) + "/ws" }
func (c *chaos) nodeName(i int) string   { return fmt.Sprintf("n%d", i+1) }
func (c *chaos) metricsURL(i int) string { return "http://" + c.httpAddr(i) + "/metrics" }

// config writes node i's routerd config.
func (c *chaos) config(i int) (string, error) {
	var routes []string
	for j := range chaosNodes {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", c.routePort(j)))
	}
	var natsCfg string
	if c.natsServer != "" {
		var urls []string
		for j := range chaosNodes {
			urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", c.natsPort(j)))
		}
		natsCfg = fmt.Sprintf("nats:\n  url: [%s]\n", strings.Join(urls, ", "))
	} else {
		natsCfg = fmt.Sprintf("nats:\n  listen: \"127.0.0.1:%d\"\n  cluster: {name: chaos, listen: \"127.0.0.1:%d\", routes: [%s]}\n  jetstream: {enabled: true, store_dir: %q}\n",
			c.natsPort(i), c.routePort(i), strings.Join(routes, ", "), filepath.Join(c.dir, c.nodeName(i)))
	}
	cfg := fmt.Sprintf(`node: {name: %s}
log: {level: warn}
http: {listen: %q, pprof: true}
%slimits: {max_connections: 100000, send_queue: 65536, rate: {per_second: 0}}
namespaces:
  %s: {client_publish: members, history: {max_msgs: 100000, max_age: 1h, replicas: 3}}
`, c.nodeName(i), c.httpAddr(i), natsCfg, chaosNs)
	path := filepath.Join(c.dir, c.nodeName(i)+".yaml")
	return path, os.WriteFile(path, []byte(cfg), 0o644)
}

// proc is a process the run started.
type proc struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

// launch starts cmd with its output appended to the file at logPath.
func launch(cmd *exec.Cmd, logPath string) (*proc, error) {
	log, err := os.OpenFile(logPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, err
	}
	p := &proc{cmd: cmd, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); log.Close(); close(p.exited) }()
	return p, nil
}

// stop ends p with sig and waits for it (SIGKILL after 10 s).
func (p *proc) stop(sig syscall.Signal) {
	if p == nil {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.exited
	}
}

// start runs routerd node i (its log appended to DIR/nI.log).
func (c *chaos) start(i int) error {
	cfg, err := c.config(i)
	if err != nil {
		return err
	}
	p, err := launch(exec.Command(c.routerd, "-c", cfg), filepath.Join(c.dir, c.nodeName(i)+".log"))
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.procs[i] = p
	c.mu.Unlock()
	return nil
}

// startNATS runs nats-server i of the external cluster.
func (c *chaos) startNATS(i int) error {
	var routes []string
	for j := range chaosNodes {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", c.routePort(j)))
	}
	cmd := exec.Command(c.natsServer, "-a", "127.0.0.1", "-p", fmt.Sprint(c.natsPort(i)), "-n", fmt.Sprintf("s%d", i+1),
		"-js", "-sd", filepath.Join(c.dir, fmt.Sprintf("s%d", i+1)),
		"--cluster_name", "chaos", "--cluster", fmt.Sprintf("nats://127.0.0.1:%d", c.routePort(i)), "--routes", strings.Join(routes, ","))
	p, err := launch(cmd, filepath.Join(c.dir, fmt.Sprintf("nats%d.log", i+1)))
	c.nproc[i] = p
	return err
}

// waitReady waits for node i's /readyz.
func (c *chaos) waitReady(ctx context.Context, i int) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		resp, err := http.Get("http://" + c.httpAddr(i) + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				c.mu.Lock()
				c.up[i] = true
				c.mu.Unlock()
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready within 60s (log: %s)", c.nodeName(i), filepath.Join(c.dir, c.nodeName(i)+".log"))
}

// kill sends SIGKILL to node i and waits for it to be gone.
func (c *chaos) kill(i int) {
	c.mu.Lock()
	p := c.procs[i]
	c.up[i] = false
	c.mu.Unlock()
	p.stop(syscall.SIGKILL)
}

// stopAll ends every process it started: routerd with SIGTERM, then NATS.
func (c *chaos) stopAll() {
	c.mu.Lock()
	procs := slices.Clone(c.procs)
	c.mu.Unlock()
	for _, p := range append(procs, c.nproc...) {
		p.stop(syscall.SIGTERM)
	}
}

// presence asks node i's NATS server for room's members (ctl presence):
// the sids, or an error when the answer is partial or failed.
func (c *chaos) presence(i int, room string) ([]string, error) {
	body, _ := json.Marshal(map[string]string{"room": room})
	m, err := c.ncs[i].Request("router."+chaosNs+".ctl.presence", body, 3*time.Second)
	if err != nil {
		return nil, err
	}
	if m.Header.Get("Router-Partial") == "true" {
		return nil, errors.New("partial")
	}
	var r struct {
		OK      bool `json:"ok"`
		Members []struct {
			Sid string `json:"sid"`
		} `json:"members"`
	}
	if err := json.Unmarshal(m.Data, &r); err != nil || !r.OK {
		return nil, fmt.Errorf("ctl presence: %s", m.Data)
	}
	sids := make([]string, 0, len(r.Members))
	for _, mb := range r.Members {
		sids = append(sids, mb.Sid)
	}
	slices.Sort(sids)
	return sids, nil
}

// presenceRight reports whether every live node's presence of every room
// is the set of joined clients' sids, with every client joined.
func (c *chaos) presenceRight(clients []*hclient) bool {
	want := map[string][]string{}
	for _, cl := range clients {
		_, sid := cl.state()
		if sid == "" {
			return false
		}
		want[cl.room] = append(want[cl.room], sid)
	}
	for room := range want {
		slices.Sort(want[room])
	}
	// Every question at once: a partial answer takes 2 s.
	var (
		wg    sync.WaitGroup
		wrong atomic.Bool
	)
	for i := range chaosNodes {
		c.mu.Lock()
		up := c.up[i]
		c.mu.Unlock()
		if !up {
			continue
		}
		for room, sids := range want {
			wg.Go(func() {
				if got, err := c.presence(i, room); err != nil || !slices.Equal(got, sids) {
					wrong.Store(true)
				}
			})
		}
	}
	wg.Wait()
	return !wrong.Load()
}

// saveGoroutines writes n1's goroutine dump to path (kept with -dir, or
// when a check failed).
func (c *chaos) saveGoroutines(ctx context.Context, path string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.httpAddr(0)+"/debug/pprof/goroutine?debug=1", nil)
	if err != nil {
		return
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.o.logf("n1 goroutines: %v", err)
		return
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil {
		err = os.WriteFile(path, b, 0o644)
	}
	if err != nil {
		c.o.logf("n1 goroutines: %v", err)
	}
}

// waitStream waits until the namespace's history stream has a leader:
// the nodes make it once the cluster is formed, and a survivor's baseline
// is read after that.
func (c *chaos) waitStream(ctx context.Context) error {
	js, err := c.ncs[0].JetStream()
	if err != nil {
		return err
	}
	name := "routerd_router_" + chaosNs
	deadline := time.Now().Add(60 * time.Second)
	for {
		info, err := js.StreamInfo(name, nats.Context(ctx))
		if err == nil && info.Cluster != nil && info.Cluster.Leader != "" && len(info.Cluster.Replicas) == chaosNodes-1 {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("history stream %s not up within 60s: %v", name, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// survivorGauges reads n1's gauges once its goroutine count has settled:
// the same in two readings a second apart (at most 30 s). Idle client
// workers of routerd's bridge end after 10 s, and a node's JetStream
// streams take a moment to start, so the count moves for a while after
// the clients come or go.
func (c *chaos) survivorGauges(ctx context.Context) map[string]float64 {
	var g map[string]float64
	for range 30 {
		m, err := scrape(ctx, c.metricsURL(0))
		if err != nil {
			c.o.logf("n1 metrics: %v", err)
			return nil
		}
		prev := g
		g = map[string]float64{}
		for _, name := range []string{"process_resident_memory_bytes", "go_goroutines", "go_memstats_heap_inuse_bytes"} {
			g[name] = m[name]
		}
		if prev != nil && prev["go_goroutines"] == g["go_goroutines"] {
			break
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
	return g
}

func (c *chaos) run(ctx context.Context) (rep *report, err error) {
	keep := c.dir != ""
	if !keep {
		if c.dir, err = os.MkdirTemp("", "routerbench-chaos-"); err != nil {
			return nil, err
		}
	} else if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return nil, err
	}
	c.procs, c.nproc, c.up = make([]*proc, chaosNodes), make([]*proc, chaosNodes), make([]bool, chaosNodes)
	defer c.stopAll()
	c.o.logf("chaos: working directory %s", c.dir)
	if c.natsServer != "" {
		for i := range chaosNodes {
			if err := c.startNATS(i); err != nil {
				return nil, err
			}
		}
	}
	for i := range chaosNodes {
		if err := c.start(i); err != nil {
			return nil, err
		}
	}
	for i := range chaosNodes {
		if err := c.waitReady(ctx, i); err != nil {
			return nil, err
		}
	}
	c.ncs = make([]*nats.Conn, chaosNodes)
	for i := range chaosNodes {
		nc, err := nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", c.natsPort(i)), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
		if err != nil {
			return nil, err
		}
		defer nc.Close()
		c.ncs[i] = nc
	}
	if err := c.waitStream(ctx); err != nil {
		return nil, err
	}
	before := c.survivorGauges(ctx)
	c.saveGoroutines(ctx, filepath.Join(c.dir, "n1-goroutines-before.txt"))

	// Clients: client i starts on node i%3; room i%rooms; the first -publishers
	// members of each room publish. A client whose node is gone goes to the
	// node restarted last (as a load balancer sends new connections to the
	// emptiest node), so every kill moves about two thirds of the clients;
	// when that one fails too, to another at random.
	perRoom := c.clients / c.rooms
	c.prefer.Store(2)
	pick := func(start int) func(int) int {
		return func(prev int) int {
			if prev < 0 {
				return start
			}
			if p := int(c.prefer.Load()); p != prev {
				return p
			}
			return (prev + 1 + rand.IntN(chaosNodes-1)) % chaosNodes
		}
	}
	clients := make([]*hclient, c.clients)
	var pubs []*hclient
	urls := []string{c.wsURL(0), c.wsURL(1), c.wsURL(2)}
	for i := range clients {
		clients[i] = newHClient(i, chaosNs, c.o.roomName(i%c.rooms), urls, pick(i%chaosNodes))
		if i/c.rooms < c.pubs {
			pubs = append(pubs, clients[i])
		}
	}
	cctx, stopClients := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, cl := range clients {
		wg.Go(func() { cl.run(cctx) })
	}
	defer func() { stopClients(); wg.Wait() }()
	for _, cl := range clients {
		select {
		case <-cl.joinedCh:
		case <-time.After(30 * time.Second):
			return nil, errors.New("clients not joined within 30s")
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	c.o.logf("chaos: %d clients joined (%d per room, %d publishers); publishing for %s, a kill every %s", len(clients), perRoom, len(pubs), c.duration, c.every)

	// Publishers: a steady rate, each its share, all from the start.
	pctx, stopPubs := context.WithTimeout(ctx, c.duration)
	defer stopPubs()
	var pwg sync.WaitGroup
	publishSteady(pctx, &pwg, pubs, c.rate, perRoom, false)

	// Kills: n2 and n3 in turn, each restarted once presence is checked.
	start := time.Now()
	fig := &chaosFigures{External: c.natsServer != ""}
	var failures []string
	for k := 0; ; k++ {
		next := start.Add(time.Duration(k+1) * c.every)
		if !next.Before(start.Add(c.duration)) {
			break
		}
		select {
		case <-pctx.Done():
		case <-time.After(time.Until(next)):
		}
		if pctx.Err() != nil {
			break
		}
		victim := 1 + k%2
		moved := 0
		for _, cl := range clients {
			if node, _ := cl.state(); node == victim {
				moved++
			}
		}
		killed := time.Now()
		c.kill(victim)
		kill := chaosKill{Node: c.nodeName(victim), At: killed.Sub(start).Seconds(), Moved: moved, PresenceSeconds: -1}
		// Presence is right as of the moment it was asked: a gather still
		// waiting out the dead node (up to its 2 s timeout) answers for
		// that moment, not for when its reply arrives.
		for asked := time.Now(); asked.Sub(killed) < presenceBound && ctx.Err() == nil; asked = time.Now() {
			if c.presenceRight(clients) {
				kill.PresenceSeconds = asked.Sub(killed).Seconds()
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if kill.PresenceSeconds < 0 {
			failures = append(failures, fmt.Sprintf("kill %d (%s): presence not right within %s", k+1, kill.Node, presenceBound))
		}
		c.o.logf("chaos: killed %s at %.0fs (%d clients on it): presence right after %.1fs", kill.Node, kill.At, moved, kill.PresenceSeconds)
		fig.Kills = append(fig.Kills, kill)
		if err := c.start(victim); err != nil {
			return nil, err
		}
		if err := c.waitReady(ctx, victim); err != nil {
			return nil, err
		}
		c.prefer.Store(int32(victim))
	}
	<-pctx.Done()
	pwg.Wait()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}

	fig.History = drainHistory(clients, stopClients, &wg)
	if h := fig.History; h.Lost > 0 || h.Duplicated > 0 || h.OutOfOrder > 0 {
		failures = append(failures, fmt.Sprintf("history: lost %d, duplicated %d, out of order %d", h.Lost, h.Duplicated, h.OutOfOrder))
	}
	if fig.History.Acked == 0 {
		failures = append(failures, "no emit was acked")
	}

	// The survivor without clients, against before them, once the bridge's
	// idle workers have ended.
	time.Sleep(10 * time.Second)
	if after := c.survivorGauges(ctx); before != nil && after != nil {
		fig.Survivor = &serverFigure{Before: before, After: after}
		b, a := before["go_goroutines"], after["go_goroutines"]
		c.saveGoroutines(ctx, filepath.Join(c.dir, "n1-goroutines-after.txt"))
		if a > b*(1+goroutineSlack)+20 {
			failures = append(failures, fmt.Sprintf("n1 goroutines %.0f -> %.0f without clients: leaked? (dumps in %s)", b, a, c.dir))
		}
	}
	rep = &report{Connections: len(clients), Chaos: fig, Failures: failures, Proto: "routerd",
		URL: strings.Join(urls, " ")}
	if len(failures) == 0 && !keep {
		c.stopAll()
		_ = os.RemoveAll(c.dir)
	}
	return rep, nil
}
