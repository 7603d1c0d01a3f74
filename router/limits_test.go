package router_test

// Tests of the limits the router enforces on a connection's sockets: rooms
// per socket and namespaces per connection, through a whole node
// (internal/routertest).

import (
	"fmt"
	"testing"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/internal/routertest"
)

func TestLimitMaxRoomsPerSocket(t *testing.T) {
	t.Parallel()
	cfg := routertest.Config(t)
	cfg.Limits.MaxRoomsPerSocket = 3
	node := routertest.Start(t, cfg)
	c := node.Dial()
	c.Connect("chat")
	for _, room := range []string{"r1", "r2", "r3"} {
		c.Join("chat", room)
	}
	if code := c.ErrorCode(map[string]any{"type": "join", "ns": "chat", "room": "r4"}); code != "limit_exceeded" {
		t.Errorf("fourth room: %s, want limit_exceeded", code)
	}
	// The refused join left no trace.
	if r := c.MustAck(map[string]any{"type": "presence", "ns": "chat", "room": "r4"}); r.JSON("data") != `{"members":[]}` {
		t.Errorf("r4 after a refused join: %s", r.JSON("data"))
	}
	c.Join("chat", "r1") // a room one is in already does not count again
	c.MustAck(map[string]any{"type": "leave", "ns": "chat", "room": "r2"})
	c.Join("chat", "r4")
	if code := c.ErrorCode(map[string]any{"type": "join", "ns": "chat", "room": "r5"}); code != "limit_exceeded" {
		t.Errorf("fourth room after a leave and a join: %s, want limit_exceeded", code)
	}
	// The limit is per socket: a new attachment starts from zero.
	d := node.Dial()
	d.Connect("chat")
	for _, room := range []string{"r1", "r5", "r6"} {
		d.Join("chat", room)
	}
}

// TestNamespacesPerConnection: a connection attaches at most
// limits.max_namespaces_per_connection namespaces; one more is refused with
// limit_exceeded and the connection stays usable; a namespace given up
// makes room; other connections count on their own.
func TestNamespacesPerConnection(t *testing.T) {
	n := routertest.StartWith(t, func(cfg *config.Config) {
		cfg.Limits.MaxNamespacesPerConnection = 3
		cfg.Namespaces["ns-*"] = config.DefaultNamespace()
	})
	c := n.Dial()
	for i := 1; i <= 3; i++ {
		c.Connect(fmt.Sprintf("ns-%d", i))
	}
	connect4 := map[string]any{"type": "connect", "ns": "ns-4"}
	if code := c.ErrorCode(connect4); code != "limit_exceeded" {
		t.Fatalf("a fourth namespace: %s, want limit_exceeded", code)
	}
	c.Join("ns-1", "r")
	c.MustAck(map[string]any{"type": "disconnect", "ns": "ns-1"})
	c.Connect("ns-4")
	if code := c.ErrorCode(map[string]any{"type": "connect", "ns": "ns-5"}); code != "limit_exceeded" {
		t.Fatalf("a fourth namespace after one was given up and taken: %s, want limit_exceeded", code)
	}
	other := n.Dial()
	for i := 1; i <= 3; i++ {
		other.Connect(fmt.Sprintf("ns-%d", i))
	}
}
