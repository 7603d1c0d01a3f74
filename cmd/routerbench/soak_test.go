package main

import (
	"context"
	"testing"
	"time"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/internal/routertest"
)

// TestCheckHistory counts lost, duplicated and own events as the chaos and
// soak scenarios do.
func TestCheckHistory(t *testing.T) {
	pub := &hclient{id: 1, room: "r", acked: []ackedEvent{{seq: 2, pub: 1}, {seq: 5, pub: 1}, {seq: 7, pub: 1}}, sent: 4, received: []uint64{3}}
	other := &hclient{id: 2, room: "r", acked: []ackedEvent{{seq: 3, pub: 2}}, sent: 1, received: []uint64{2, 5}, dups: 1}
	late := &hclient{id: 3, room: "r", received: []uint64{5, 7}}
	h := checkHistory([]*hclient{pub, other, late})
	// other: first 2, due 3 (own, skipped), 5, 7 -> 7 lost; late: first 5, due 7.
	if h.Acked != 4 || h.Unacked != 1 || h.Expected != 3 || h.Received != 2 || h.Lost != 1 || h.Duplicated != 1 {
		t.Errorf("got %+v; want acked 4, unacked 1, expected 3, received 2, lost 1, duplicated 1", h)
	}
}

// TestSoakAgainstRouterd runs a short soak (members reconnecting and
// rejoining with since) against a real node with history: nothing may be
// lost or duplicated. The growth checks need a long run and are not
// looked at here.
func TestSoakAgainstRouterd(t *testing.T) {
	cfg := routertest.Config(t)
	cfg.Limits.Rate.PerSecond = 0
	cfg.NATS.JetStream.Enabled = true
	cfg.NATS.JetStream.StoreDir = t.TempDir()
	hist := config.DefaultNamespace()
	hist.History = &config.History{MaxMsgs: 1000, Replicas: 1}
	cfg.Namespaces[chaosNs] = hist
	node := routertest.Start(t, cfg)
	o := testOptions(t, "-url", node.WSURL(), "-ns", chaosNs, "-concurrency", "10")
	rep, err := runSoak(context.Background(), o, 40, 4, 400, 10, 3*time.Second, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	h := rep.Soak.History
	if h.Acked == 0 || h.Expected == 0 || h.Lost != 0 || h.Duplicated != 0 || h.OutOfOrder != 0 || h.Reconnects == 0 {
		t.Errorf("history %+v: want events acked and expected, some reconnects, none lost, duplicated or out of order", h)
	}
	if len(rep.Soak.Samples) == 0 {
		t.Error("no samples")
	}
}
