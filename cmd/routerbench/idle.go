package main

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// idleFigures are the results of an idle run.
type idleFigures struct {
	HeldSeconds float64 `json:"held_seconds"` // from the last connection joined to the second scrape
	// PerConnection is each watched gauge's growth divided by the number
	// of connections: process_resident_memory_bytes is the figure to
	// compare with routerd's target of at most 10 KB per connection.
	PerConnection map[string]float64 `json:"per_connection"`
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
}

func idleFlags(fs *flag.FlagSet) runFunc {
	conns := fs.Int("conns", 10000, "connections to hold")
	rooms := fs.Int("rooms", 100, "rooms the connections join, round robin")
	settle := fs.Duration("settle", 5*time.Second, "how long to hold them before reading the server's memory")
	return func(ctx context.Context, o *options) (*report, error) {
		return runIdle(ctx, o, *conns, *rooms, *settle)
	}
}

// runIdle reads the server's memory, opens conns connections (attached and
// joined, round robin over rooms), holds them for settle and reads the
// memory again. Run it against a freshly started server: a Go process's
// resident memory does not shrink right after load, so a server that
// served earlier runs already holds the memory the new connections use.
func runIdle(ctx context.Context, o *options, conns, rooms int, settle time.Duration) (*report, error) {
	if err := positive(map[string]int{"conns": conns, "rooms": rooms}); err != nil {
		return nil, err
	}
	ms, err := startMeasurement(ctx, o, true)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	cs, _, err := dialAll(ctx, o, conns, o.memberURL, func(i int) string { return o.roomName(i % rooms) }, newTally(0))
	if err != nil {
		return nil, err
	}
	rep := &report{SetupSeconds: time.Since(start).Seconds()}
	o.logf("%d connections held after %.2fs; reading the server's memory in %s", conns, rep.SetupSeconds, settle)
	held := time.Now()
	select {
	case <-time.After(settle):
	case <-ctx.Done():
	}
	err = ms.stop(ctx, rep)
	heldFor := time.Since(held)
	closeAll(cs)
	if err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("interrupted: %w", ctx.Err())
	}
	rep.collect(cs)
	rep.Idle = &idleFigures{HeldSeconds: heldFor.Seconds(), PerConnection: rep.Server.perConnection(conns)}
	return rep, nil
}
