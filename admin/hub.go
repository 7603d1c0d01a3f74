package admin

import (
	"context"
	"encoding/json"
	"sync"
	"time"
)

// snapshotEvery is how often a live console gets a snapshot.
const snapshotEvery = time.Second

// hub makes the snapshots of this node's live consoles: while at least
// one console stream is open, one loop asks every node for its report once
// a second, counts the rooms' events, reads the history streams every few
// seconds, and hands the same encoded snapshot to every stream. With no
// stream open it does nothing.
type hub struct {
	c *Console

	mu       sync.Mutex
	watchers map[*watcher]struct{} // guarded by mu
	stop     context.CancelFunc    // ends the loop while it runs; guarded by mu
	closed   bool                  // the console is closing: no loop starts; guarded by mu
}

// watcher is one console stream's end of the hub.
type watcher struct {
	// snaps holds the newest encoded snapshot the stream has not sent: a
	// stream that falls behind skips snapshots, never queues them.
	snaps chan []byte
}

// watch registers a stream, starting the loop for the first one.
func (h *hub) watch() *watcher {
	w := &watcher{snaps: make(chan []byte, 1)}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.watchers == nil {
		h.watchers = map[*watcher]struct{}{}
	}
	h.watchers[w] = struct{}{}
	if h.stop == nil && !h.closed {
		ctx, cancel := context.WithCancel(h.c.ctx)
		h.stop = cancel
		h.c.wg.Add(1)
		go func() {
			defer h.c.wg.Done()
			h.loop(ctx)
		}()
	}
	return w
}

// unwatch removes a stream, stopping the loop after the last one.
func (h *hub) unwatch(w *watcher) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.watchers, w)
	if len(h.watchers) == 0 && h.stop != nil {
		h.stop()
		h.stop = nil
	}
}

// loop makes a snapshot every snapshotEvery until ctx ends.
func (h *hub) loop(ctx context.Context) {
	c := h.c
	rooms, err := c.startRoomCounter()
	if err != nil {
		c.log.Warn("admin: count the rooms' events: the console shows no room rates", "err", err)
	} else {
		defer rooms.stop()
	}
	prev := map[string]sample{}
	var streams []streamView
	var streamsAt, last time.Time
	tick := time.NewTicker(snapshotEvery)
	defer tick.Stop()
	for {
		now := time.Now()
		if now.Sub(streamsAt) >= streamsEvery {
			streams, streamsAt = c.historyStreams(ctx), now
		}
		a, err := c.ask(ctx, nodeRequest{Op: opInfo})
		if err != nil {
			c.log.Debug("admin: ask the nodes for a snapshot", "err", err)
		} else {
			var roomRates map[string]map[string]float64
			switch {
			case rooms != nil && last.IsZero():
				roomRates = rooms.take(0) // no interval yet: counting starts
			case rooms != nil:
				roomRates = rooms.take(now.Sub(last))
			}
			withRates := !last.IsZero()
			last = now
			b, err := json.Marshal(c.build(a, roomRates, withRates, streams, prev, now))
			if err != nil {
				c.log.Warn("admin: encode a snapshot", "err", err)
			} else {
				h.publish(b)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// close keeps any loop from starting again; the console's context ends
// the one running.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
}

// publish hands b to every stream, in place of a snapshot it has not sent.
func (h *hub) publish(b []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.watchers {
		select {
		case <-w.snaps:
		default:
		}
		w.snaps <- b
	}
}
