package router

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/routerd/routerd/config"
)

// queueConn is a transport connection with a send queue of limit frames
// that the test empties: a Send past the limit marks it overflowed (where a
// transport closes the connection as a slow consumer), and Wait (Pacer)
// blocks while the first half of the queue is full, as the transports'.
type queueConn struct {
	limit   int
	blocked chan struct{} // signalled when Wait blocks
	taken   chan struct{} // signalled when the test takes frames

	mu       sync.Mutex
	queue    [][]byte
	overflow bool
}

func newQueueConn(limit int) *queueConn {
	return &queueConn{limit: limit, blocked: make(chan struct{}, 1), taken: make(chan struct{}, 1)}
}

func (c *queueConn) Codec() Codec             { return jsonCodec{} }
func (c *queueConn) Detached(*Socket, string) {}

func (c *queueConn) Send(f []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) >= c.limit {
		c.overflow = true
		return
	}
	c.queue = append(c.queue, f)
}

func (c *queueConn) Wait(ctx context.Context, n int) (int, error) {
	for {
		c.mu.Lock()
		free := c.limit - c.limit/2 - len(c.queue)
		c.mu.Unlock()
		if free > 0 {
			return min(free, n), nil
		}
		select {
		case c.blocked <- struct{}{}:
		default:
		}
		select {
		case <-c.taken:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// take empties the queue and reports whether it ever overflowed.
func (c *queueConn) take() (frames [][]byte, overflow bool) {
	c.mu.Lock()
	frames, c.queue = c.queue, nil
	overflow = c.overflow
	c.mu.Unlock()
	select {
	case c.taken <- struct{}{}:
	default:
	}
	return frames, overflow
}

// TestHeldEventsPaced: the live events that arrive while a member's replay
// waits for its reader are held, and then sent as paced as the replay, so a
// burst larger than the send queue does not make the joining member a slow
// consumer; it gets the replay and the burst in order, once each.
func TestHeldEventsPaced(t *testing.T) {
	const limit, replayed, burst = 8, 20, 30
	ns := config.DefaultNamespace()
	h := config.DefaultHistory()
	h.MaxMsgs = 100
	ns.History = &h
	r, backend := startRouterWith(t, &server.Options{JetStream: true, StoreDir: t.TempDir()}, map[string]config.Namespace{"hist": ns})
	js, err := jetstream.New(backend)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The router makes the stream as it starts.
	for _, err := js.Stream(ctx, r.subj.sys.HistoryStream("hist")); err != nil; _, err = js.Stream(ctx, r.subj.sys.HistoryStream("hist")) {
		select {
		case <-ctx.Done():
			t.Fatal(err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	publish := func(i int) {
		t.Helper()
		if _, err := js.Publish(ctx, "router.hist.room.r.msg", fmt.Appendf(nil, "%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range replayed {
		publish(i)
	}

	conn := newQueueConn(limit)
	s, err := r.Connect(ctx, conn, "hist", nil, ConnInfo{})
	if err != nil {
		t.Fatal(err)
	}
	joined := make(chan error, 1)
	go func() {
		_, err := s.JoinSince(ctx, "r", 0)
		joined <- err
	}()
	select {
	case <-conn.blocked: // the replay waits for the reader
	case err := <-joined:
		t.Fatalf("the join ended before its replay waited: %v", err)
	}
	for i := replayed; i < replayed+burst; i++ {
		publish(i)
	}
	// Every event of the burst is held for the member.
	for held := 0; held < burst; held = heldFor(s, "r") {
		select {
		case <-ctx.Done():
			t.Fatalf("%d events held, want %d", held, burst)
		case <-time.After(time.Millisecond):
		}
	}

	var got []string
	for len(got) < replayed+burst {
		frames, overflow := conn.take()
		if overflow {
			t.Fatalf("the send queue overflowed after %d events", len(got))
		}
		for _, f := range frames {
			got = append(got, string(f))
		}
		if len(frames) == 0 {
			select {
			case <-ctx.Done():
				t.Fatalf("got %d events, want %d", len(got), replayed+burst)
			case <-time.After(time.Millisecond):
			}
		}
	}
	for i, f := range got {
		if want := fmt.Sprintf(`{"type":"event","event":"msg","data":%d}`, i); f != want {
			t.Fatalf("event %d: %s, want %s", i, f, want)
		}
	}
	if err := <-joined; err != nil {
		t.Fatal(err)
	}
}

// heldFor returns how many live events room holds for s's catch-up.
func heldFor(s *Socket, room string) int {
	s.sp.mu.RLock()
	rm := s.sp.rooms[room]
	s.sp.mu.RUnlock()
	if rm == nil {
		return 0
	}
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if c := rm.catching[s]; c != nil {
		return len(c.held)
	}
	return 0
}
