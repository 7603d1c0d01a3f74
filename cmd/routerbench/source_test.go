package main

import (
	"bytes"
	"context"
	"maps"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/internal/routertest"
)

func TestParseSources(t *testing.T) {
	for _, tc := range []struct {
		in    string
		auto  bool
		addrs int
		err   string
	}{
		{"auto", true, 0, ""},
		{"none", false, 0, ""},
		{"127.0.0.2", false, 1, ""},
		{"127.0.0.2, 127.0.0.3,127.0.0.4", false, 3, ""},
		{"::1", false, 1, ""},
		{"127.0.0.2,nope", false, 0, "not an IP address"},
		{"127.0.0.2,::1", false, 0, "mixed"},
	} {
		s, err := parseSources(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || s.auto != tc.auto || len(s.addrs) != tc.addrs {
			t.Errorf("%q: %+v %v", tc.in, s, err)
		}
	}
	if n := ephemeralPorts(); n < 1 || n > 65536 {
		t.Errorf("ephemeral ports %d", n)
	}
}

func TestPlanSources(t *testing.T) {
	four := func() int { return 4 }
	auto := &sources{auto: true, ports: func() int { return 16 }} // 4 connections per address
	for _, tc := range []struct {
		target string
		n      int
		want   []string
	}{
		{"ws://127.0.0.1:8080/ws", 4, nil},
		{"ws://127.0.0.1:8080/ws", 10, []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"}},
		{"ws://localhost:8080/ws", 5, []string{"127.0.0.2", "127.0.0.3"}},
		{"ws://10.0.0.1:8080/ws", 10, nil}, // not loopback: the kernel's choice
		{"ws://[::1]:8080/ws", 10, nil},
	} {
		note, err := auto.plan(tc.target, tc.n)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, ip := range auto.addrs {
			got = append(got, ip.String())
		}
		if !slices.Equal(got, tc.want) || (note != "") != (tc.want != nil) {
			t.Errorf("%s, %d connections: %v (%q), want %v", tc.target, tc.n, got, note, tc.want)
		}
	}
	if _, err := auto.plan("ws://127.0.0.1:8080/ws", 4*251); err == nil || !strings.Contains(err.Error(), "-source") {
		t.Error("251 addresses planned")
	}
	given, _ := parseSources("127.0.0.2,127.0.0.3")
	given.ports = four
	if _, err := given.plan("ws://127.0.0.1:8080/ws", 8); err != nil {
		t.Error(err)
	}
	if _, err := given.plan("ws://127.0.0.1:8080/ws", 9); err == nil || !strings.Contains(err.Error(), "-source") {
		t.Errorf("9 connections over 2 addresses of 4 ports: %v", err)
	}
	var none *sources
	if note, err := none.plan("ws://127.0.0.1:8080/ws", 1e6); note != "" || err != nil || none.netDial() != nil {
		t.Error("nil sources")
	}
}

// sourceIPs counts the connections by their local address.
func sourceIPs(conns []*conn) map[string]int {
	ips := map[string]int{}
	for _, c := range conns {
		ips[c.ws.LocalAddr().(*net.TCPAddr).IP.String()]++
	}
	return ips
}

// TestSourcesAgainstRouterd dials a real node from two given source
// addresses, then from the addresses auto picks when one address has too
// few ports.
func TestSourcesAgainstRouterd(t *testing.T) {
	node := startNode(t)
	o := testOptions(t, "-url", node.WSURL(), "-source", "127.0.0.2,127.0.0.3", "-metrics", "none")
	conns, _, err := dialAll(context.Background(), o, 10, o.memberURL, func(int) string { return "r" }, newTally(0))
	if err != nil {
		t.Fatal(err)
	}
	closeAll(conns)
	if got := sourceIPs(conns); !maps.Equal(got, map[string]int{"127.0.0.2": 5, "127.0.0.3": 5}) {
		t.Errorf("source addresses %v, want 5 each of 127.0.0.2 and 127.0.0.3", got)
	}

	auto := testOptions(t, "-url", node.WSURL(), "-metrics", "none")
	auto.sources.ports = func() int { return 12 } // 3 connections per address
	conns, _, err = dialAll(context.Background(), auto, 7, auto.memberURL, func(int) string { return "r" }, newTally(0))
	if err != nil {
		t.Fatal(err)
	}
	closeAll(conns)
	if got := sourceIPs(conns); !maps.Equal(got, map[string]int{"127.0.0.2": 3, "127.0.0.3": 2, "127.0.0.4": 2}) {
		t.Errorf("source addresses %v, want 127.0.0.2-127.0.0.4", got)
	}
}

// TestIdleBroadcastAgainstRouterd holds connections from two source
// addresses, over routerd's native and Socket.IO endpoints, and has a
// NATS backend broadcast to them.
func TestIdleBroadcastAgainstRouterd(t *testing.T) {
	cfg := routertest.Config(t)
	cfg.Limits.Rate.PerSecond = 0
	cfg.SocketIO.Enabled = true
	cfg.SocketIO.Events = map[string]string{"join": config.ActionJoin, "message": config.ActionRoom}
	node := routertest.Start(t, cfg)
	sio := "ws://" + node.HTTPAddr() + "/socket.io/?EIO=4&transport=websocket"
	for name, args := range map[string][]string{
		"routerd":  {"-url", node.WSURL()},
		"socketio": {"-url", sio, "-proto", "socketio"},
	} {
		t.Run(name, func(t *testing.T) {
			o := testOptions(t, append(args, "-source", "127.0.0.2,127.0.0.3", "-metrics", node.HTTPURL()+"/metrics")...)
			s := idleSpec{conns: 20, rooms: 3, broadcasts: 3, nats: node.NATSURL(), prefix: cfg.NATS.Prefix, size: 64, wait: routertest.Wait}
			rep, err := s.run(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			b := rep.Idle.Broadcast
			if b == nil || b.Sent != 3 || b.Expected != 60 || b.Received != 60 || b.Lost != 0 || b.Missing != 0 || b.Extra != 0 || b.OutOfOrder != 0 || b.TimedOut {
				t.Fatalf("broadcast: %+v", b)
			}
			if len(b.Spans) != 3 || b.DeliveriesPerSec <= 0 || b.Latency.Count != 60 || b.Latency.Max > float64(routertest.Wait/time.Millisecond) {
				t.Errorf("broadcast figures: %+v", b)
			}
			if rep.Idle.HoldServerCPU < 0 {
				t.Errorf("server cpu while held %v", rep.Idle.HoldServerCPU)
			}
			if _, ok := rep.Idle.PerConnection["process_resident_memory_bytes"]; !ok || len(rep.Failures) > 0 || len(rep.Errors) > 0 || len(rep.Ended) > 0 {
				t.Errorf("idle %+v, failures %v, errors %v, ended %v", rep.Idle, rep.Failures, rep.Errors, rep.Ended)
			}
		})
	}
}

// TestIdleBroadcastMissed fails the run's check when no broadcast arrives:
// the broadcasts go to another namespace than the connections'.
func TestIdleBroadcastMissed(t *testing.T) {
	node := startNode(t)
	o := testOptions(t, "-url", node.WSURL())
	s := idleSpec{conns: 3, rooms: 1, broadcasts: 2, nats: node.NATSURL(), prefix: "elsewhere", size: 64, wait: 200 * time.Millisecond}
	rep, err := s.run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if b := rep.Idle.Broadcast; b.Sent != 1 || !b.TimedOut || b.Missing != 3 || b.Received != 0 || len(rep.Failures) != 1 {
		t.Errorf("broadcast %+v, failures %v", b, rep.Failures)
	}
}

// TestIdleCommandLine runs idle with broadcasts as the binary does and
// reads its table.
func TestIdleCommandLine(t *testing.T) {
	node := startNode(t)
	var out, errs bytes.Buffer
	code := run([]string{"idle", "-url", node.WSURL(), "-conns", "4", "-settle", "0s", "-broadcasts", "2", "-nats", node.NATSURL(), "-source", "127.0.0.2,127.0.0.3"}, &out, &errs)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs.String())
	}
	for _, want := range []string{"every connection got every broadcast  yes", "broadcasts  2 sent; 8 of 8 deliveries, 0 lost", "broadcast latency", "broadcast cpu per delivery", "per connection process_resident_memory_bytes"} {
		if !strings.Contains(strings.Join(strings.Fields(out.String()), " "), strings.Join(strings.Fields(want), " ")) {
			t.Errorf("no %q in\n%s", want, out.String())
		}
	}
	for _, args := range [][]string{
		{"idle", "-url", node.WSURL(), "-source", "nope"},
		{"idle", "-url", node.WSURL(), "-broadcasts", "-1"},
	} {
		if code := run(args, &out, &errs); code == 0 {
			t.Errorf("%q: exit 0", args)
		}
	}
	if code := run([]string{"idle", "-url", node.WSURL(), "-conns", "2", "-broadcasts", "1", "-nats", "nats://127.0.0.1:1"}, &out, &errs); code != 1 || !strings.Contains(errs.String(), "-nats") {
		t.Errorf("unreachable NATS: exit %d, %s", code, errs.String())
	}
}
