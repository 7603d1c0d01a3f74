package socketio_test

import (
	"errors"
	"fmt"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/internal/routertest"
)

// TestPollingWithoutStickySessions puts a load balancer that sends every
// HTTP request to the next of two clustered nodes in turn in front of them:
// long-polling sessions work (their requests are forwarded to the node that
// holds the session), and so does the client's default, which tries to
// upgrade to WebSocket through the same balancer.
func TestPollingWithoutStickySessions(t *testing.T) {
	nodes := routertest.StartCluster(t, 2, func(_ int, cfg *config.Config) {
		cfg.SocketIO = sioConfig(t).SocketIO
	})
	var targets []*url.URL
	for _, n := range nodes {
		u, err := url.Parse(n.HTTPURL())
		if err != nil {
			t.Fatal(err)
		}
		targets = append(targets, u)
	}
	var turn atomic.Int64
	hits := make([]atomic.Int64, len(targets))
	lb := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		i := int(turn.Add(1)) % len(targets)
		hits[i].Add(1)
		pr.SetURL(targets[i])
	}})
	t.Cleanup(lb.Close)

	d := startDriver(t)
	polling := map[string]any{"transports": []string{"polling"}}
	d.connect("a", lb.URL, polling)
	d.connect("b", lb.URL, polling)
	d.connect("c", lb.URL, nil) // polling, then an upgrade attempt
	for _, name := range []string{"a", "b", "c"} {
		if got := d.emitAck(name, "join", "lobby"); got != `{"ok":true}` {
			t.Fatalf("%s join: %s", name, got)
		}
	}
	routertest.Eventually(t, "a's message reaches b and c", func() error {
		d.emit("a", "message", "lobby", "probe")
		if !d.has(func(m msg) bool { return m.Socket == "b" && m.Event == "message" }) ||
			!d.has(func(m msg) bool { return m.Socket == "c" && m.Event == "message" }) {
			return errors.New("not delivered yet")
		}
		return nil
	})
	for i := range 5 {
		d.emit("b", "message", "lobby", i)
		for _, name := range []string{"a", "c"} {
			d.next(name+" gets b's message", func(m msg) bool {
				return m.Socket == name && m.Event == "message" && argsJSON(m) == fmt.Sprintf("[%d]", i)
			})
		}
	}
	if hits[0].Load() == 0 || hits[1].Load() == 0 {
		t.Fatalf("the balancer did not use both nodes: %d, %d", hits[0].Load(), hits[1].Load())
	}
}
