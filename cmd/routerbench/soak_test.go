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

// TestLossCauses sorts lost deliveries by where they were lost: between
// two live events of one connection, across a rejoin answered recovered:
// false, across one answered recovered: true, after the last event.
func TestLossCauses(t *testing.T) {
	pub := &hclient{id: 1, room: "r"}
	for seq := uint64(1); seq <= 9; seq++ {
		pub.acked = append(pub.acked, ackedEvent{seq: seq, pub: 1})
	}
	pub.sent = len(pub.acked)
	live := origin{conn: 0, live: true}
	m := &hclient{id: 2, room: "r",
		received: []uint64{1, 3, 5, 7},
		origin:   []origin{live, live, {conn: 1, live: false}, {conn: 2, live: true}},
		joins:    []join{{acked: true, recovered: true}, {since: 3, acked: true, recovered: false}, {since: 5, acked: true, recovered: true}},
	}
	h := checkHistory([]*hclient{pub, m})
	// 2: between two live events of connection 0; 4: across the rejoin of
	// connection 1 (not recovered); 6: across connection 2's (recovered);
	// 8, 9: after the last event.
	want := lossCauses{Live: 1, NotRecovered: 1, Replay: 1, End: 2}
	if h.Lost != 5 || h.LostBy != want {
		t.Errorf("lost %d by %+v; want 5 by %+v", h.Lost, h.LostBy, want)
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

// TestSecondHalfGrowth compares windows of the second half, not two
// samples: one high last sample (a GC swing) passes, a steady climb fails.
func TestSecondHalfGrowth(t *testing.T) {
	series := func(rss ...float64) []soakSample {
		s := make([]soakSample, len(rss))
		for i, v := range rss {
			s[i] = soakSample{At: float64(10 * (i + 1)), RSS: v * (1 << 20), Goroutines: 100}
		}
		return s
	}
	// 12 samples over 120 s: the second half is the 6 from 60 s.
	swing := series(100, 100, 100, 100, 100, 120, 100, 105, 100, 95, 100, 125)
	if got := secondHalfGrowth(swing, 120*time.Second); len(got) != 0 {
		t.Errorf("a swing: %v; want no growth", got)
	}
	climb := series(100, 100, 100, 100, 100, 100, 100, 104, 108, 112, 116, 120)
	if got := secondHalfGrowth(climb, 120*time.Second); len(got) != 1 {
		t.Errorf("a climb: %v; want RSS growth", got)
	}
	if got := secondHalfGrowth(climb[:7], 120*time.Second); len(got) != 1 || got[0][:3] != "too" {
		t.Errorf("one sample in the second half: %v; want too few samples", got)
	}
}
