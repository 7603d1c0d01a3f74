//go:build unix

package wscoalesce

import (
	"errors"
	"net"
	"syscall"
)

// rawConn returns nc's raw socket, or nil (TLS).
func rawConn(nc net.Conn) syscall.RawConn {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return raw
}

// tryWrite makes one non-blocking write call of p to raw: n is what the
// socket took (0 when it would have blocked).
func tryWrite(raw syscall.RawConn, p []byte) (n int, err error) {
	cerr := raw.Write(func(fd uintptr) bool {
		for {
			n, err = syscall.Write(int(fd), p)
			if !errors.Is(err, syscall.EINTR) {
				break
			}
		}
		if errors.Is(err, syscall.EAGAIN) {
			n, err = 0, nil
		}
		return true
	})
	if cerr != nil {
		return 0, cerr
	}
	return max(n, 0), err
}
