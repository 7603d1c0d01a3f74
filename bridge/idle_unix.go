//go:build unix

package bridge

import (
	"errors"
	"net"
	"syscall"
)

// readiness waits for a connection to have something to read.
type readiness struct {
	raw   syscall.RawConn
	peek  [1]byte
	check func(fd uintptr) bool // made once: wait allocates nothing
}

// newReadiness returns the readiness of nc, or nil when it has no raw
// socket (TLS).
func newReadiness(nc net.Conn) *readiness {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	r := &readiness{raw: raw}
	r.check = func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), r.peek[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return !errors.Is(err, syscall.EAGAIN) && !errors.Is(err, syscall.EINTR)
	}
	return r
}

// wait blocks until the socket has bytes (or EOF, or an error) to read, or
// its read deadline passes, without reading them. It peeks: the poller is
// edge-triggered, so waiting is right only once a read found nothing.
func (r *readiness) wait() error { return r.raw.Read(r.check) }
