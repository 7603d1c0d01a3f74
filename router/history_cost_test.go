package router_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	rt "github.com/routerd/routerd/internal/routertest"
)

// directGets counts the direct get requests made to a stream, and the
// stream messages they returned, as a backend in the same NATS account
// sees them go by.
type directGets struct {
	t        *testing.T
	nc       *nats.Conn
	stream   string
	requests *nats.Subscription
	replies  *nats.Subscription
}

func watchDirectGets(t *testing.T, nc *nats.Conn, stream string) *directGets {
	t.Helper()
	d := &directGets{t: t, nc: nc, stream: stream}
	var err error
	if d.requests, err = nc.SubscribeSync("$JS.API.DIRECT.GET." + stream); err != nil {
		t.Fatal(err)
	}
	if d.replies, err = nc.SubscribeSync("_INBOX.>"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*nats.Subscription{d.requests, d.replies} {
		if err := s.SetPendingLimits(-1, -1); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return d
}

// take returns the requests and the stream messages seen since the last
// take. Call it once what made them is done: the server has then queued
// every copy for the backend before the answer to its flush.
func (d *directGets) take() (requests, msgs int) {
	d.t.Helper()
	if err := d.nc.Flush(); err != nil {
		d.t.Fatal(err)
	}
	for range drain(d.t, d.requests) {
		requests++
	}
	for _, m := range drain(d.t, d.replies) {
		if m.Header.Get(jetstream.StreamHeader) == d.stream {
			msgs++
		}
	}
	return requests, msgs
}

// drain takes every message a sync subscription holds.
func drain(t *testing.T, s *nats.Subscription) []*nats.Msg {
	t.Helper()
	n, _, err := s.Pending()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]*nats.Msg, 0, n)
	for range n {
		m, err := s.NextMsg(time.Second)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// TestHistoryScrollbackCost: a history frame reads the room backwards from
// its end, so what it costs (direct get requests, stream messages read)
// follows its limit, not the size of the room: here 4 000 stored events,
// which a forward scan reads 256 at a time (16 requests, 4 000 messages).
func TestHistoryScrollbackCost(t *testing.T) {
	const events = 4000
	n := rt.Start(t, historyConfig(t, t.TempDir(), 100000))
	nc, js := histBackend(t, n)
	// Room r holds one stream message in three, under two event names;
	// published 600 at a time (within the publisher's bound on acks in
	// flight).
	var seqs []uint64 // of room r, in order
	for chunk := 0; chunk < 3*events; chunk += 600 {
		acks := make([]jetstream.PubAckFuture, 0, 600)
		for i := chunk; i < chunk+600; i++ {
			subject := fmt.Sprintf("router.hist.room.other.m%d", i%5)
			if i%3 == 1 {
				subject = fmt.Sprintf("router.hist.room.r.e%d", i%2)
			}
			f, err := js.PublishAsync(subject, fmt.Appendf(nil, "%d", i))
			if err != nil {
				t.Fatal(err)
			}
			acks = append(acks, f)
		}
		for k, f := range acks {
			select {
			case ack := <-f.Ok():
				if (chunk+k)%3 == 1 {
					seqs = append(seqs, ack.Sequence)
				}
			case err := <-f.Err():
				t.Fatal(err)
			case <-time.After(rt.Wait):
				t.Fatal("no publish ack")
			}
		}
	}

	c := n.Dial()
	c.Connect("hist")
	gets := watchDirectGets(t, nc, "routerd_router_hist")
	for _, tc := range []struct {
		limit  int
		before uint64
	}{
		{limit: 1}, {limit: 10}, {limit: 100}, {limit: 10, before: seqs[events/2]}, {limit: 100, before: seqs[10]},
	} {
		f := map[string]any{"type": "history", "ns": "hist", "room": "r", "limit": tc.limit}
		end := len(seqs)
		if tc.before > 0 {
			f["before"] = tc.before
			end = slices.Index(seqs, tc.before)
		}
		want := seqs[max(end-tc.limit, 0):end]
		var got []uint64
		for _, e := range c.MustAck(f)["data"].(map[string]any)["events"].([]any) {
			got = append(got, uint64(e.(map[string]any)["seq"].(float64)))
		}
		if !slices.Equal(got, want) {
			t.Errorf("limit %d before %d: seqs %v, want %v", tc.limit, tc.before, got, want)
		}
		requests, msgs := gets.take()
		t.Logf("limit %d before %d: %d requests, %d messages", tc.limit, tc.before, requests, msgs)
		if requests > 8 {
			t.Errorf("limit %d before %d: %d direct gets, want at most 8", tc.limit, tc.before, requests)
		}
		if maxMsgs := 4*tc.limit + 10; msgs > maxMsgs {
			t.Errorf("limit %d before %d: %d messages read, want at most %d", tc.limit, tc.before, msgs, maxMsgs)
		}
	}
}
