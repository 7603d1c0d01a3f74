// Package sendq holds the bounded send queue that the WebSocket bridge and
// the Socket.IO transport put a connection's outgoing frames in: what is
// queued, its bound, the half of it kept free while a replay is paced, and
// the token of the one consumer that takes from it.
//
// Lifecycle: New makes a queue; producers Push, one consumer at a time
// Takes, and replays Wait for room; the owner Closes it once, after which
// it takes no more items while what it holds (unless dropped) can still be
// taken.
package sendq

import (
	"context"
	"errors"
	"sync"
)

// ErrFull is returned by Push when the queue holds its limit: the consumer
// is too slow, and the owner decides what becomes of it.
var ErrFull = errors.New("sendq: send queue full")

// ErrClosed is returned by Push and Wait once the queue is closed.
var ErrClosed = errors.New("sendq: send queue closed")

// Queue is the bounded queue of encoded items (frames, Engine.IO units)
// waiting to be written to one connection.
//
// Bounds: it holds at most limit items; a Push beyond that is refused with
// ErrFull and never blocks. Wait (a paced replay) lets items in only while
// they fit in the queue's first half (limit - limit/2), so the other half,
// limit/2, stays free for what other senders queue meanwhile. The backing
// slice grows only as far as it is used, and a burst's (more than 64
// items) is let go once the queue empties.
//
// Ownership: any goroutine may Push, Wait or Close. The consumer is the
// one goroutine that Takes: it owns the take side from a Push or Close that
// reports start (the consumer was idle: the caller starts or wakes it)
// until a Take that returns nothing, which gives the take side up.
//
// The queue's lock is a leaf: it is never held while calling out, so an
// owner may call Push, Take and Close with its own locks held (not Wait,
// which blocks).
type Queue struct {
	mu      sync.Mutex
	items   [][]byte        // guarded by mu
	limit   int             // most items queued at once
	running bool            // a consumer owns the take side; guarded by mu
	closed  bool            // takes no more items; guarded by mu
	taken   chan struct{}   // capacity 1: a Take made room; made by the first Wait, closed by Close; guarded by mu
	started *sync.WaitGroup // counts the consumers started, when not nil
}

// New returns an empty queue that holds at most limit (at least 1) items.
// When started is not nil, each consumer start that Push or Close reports
// is added to it under the queue's lock, where the take side is marked
// owned, so that an owner that closes the queue and then waits on started
// cannot miss a consumer a concurrent Push has just started; the consumer
// calls started.Done as it ends.
func New(limit int, started *sync.WaitGroup) *Queue {
	return &Queue{limit: limit, started: started}
}

// Push queues item without blocking. start reports that the consumer was
// idle and the caller must start or wake it. err is ErrFull when the queue
// holds its limit, ErrClosed once it is closed; item is not queued then.
func (q *Queue) Push(item []byte) (start bool, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case q.closed:
		return false, ErrClosed
	case len(q.items) >= q.limit:
		return false, ErrFull
	}
	q.items = append(q.items, item)
	return q.run(), nil
}

// run marks the take side owned and reports whether the caller must start
// the consumer that owns it. Lock must be held.
func (q *Queue) run() (start bool) {
	if q.running {
		return false
	}
	q.running = true
	if q.started != nil {
		q.started.Add(1)
	}
	return true
}

// Wait blocks until items fit in the queue's first half, or the queue
// closes (ErrClosed), or ctx ends, and returns how many do (at least 1, at
// most n). The other half stays free for the items queued meanwhile (live
// events, the reply that follows a replay), which are never made to wait.
func (q *Queue) Wait(ctx context.Context, n int) (int, error) {
	for {
		q.mu.Lock()
		if q.taken == nil && !q.closed {
			q.taken = make(chan struct{}, 1)
		}
		taken, free, closed := q.taken, q.limit-q.limit/2-len(q.items), q.closed
		q.mu.Unlock()
		switch {
		case closed:
			return 0, ErrClosed
		case free > 0:
			return min(free, n), nil
		}
		select {
		case <-taken:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// Take moves up to maxBytes of queued items (at least one, when any is
// queued) into dst and returns it, for the consumer to write as one batch.
// When nothing is queued it gives up the take side: the consumer must end,
// or sleep until a Push reports start.
func (q *Queue) Take(dst [][]byte, maxBytes int) [][]byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	n, size := 0, 0
	for n < len(q.items) && (n == 0 || size+len(q.items[n]) <= maxBytes) {
		size += len(q.items[n])
		n++
	}
	if n == 0 {
		q.running = false
		if cap(q.items) > 64 {
			q.items = nil // let a burst's backing array go
		}
		return dst
	}
	dst = append(dst, q.items[:n]...)
	rest := copy(q.items, q.items[n:])
	clear(q.items[rest:])
	q.items = q.items[:rest]
	if !q.closed {
		select {
		case q.taken <- struct{}{}: // nil (never ready) until someone waits
		default:
		}
	}
	return dst
}

// Close stops the queue taking items and wakes every Wait; with drop it
// also discards what is queued. start reports that the consumer was idle
// and the caller must start or wake it (to take what is left and end the
// connection). Closing a closed queue only drops, when drop is set.
func (q *Queue) Close(drop bool) (start bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		if q.taken != nil {
			close(q.taken)
		}
	}
	if drop {
		q.items = nil
	}
	return q.run()
}
