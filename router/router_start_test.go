package router

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/internal/natstest"
)

// TestStartFailureUndoes: a Start that fails (here: the server cannot
// confirm the subscriptions before its context ends) leaves nothing
// running: no control subscription answers, the node said it left, and
// the dispatchers and background work have ended.
func TestStartFailureUndoes(t *testing.T) {
	ns := natstest.Server(t, &server.Options{})
	cfg := config.Default()
	cfg.Namespaces = map[string]config.Namespace{"chat": config.DefaultNamespace()}
	r := New(Options{Bus: natstest.Bus(t, ns), Config: &cfg})
	backend := natstest.Connect(t, ns)
	heartbeats := make(chan *nats.Msg, 16)
	hb, err := backend.ChanSubscribe(r.subj.sys.Heartbeat(), heartbeats)
	if err != nil {
		t.Fatal(err)
	}
	defer hb.Unsubscribe()
	if err := backend.Flush(); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.Start(ctx); err == nil {
		t.Fatal("Start with an ended context succeeded")
	}
	ended := make(chan struct{})
	go func() {
		r.wg.Wait()
		close(ended)
	}()
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the dispatchers or background work still run")
	}
	if _, err := backend.Request("router.chat.ctl.rooms", []byte(`{}`), 2*time.Second); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("ctl request after the failed Start: %v, want %v", err, nats.ErrNoResponders)
	}
	for leaving := false; !leaving; {
		select {
		case m := <-heartbeats:
			var h heartbeat
			if err := json.Unmarshal(m.Data, &h); err != nil {
				t.Fatal(err)
			}
			leaving = h.Leaving
		case <-time.After(5 * time.Second):
			t.Fatal("the node announced itself and never said it left")
		}
	}
}
