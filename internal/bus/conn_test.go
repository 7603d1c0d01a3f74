package bus_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/internal/bus"
	"github.com/routerd/routerd/internal/natstest"
)

// dial returns a Conn to srv and a counter of its redials.
func dial(t *testing.T, srv *server.Server) (*bus.Conn, *atomic.Int32) {
	t.Helper()
	var redials atomic.Int32
	c, err := bus.Dial(bus.Options{
		Dial:     func(opts ...nats.Option) (*nats.Conn, error) { return nats.Connect(srv.ClientURL(), opts...) },
		OnRedial: func(*bus.Conn) { redials.Add(1) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, &redials
}

// waitFor polls cond until it holds or the test's patience ends.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRedialRestoresSubscriptions: when the server closes the connection
// with an error nats.go does not reconnect after, the Conn dials a new one
// and every live subscription (channel, callback, queue) is in force on it;
// one ended before stays ended, and messages of the old connection are not
// the new subscription's.
func TestRedialRestoresSubscriptions(t *testing.T) {
	srv := natstest.Server(t, &server.Options{MaxControlLine: 256})
	c, redials := dial(t, srv)
	ch := make(chan *nats.Msg, 16)
	chSub, err := c.ChanSubscribe("a", ch)
	if err != nil {
		t.Fatal(err)
	}
	var got, queued atomic.Int32
	if _, err := c.Subscribe("b", func(*nats.Msg) { got.Add(1) }); err != nil {
		t.Fatal(err)
	}
	if _, err := c.QueueSubscribe("q", "workers", func(*nats.Msg) { queued.Add(1) }); err != nil {
		t.Fatal(err)
	}
	gone, err := c.ChanSubscribe("gone", ch)
	if err != nil {
		t.Fatal(err)
	}
	if err := gone.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	// The subscriptions reach the server before the other connection's
	// publish does.
	flushed, cancelFlush := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelFlush()
	if err := c.Flush(flushed); err != nil {
		t.Fatal(err)
	}
	pub := natstest.Connect(t, srv)
	if err := pub.Publish("a", []byte("before")); err != nil {
		t.Fatal(err)
	}
	var old *nats.Msg
	select {
	case old = <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("the live subscription got nothing")
	}
	if !chSub.Owns(old) {
		t.Fatal("a message of the live subscription is not its own")
	}
	first := c.NC()

	if err := first.Publish(strings.Repeat("x", 300), nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a redial", func() bool { return redials.Load() == 1 && c.Connected() })
	if !first.IsClosed() || c.NC() == first {
		t.Fatal("the closed nats.Conn is still the current one")
	}
	if chSub.Owns(old) {
		t.Error("a message of the closed connection counts as the new subscription's")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"a", "b", "q", "gone"} {
		if err := pub.Publish(s, []byte("after")); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case m := <-ch:
		if m.Subject != "a" || !chSub.Owns(m) {
			t.Errorf("after the redial: %s, owned %v", m.Subject, chSub.Owns(m))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("nothing after the redial")
	}
	waitFor(t, "callback and queue subscriptions", func() bool { return got.Load() == 1 && queued.Load() == 1 })
	if err := pub.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-ch:
		t.Errorf("an ended subscription came back: %s", m.Subject)
	case <-time.After(100 * time.Millisecond):
	}
}

// TestCloseDoesNotRedial: a Conn closed (or drained) on purpose stays
// closed and takes no new subscriptions.
func TestCloseDoesNotRedial(t *testing.T) {
	srv := natstest.Server(t, &server.Options{})
	c, redials := dial(t, srv)
	d, _ := dial(t, srv)
	c.Close()
	if err := d.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, x := range []*bus.Conn{c, d} {
		if _, err := x.Subscribe("a", func(*nats.Msg) {}); !errors.Is(err, bus.ErrClosed) {
			t.Errorf("subscribe after close: %v", err)
		}
		if !x.NC().IsClosed() {
			t.Error("not closed")
		}
	}
	time.Sleep(100 * time.Millisecond) // a redial would have happened by now
	if n := redials.Load(); n != 0 {
		t.Errorf("%d redials after Close", n)
	}
}

// TestBusRoutesNamespaces: a tenant's namespaces go to its connection,
// every other to routerd's own.
func TestBusRoutesNamespaces(t *testing.T) {
	srv := natstest.Server(t, &server.Options{})
	main, _ := dial(t, srv)
	acme := withAccount(t, srv, "acme")
	b := bus.New(main, []*bus.Conn{acme}, map[string][]string{"acme": {"tenant-acme"}})
	if b.For("tenant-acme") != acme || b.For("chat") != main || b.Main() != main {
		t.Error("namespaces on the wrong connections")
	}
	if !b.Owns(acme, "tenant-acme") || b.Owns(acme, "chat") || b.Owns(main, "tenant-acme") {
		t.Error("Owns")
	}
	if len(b.Conns()) != 2 || !b.Connected() {
		t.Error("Conns / Connected")
	}
}

// withAccount dials a Conn named for account (the bus routes by that name).
func withAccount(t *testing.T, srv *server.Server, account string) *bus.Conn {
	t.Helper()
	c, err := bus.Dial(bus.Options{Account: account, Dial: func(opts ...nats.Option) (*nats.Conn, error) {
		return nats.Connect(srv.ClientURL(), opts...)
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}
