package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/routerd/routerd/internal/routertest"
)

// electionWait bounds waiting for JetStream to elect leaders after a node
// dies.
const electionWait = 30 * time.Second

// TestClusterHistoryLeaderLoss runs three routerd processes whose room
// history is replicated three times, kills the stream leader with SIGKILL,
// and checks that the survivors go on storing and delivering events with
// seq, that a member on a surviving node misses nothing, and that a new
// client recovers the whole room.
func TestClusterHistoryLeaderLoss(t *testing.T) {
	t.Parallel()
	cluster := [3]int{routertest.FreePort(t), routertest.FreePort(t), routertest.FreePort(t)}
	natsPorts := [3]int{routertest.FreePort(t), routertest.FreePort(t), routertest.FreePort(t)}
	var procs [3]*proc
	for i := range procs {
		addr := fmt.Sprintf("127.0.0.1:%d", routertest.FreePort(t))
		config := writeConfig(t, fmt.Sprintf(`
node: {name: n%d}
log: {level: warn}
http: {listen: %q}
nats:
  listen: "127.0.0.1:%d"
  jetstream: {enabled: true, store_dir: %q}
  cluster:
    name: history
    listen: "127.0.0.1:%d"
    routes: ["nats-route://127.0.0.1:%d", "nats-route://127.0.0.1:%d", "nats-route://127.0.0.1:%d"]
namespaces: {hist: {history: {max_msgs: 1000, replicas: 3}}}
`, i+1, addr, natsPorts[i], t.TempDir(), cluster[i], cluster[0], cluster[1], cluster[2]))
		procs[i] = startProc(t, config, addr)
	}
	var urls []string
	for _, p := range natsPorts {
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	nc, err := nats.Connect(strings.Join(urls, ","), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	leader := func() (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		st, err := js.Stream(ctx, "routerd_router_hist")
		if err != nil {
			return "", err
		}
		if c := st.CachedInfo().Cluster; c != nil && c.Leader != "" && len(c.Replicas) == 2 {
			return c.Leader, nil
		}
		return "", fmt.Errorf("no leader or replicas yet")
	}
	var lead string
	routertest.EventuallyWithin(t, "replicated history stream", electionWait, func() (err error) {
		lead, err = leader()
		return err
	})
	dead := int(lead[1] - '1') // node names are n1..n3
	alive := (dead + 1) % 3

	var clients [3]*routertest.Client
	for i, p := range procs {
		clients[i] = p.dial()
		clients[i].Connect("hist")
		clients[i].Join("hist", "r")
	}
	// A join is in force on its node's server once acked; the stream
	// leader's server learns of it a moment later. The events counted
	// (msg) are emitted once every member got a warm-up event: each
	// member's interest is known to the leader's server by then.
	routertest.EventuallyWithin(t, "every member gets the room's events", electionWait, func() error {
		clients[alive].Send(map[string]any{"type": "emit", "ns": "hist", "room": "r", "event": "warm", "self": true})
		for k, c := range clients {
			if !c.Has(routertest.IsEvent("warm")) {
				return fmt.Errorf("member on n%d got none yet", k+1)
			}
		}
		return nil
	})
	// An acked emit waits for JetStream's acknowledgement, which an
	// election in progress delays: the reply may take up to ack_timeout.
	emit := func(c *routertest.Client, data int) bool {
		a := c.ReqWithin(map[string]any{"type": "emit", "ns": "hist", "room": "r", "event": "msg", "data": data, "self": true}, 2*routertest.Wait)
		return a.Type() == "ack"
	}
	// The fresh stream may still be settling its leadership, so an emit
	// may be refused (or its acknowledgement come late): what counts is
	// that five are acked, and, below, that every member got exactly what
	// the stream stored.
	i, acked := 0, 0
	routertest.EventuallyWithin(t, "five emits acked", electionWait, func() error {
		for ; acked < 5; i++ {
			if !emit(clients[alive], i) {
				i++
				return fmt.Errorf("emit %d refused", i-1)
			}
			acked++
		}
		return nil
	})
	// An acked event is stored, but its live copy leaves from the leader:
	// one the leader dies before sending is delivered to nobody (live
	// delivery is at most once; a rejoin with since recovers it). The
	// leader dies once the members on the other nodes got the last one.
	lastAcked := fmt.Sprint(i - 1)
	routertest.Eventually(t, "the members on the other nodes got event "+lastAcked, func() error {
		for _, k := range []int{alive, (dead + 2) % 3} {
			if !clients[k].Has(func(f routertest.Frame) bool { return f.Type() == "event" && f.JSON("data") == lastAcked }) {
				return fmt.Errorf("not the member on n%d", k+1)
			}
		}
		return nil
	})
	start := time.Now()
	procs[dead].kill()
	routertest.EventuallyWithin(t, "emits succeed after the leader died", electionWait, func() error {
		if !emit(clients[alive], i) {
			return fmt.Errorf("emit refused")
		}
		return nil
	})
	t.Logf("history writable again %s after kill -9 of the stream leader %s", time.Since(start).Round(time.Millisecond), lead)
	for n := 0; n < 4; n++ {
		i++
		if !emit(clients[alive], i) {
			t.Fatalf("emit %d failed after the election", i)
		}
	}
	last := clients[alive].ReqWithin(map[string]any{"type": "emit", "ns": "hist", "room": "r", "event": "msg", "data": "end", "self": true}, 2*routertest.Wait)
	if last.Type() != "ack" {
		t.Fatalf("last emit: %v", last)
	}

	// A new client recovers the whole room: the ground truth.
	fresh := procs[(dead+2)%3].dial()
	fresh.Connect("hist")
	ack := fresh.MustAck(map[string]any{"type": "join", "ns": "hist", "room": "r", "since": 0})
	if ack.JSON("data") != `{"recovered":true}` {
		t.Errorf("join since 0: %v", ack)
	}
	var stored []string
	for fresh.Has(routertest.IsEvent("msg")) {
		ev := fresh.Next(routertest.IsEvent("msg"))
		stored = append(stored, fmt.Sprintf("%v:%s", ev.Num("seq"), ev.JSON("data")))
	}
	if len(stored) < 11 || !strings.HasSuffix(stored[len(stored)-1], `:"end"`) {
		t.Fatalf("recovered %v", stored)
	}
	// The members on the surviving nodes got exactly that, live.
	for _, k := range []int{alive, (dead + 2) % 3} {
		var got []string
		for {
			ev := clients[k].NextWithin(routertest.IsEvent("msg"), electionWait)
			got = append(got, fmt.Sprintf("%v:%s", ev.Num("seq"), ev.JSON("data")))
			if ev.JSON("data") == `"end"` {
				break
			}
		}
		if !slices.Equal(got, stored) {
			t.Errorf("member on n%d got\n%v\nwant\n%v", k+1, got, stored)
		}
	}
}
