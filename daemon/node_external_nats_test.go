package daemon_test

import (
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/internal/routertest"
)

// eventuallyReadyz waits until the node's /readyz answers code.
func eventuallyReadyz(t *testing.T, n *routertest.Node, what string, code int) {
	t.Helper()
	routertest.Eventually(t, what, func() error {
		if got := n.Readyz(); got != code {
			return fmt.Errorf("readyz %d", got)
		}
		return nil
	})
}

// TestExternalNATSOutage runs a node on an external NATS server, stops that
// server and starts it again: /readyz follows the connection, the WebSocket
// client stays connected, and traffic resumes by itself both ways.
func TestExternalNATSOutage(t *testing.T) {
	t.Parallel()
	bus := routertest.ExternalNATS(t, 0, "")
	port := bus.Addr().(*net.TCPAddr).Port
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	cfg := routertest.Config(t)
	cfg.NATS.URL = []string{url}
	cfg.NATS.Listen = ""
	n := routertest.Start(t, cfg)
	if n.NATSURL() != url {
		t.Fatalf("NATSURL = %q, want the external %q", n.NATSURL(), url)
	}
	c := n.Dial()
	c.Connect("chat")
	c.Join("chat", "lobby")
	be, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	seen := routertest.Subscribe(t, be, "router.chat.room.lobby.up")
	if err := be.Publish("router.chat.room.lobby.news", []byte(`1`)); err != nil {
		t.Fatal(err)
	}
	c.Next(routertest.IsEvent("news"))

	bus.Shutdown()
	bus.WaitForShutdown()
	eventuallyReadyz(t, n, "readyz 503 while NATS is down", http.StatusServiceUnavailable)
	c.Barrier() // the WebSocket connection is still served

	routertest.ExternalNATS(t, port, "")
	eventuallyReadyz(t, n, "readyz 200 after NATS is back", http.StatusOK)
	routertest.Eventually(t, "backend events reach the client again", func() error {
		if err := be.Publish("router.chat.room.lobby.back", []byte(`2`)); err != nil {
			return err
		}
		if !c.Has(routertest.IsEvent("back")) {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	routertest.Eventually(t, "client events reach the backend again", func() error {
		c.Send(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "up", "data": 3, "self": true})
		if len(seen.Msgs()) == 0 {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	if c.Has(routertest.IsType("disconnected")) {
		t.Fatal("the socket was detached during the outage")
	}
}

// TestExternalNATSLate starts a node whose external NATS is not up yet: it
// serves, not ready, and works once NATS comes.
func TestExternalNATSLate(t *testing.T) {
	t.Parallel()
	port := routertest.FreePort(t)
	cfg := routertest.Config(t)
	cfg.NATS.URL = []string{fmt.Sprintf("nats://127.0.0.1:%d", port)}
	n := routertest.Start(t, cfg)
	if code := n.Readyz(); code != http.StatusServiceUnavailable {
		t.Fatalf("readyz %d before NATS is up", code)
	}
	c := n.Dial() // WebSockets are served meanwhile

	routertest.ExternalNATS(t, port, "")
	eventuallyReadyz(t, n, "readyz 200 once NATS is up", http.StatusOK)
	c.Connect("chat")
	c.Join("chat", "lobby")
	be := n.Backend()
	routertest.Eventually(t, "backend events reach the client", func() error {
		if err := be.Publish("router.chat.room.lobby.news", []byte(`1`)); err != nil {
			return err
		}
		if !c.Has(routertest.IsEvent("news")) {
			return fmt.Errorf("not yet")
		}
		return nil
	})
}
