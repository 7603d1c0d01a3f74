package socketio_test

import (
	"context"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/routerd/routerd/internal/natstest"
	"github.com/routerd/routerd/router"
	"github.com/routerd/routerd/socketio"
)

// TestStartFailsLoudly: New does no network work, so it builds a server
// even on a NATS connection that is closed already; Start, which
// subscribes the relay to other nodes, then fails and says why, instead of
// serving without it. Without NATS there is nothing to start.
func TestStartFailsLoudly(t *testing.T) {
	cfg := sioConfig(t)
	b := natstest.Bus(t, natstest.Server(t, &server.Options{}))
	b.Close()
	r := router.New(router.Options{Bus: b, Config: &cfg})
	s := socketio.New(socketio.Options{Router: r, Config: &cfg, NATS: b.Main()})
	err := s.Start(context.Background())
	if err == nil || !strings.HasPrefix(err.Error(), "socketio: relay: subscribe $routerd.router.eio.") {
		t.Fatalf("Start on a closed NATS connection: %v", err)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown after a failed Start: %v", err)
	}

	s = socketio.New(socketio.Options{Router: r, Config: &cfg})
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("Start without NATS: %v", err)
	}
}
