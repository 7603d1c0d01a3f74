package bridge

import (
	"runtime"
	"sync/atomic"
)

// flushQueue hands the connections a fan-out made ready to write to a few
// flusher goroutines, which stay running while there are any: a paced
// delivery costs a channel send and receive instead of a goroutine started
// and ended for it. A flusher writes with non-blocking writes
// (conn.flushOnce) and hands a connection whose write would block to a
// goroutine of its own, so a slow client never holds the others up.
type flushQueue struct {
	ready   chan *conn   // connections whose take side the receiver owns
	running atomic.Int32 // flushers running
	most    int32        // flushers started by push at most (more may run for a moment)
}

// flushQueueLen bounds the connections waiting for a flusher; past it a
// connection gets a goroutine of its own.
const flushQueueLen = 4096

func newFlushQueue() *flushQueue {
	return &flushQueue{ready: make(chan *conn, flushQueueLen), most: int32(runtime.GOMAXPROCS(0))}
}

// push hands c, whose take side the caller owns, to a flusher, starting
// one when fewer than most run.
func (f *flushQueue) push(c *conn) {
	select {
	case f.ready <- c:
	default:
		go c.flush()
		return
	}
	if f.running.Load() < f.most {
		f.running.Add(1)
		go f.run()
	}
}

// run is a flusher: it flushes ready connections until there are none.
// It counts itself out before its last look at the queue, so that a push
// after that look sees it gone and starts another.
func (f *flushQueue) run() {
	for {
		select {
		case c := <-f.ready:
			c.flushOnce()
			continue
		default:
		}
		f.running.Add(-1)
		if len(f.ready) == 0 {
			return
		}
		f.running.Add(1)
	}
}
