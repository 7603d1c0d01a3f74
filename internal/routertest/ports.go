package routertest

import (
	"net"
	"sync"
	"testing"
)

// FreePort returns a loopback TCP port nothing listens on, for a process or
// server a test starts on a port it must know in advance (a cluster's
// routes, a NATS server that comes up later). It never returns a port twice
// in one test binary: the kernel may hand a closed listener's port out
// again, and two servers of parallel tests must not be given the same one.
func FreePort(t testing.TB) int {
	t.Helper()
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if _, taken := handedOut.LoadOrStore(port, true); !taken {
			return port
		}
	}
}

// handedOut holds the ports FreePort has returned.
var handedOut sync.Map
