package router_test

import (
	"errors"
	"testing"

	"github.com/routerd/routerd/config"
	rt "github.com/routerd/routerd/internal/routertest"
)

// TestSocketSubscriptions: direct messages (client `to` and backend
// publishes on socket subjects) reach exactly their socket, once, across a
// cluster, with every nats.socket_subscriptions (auto is per_socket in a
// cluster).
func TestSocketSubscriptions(t *testing.T) {
	for _, mode := range []string{config.SocketsAuto, config.SocketsPerSocket, config.SocketsPerNamespace} {
		t.Run(mode, func(t *testing.T) {
			nodes := rt.StartCluster(t, 2, func(_ int, cfg *config.Config) { cfg.NATS.SocketSubscriptions = mode })
			a := nodes[0].Dial()
			a.Connect("chat")
			b := nodes[1].Dial()
			bsid := b.Connect("chat")
			c := nodes[1].Dial()
			csid := c.Connect("chat")

			// Probes until the clustered nodes see each other's interest.
			rt.Eventually(t, "direct message across nodes", func() error {
				a.MustAck(map[string]any{"type": "emit", "ns": "chat", "to": bsid, "event": "probe"})
				if !b.Has(rt.IsEvent("probe")) {
					return errors.New("not delivered yet")
				}
				return nil
			})
			isDM := func(f rt.Frame) bool { return f.Type() == "event" && f.Str("event") != "probe" }
			a.MustAck(map[string]any{"type": "emit", "ns": "chat", "to": bsid, "event": "psst", "data": 2})
			if ev := b.Next(rt.IsEvent("psst")); ev.JSON("data") != "2" {
				t.Errorf("direct message %v", ev)
			}
			nc := nodes[0].Backend()
			if err := nc.Publish("router.chat.socket."+csid+".note", []byte(`"hi"`)); err != nil {
				t.Fatal(err)
			}
			if ev := c.Next(rt.IsEvent("note")); ev.JSON("data") != `"hi"` {
				t.Errorf("backend direct message %v", ev)
			}
			// Nobody else got either, and nothing came twice.
			a.None(rt.IsType("event"))
			b.None(isDM)
			c.None(isDM)

			// A socket that left gets nothing; its node goes on serving others.
			c.MustAck(map[string]any{"type": "disconnect", "ns": "chat"})
			a.MustAck(map[string]any{"type": "emit", "ns": "chat", "to": csid, "event": "psst"})
			a.MustAck(map[string]any{"type": "emit", "ns": "chat", "to": bsid, "event": "psst", "data": 3})
			if ev := b.Next(rt.IsEvent("psst")); ev.JSON("data") != "3" {
				t.Errorf("direct message after a disconnect %v", ev)
			}
			c.None(isDM)
		})
	}
}
