//go:build unix

package wsread

import (
	"errors"
	"syscall"
)

// readiness waits for a connection to have something to read.
type readiness struct {
	raw    syscall.RawConn
	peek   [1]byte
	waited bool                  // the poller woke us: readable (or closed)
	check  func(fd uintptr) bool // made once: wait allocates nothing
}

// newReadiness returns the readiness of the raw socket raw, or nil when
// there is none (TLS).
func newReadiness(raw syscall.RawConn) *readiness {
	if raw == nil {
		return nil
	}
	r := &readiness{raw: raw}
	r.check = func(fd uintptr) bool {
		if r.waited {
			return true
		}
		_, _, err := syscall.Recvfrom(int(fd), r.peek[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		r.waited = true
		return !errors.Is(err, syscall.EAGAIN) && !errors.Is(err, syscall.EINTR)
	}
	return r
}

// wait blocks until the socket has bytes (or EOF, or an error) to read, or
// its read deadline passes, without reading them. It peeks first: the poller
// is edge-triggered, so waiting is right only once a read found nothing;
// once the poller wakes it, the socket is readable. (A rare spurious wake-up
// only means gorilla's read waits instead.)
func (r *readiness) wait() error {
	r.waited = false
	return r.raw.Read(r.check)
}
