package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
)

// autoShare is the part of an address's ephemeral ports auto spreading
// lets it use: connect searches longer for a free port the fuller the range
// (19 800 connections from one address took 5.2–9.3 s to open here, from
// four 2.7–3.4 s), so auto spreads well before the range runs out.
const autoShare = 4

// defaultEphemeralPorts is the size of Linux's default ephemeral port range
// (net.ipv4.ip_local_port_range 32768–60999), used where it cannot be read.
const defaultEphemeralPorts = 60999 - 32768 + 1

// sources spreads a run's connections over local (source) addresses. One
// address reaches one server address and port with at most as many
// connections as the ephemeral port range has ports (about 28 000), since
// every TCP connection needs its own four-tuple; on loopback every address
// of 127.0.0.0/8 is local, so 100 000 connections to one routerd dial from
// 127.0.0.2, 127.0.0.3, ... Connections take the addresses round robin.
type sources struct {
	auto  bool     // -source auto: plan picks loopback addresses when needed
	addrs []net.IP // empty: the kernel chooses
	next  atomic.Uint64

	// ports is the number of ephemeral ports of one address; nil reads
	// the system's range (tests set it).
	ports func() int
}

// parseSources reads -source: "auto", "none", or comma-separated IP addresses.
func parseSources(s string) (*sources, error) {
	switch s {
	case "auto":
		return &sources{auto: true}, nil
	case "none", "":
		return &sources{}, nil
	}
	src := &sources{}
	for part := range strings.SplitSeq(s, ",") {
		ip := net.ParseIP(strings.TrimSpace(part))
		if ip == nil {
			return nil, fmt.Errorf("-source %q: %q is not an IP address", s, part)
		}
		if len(src.addrs) > 0 && (ip.To4() == nil) != (src.addrs[0].To4() == nil) {
			return nil, fmt.Errorf("-source %q: IPv4 and IPv6 addresses mixed", s)
		}
		src.addrs = append(src.addrs, ip)
	}
	return src, nil
}

// plan prepares n connections to target (a ws:// URL). With auto it picks
// 127.0.0.2 onwards, as many as n needs at a quarter of each address's
// ports (autoShare), when target is an IPv4 loopback address and n is more
// than that quarter (and no addresses otherwise); with addresses given it
// checks they have ports enough. note says what it picked.
func (s *sources) plan(target string, n int) (note string, err error) {
	if s == nil {
		return "", nil
	}
	ports := s.portRange()
	if s.auto {
		s.addrs = nil
		each := max(ports/autoShare, 1)
		if n <= each || !loopbackIPv4(target) {
			return "", nil
		}
		k := (n + each - 1) / each
		if k > 250 {
			return "", fmt.Errorf("%d connections need %d source addresses of %d connections each: give -source", n, k, each)
		}
		for i := range k {
			s.addrs = append(s.addrs, net.IPv4(127, 0, 0, byte(2+i)))
		}
		return fmt.Sprintf("%d connections dialled from %d source addresses (%s), at most %d each (a quarter of the %d ephemeral ports)", n, k, s, each, ports), nil
	}
	if k := len(s.addrs); k > 0 && (n+k-1)/k > ports {
		return "", fmt.Errorf("%d connections over %d source addresses: %d each, more than the %d ephemeral ports of one address (net.ipv4.ip_local_port_range); give more addresses with -source", n, k, (n+k-1)/k, ports)
	}
	return "", nil
}

// String is the addresses, or how the kernel chooses without any.
func (s *sources) String() string {
	if s == nil || len(s.addrs) == 0 {
		return "the kernel's choice"
	}
	return s.addrs[0].String() + "-" + s.addrs[len(s.addrs)-1].String()
}

// netDial returns the dial function of the next connection, from the next
// address round robin, or nil when there are no addresses (the WebSocket
// dialer's own then).
func (s *sources) netDial() func(ctx context.Context, network, addr string) (net.Conn, error) {
	if s == nil || len(s.addrs) == 0 {
		return nil
	}
	ip := s.addrs[(s.next.Add(1)-1)%uint64(len(s.addrs))]
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Control: bindAddressNoPort}
	return d.DialContext
}

// portRange is the number of ephemeral ports one address has.
func (s *sources) portRange() int {
	if s.ports != nil {
		return s.ports()
	}
	return ephemeralPorts()
}

// ephemeralPorts reads net.ipv4.ip_local_port_range; the Linux default
// where it cannot.
func ephemeralPorts() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return defaultEphemeralPorts
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return defaultEphemeralPorts
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || hi < lo {
		return defaultEphemeralPorts
	}
	return hi - lo + 1
}

// loopbackIPv4 tells whether the host of the ws:// URL target is an IPv4
// loopback address (or localhost).
func loopbackIPv4(target string) bool {
	u, err := url.Parse(target)
	if err != nil {
		return false
	}
	if u.Hostname() == "localhost" {
		return true
	}
	ip := net.ParseIP(u.Hostname())
	return ip != nil && ip.To4() != nil && ip.IsLoopback()
}
