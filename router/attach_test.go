package router

import (
	"context"
	"errors"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/contract"
)

// sessionConn is one namespace's Conn of a multiplexing transport's client
// connection (as a Socket.IO session attaches one per namespace).
type sessionConn struct {
	*queueConn
	session *int
}

func (c sessionConn) Connection() any { return c.session }

// TestNamespacesPerMultiplexedConnection: the Conns that name one client
// connection share its limits.max_namespaces_per_connection; another
// client connection has its own; a namespace given up makes room again.
func TestNamespacesPerMultiplexedConnection(t *testing.T) {
	r, _ := startRouterWith(t, &server.Options{}, map[string]config.Namespace{"ns-*": config.DefaultNamespace()})
	r.cfg.Limits.MaxNamespacesPerConnection = 2
	ctx := context.Background()
	var one, two int
	connect := func(session *int, ns string) (*Socket, error) {
		return r.Connect(ctx, sessionConn{newQueueConn(8), session}, ns, nil, ConnInfo{})
	}
	a, err := connect(&one, "ns-a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := connect(&one, "ns-b"); err != nil {
		t.Fatal(err)
	}
	var perr *Error
	if _, err := connect(&one, "ns-c"); !errors.As(err, &perr) || perr.Code != contract.CodeLimitExceeded {
		t.Fatalf("a third namespace over one session: %v, want limit_exceeded", err)
	}
	for _, ns := range []string{"ns-a", "ns-b"} {
		if _, err := connect(&two, ns); err != nil {
			t.Fatalf("another session, %s: %v", ns, err)
		}
	}
	a.Disconnect()
	if _, err := connect(&one, "ns-c"); err != nil {
		t.Fatalf("after a namespace was given up: %v", err)
	}
}
