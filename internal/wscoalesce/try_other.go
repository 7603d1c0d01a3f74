//go:build !unix

package wscoalesce

import (
	"errors"
	"net"
	"syscall"
)

// rawConn returns nil: non-blocking writes are not made here.
func rawConn(net.Conn) syscall.RawConn { return nil }

func tryWrite(syscall.RawConn, []byte) (int, error) {
	return 0, errors.New("wscoalesce: no non-blocking writes here")
}
