package main

import (
	"fmt"
	"syscall"
)

// ipBindAddressNoPort is IP_BIND_ADDRESS_NO_PORT (Linux 4.2), missing from
// package syscall.
const ipBindAddressNoPort = 24

// bindAddressNoPort is the Control of a dialer with a local address: the
// bind before connect then fixes the address only, and connect picks the
// port, so that a port is unique per four-tuple rather than per address
// (several servers share the range) and a port still in TIME_WAIT from a
// previous run is reused as a plain connect would (net.ipv4.tcp_tw_reuse).
func bindAddressNoPort(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
	})
	if err == nil && serr != nil {
		err = fmt.Errorf("setsockopt IP_BIND_ADDRESS_NO_PORT: %w", serr)
	}
	return err
}
