//go:build !linux

package main

import "syscall"

// bindAddressNoPort is nil where there is no IP_BIND_ADDRESS_NO_PORT: the
// bind before connect then picks the port.
var bindAddressNoPort func(network, address string, c syscall.RawConn) error
