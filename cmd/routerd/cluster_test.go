package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

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
	logs   *syncBuffer
	http   string
	exited chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startProc runs routerd on config and waits for /readyz.
func startProc(t *testing.T, config, httpAddr string) *proc {
	t.Helper()
	p := &proc{t: t, logs: &syncBuffer{}, http: httpAddr, exited: make(chan struct{})}
	p.cmd = exec.Command(binary(t), "-c", config)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() { p.kill() })
	routertest.Eventually(t, "routerd ready at "+httpAddr, func() error {
		select {
		case <-p.exited:
			t.Fatalf("routerd exited:\n%s", p.logs.String())
		default:
		}
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz %d", resp.StatusCode)
		}
		return nil
	})
	return p
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

// TestClusterNodeLoss runs three routerd processes as one cluster, kills
// one with SIGKILL and checks that its sockets leave presence and the
// others get $leave within 15 s, then restarts it and checks it rejoins.
func TestClusterNodeLoss(t *testing.T) {
	t.Parallel()
	cluster := [3]int{freePort(t), freePort(t), freePort(t)}
	httpAddrs := [3]string{}
	configs := [3]string{}
	for i := range configs {
		httpAddrs[i] = fmt.Sprintf("127.0.0.1:%d", freePort(t))
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
`, i+1, httpAddrs[i], freePort(t), cluster[i], cluster[0], cluster[1], cluster[2]))
	}
	var procs [3]*proc
	for i := range procs {
		procs[i] = startProc(t, configs[i], httpAddrs[i])
	}
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
