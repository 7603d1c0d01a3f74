package main

import (
	"context"
	"flag"
	"time"
)

// connectFigures are the results of a connect run.
type connectFigures struct {
	PerSecond float64 `json:"per_second"` // connect+join completed per second
	Latency   latency `json:"latency"`    // dial to join acknowledged, per connection
}

func (c *connectFigures) rows(row rowFunc) {
	row("connect+join/s", "%.0f", c.PerSecond)
	c.Latency.rows(row, "connect+join time")
}

func connectFlags(fs *flag.FlagSet) runFunc {
	conns := fs.Int("conns", 5000, "connections to open")
	rooms := fs.Int("rooms", 100, "rooms the connections join, round robin")
	return func(ctx context.Context, o *options) (*report, error) { return runConnect(ctx, o, *conns, *rooms) }
}

// runConnect opens conns connections, o.concurrency at a time, each one
// dialled (TCP and WebSocket upgrade), attached to the namespace and joined
// to a room, every step waiting for the server's reply. They stay open
// until all are done, so the server's accept path is measured without its
// teardown path.
func runConnect(ctx context.Context, o *options, conns, rooms int) (*report, error) {
	if err := positive(map[string]int{"conns": conns, "rooms": rooms}); err != nil {
		return nil, err
	}
	ms, err := startMeasurement(ctx, o, false)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	cs, took, err := dialAll(ctx, o, conns, o.memberURL, func(i int) string { return o.roomName(i % rooms) }, newTally(0))
	if err != nil {
		return nil, err
	}
	elapsed := time.Since(start)
	rep := &report{SetupSeconds: elapsed.Seconds()}
	err = ms.stop(ctx, rep)
	closeAll(cs)
	if err != nil {
		return nil, err
	}
	rep.collect(cs)
	var h histogram
	for _, d := range took {
		h.record(d)
	}
	rep.Connect = &connectFigures{PerSecond: float64(conns) / elapsed.Seconds(), Latency: h.summary()}
	return rep, nil
}
