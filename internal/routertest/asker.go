package routertest

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// Asker is a backend that sends NATS requests to sockets (acks asked of
// clients) and gathers every reply on one inbox, as a backend gathering a
// room's answers does.
type Asker struct {
	nc      *nats.Conn
	inbox   string
	replies chan *nats.Msg
}

// NewAsker subscribes nc to a fresh inbox (confirmed by the server) for the
// replies of Ask.
func NewAsker(t testing.TB, nc *nats.Conn) *Asker {
	t.Helper()
	a := &Asker{nc: nc, inbox: nc.NewInbox(), replies: make(chan *nats.Msg, 1024)}
	sub, err := nc.ChanSubscribe(a.inbox, a.replies)
	if err != nil {
		t.Fatalf("subscribe %s: %v", a.inbox, err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := nc.Flush(); err != nil {
		t.Fatalf("flush: %v", err)
	}
	return a
}

// Ask publishes a request on subject, with headers h (nil: none), whose
// replies come to the Asker's inbox.
func (a *Asker) Ask(t testing.TB, subject, data string, h nats.Header) {
	t.Helper()
	if err := a.nc.PublishMsg(&nats.Msg{Subject: subject, Reply: a.inbox, Data: []byte(data), Header: h}); err != nil {
		t.Fatalf("request %s: %v", subject, err)
	}
}

// Next waits up to Wait for the next reply.
func (a *Asker) Next(t testing.TB) *nats.Msg {
	t.Helper()
	select {
	case m := <-a.replies:
		return m
	case <-time.After(Wait):
		t.Fatalf("no reply on %s within %s", a.inbox, Wait)
		return nil
	}
}
