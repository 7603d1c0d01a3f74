package bus_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/internal/bus"
	"github.com/routerd/routerd/internal/natstest"
)

// backendOn subscribes a backend connection to subject, confirmed by the
// server, and returns the channel (holding n) its messages arrive on.
func backendOn(t *testing.T, srv *server.Server, subject string, n int) chan *nats.Msg {
	t.Helper()
	backend := natstest.Connect(t, srv)
	ch := make(chan *nats.Msg, n)
	if _, err := backend.ChanSubscribe(subject, ch); err != nil {
		t.Fatal(err)
	}
	if err := backend.Flush(); err != nil {
		t.Fatal(err)
	}
	return ch
}

// TestRequestKeepsOrder: requests are published by Request itself, so a
// subscriber sees them in the order they were made, interleaved with plain
// messages; every reply reaches its own Pending, whatever the order the
// replies come in.
func TestRequestKeepsOrder(t *testing.T) {
	srv := natstest.Server(t, &server.Options{})
	c, _ := dial(t, srv)
	ch := backendOn(t, srv, "work.>", 1024)
	const total = 300
	pending := map[int]*bus.Pending{}
	for i := range total {
		m := &nats.Msg{Subject: "work.plain", Data: []byte(strconv.Itoa(i))}
		if i%3 != 0 {
			p, err := c.Request(&nats.Msg{Subject: "work.req", Data: m.Data})
			if err != nil {
				t.Fatal(err)
			}
			pending[i] = p
			continue
		}
		if err := c.NC().PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	var reqs []*nats.Msg
	for i := range total {
		select {
		case m := <-ch:
			if got := string(m.Data); got != strconv.Itoa(i) {
				t.Fatalf("message %d: got %s", i, got)
			}
			if m.Subject == "work.req" {
				reqs = append(reqs, m)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("message %d did not arrive", i)
		}
	}
	for i := len(reqs) - 1; i >= 0; i-- { // answered last first
		if err := reqs[i].Respond(append([]byte("re:"), reqs[i].Data...)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i, p := range pending {
		m, err := p.Wait(ctx)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if want := "re:" + strconv.Itoa(i); string(m.Data) != want {
			t.Errorf("request %d got %q, want %q", i, m.Data, want)
		}
	}
}

// TestRequestNoRespondersAndTimeout: a request nothing subscribes to gets
// nats.ErrNoResponders (the server's 503 status), one nobody answers ends
// with its context, and a reply that comes after that is dropped.
func TestRequestNoRespondersAndTimeout(t *testing.T) {
	srv := natstest.Server(t, &server.Options{})
	c, _ := dial(t, srv)
	p, err := c.Request(&nats.Msg{Subject: "nobody", Header: nats.Header{"X": {"y"}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := p.Wait(ctx); !errors.Is(err, nats.ErrNoResponders) {
		t.Errorf("no responders: %v", err)
	}

	held := backendOn(t, srv, "slow", 1)
	p, err = c.Request(&nats.Msg{Subject: "slow"})
	if err != nil {
		t.Fatal(err)
	}
	short, stop := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer stop()
	if _, err := p.Wait(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("unanswered: %v", err)
	}
	if err := (<-held).Respond([]byte("late")); err != nil {
		t.Fatal(err)
	}
	// The mux goes on: the next request gets its own reply, not the late one.
	roundTrip(t, "after a late reply", c, "slow", held, "second")
}

// roundTrip makes a request on subject whose message the backend receives
// on ch and answers with answer, and checks that the reply is that answer.
func roundTrip(t *testing.T, what string, c *bus.Conn, subject string, ch <-chan *nats.Msg, answer string) {
	t.Helper()
	go func() {
		if m, ok := <-ch; ok {
			_ = m.Respond([]byte(answer))
		}
	}()
	p, err := c.Request(&nats.Msg{Subject: subject})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if m, err := p.Wait(ctx); err != nil {
		t.Errorf("%s: %v", what, err)
	} else if string(m.Data) != answer {
		t.Errorf("%s: got %q, want %q", what, m.Data, answer)
	}
}

// TestRequestAcrossRedial: a request awaited when nats.go gives its
// connection up fails with nats.ErrConnectionClosed at once, and requests
// work again on the connection dialled anew (the reply subscription is made
// again with the others).
func TestRequestAcrossRedial(t *testing.T) {
	srv := natstest.Server(t, &server.Options{MaxControlLine: 256})
	c, redials := dial(t, srv)
	ch := backendOn(t, srv, "svc", 4)
	p, err := c.Request(&nats.Msg{Subject: "svc"})
	if err != nil {
		t.Fatal(err)
	}
	<-ch // arrived, never answered
	if err := c.NC().Publish(strings.Repeat("x", 300), nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := p.Wait(ctx); !errors.Is(err, nats.ErrConnectionClosed) {
		t.Errorf("pending at the loss: %v", err)
	}
	waitFor(t, "a redial", func() bool { return redials.Load() == 1 && c.Connected() })
	roundTrip(t, "after the redial", c, "svc", ch, "again")
}
