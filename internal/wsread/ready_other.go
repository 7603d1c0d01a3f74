//go:build !unix

package wsread

import "net"

// readiness is not available here: the reader parks inside gorilla.
type readiness struct{}

func newReadiness(net.Conn) *readiness { return nil }

func (*readiness) wait() error { return nil }
