package daemon_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
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

// startExternal runs a nats-server with opts as the external bus of a node
// whose config edit changes, and returns both.
func startExternal(t *testing.T, opts *server.Options, edit func(*config.Config)) (*server.Server, *rt.Node) {
	t.Helper()
	ext := natstest.Server(t, opts)
	cfg := rt.Config(t)
	cfg.NATS.URL = []string{fmt.Sprintf("nats://127.0.0.1:%d", ext.Addr().(*net.TCPAddr).Port)}
	cfg.NATS.Listen = ""
	cfg.Limits.AckTimeout = 500 * time.Millisecond
	if edit != nil {
		edit(&cfg)
	}
	return ext, rt.Start(t, cfg)
}

// TestUnavailableWhileNATSIsDown: while the bus is down, what needs it
// gets unavailable (a join, an acked emit, a server-bound request, a
// connect), and the connection stays.
func TestUnavailableWhileNATSIsDown(t *testing.T) {
	t.Parallel()
	ext, n := startExternal(t, &server.Options{}, nil)
	c := n.Dial()
	c.Connect("chat")
	c.Join("chat", "lobby")
	ext.Shutdown()
	ext.WaitForShutdown()
	eventuallyReadyz(t, n, "readyz 503", http.StatusServiceUnavailable)
	for _, f := range []map[string]any{
		{"type": "join", "ns": "chat", "room": "other"},
		{"type": "emit", "ns": "chat", "room": "lobby", "event": "x", "data": 1},
		{"type": "emit", "ns": "chat", "event": "ping", "data": 1},
	} {
		if code := c.ErrorCode(f); code != "unavailable" {
			t.Errorf("%v: %s, want unavailable", f, code)
		}
	}
	d := n.Dial()
	if code := d.ErrorCode(map[string]any{"type": "connect", "ns": "chat"}); code != "unavailable" {
		t.Errorf("connect: %s, want unavailable", code)
	}
	c.Barrier()
}

// TestUnavailableWithoutJetStream: a namespace with history on a NATS
// without JetStream, or whose stream cannot be made (another stream
// already takes its subjects), refuses connects with unavailable; other
// namespaces are served.
func TestUnavailableWithoutJetStream(t *testing.T) {
	t.Parallel()
	withHist := func(cfg *config.Config) {
		ns := config.DefaultNamespace()
		h := config.DefaultHistory()
		h.MaxMsgs = 10
		ns.History = &h
		cfg.Namespaces["hist"] = ns
	}
	_, n := startExternal(t, &server.Options{}, withHist)
	c := n.Dial()
	if code := c.ErrorCode(map[string]any{"type": "connect", "ns": "hist"}); code != "unavailable" {
		t.Errorf("connect without JetStream: %s, want unavailable", code)
	}
	c.Connect("chat")

	ext, n2 := startExternal(t, &server.Options{JetStream: true, StoreDir: t.TempDir()}, func(cfg *config.Config) {
		withHist(cfg)
		cfg.Namespaces["hist"] = config.DefaultNamespace() // no history yet: nothing made at start
	})
	nc, err := nats.Connect(ext.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "squatter", Subjects: []string{"router.hist2.>"}}); err != nil {
		t.Fatal(err)
	}
	n2.Stop()
	cfg := n2.Cfg
	withHist(&cfg)
	cfg.Namespaces["hist2"] = cfg.Namespaces["hist"]
	n3 := rt.Start(t, cfg)
	c3 := n3.Dial()
	if code := c3.ErrorCode(map[string]any{"type": "connect", "ns": "hist2"}); code != "unavailable" {
		t.Errorf("connect whose stream cannot be made: %s, want unavailable", code)
	}
	c3.Connect("hist")
}

// TestTooLarge: a client's event that NATS would refuse for its size (an
// external NATS with a small max_payload) gets too_large, and the node
// stays on NATS.
func TestTooLarge(t *testing.T) {
	t.Parallel()
	_, n := startExternal(t, &server.Options{MaxPayload: 4096}, nil)
	c := n.Dial()
	c.Connect("chat")
	c.Join("chat", "lobby")
	big := strings.Repeat("x", 8000)
	for _, f := range []map[string]any{
		{"type": "emit", "ns": "chat", "room": "lobby", "event": "x", "data": big},
		{"type": "emit", "ns": "chat", "event": "x", "data": big},
	} {
		if code := c.ErrorCode(f); code != "too_large" {
			t.Errorf("%v: %s, want too_large", f["room"], code)
		}
	}
	rt.NATSServes(t, n, c, "chat")
}
