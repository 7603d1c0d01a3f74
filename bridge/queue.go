package bridge

import (
	"context"
	"errors"
	"sync"
)

// sendQueue is the bounded queue of encoded frames waiting to be written to
// one connection, and the token that lets one flusher goroutine at a time
// write them. An idle connection has no flusher: push starts one when it
// queues into an empty queue, and the flusher ends when it has emptied it.
// The backing slice grows only as far as it is used.
type sendQueue struct {
	mu      sync.Mutex
	frames  [][]byte      // guarded by mu
	limit   int           // most frames queued at once
	running bool          // a flusher owns the write side; guarded by mu
	closed  bool          // takes no more frames; guarded by mu
	taken   chan struct{} // signalled when take made room; made by the first wait; guarded by mu

	// flushers counts the flushers started; it is added to under mu, where
	// running is set, so a close that finds running set and then waits for
	// the flushers cannot miss one that push has just started.
	flushers sync.WaitGroup
}

func newSendQueue(limit int) *sendQueue {
	return &sendQueue{limit: limit}
}

var errQueueClosed = errors.New("connection closed")

// wait blocks until frames fit in the queue's first half, or the queue
// closes, or ctx ends, and returns how many do (at least 1, at most n). The
// other half stays free for the frames queued meanwhile (live events, the
// reply that follows a replay), which are never made to wait.
func (q *sendQueue) wait(ctx context.Context, n int) (int, error) {
	reserve := q.limit / 2
	for {
		q.mu.Lock()
		if q.taken == nil {
			q.taken = make(chan struct{}, 1)
		}
		taken, free, closed := q.taken, q.limit-reserve-len(q.frames), q.closed
		q.mu.Unlock()
		switch {
		case closed:
			return 0, errQueueClosed
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

// push queues f. ok is false when f was refused: the queue is full (the
// connection is a slow consumer) or closed. start tells the caller to start
// a flusher.
func (q *sendQueue) push(f []byte) (ok, start bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || len(q.frames) >= q.limit {
		return false, false
	}
	q.frames = append(q.frames, f)
	return true, q.run()
}

// run marks the write side owned and reports whether the caller must start
// the flusher that owns it; q.mu is held.
func (q *sendQueue) run() (start bool) {
	if q.running {
		return false
	}
	q.running = true
	q.flushers.Add(1)
	return true
}

// flusherDone is called by a flusher as it ends.
func (q *sendQueue) flusherDone() { q.flushers.Done() }

// waitFlushers waits for every flusher started to end.
func (q *sendQueue) waitFlushers() { q.flushers.Wait() }

// full reports whether a refused push was refused for lack of room (not
// because the queue is closed).
func (q *sendQueue) full() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return !q.closed && len(q.frames) >= q.limit
}

// take moves up to maxBytes of queued frames (at least one, when any is
// queued) into dst and returns it. When nothing is queued it gives up the
// write side: the calling flusher must end.
func (q *sendQueue) take(dst [][]byte, maxBytes int) [][]byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	n, size := 0, 0
	for n < len(q.frames) && (n == 0 || size+len(q.frames[n]) <= maxBytes) {
		size += len(q.frames[n])
		n++
	}
	if n == 0 {
		q.running = false
		if cap(q.frames) > 64 {
			q.frames = nil // let a burst's backing array go
		}
		return dst
	}
	dst = append(dst, q.frames[:n]...)
	rest := copy(q.frames, q.frames[n:])
	clear(q.frames[rest:])
	q.frames = q.frames[:rest]
	select {
	case q.taken <- struct{}{}: // nil (never ready) until someone waits
	default:
	}
	return dst
}

// close stops the queue taking frames; with drop it also discards what is
// queued. start tells the caller to start a flusher (to write what is left
// and the close frame).
func (q *sendQueue) close(drop bool) (start bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	select {
	case q.taken <- struct{}{}: // wake a waiter to see it closed
	default:
	}
	if drop {
		q.frames = nil
	}
	return q.run()
}
