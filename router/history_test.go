package router_test

// Tests of room history (JetStream): replay on join with since, the seam
// between replay and live events, retention, scrollback, backend events,
// restarts and deployment variants, through a whole node
// (internal/routertest).

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/daemon"
	rt "github.com/routerd/routerd/internal/routertest"
)

// historyConfig is a node with JetStream in dir and namespace hist keeping
// maxMsgs events per room.
func historyConfig(t *testing.T, dir string, maxMsgs int) config.Config {
	t.Helper()
	cfg := rt.Config(t)
	cfg.NATS.JetStream.Enabled = true
	cfg.NATS.JetStream.StoreDir = dir
	ns := config.DefaultNamespace()
	ns.PresenceEvents = true
	h := config.DefaultHistory()
	h.MaxMsgs = maxMsgs
	ns.History = &h
	cfg.Namespaces["hist"] = ns
	return cfg
}

// histBackend connects a backend to n and waits until the stream of
// namespace hist exists (made at start); it returns the backend and its
// JetStream context.
func histBackend(t *testing.T, n *rt.Node) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc := n.Backend()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	rt.Eventually(t, "history stream created at start", func() error {
		_, err := js.Stream(context.Background(), "routerd_router_hist")
		return err
	})
	return nc, js
}

// emitN sends n acked room emits and returns their seqs.
func emitN(t *testing.T, c *rt.Client, room string, from, n int) []uint64 {
	t.Helper()
	var seqs []uint64
	for i := from; i < from+n; i++ {
		a := c.MustAck(map[string]any{"type": "emit", "ns": "hist", "room": room, "event": "msg", "data": i})
		d, _ := a["data"].(map[string]any)
		seq, _ := d["seq"].(float64)
		if seq == 0 {
			t.Fatalf("emit ack without seq: %v", a)
		}
		seqs = append(seqs, uint64(seq))
	}
	return seqs
}

func TestHistoryReplayAndLive(t *testing.T) {
	n := rt.Start(t, historyConfig(t, t.TempDir(), 10))
	a := n.Dial()
	a.Connect("hist")
	a.MustAck(map[string]any{"type": "join", "ns": "hist", "room": "r"})
	seqs := emitN(t, a, "r", 1, 3)
	for i := 1; i < len(seqs); i++ {
		if seqs[i] <= seqs[i-1] {
			t.Fatalf("seqs not increasing: %v", seqs)
		}
	}
	b := n.Dial()
	b.Connect("hist")
	ack := b.MustAck(map[string]any{"type": "join", "ns": "hist", "room": "r", "since": 0})
	if ack.JSON("data") != `{"recovered":true}` {
		t.Fatalf("join ack: %v", ack)
	}
	for i, want := range seqs {
		ev := b.Next(rt.IsEvent("msg"))
		if uint64(ev.Num("seq")) != want || ev.JSON("data") != fmt.Sprint(i+1) || ev.Str("room") != "r" {
			t.Fatalf("replayed event %d: %v, want seq %d", i, ev, want)
		}
	}
	live := emitN(t, a, "r", 4, 1)
	ev := b.Next(rt.IsEvent("msg"))
	if uint64(ev.Num("seq")) != live[0] || ev.JSON("data") != "4" {
		t.Fatalf("live event: %v, want seq %d", ev, live[0])
	}
}

// seqsOf reads events named name from c until one carries data "end" and
// returns their seqs.
func seqsOf(t *testing.T, c *rt.Client) []uint64 {
	t.Helper()
	var got []uint64
	for {
		ev := c.Next(func(f rt.Frame) bool { return f.Str("event") == "msg" && f.Str("room") == "r" })
		got = append(got, uint64(ev.Num("seq")))
		if ev.JSON("data") == `"end"` {
			return got
		}
	}
}

// TestHistorySeamUnderLoad joins with since while clients and a backend
// publish to the room (and to another room, so seqs have gaps): every
// joiner gets exactly the room's events after since, in order, no gap, no
// duplicate.
func TestHistorySeamUnderLoad(t *testing.T) {
	n := rt.Start(t, historyConfig(t, t.TempDir(), 100000))
	js, err := jetstream.New(n.Backend())
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		room []uint64 // every seq published to room r
	)
	record := func(seq uint64) {
		mu.Lock()
		room = append(room, seq)
		mu.Unlock()
	}
	// A few events before anyone joins with since.
	pub := n.Dial()
	pub.Connect("hist")
	pub.Join("hist", "r")
	for _, s := range emitN(t, pub, "r", 0, 20) {
		record(s)
	}

	const perPublisher = 150
	var wg sync.WaitGroup
	for p := 0; p < 2; p++ {
		c := n.Dial()
		c.Connect("hist")
		c.Join("hist", "r")
		c.Join("hist", "other")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perPublisher; i++ {
				room := "r"
				if i%3 == 0 {
					room = "other"
				}
				a := c.Req(map[string]any{"type": "emit", "ns": "hist", "room": room, "event": "msg", "data": i})
				if a.Type() != "ack" {
					t.Errorf("emit: %v", a)
					return
				}
				if room == "r" {
					d, _ := a["data"].(map[string]any)
					record(uint64(d["seq"].(float64)))
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < perPublisher; i++ {
			ack, err := js.Publish(context.Background(), "router.hist.room.r.msg", []byte(fmt.Sprint(i)))
			if err != nil {
				t.Errorf("backend publish: %v", err)
				return
			}
			record(ack.Sequence)
		}
	}()

	// Joiners arrive while the publishers run, each from a different point.
	type joiner struct {
		c     *rt.Client
		since uint64
	}
	var joiners []joiner
	for j := 0; j < 6; j++ {
		mu.Lock()
		since := room[len(room)*j/6]
		if j == 0 {
			since = 0
		}
		mu.Unlock()
		c := n.Dial()
		c.Connect("hist")
		ack := c.MustAck(map[string]any{"type": "join", "ns": "hist", "room": "r", "since": since})
		if ack.JSON("data") != `{"recovered":true}` {
			t.Fatalf("join since %d: %v", since, ack)
		}
		joiners = append(joiners, joiner{c, since})
	}
	wg.Wait()
	a := pub.MustAck(map[string]any{"type": "emit", "ns": "hist", "room": "r", "event": "msg", "data": "end"})
	record(uint64(a["data"].(map[string]any)["seq"].(float64)))

	slices.Sort(room)
	for _, j := range joiners {
		want := room[sort.Search(len(room), func(i int) bool { return room[i] > j.since }):]
		got := seqsOf(t, j.c)
		if !slices.Equal(got, want) {
			t.Errorf("joiner since %d: got %d events, want %d\ngot  %v\nwant %v", j.since, len(got), len(want), got, want)
		}
	}
}

// TestHistoryRetention: a room shows its last max_msgs events; recovered is
// false exactly when events after since were dropped.
func TestHistoryRetention(t *testing.T) {
	n := rt.Start(t, historyConfig(t, t.TempDir(), 5))
	a := n.Dial()
	a.Connect("hist")
	a.Join("hist", "r")
	seqs := emitN(t, a, "r", 1, 8) // events 1..8; 4..8 are kept

	for _, tc := range []struct {
		since     uint64
		recovered bool
		first     int // data of the first replayed event
	}{
		{since: 0, recovered: false, first: 4},
		{since: seqs[1], recovered: false, first: 4}, // after event 2: event 3 is gone
		{since: seqs[2], recovered: true, first: 4},  // after event 3: 4..8 all kept
		{since: seqs[5], recovered: true, first: 7},
		{since: seqs[7], recovered: true, first: 0}, // nothing missed
	} {
		c := n.Dial()
		c.Connect("hist")
		ack := c.MustAck(map[string]any{"type": "join", "ns": "hist", "room": "r", "since": tc.since})
		if want := fmt.Sprintf(`{"recovered":%v}`, tc.recovered); ack.JSON("data") != want {
			t.Errorf("since %d: ack %v, want %s", tc.since, ack, want)
		}
		var got []string
		for c.Has(rt.IsEvent("msg")) {
			got = append(got, c.Next(rt.IsEvent("msg")).JSON("data"))
		}
		var want []string
		for i := tc.first; tc.first > 0 && i <= 8; i++ {
			want = append(want, fmt.Sprint(i))
		}
		if !slices.Equal(got, want) {
			t.Errorf("since %d: replayed %v, want %v", tc.since, got, want)
		}
	}
}

// TestHistoryRetentionAcrossEvents: max_msgs bounds the room, whatever the
// event names.
func TestHistoryRetentionAcrossEvents(t *testing.T) {
	n := rt.Start(t, historyConfig(t, t.TempDir(), 3))
	a := n.Dial()
	a.Connect("hist")
	a.Join("hist", "r")
	for i, ev := range []string{"x", "y", "x", "y", "x", "y"} {
		a.MustAck(map[string]any{"type": "emit", "ns": "hist", "room": "r", "event": ev, "data": i})
	}
	c := n.Dial()
	c.Connect("hist")
	ack := c.MustAck(map[string]any{"type": "join", "ns": "hist", "room": "r", "since": 0})
	if ack.JSON("data") != `{"recovered":false}` {
		t.Errorf("ack %v", ack)
	}
	var got []string
	for c.Has(rt.IsType("event")) {
		ev := c.Next(rt.IsType("event"))
		got = append(got, ev.Str("event")+ev.JSON("data"))
	}
	if want := []string{"y3", "x4", "y5"}; !slices.Equal(got, want) {
		t.Errorf("replayed %v, want %v", got, want)
	}
	h := c.MustAck(map[string]any{"type": "history", "ns": "hist", "room": "r", "limit": 10})
	if got := len(h["data"].(map[string]any)["events"].([]any)); got != 3 {
		t.Errorf("history holds %d events, want 3: %v", got, h)
	}
}

// historyData returns the data of the events of a history ack.
func historyData(t *testing.T, ack rt.Frame) []string {
	t.Helper()
	d, ok := ack["data"].(map[string]any)
	if !ok {
		t.Fatalf("history reply: %v", ack)
	}
	var out []string
	for _, e := range d["events"].([]any) {
		ev := e.(map[string]any)
		if ev["type"] != "event" || ev["room"] != "r" || ev["seq"] == nil {
			t.Fatalf("history event %v", ev)
		}
		out = append(out, fmt.Sprint(ev["data"]))
	}
	return out
}

func TestHistoryScrollback(t *testing.T) {
	n := rt.Start(t, historyConfig(t, t.TempDir(), 6))
	a := n.Dial()
	a.Connect("hist")
	a.Join("hist", "r")
	seqs := emitN(t, a, "r", 1, 9) // 4..9 kept
	for _, tc := range []struct {
		frame map[string]any
		want  []string
	}{
		{map[string]any{}, []string{"4", "5", "6", "7", "8", "9"}},
		{map[string]any{"limit": 2}, []string{"8", "9"}},
		{map[string]any{"limit": 2, "before": seqs[7]}, []string{"6", "7"}},
		{map[string]any{"limit": 10, "before": seqs[4]}, []string{"4"}},
		{map[string]any{"before": seqs[3]}, nil},
	} {
		f := map[string]any{"type": "history", "ns": "hist", "room": "r"}
		maps.Copy(f, tc.frame)
		if got := historyData(t, a.MustAck(f)); !slices.Equal(got, tc.want) {
			t.Errorf("%v: got %v, want %v", tc.frame, got, tc.want)
		}
	}
	// A socket that may join the room may read it without joining.
	b := n.Dial()
	b.Connect("hist")
	if got := historyData(t, b.MustAck(map[string]any{"type": "history", "ns": "hist", "room": "r", "limit": 1})); !slices.Equal(got, []string{"9"}) {
		t.Errorf("non-member: got %v", got)
	}
	for _, f := range []map[string]any{
		{"type": "history", "ns": "hist", "room": "r", "limit": 0},
		{"type": "history", "ns": "hist", "room": "r", "limit": "ten"},
		{"type": "history", "ns": "hist"},
	} {
		if code := b.ErrorCode(f); code != "bad_frame" {
			t.Errorf("%v: code %s, want bad_frame", f, code)
		}
	}
	if code := b.ErrorCode(map[string]any{"type": "history", "ns": "chat", "room": "r"}); code != "not_connected" {
		t.Errorf("history of a namespace not connected: %s", code)
	}
}

// TestHistoryBackendEvents: events a backend publishes to the room subject
// are stored, even before any client connected, and delivered with seq.
func TestHistoryBackendEvents(t *testing.T) {
	n := rt.Start(t, historyConfig(t, t.TempDir(), 10))
	nc, js := histBackend(t, n)
	if err := nc.Publish("router.hist.room.r.news", []byte(`{"n":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("router.hist.room.r.news", []byte(`plain text`)); err != nil {
		t.Fatal(err)
	}
	c := n.Dial()
	c.Connect("hist")
	rt.Eventually(t, "backend events stored", func() error {
		if got := len(historyData(t, c.MustAck(map[string]any{"type": "history", "ns": "hist", "room": "r"}))); got != 2 {
			return fmt.Errorf("%d events stored", got)
		}
		return nil
	})
	c.MustAck(map[string]any{"type": "join", "ns": "hist", "room": "r", "since": 0})
	for _, want := range []string{`{"n":1}`, `"plain text"`} {
		ev := c.Next(rt.IsEvent("news"))
		if ev.JSON("data") != want || ev.Num("seq") == 0 || ev["from"] != nil {
			t.Errorf("replayed %v, want data %s", ev, want)
		}
	}
	ack, err := js.Publish(context.Background(), "router.hist.room.r.news", []byte(`3`))
	if err != nil {
		t.Fatal(err)
	}
	ev := c.Next(rt.IsEvent("news"))
	if ev.JSON("data") != "3" || uint64(ev.Num("seq")) != ack.Sequence {
		t.Errorf("live backend event %v, want seq %d", ev, ack.Sequence)
	}
}

// TestHistorySurvivesRestart: a node restarted on the same store keeps the
// rooms' events and their seqs go on.
func TestHistorySurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	n := rt.Start(t, historyConfig(t, dir, 10))
	a := n.Dial()
	a.Connect("hist")
	a.Join("hist", "r")
	before := emitN(t, a, "r", 1, 3)
	n.Stop()

	n = rt.Start(t, historyConfig(t, dir, 10))
	c := n.Dial()
	c.Connect("hist")
	ack := c.MustAck(map[string]any{"type": "join", "ns": "hist", "room": "r", "since": before[0]})
	if ack.JSON("data") != `{"recovered":true}` {
		t.Errorf("ack %v", ack)
	}
	for _, want := range before[1:] {
		if ev := c.Next(rt.IsEvent("msg")); uint64(ev.Num("seq")) != want {
			t.Errorf("replayed %v, want seq %d", ev, want)
		}
	}
	if after := emitN(t, c, "r", 4, 1); after[0] <= before[2] {
		t.Errorf("seq after restart %d, not after %d", after[0], before[2])
	}
}

// TestHistoryReplayLargerThanSendQueue: a replay of more events than the
// send queue holds is paced to the reader instead of closing it (1013).
func TestHistoryReplayLargerThanSendQueue(t *testing.T) {
	cfg := historyConfig(t, t.TempDir(), 500)
	cfg.Limits.SendQueue = 16
	cfg.Limits.Rate.PerSecond = 0
	n := rt.Start(t, cfg)
	_, js := histBackend(t, n)
	for i := 0; i < 300; i++ {
		if _, err := js.Publish(context.Background(), "router.hist.room.r.msg", []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	c := n.Dial()
	c.Connect("hist")
	ack := c.MustAck(map[string]any{"type": "join", "ns": "hist", "room": "r", "since": 0})
	if ack.JSON("data") != `{"recovered":true}` {
		t.Fatalf("ack %v", ack)
	}
	for i := 0; i < 300; i++ {
		if ev := c.Next(rt.IsEvent("msg")); ev.JSON("data") != fmt.Sprint(i) {
			t.Fatalf("event %d: %v", i, ev)
		}
	}
}

// TestHistoryBurstBeyondRetention: live members get every event of a burst
// far larger than what the room keeps, in order.
func TestHistoryBurstBeyondRetention(t *testing.T) {
	n := rt.Start(t, historyConfig(t, t.TempDir(), 5))
	c := n.Dial()
	c.Connect("hist")
	c.Join("hist", "r")
	nc := n.Backend()
	for i := 0; i < 500; i++ {
		if err := nc.Publish("router.hist.room.r.msg", []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	var last float64
	for i := 0; i < 500; i++ {
		ev := c.Next(rt.IsEvent("msg"))
		if ev.JSON("data") != fmt.Sprint(i) || ev.Num("seq") <= last {
			t.Fatalf("event %d: %v after seq %v", i, ev, last)
		}
		last = ev.Num("seq")
	}
}

// TestHistoryVariants: history on glob namespaces (stream made at the first
// connect), with nats.users, on an external NATS with JetStream, and for
// rooms joined by ctl.
func TestHistoryVariants(t *testing.T) {
	glob := func(t *testing.T) *rt.Node {
		cfg := historyConfig(t, t.TempDir(), 10)
		ns := cfg.Namespaces["hist"]
		delete(cfg.Namespaces, "hist")
		cfg.Namespaces["tenant-*"] = ns
		return rt.Start(t, cfg)
	}
	for _, tc := range []struct {
		name  string
		ns    string
		start func(t *testing.T) *rt.Node
	}{
		{"glob", "tenant-a", glob},
		{"users", "hist", func(t *testing.T) *rt.Node {
			cfg := historyConfig(t, t.TempDir(), 10)
			cfg.NATS.Users = []config.User{{User: "hist", Password: "pw", Namespaces: []string{"hist"}}}
			return rt.Start(t, cfg)
		}},
		{"external", "hist", func(t *testing.T) *rt.Node {
			bus := rt.ExternalNATS(t, 0, t.TempDir())
			cfg := historyConfig(t, "", 10)
			cfg.NATS.JetStream.Enabled = false
			cfg.NATS.URL = []string{bus.ClientURL()}
			return rt.Start(t, cfg)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := tc.start(t)
			a := n.Dial()
			sid := a.Connect(tc.ns)
			a.Join(tc.ns, "r")
			ack := a.MustAck(map[string]any{"type": "emit", "ns": tc.ns, "room": "r", "event": "msg", "data": 1, "self": true})
			seq := ack["data"].(map[string]any)["seq"].(float64)
			if ev := a.Next(rt.IsEvent("msg")); ev.Num("seq") != seq {
				t.Errorf("event %v, want seq %v", ev, seq)
			}
			// A backend (ctl) puts a second socket in the room; it then
			// gets live events with seq, and can page back.
			b := n.Dial()
			bsid := b.Connect(tc.ns)
			var opts []nats.Option
			if tc.name == "users" {
				opts = []nats.Option{nats.UserInfo("hist", "pw"), nats.CustomInboxPrefix(daemon.InboxPrefix("hist"))}
			}
			reply, err := n.Backend(opts...).Request("router."+tc.ns+".ctl.join", []byte(fmt.Sprintf(`{"sid":%q,"room":"r"}`, bsid)), rt.Wait)
			if err != nil || !strings.Contains(string(reply.Data), `"count":1`) {
				t.Fatalf("ctl join: %v %s", err, reply.Data)
			}
			a.MustAck(map[string]any{"type": "emit", "ns": tc.ns, "room": "r", "event": "msg", "data": 2})
			if ev := b.Next(rt.IsEvent("msg")); ev.Num("seq") <= seq || ev.Str("from") != sid {
				t.Errorf("event after ctl join %v", ev)
			}
			h := b.MustAck(map[string]any{"type": "history", "ns": tc.ns, "room": "r"})
			if got := len(h["data"].(map[string]any)["events"].([]any)); got != 2 {
				t.Errorf("history holds %d events: %v", got, h)
			}
		})
	}
}
