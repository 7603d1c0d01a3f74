package routertest

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Readyz returns the status of the node's /readyz (0 when the request
// failed).
func (n *Node) Readyz() int {
	resp, err := http.Get(n.HTTPURL() + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Metric returns the value of one sample line of the node's /metrics ("" when
// absent).
func Metric(t testing.TB, n *Node, sample string) string {
	t.Helper()
	resp, err := http.Get(n.HTTPURL() + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			return v
		}
	}
	return ""
}

// NATSServes checks that the node is still on NATS: ready (a node that
// may share NATS with others is not before its first discovery round is
// over, up to 2 s after it started), and a backend's request through a
// client's server-bound emit is answered.
func NATSServes(t testing.TB, n *Node, c *Client, ns string) {
	t.Helper()
	Eventually(t, "the node ready", func() error {
		if code := n.Readyz(); code != http.StatusOK {
			return fmt.Errorf("readyz %d: the node is off NATS", code)
		}
		return nil
	})
	be := n.Backend()
	sub, err := be.Subscribe("router."+ns+".server.ping", func(m *nats.Msg) { _ = m.Respond([]byte(`"pong"`)) })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := be.Flush(); err != nil {
		t.Fatal(err)
	}
	if r := c.MustAck(map[string]any{"type": "emit", "ns": ns, "event": "ping"}); r.JSON("data") != `"pong"` {
		t.Fatalf("ping answered %v", r)
	}
}

// ExternalNATS runs a nats-server on port (0: a free one) as an external
// bus, with JetStream in storeDir unless it is "", shut down when the test
// ends. A test may shut it down before and start another on its port.
func ExternalNATS(t testing.TB, port int, storeDir string) *server.Server {
	t.Helper()
	if port == 0 {
		port = server.RANDOM_PORT
	}
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, NoSigs: true, NoLog: true, JetStream: storeDir != "", StoreDir: storeDir})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("external nats-server not ready")
	}
	t.Cleanup(ns.Shutdown)
	return ns
}
