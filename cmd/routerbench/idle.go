package main

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/contract"
)

// broadcastEvent is the event name of the idle scenario's broadcasts.
const broadcastEvent = "bench"

// idleFigures are the results of an idle run.
type idleFigures struct {
	HeldSeconds float64 `json:"held_seconds"` // from the last connection joined to the second scrape
	// HoldServerCPU is the CPU time the server used while the connections
	// were only held (its pings every http.ping_interval and their pongs),
	// in seconds over HeldSeconds; omitted when the first scrape failed.
	HoldServerCPU float64 `json:"hold_server_cpu_seconds,omitempty"`
	// PerConnection is each watched gauge's growth divided by the number
	// of connections: process_resident_memory_bytes is the figure to
	// compare with routerd's target of at most 10 KB per connection.
	PerConnection map[string]float64 `json:"per_connection"`
	// GeneratorRSSPerConnection is routerbench's own resident memory's
	// growth over the same time divided by the connections (0 where
	// /proc/self/statm cannot be read).
	GeneratorRSSPerConnection float64 `json:"generator_rss_per_connection,omitempty"`
	// Broadcast is what the broadcasts after the memory reading did.
	Broadcast *broadcastFigures `json:"broadcast,omitempty"`
}

// broadcastFigures are the results of the namespace broadcasts published
// from NATS to every held connection, one at a time.
type broadcastFigures struct {
	Sent     int   `json:"sent"`     // broadcasts published
	Expected int64 `json:"expected"` // sent × connections
	Received int64 `json:"received"` // benchmark events that arrived
	Lost     int64 `json:"lost"`     // expected − received, when positive
	// Missing counts connections that did not get every broadcast, Extra
	// those that got more (a duplicate), and OutOfOrder deliveries not newer
	// than the connection's previous one.
	Missing    int   `json:"connections_missing"`
	Extra      int   `json:"connections_extra"`
	OutOfOrder int64 `json:"out_of_order"`
	TimedOut   bool  `json:"timed_out"`
	// Spans are each broadcast's publish to its last delivery, in seconds
	// (to within the 1 ms the run polls at); Seconds is their sum.
	Spans            []float64 `json:"spans_seconds"`
	Seconds          float64   `json:"seconds"`
	DeliveriesPerSec float64   `json:"deliveries_per_second"` // received / seconds
	Latency          latency   `json:"latency"`               // publish (before the NATS publish) to delivery
	// ServerCPU and GeneratorCPU are the CPU seconds the server and
	// routerbench used from the first publish to the last delivery, and
	// ServerRSS the server's resident memory after it (0 when not scraped).
	ServerCPU    float64 `json:"server_cpu_seconds,omitempty"`
	GeneratorCPU float64 `json:"generator_cpu_seconds"`
	ServerRSS    float64 `json:"server_rss_bytes_after,omitempty"`
}

func (f *idleFigures) rows(row rowFunc) {
	for _, g := range slices.Sorted(maps.Keys(f.PerConnection)) {
		v := f.PerConnection[g]
		if strings.HasSuffix(g, "_bytes") {
			row("per connection "+g, "%.0f bytes (%.1f KiB)", v, v/1024)
		} else {
			row("per connection "+g, "%.2f", v)
		}
	}
	if f.HoldServerCPU > 0 {
		row("server cpu while held", "%.2fs in %.1fs (%.1f%% of a core)", f.HoldServerCPU, f.HeldSeconds, 100*f.HoldServerCPU/f.HeldSeconds)
	}
	if v := f.GeneratorRSSPerConnection; v != 0 {
		row("per connection routerbench RSS", "%.0f bytes (%.1f KiB)", v, v/1024)
	}
	if b := f.Broadcast; b != nil {
		b.rows(row)
	}
}

func (b *broadcastFigures) rows(row rowFunc) {
	timedOut := ""
	if b.TimedOut {
		timedOut = " (timed out)"
	}
	row("broadcasts", "%d sent; %d of %d deliveries, %d lost%s, %d out of order", b.Sent, b.Received, b.Expected, b.Lost, timedOut, b.OutOfOrder)
	verdict := "yes"
	if b.Missing > 0 || b.Extra > 0 || b.TimedOut {
		verdict = fmt.Sprintf("NO: %d connections missed some, %d got some twice", b.Missing, b.Extra)
	}
	row("every connection got every broadcast", "%s", verdict)
	spans := make([]string, len(b.Spans))
	for i, s := range b.Spans {
		spans[i] = strconv.FormatFloat(s, 'f', 2, 64) + "s"
	}
	row("broadcast deliveries/s", "%.0f (publish to last delivery: %s)", b.DeliveriesPerSec, strings.Join(spans, ", "))
	b.Latency.rows(row, "broadcast latency")
	if b.Received > 0 {
		row("broadcast cpu per delivery", "server %.2fµs, routerbench %.2fµs", b.ServerCPU/float64(b.Received)*1e6, b.GeneratorCPU/float64(b.Received)*1e6)
	}
	if b.ServerRSS > 0 {
		row("server RSS after the broadcasts", "%.1f MiB", b.ServerRSS/(1<<20))
	}
}

// idleReadBuffer is the read buffer of an idle connection (gorilla's
// default is 4096 bytes): the server's pings and the broadcasts fit, and
// 100 000 connections save 350 MB of routerbench's memory. Frames longer
// than it are read past it, not cut.
const idleReadBuffer = 512

// idleSpec is an idle run.
type idleSpec struct {
	conns, rooms int
	settle       time.Duration // held before the second memory reading
	broadcasts   int           // namespace broadcasts published afterwards
	nats         string        // NATS URL the broadcasts are published on
	prefix       string        // routerd's nats.prefix
	size         int           // bytes of each broadcast's data
	wait         time.Duration // for one broadcast's deliveries
}

func idleFlags(fs *flag.FlagSet) runFunc {
	s := idleSpec{}
	fs.IntVar(&s.conns, "conns", 10000, "connections to hold")
	fs.IntVar(&s.rooms, "rooms", 100, "rooms the connections join, round robin")
	fs.DurationVar(&s.settle, "settle", 5*time.Second, "how long to hold them before reading the server's memory")
	fs.IntVar(&s.broadcasts, "broadcasts", 0, "then publish this many namespace broadcasts from a NATS connection (routerd's backend contract: P.{ns}.broadcast."+broadcastEvent+"), each once the one before reached every connection, and check every connection got each")
	fs.StringVar(&s.nats, "nats", "nats://127.0.0.1:4222", "NATS URL of routerd's NATS server, for -broadcasts (bench/routerd.yaml's embedded server)")
	fs.StringVar(&s.prefix, "nats-prefix", "router", "routerd's nats.prefix, for -broadcasts")
	fs.IntVar(&s.size, "size", 64, fmt.Sprintf("bytes of each broadcast's data (at least %d)", minPayload))
	fs.DurationVar(&s.wait, "timeout", time.Minute, "how long to wait for one broadcast's deliveries")
	return func(ctx context.Context, o *options) (*report, error) { return s.run(ctx, o) }
}

// runIdle is an idle run of conns connections in rooms rooms, held for
// settle, without broadcasts.
func runIdle(ctx context.Context, o *options, conns, rooms int, settle time.Duration) (*report, error) {
	return idleSpec{conns: conns, rooms: rooms, settle: settle}.run(ctx, o)
}

// run reads the server's memory, opens s.conns connections (attached and
// joined, round robin over s.rooms), holds them for s.settle and reads the
// memory again; then, with s.broadcasts, publishes that many namespace
// broadcasts from NATS and measures their delivery to every connection.
// Run it against a freshly started server: a Go process's resident memory
// does not shrink right after load, so a server that served earlier runs
// already holds the memory the new connections use.
func (s idleSpec) run(ctx context.Context, o *options) (*report, error) {
	if err := positive(map[string]int{"conns": s.conns, "rooms": s.rooms}); err != nil {
		return nil, err
	}
	if s.broadcasts < 0 {
		return nil, fmt.Errorf("-broadcasts must not be negative")
	}
	var nc *nats.Conn
	if s.broadcasts > 0 {
		// Connected first: a NATS server that is not there fails the
		// run before it opens any connection.
		var err error
		if nc, err = nats.Connect(s.nats, nats.Name("routerbench")); err != nil {
			return nil, fmt.Errorf("-nats %s: %w", s.nats, err)
		}
		defer nc.Close()
	}
	ms, err := startMeasurement(ctx, o, true)
	if err != nil {
		return nil, err
	}
	if o.readBuffer == 0 {
		o.readBuffer = idleReadBuffer
	}
	rss0 := selfRSS()
	start := time.Now()
	t := newTally(int64(s.conns) * int64(s.broadcasts))
	cs, _, err := dialAll(ctx, o, s.conns, o.memberURL, func(i int) string { return o.roomName(i % s.rooms) }, t)
	if err != nil {
		return nil, err
	}
	defer closeAll(cs) // on an early return; closing again is a no-op
	rep := &report{SetupSeconds: time.Since(start).Seconds()}
	o.logf("%d connections held after %.2fs; reading the server's memory in %s", s.conns, rep.SetupSeconds, s.settle)
	held := time.Now()
	heldCPU, cpuErr := scrape(ctx, o.metrics)
	select {
	case <-time.After(s.settle):
	case <-ctx.Done():
	}
	err = ms.stop(ctx, rep)
	heldFor := time.Since(held)
	rss1 := selfRSS()
	if err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("interrupted: %w", ctx.Err())
	}
	rep.Idle = &idleFigures{HeldSeconds: heldFor.Seconds(), PerConnection: rep.Server.perConnection(s.conns)}
	if c, ok := heldCPU[cpuSeconds]; ok && cpuErr == nil {
		// The server's CPU time since the first scrape, less its part up
		// to the hold.
		rep.Idle.HoldServerCPU = rep.Server.Increase[cpuSeconds] - (c - ms.server.before[cpuSeconds])
	}
	if rss0 > 0 && rss1 > 0 {
		rep.Idle.GeneratorRSSPerConnection = float64(rss1-rss0) / float64(s.conns)
	}
	var bf *broadcastFigures
	if s.broadcasts > 0 {
		if bf, err = s.broadcast(ctx, o, nc, t); err != nil {
			return nil, err
		}
	}
	closeAll(cs)
	rep.collect(cs)
	if bf != nil {
		bf.count(cs, bf.Sent)
		rep.Idle.Broadcast = bf
		if bf.Missing > 0 || bf.Extra > 0 || bf.TimedOut {
			rep.Failures = append(rep.Failures, fmt.Sprintf("broadcasts: %d connections missed some, %d got some twice, timed out %v", bf.Missing, bf.Extra, bf.TimedOut))
		}
	}
	return rep, nil
}

// broadcast publishes s.broadcasts namespace broadcasts on nc, each once
// every connection got the one before (as t counts them) or s.wait passed,
// and measures how long each took to reach every connection.
func (s idleSpec) broadcast(ctx context.Context, o *options, nc *nats.Conn, t *tally) (*broadcastFigures, error) {
	subject := contract.NewSubjects(s.prefix).Broadcast(o.ns, broadcastEvent)
	o.logf("publishing %d broadcasts on %s", s.broadcasts, subject)
	f := &broadcastFigures{}
	var cpu report
	ms, err := startMeasurement(ctx, o, false)
	if err != nil {
		return nil, err
	}
	var data []byte
	for k := range s.broadcasts {
		sent := time.Now()
		data = appendPayload(data[:0], stamp{sent: sent.UnixNano(), seq: uint32(k + 1)}, s.size)
		if err := nc.Publish(subject, data); err != nil {
			return nil, fmt.Errorf("publish on %s: %w", subject, err)
		}
		if err := nc.FlushTimeout(s.wait); err != nil {
			return nil, fmt.Errorf("publish on %s: flush: %w", subject, err)
		}
		f.Sent++
		done, ok := waitCount(ctx, t, int64(s.conns)*int64(k+1), s.wait)
		f.Spans = append(f.Spans, done.Sub(sent).Seconds())
		f.Seconds += done.Sub(sent).Seconds()
		o.logf("broadcast %d: %d of %d deliveries in %.3fs", k+1, t.received.Load()-int64(s.conns)*int64(k), s.conns, done.Sub(sent).Seconds())
		if !ok {
			f.TimedOut = ctx.Err() == nil
			break
		}
	}
	if err := ms.stop(ctx, &cpu); err != nil {
		return nil, err
	}
	f.GeneratorCPU = cpu.Machine.Generator
	if cpu.Server != nil {
		f.ServerCPU = cpu.Machine.Server
		f.ServerRSS = cpu.Server.After["process_resident_memory_bytes"]
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("interrupted: %w", ctx.Err())
	}
	return f, nil
}

// count adds what the connections received (once their readers ended).
func (f *broadcastFigures) count(conns []*conn, sent int) {
	f.Expected = int64(sent) * int64(len(conns))
	var h histogram
	for _, c := range conns {
		f.Received += c.events
		f.OutOfOrder += c.disordered
		h.merge(&c.hist)
		switch {
		case c.events < int64(sent):
			f.Missing++
		case c.events > int64(sent):
			f.Extra++
		}
	}
	f.Lost = max(f.Expected-f.Received, 0)
	if f.Seconds > 0 {
		f.DeliveriesPerSec = float64(f.Received) / f.Seconds
	}
	f.Latency = h.summary()
}

// waitCount waits until t has counted n events (ok), wait passed or ctx
// ended, polling every millisecond, and returns when it stopped.
func waitCount(ctx context.Context, t *tally, n int64, wait time.Duration) (at time.Time, ok bool) {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.After(wait)
	for {
		if t.received.Load() >= n {
			return time.Now(), true
		}
		select {
		case <-tick.C:
		case <-deadline:
			return time.Now(), false
		case <-ctx.Done():
			return time.Now(), false
		}
	}
}

// selfRSS is routerbench's resident memory in bytes, from
// /proc/self/statm; 0 where there is none.
func selfRSS() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * int64(os.Getpagesize())
}
