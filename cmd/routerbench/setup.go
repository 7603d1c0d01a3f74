package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// spareFiles is how many open files routerbench needs beside its connections.
const spareFiles = 64

// tally counts the benchmark events received by every connection of a run
// and closes all when expected ones are in.
type tally struct {
	expected int64
	received atomic.Int64
	all      chan struct{}
}

// newTally returns a tally that waits for expected events.
func newTally(expected int64) *tally {
	return &tally{expected: expected, all: make(chan struct{})}
}

// add counts n events; the call that reaches the expected count closes all.
func (t *tally) add(n int64) {
	v := t.received.Add(n)
	if v >= t.expected && v-n < t.expected {
		close(t.all)
	}
}

// dialAll opens n connections, connection i to url(i) and joined to room(i), with
// o.concurrency dialling at once, and starts their readers counting into
// t. took[i] is how long connection i took from dial to joined. On an
// error every connection opened is closed again.
func dialAll(ctx context.Context, o *options, n int, url, room func(int) string, t *tally) (conns []*conn, took []time.Duration, err error) {
	note, err := ensureFiles(uint64(n) + spareFiles)
	if err != nil {
		return nil, nil, err
	}
	if note != "" {
		o.logf("%s", note)
	}
	if note, err = o.sources.plan(o.url, n); err != nil {
		return nil, nil, err
	} else if note != "" {
		o.logf("%s", note)
	}
	conns = make([]*conn, n)
	took = make([]time.Duration, n)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for range min(o.concurrency, n) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				start := time.Now()
				c, err := dial(ctx, o, url(i), room(i))
				if err != nil {
					once.Do(func() { first = fmt.Errorf("connection %d of %d: %w", i+1, n, err); cancel() })
					return
				}
				took[i] = time.Since(start)
				conns[i] = c
				go c.readLoop(t)
			}
		})
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	if first != nil {
		closeAll(conns)
		return nil, nil, first
	}
	return conns, took, nil
}
