package bridge

import "sync"

// sendQueue is the bounded queue of encoded frames waiting for one
// connection's writer. Push never blocks: past the limit it reports
// overflow and the connection is closed as a slow consumer. The backing
// slices grow only as far as they are used, so an idle connection holds
// almost nothing.
type sendQueue struct {
	wake chan struct{} // capacity 1: "there is something to write"

	mu     sync.Mutex
	frames [][]byte // guarded by mu
	limit  int      // most frames queued at once
	closed bool     // guarded by mu; set once the writer stopped taking
}

func newSendQueue(limit int) *sendQueue {
	return &sendQueue{wake: make(chan struct{}, 1), limit: limit}
}

// push queues f. It reports false when the queue was full (f is dropped) or
// closed.
func (q *sendQueue) push(f []byte) bool {
	q.mu.Lock()
	if q.closed || len(q.frames) >= q.limit {
		q.mu.Unlock()
		return false
	}
	q.frames = append(q.frames, f)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return true
}

// take moves up to maxBytes of queued frames (at least one, when any is
// queued) into dst and returns it. The writer owns dst.
func (q *sendQueue) take(dst [][]byte, maxBytes int) [][]byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	n, size := 0, 0
	for n < len(q.frames) && (n == 0 || size+len(q.frames[n]) <= maxBytes) {
		size += len(q.frames[n])
		n++
	}
	dst = append(dst, q.frames[:n]...)
	rest := copy(q.frames, q.frames[n:])
	clear(q.frames[rest:])
	q.frames = q.frames[:rest]
	if rest > 0 {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	} else if cap(q.frames) > 64 {
		q.frames = nil // let a burst's backing array go
	}
	return dst
}

// close stops the queue taking frames and drops what it holds.
func (q *sendQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.frames = nil
	q.mu.Unlock()
}
