package router

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/routerd/routerd/config"
)

// scanScrollback is the history a forward scan of the whole room shows:
// its last max_msgs events, then the limit newest before before. It is what
// scrollback must return.
func scanScrollback(t *testing.T, r *Router, nh *nsHistory, room string, limit int, before uint64) []uint64 {
	t.Helper()
	w := &window{n: nh.policy.MaxMsgs}
	if err := r.scan(context.Background(), nh, r.roomFilter(nh.ns, room), 1, func(he histEvent) bool {
		w.add(he)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	var kept []uint64
	for _, he := range w.events() {
		if before == 0 || he.ev.Seq < before {
			kept = append(kept, he.ev.Seq)
		}
	}
	return kept[max(len(kept)-limit, 0):]
}

// TestScrollbackMatchesScan: reading backwards returns what a forward scan
// of the whole room shows, for rooms dense and sparse in the stream, with
// long stretches of other rooms' events, several event names (each kept
// max_msgs times), limits below and above what is kept, and before
// anywhere (in gaps, at the ends, past them).
func TestScrollbackMatchesScan(t *testing.T) {
	hist := func(maxMsgs int) config.Namespace {
		ns := config.DefaultNamespace()
		h := config.DefaultHistory()
		h.MaxMsgs = maxMsgs
		ns.History = &h
		return ns
	}
	r, backend := startRouterWith(t, &server.Options{JetStream: true, StoreDir: t.TempDir()},
		map[string]config.Namespace{"small": hist(40), "big": hist(100000)})
	js, err := jetstream.New(backend)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, ns := range []string{"small", "big"} {
		for _, err := js.Stream(ctx, r.subj.sys.HistoryStream(ns)); err != nil; _, err = js.Stream(ctx, r.subj.sys.HistoryStream(ns)) {
			select {
			case <-ctx.Done():
				t.Fatal(err)
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	// Stretches of the stream: room r dense, then sparse, then absent, then
	// a few events; room "r" under three event names.
	var subjects []string
	for i := range 120 {
		subjects = append(subjects, fmt.Sprintf("r.e%d", i%3))
	}
	for i := range 1500 {
		if i%50 == 0 {
			subjects = append(subjects, "r.e0")
		} else {
			subjects = append(subjects, "o.x")
		}
	}
	for range 700 {
		subjects = append(subjects, "o.y")
	}
	subjects = append(subjects, "r.e1", "o.x", "r.e2")
	var seqs []uint64 // of room r
	for _, ns := range []string{"small", "big"} {
		futures := make([]jetstream.PubAckFuture, len(subjects))
		for i, s := range subjects {
			if futures[i], err = js.PublishAsync("router."+ns+".room."+s, []byte("1")); err != nil {
				t.Fatal(err)
			}
		}
		for i, f := range futures {
			select {
			case ack := <-f.Ok():
				if ns == "small" && subjects[i][0] == 'r' {
					seqs = append(seqs, ack.Sequence)
				}
			case err := <-f.Err():
				t.Fatal(err)
			case <-ctx.Done():
				t.Fatal("no publish ack")
			}
		}
	}
	befores := []uint64{0, 1, 2, seqs[0], seqs[1], seqs[60], seqs[119], seqs[119] + 1, seqs[125], seqs[125] + 7,
		seqs[len(seqs)-3] - 100, seqs[len(seqs)-2], seqs[len(seqs)-1], seqs[len(seqs)-1] + 1, 1 << 40}
	for _, ns := range []string{"small", "big"} {
		nh := &nsHistory{ns: ns, stream: r.subj.sys.HistoryStream(ns), policy: *r.cfg.Namespaces[ns].History, nats: r.bus.For(ns)}
		for _, limit := range []int{1, 3, 10, 40, 200} {
			for _, before := range befores {
				evs, err := r.scrollback(ctx, nh, "r", limit, before)
				if err != nil {
					t.Fatal(err)
				}
				var got []uint64
				for _, ev := range evs {
					got = append(got, ev.Seq)
				}
				if want := scanScrollback(t, r, nh, "r", limit, before); !slices.Equal(got, want) {
					t.Errorf("%s limit %d before %d:\ngot  %v\nwant %v", ns, limit, before, got, want)
				}
			}
		}
		for _, limit := range []int{1, 5} {
			evs, err := r.scrollback(ctx, nh, "nobody", limit, 0)
			if err != nil || len(evs) != 0 {
				t.Errorf("%s: empty room: %v, %v", ns, evs, err)
			}
		}
	}
}
