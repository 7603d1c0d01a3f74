//go:build !unix

package wsread

import "syscall"

// readiness is not available here: the reader parks inside gorilla.
type readiness struct{}

func newReadiness(syscall.RawConn) *readiness { return nil }

func (*readiness) wait() error { return nil }
