package router

import (
	"context"
	"slices"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/routerd/routerd/config"
)

// TestSweepHold: a node calls a glob namespace busy while it has a socket
// there or a connect to it is under way, and otherwise promises it to the
// sweep: connects then wait until the sweep releases it, and make the
// stream again. Namespaces declared by name never wait.
func TestSweepHold(t *testing.T) {
	ns := config.DefaultNamespace()
	h := config.DefaultHistory()
	h.MaxMsgs = 10
	ns.History = &h
	r, _ := startRouterWith(t, &server.Options{JetStream: true, StoreDir: t.TempDir()}, map[string]config.Namespace{"h-*": ns, "exact": ns})
	ctx := context.Background()
	s, err := r.Connect(ctx, newQueueConn(8), "h-used", nil, ConnInfo{})
	if err != nil {
		t.Fatal(err)
	}
	connecting, err := r.enterGlob(ctx, "h-connecting")
	if err != nil {
		t.Fatal(err)
	}
	busy := r.hold("sweep-1", []string{"h-used", "h-connecting", "h-idle"})
	if want := []string{"h-used", "h-connecting"}; !slices.Equal(busy, want) {
		t.Fatalf("busy %v, want %v", busy, want)
	}
	if _, ok := r.streams.Load(r.subj.sys.HistoryStream("h-used")); !ok {
		t.Error("the node forgot the stream of a namespace in use")
	}

	// A connect to the held namespace waits for the release...
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := r.enterGlob(cancelled, "h-idle"); err == nil {
		t.Fatal("a connect to a namespace held for a sweep did not wait")
	}
	if _, err := r.enterGlob(cancelled, "exact"); err != nil {
		t.Fatalf("a namespace declared by name waited: %v", err)
	}
	// ... of every sweep holding it.
	r.hold("sweep-2", []string{"h-idle"})
	r.releaseHold("h-idle", "sweep-1")
	if _, err := r.enterGlob(cancelled, "h-idle"); err == nil {
		t.Fatal("a namespace still held by a second sweep was let go")
	}
	r.releaseHold("h-idle", "sweep-2")
	s2, err := r.Connect(ctx, newQueueConn(8), "h-idle", nil, ConnInfo{})
	if err != nil {
		t.Fatalf("connect after the release: %v", err)
	}
	if _, ok := r.streams.Load(r.subj.sys.HistoryStream("h-idle")); !ok {
		t.Error("the connect after the release did not make the stream again")
	}
	connecting()
	s.Disconnect()
	s2.Disconnect()
	if busy := r.hold("sweep-3", []string{"h-used", "h-connecting", "h-idle"}); len(busy) != 0 {
		t.Errorf("busy %v once every socket and connect is gone", busy)
	}
}

// TestSweepBatchesGoRound: each sweep considers the idle streams after the
// last one the previous sweep did, round the sorted names, so that idle
// streams of namespaces in use (kept, sweep after sweep) do not keep the
// others from ever being considered.
func TestSweepBatchesGoRound(t *testing.T) {
	var idle []idleStream
	for _, name := range []string{"e", "a", "d", "b", "c"} {
		idle = append(idle, idleStream{name: name})
	}
	var seen []string
	after := ""
	for range 4 {
		batch := nextBatch(slices.Clone(idle), after, 2)
		for _, st := range batch {
			seen = append(seen, st.name)
		}
		after = batch[len(batch)-1].name
	}
	if want := []string{"a", "b", "c", "d", "e", "a", "b", "c"}; !slices.Equal(seen, want) {
		t.Errorf("sweeps considered %v, want %v", seen, want)
	}
	if got := nextBatch(slices.Clone(idle), "zz", 10); len(got) != 5 || got[0].name != "a" {
		t.Errorf("past the last name: %v", got)
	}
}
