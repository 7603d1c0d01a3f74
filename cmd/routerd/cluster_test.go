package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/internal/routertest"
)

var (
	buildOnce sync.Once
	buildDir  string // made and removed by TestMain
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "routerd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// binary builds routerd once for the package's tests.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binPath = filepath.Join(buildDir, "routerd")
		if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// proc is a routerd process.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	logs   *routertest.SyncBuffer
	http   string
	exited chan struct{}
}

// startProc runs routerd on config and waits for /readyz.
func startProc(t *testing.T, config, httpAddr string) *proc {
	t.Helper()
	p := launch(t, config, httpAddr)
	p.waitReady()
	return p
}

// launch runs routerd on config.
func launch(t *testing.T, config, httpAddr string) *proc {
	t.Helper()
	p := &proc{t: t, logs: &routertest.SyncBuffer{}, http: httpAddr, exited: make(chan struct{})}
	p.cmd = exec.Command(binary(t), "-c", config)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() { p.kill() })
	return p
}

// waitReady waits until the process answers /readyz with 200.
func (p *proc) waitReady() {
	p.t.Helper()
	routertest.Eventually(p.t, "routerd ready at "+p.http, func() error {
		select {
		case <-p.exited:
			p.t.Fatalf("routerd exited:\n%s", p.logs.String())
		default:
		}
		resp, err := http.Get("http://" + p.http + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz %d", resp.StatusCode)
		}
		return nil
	})
}

func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

func (p *proc) dial() *routertest.Client {
	p.t.Helper()
	c := routertest.DialURL(p.t, "ws://"+p.http+"/ws", nil)
	c.Next(routertest.IsType("hello"))
	return c
}

// members lists the sids of a presence ack.
func members(t *testing.T, f routertest.Frame) map[string]bool {
	t.Helper()
	var d struct {
		Members []struct {
			SID string `json:"sid"`
		} `json:"members"`
	}
	if err := json.Unmarshal([]byte(f.JSON("data")), &d); err != nil {
		t.Fatalf("presence %v: %v", f, err)
	}
	out := map[string]bool{}
	for _, m := range d.Members {
		out[m.SID] = true
	}
	return out
}

// clusterConfigs writes the configs of three clustered nodes n1..n3 with
// namespace chat (presence events) and returns them with their HTTP and NATS
// addresses.
func clusterConfigs(t *testing.T) (configs, httpAddrs, natsURLs [3]string) {
	t.Helper()
	cluster := [3]int{routertest.FreePort(t), routertest.FreePort(t), routertest.FreePort(t)}
	for i := range configs {
		httpAddrs[i] = fmt.Sprintf("127.0.0.1:%d", routertest.FreePort(t))
		natsPort := routertest.FreePort(t)
		natsURLs[i] = fmt.Sprintf("nats://127.0.0.1:%d", natsPort)
		configs[i] = writeConfig(t, fmt.Sprintf(`
node: {name: n%d}
log: {level: warn}
http: {listen: %q}
nats:
  listen: "127.0.0.1:%d"
  cluster:
    name: loss
    listen: "127.0.0.1:%d"
    routes: ["nats-route://127.0.0.1:%d", "nats-route://127.0.0.1:%d", "nats-route://127.0.0.1:%d"]
namespaces: {chat: {presence_events: true}}
`, i+1, httpAddrs[i], natsPort, cluster[i], cluster[0], cluster[1], cluster[2]))
	}
	return configs, httpAddrs, natsURLs
}

// lossNotices watches, on a backend, the notices routerd publishes for the
// sockets of a lost node, and the markers the surviving nodes publish after
// them.
type lossNotices struct {
	notices, markers *routertest.Collect
}

func watchLoss(t *testing.T, url string) *lossNotices {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return &lossNotices{
		notices: routertest.Subscribe(t, nc, "router.chat.>"),
		markers: routertest.Subscribe(t, nc, "router.chat.server.marker"),
	}
}

// check waits until every survivor counts the lost node out (routerd_nodes
// is updated once the node's sockets are accounted for), has each publish a
// marker then (so whatever notices it published are in before its marker),
// and checks that the lost socket got exactly one presence leave notice for
// lobby and one disconnect notice, marked node_lost.
func (l *lossNotices) check(t *testing.T, survivors []*routertest.Client, metricsURLs []string, sid string) {
	t.Helper()
	for _, url := range metricsURLs {
		routertest.EventuallyWithin(t, "the lost node counted out at "+url, 15*time.Second, func() error {
			if v := metric(t, url, "routerd_nodes"); v != float64(len(survivors)) {
				return fmt.Errorf("routerd_nodes %v", v)
			}
			return nil
		})
	}
	for _, c := range survivors {
		c.Send(map[string]any{"type": "emit", "ns": "chat", "event": "marker"})
	}
	l.markers.WaitN(t, len(survivors))
	var leaves, disconnects int
	for _, m := range l.notices.Msgs() {
		if m.Header.Get("Router-Reason") != "node_lost" || m.Header.Get("Router-Sid") != sid {
			continue
		}
		switch m.Subject {
		case "router.chat.presence.lobby":
			if !strings.Contains(string(m.Data), `"action":"leave"`) {
				t.Errorf("presence notice %s", m.Data)
			}
			leaves++
		case "router.chat.lifecycle.disconnect":
			disconnects++
		}
	}
	if leaves != 1 || disconnects != 1 {
		t.Errorf("notices for the lost socket: %d leave, %d disconnect; want one each", leaves, disconnects)
	}
}

// TestClusterNodeLoss runs three routerd processes as one cluster, kills
// one with SIGKILL and checks that its sockets leave presence, the others
// get $leave within 15 s and backends get its sockets' leave and disconnect
// notices once, then restarts it and checks it rejoins.
func TestClusterNodeLoss(t *testing.T) {
	t.Parallel()
	configs, httpAddrs, natsURLs := clusterConfigs(t)
	var procs [3]*proc
	for i := range procs {
		procs[i] = startProc(t, configs[i], httpAddrs[i])
	}
	watch := watchLoss(t, natsURLs[0])
	var clients [3]*routertest.Client
	var sids [3]string
	for i, p := range procs {
		clients[i] = p.dial()
		sids[i] = clients[i].Connect("chat")
	}
	for _, c := range clients {
		c.Join("chat", "lobby")
	}
	routertest.Eventually(t, "presence covers the cluster", func() error {
		if got := members(t, clients[0].MustAck(map[string]any{"type": "presence", "ns": "chat", "room": "lobby"})); len(got) != 3 {
			return fmt.Errorf("presence %v", got)
		}
		return nil
	})

	start := time.Now()
	procs[2].kill()
	for _, c := range clients[:2] {
		f := c.NextWithin(func(f routertest.Frame) bool {
			return f.Type() == "event" && f.Str("event") == "$leave" && f.JSON("data") == fmt.Sprintf(`{"sid":%q}`, sids[2])
		}, 15*time.Second)
		if f.Str("room") != "lobby" {
			t.Errorf("$leave = %v", f)
		}
	}
	t.Logf("$leave %s after kill -9", time.Since(start).Round(time.Millisecond))
	watch.check(t, clients[:2], []string{"http://" + httpAddrs[0] + "/metrics", "http://" + httpAddrs[1] + "/metrics"}, sids[2])
	routertest.Eventually(t, "the dead node's socket leaves presence", func() error {
		got := members(t, clients[0].MustAck(map[string]any{"type": "presence", "ns": "chat", "room": "lobby"}))
		if len(got) != 2 || got[sids[2]] {
			return fmt.Errorf("presence %v", got)
		}
		return nil
	})

	// The node comes back with the same config and serves the cluster again.
	procs[2] = startProc(t, configs[2], httpAddrs[2])
	back := procs[2].dial()
	sid := back.Connect("chat")
	back.Join("chat", "lobby")
	clients[0].Next(func(f routertest.Frame) bool {
		return f.Type() == "event" && f.Str("event") == "$join" && f.JSON("data") == fmt.Sprintf(`{"sid":%q}`, sid)
	})
	routertest.Eventually(t, "room events reach the restarted node", func() error {
		clients[0].Send(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "ping"})
		if !back.Has(routertest.IsEvent("ping")) {
			return fmt.Errorf("not yet")
		}
		return nil
	})
}

// TestClusterNodeLossBeforeSurvivors: the lost node's socket connected
// before the other two nodes started, so they know it only from the
// snapshot they asked of it; backends still get its notices once.
func TestClusterNodeLossBeforeSurvivors(t *testing.T) {
	t.Parallel()
	configs, httpAddrs, natsURLs := clusterConfigs(t)
	var procs [3]*proc
	procs[2] = startProc(t, configs[2], httpAddrs[2])
	early := procs[2].dial()
	sid := early.Connect("chat")
	early.Join("chat", "lobby")
	procs[0] = startProc(t, configs[0], httpAddrs[0])
	procs[1] = startProc(t, configs[1], httpAddrs[1])
	watch := watchLoss(t, natsURLs[0])
	var clients []*routertest.Client
	for _, p := range procs[:2] {
		c := p.dial()
		c.Connect("chat")
		c.Join("chat", "lobby")
		clients = append(clients, c)
	}
	for _, addr := range httpAddrs[:2] {
		routertest.Eventually(t, "the early socket known at "+addr, func() error {
			if v := metric(t, "http://"+addr+"/metrics", "routerd_peer_sockets"); v < 1 {
				return fmt.Errorf("routerd_peer_sockets %v", v)
			}
			return nil
		})
	}
	procs[2].kill()
	for _, c := range clients {
		c.NextWithin(func(f routertest.Frame) bool {
			return f.Type() == "event" && f.Str("event") == "$leave" && f.JSON("data") == fmt.Sprintf(`{"sid":%q}`, sid)
		}, 15*time.Second)
	}
	watch.check(t, clients, []string{"http://" + httpAddrs[0] + "/metrics", "http://" + httpAddrs[1] + "/metrics"}, sid)
}

// metric reads one unlabelled gauge or counter from a /metrics page.
func metric(t *testing.T, url, name string) float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	return 0
}
