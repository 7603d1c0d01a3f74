package daemon_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/internal/routertest"
)

// TestNATSConnectionRecovers closes routerd's NATS connection from the
// server side, both ways a server can: it drops the client (nats.go
// reconnects), and it sends an error that nats.go takes as final (a
// protocol line past the server's max_control_line). Both times the node
// becomes ready again by itself, with its subscriptions in force: the
// client, still connected, gets a backend's room events and reaches
// backends again.
func TestNATSConnectionRecovers(t *testing.T) {
	t.Parallel()
	ext, n := startExternal(t, &server.Options{MaxControlLine: 512}, nil)
	c := n.Dial()
	c.Connect("chat")
	c.Join("chat", "lobby")
	be := n.Backend(nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))

	recovered := func(what string) {
		t.Helper()
		eventuallyReadyz(t, n, what+": readyz 200 again", http.StatusOK)
		routertest.Eventually(t, what+": backend events reach the client again", func() error {
			if err := be.Publish("router.chat.room.lobby.news", []byte(`1`)); err != nil {
				return err
			}
			c.Barrier()
			if !c.Has(routertest.IsEvent("news")) {
				return fmt.Errorf("not yet")
			}
			return nil
		})
		c.Drop(routertest.IsEvent("news"))
		routertest.NATSServes(t, n, c, "chat")
	}

	// 1. The server drops routerd's connection.
	var routerdID uint64
	conns, err := ext.Connz(&server.ConnzOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ci := range conns.Conns {
		if strings.HasPrefix(ci.Name, "routerd ") {
			routerdID = ci.Cid
		}
	}
	if routerdID == 0 {
		t.Fatal("routerd's connection not found on the server")
	}
	if err := ext.DisconnectClientByID(routerdID); err != nil {
		t.Fatal(err)
	}
	recovered("after the server dropped the connection")

	// 2. Names within routerd's bounds make a subject past this server's
	// max_control_line of 512 (128 + 64 dots, 576 bytes escaped): the
	// server closes the connection with an error nats.go does not
	// reconnect after.
	c.Join("chat", strings.Repeat(".", 128))
	c.Send(map[string]any{"type": "emit", "ns": "chat", "room": strings.Repeat(".", 128), "event": strings.Repeat(".", 64), "data": 1})
	routertest.Eventually(t, "the connection was dialled anew", func() error {
		if got := routertest.Metric(t, n, "routerd_nats_redials_total"); got != "1" {
			return fmt.Errorf("redials %q", got)
		}
		return nil
	})
	recovered("after nats.go gave the connection up")
	if c.Has(routertest.IsType("disconnected")) {
		t.Fatal("the socket was detached")
	}
}
