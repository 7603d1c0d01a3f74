// Package natstest runs a real nats-server for the tests of packages that
// cannot use routertest (which starts whole daemons and so imports them).
package natstest

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/internal/bus"
)

// Server starts a nats-server with opts on a random local port, shut down
// when the test ends, and returns it.
func Server(tb testing.TB, opts *server.Options) *server.Server {
	tb.Helper()
	opts.Host, opts.Port, opts.NoSigs, opts.NoLog = "127.0.0.1", server.RANDOM_PORT, true, true
	ns, err := server.NewServer(opts)
	if err != nil {
		tb.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		tb.Fatal("nats-server not ready")
	}
	tb.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns
}

// Bus connects a bus of one connection to ns, closed when the test ends.
func Bus(tb testing.TB, ns *server.Server) *bus.Bus {
	tb.Helper()
	c, err := bus.Dial(bus.Options{Dial: func(opts ...nats.Option) (*nats.Conn, error) {
		return nats.Connect(ns.ClientURL(), opts...)
	}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Close)
	return bus.Single(c)
}

// Connect connects to ns, closed when the test ends.
func Connect(tb testing.TB, ns *server.Server) *nats.Conn {
	tb.Helper()
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	return nc
}
