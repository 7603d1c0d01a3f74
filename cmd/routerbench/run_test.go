package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/internal/routertest"
)

// startNode starts a routerd node without the per-connection rate limit,
// as docs/performance.md says to run it for benchmarks, and without
// presence events (whose $join deliveries, still arriving while the run
// starts, would blur the server's delivery count).
func startNode(t *testing.T) *routertest.Node {
	t.Helper()
	cfg := routertest.Config(t)
	cfg.Limits.Rate.PerSecond = 0
	chat := cfg.Namespaces["chat"]
	chat.PresenceEvents = false
	cfg.Namespaces["chat"] = chat
	return routertest.Start(t, cfg)
}

func TestFanoutAgainstRouterd(t *testing.T) {
	node := startNode(t)
	o := testOptions(t, "-url", node.WSURL(), "-concurrency", "10")
	spec := trafficSpec{rooms: 1, perRoom: 20, publishers: 2, messages: 50, size: 64, wait: routertest.Wait}
	rep, err := runTraffic(context.Background(), o, spec)
	if err != nil {
		t.Fatal(err)
	}
	f := rep.Traffic
	if want := int64(2 * 50 * 19); f.Expected != want || f.Received != want || f.Lost != 0 || f.TimedOut || f.OutOfOrder != 0 {
		t.Errorf("expected %d, received %d, lost %d, out of order %d, timed out %v; want %d each, none lost", f.Expected, f.Received, f.Lost, f.OutOfOrder, f.TimedOut, want)
	}
	if f.Sent != 100 || f.Latency.Count != uint64(f.Received) || f.DeliveriesPerSec <= 0 || f.Latency.P99 <= 0 {
		t.Errorf("figures: %+v", f)
	}
	if rep.Connections != 20 || len(rep.Errors) > 0 || len(rep.Ended) > 0 {
		t.Errorf("connections %d, errors %v, ended %v", rep.Connections, rep.Errors, rep.Ended)
	}
	if rep.Server == nil || rep.Server.Increase["routerd_deliveries_total"] != float64(f.Received) {
		t.Errorf("server figures: %+v", rep.Server)
	}
}

// TestFanoutAcrossNodes puts the publishers on one node of a two-node
// cluster and the other members on the other node.
func TestFanoutAcrossNodes(t *testing.T) {
	nodes := routertest.StartCluster(t, 2, func(_ int, cfg *config.Config) { cfg.Limits.Rate.PerSecond = 0 })
	o := testOptions(t, "-url", nodes[0].WSURL(), "-publish-url", nodes[1].WSURL(), "-metrics", "none")
	spec := trafficSpec{rooms: 1, perRoom: 12, publishers: 2, messages: 30, size: 64, wait: routertest.Wait}
	rep, err := runTraffic(context.Background(), o, spec)
	if err != nil {
		t.Fatal(err)
	}
	if f := rep.Traffic; f.Expected != 2*30*11 || f.Received != f.Expected || f.OutOfOrder != 0 {
		t.Errorf("expected %d, received %d, out of order %d", f.Expected, f.Received, f.OutOfOrder)
	}
}

func TestRoomsWithSelfAgainstRouterd(t *testing.T) {
	node := startNode(t)
	o := testOptions(t, "-url", node.WSURL(), "-metrics", "none")
	spec := trafficSpec{rooms: 4, perRoom: 3, publishers: 1, messages: 10, rate: 400, size: 40, self: true, wait: routertest.Wait}
	rep, err := runTraffic(context.Background(), o, spec)
	if err != nil {
		t.Fatal(err)
	}
	if f := rep.Traffic; f.Expected != 4*10*3 || f.Received != f.Expected || f.OutOfOrder != 0 || rep.Server != nil {
		t.Errorf("expected %d, received %d, out of order %d, server %v", f.Expected, f.Received, f.OutOfOrder, rep.Server)
	}
}

func TestConnectAndIdleAgainstRouterd(t *testing.T) {
	node := startNode(t)
	o := testOptions(t, "-url", node.WSURL())
	rep, err := runConnect(context.Background(), o, 30, 3)
	if err != nil {
		t.Fatal(err)
	}
	if c := rep.Connect; c.PerSecond <= 0 || c.Latency.Count != 30 {
		t.Errorf("connect: %+v", c)
	}
	// A client that pipelines connect and join in one message.
	piped := testOptions(t, "-url", node.WSURL(), "-pipeline")
	if rep, err := runConnect(context.Background(), piped, 30, 3); err != nil || rep.Connect.Latency.Count != 30 {
		t.Fatalf("pipelined connect: %v %+v", err, rep)
	}
	rep, err = runIdle(context.Background(), o, 30, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := rep.Idle.PerConnection["process_resident_memory_bytes"]; !ok {
		t.Errorf("idle: %+v", rep.Idle)
	}
}

// TestCommandLine runs a scenario through run, as the binary does.
func TestCommandLine(t *testing.T) {
	node := startNode(t)
	var out, errs bytes.Buffer
	code := run([]string{"fanout", "-url", node.WSURL(), "-members", "5", "-publishers", "1", "-messages", "3", "-json"}, &out, &errs)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs.String())
	}
	var rep report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("%s: %v", out.String(), err)
	}
	if rep.Scenario != "fanout" || rep.Params["members"] != "5" || rep.Traffic.Received != 12 {
		t.Errorf("report: %s", out.String())
	}
	out.Reset()
	file := filepath.Join(t.TempDir(), "results.jsonl")
	if code := run([]string{"connect", "-url", node.WSURL(), "-conns", "3", "-out", file}, &out, &errs); code != 0 || !strings.Contains(out.String(), "connect+join/s") {
		t.Errorf("table, exit %d:\n%s", code, out.String())
	}
	if b, err := os.ReadFile(file); err != nil || json.Unmarshal(b, &rep) != nil || rep.Scenario != "connect" || rep.Connect.Latency.Count != 3 {
		t.Errorf("-out file: %s %v", b, err)
	}
	for _, args := range [][]string{nil, {"nope"}, {"fanout", "-proto", "nope"}, {"fanout", "extra"}, {"idle", "-url", "http://x"}} {
		if code := run(args, &out, &errs); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
}
