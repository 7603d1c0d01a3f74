package bridge_test

// Tests of the connection limits of docs/protocol.md and docs/configuration.md (frame size, liveness,
// send queue, rate, connections), of the close codes that end a connection
// and of the graceful shutdown, through a whole node (internal/routertest).

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/routerd/routerd/internal/routertest"
)

// limReader reads a raw WebSocket connection in the background, keeping the
// text messages, until the connection ends.
type limReader struct {
	ws   *websocket.Conn
	done chan struct{} // closed when reading ended
	err  error         // the read error; written before done is closed

	mu   sync.Mutex
	msgs []string // guarded by mu
}

// limDial opens a raw WebSocket to node with dialer d; setup runs before
// anything is read (ping handlers must be set there).
func limDial(t *testing.T, node *routertest.Node, d *websocket.Dialer, setup func(*websocket.Conn)) *websocket.Conn {
	t.Helper()
	ws, _, err := d.Dial(node.WSURL(), nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	if setup != nil {
		setup(ws)
	}
	return ws
}

// limRead starts reading ws in the background.
func limRead(ws *websocket.Conn) *limReader {
	r := &limReader{ws: ws, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for {
			_, msg, err := ws.ReadMessage()
			if err != nil {
				r.err = err
				return
			}
			r.mu.Lock()
			r.msgs = append(r.msgs, string(msg))
			r.mu.Unlock()
		}
	}()
	return r
}

// has reports whether some message received so far contains s.
func (r *limReader) has(s string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.msgs {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

// ended waits up to d for the connection to end and returns the read error.
func (r *limReader) ended(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case <-r.done:
		return r.err
	case <-time.After(d):
		t.Fatalf("connection still open after %s", d)
		return nil
	}
}

// limCloseCode returns the close code of a read error, or -1.
func limCloseCode(err error) int {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return -1
}

func TestLimitMaxFrameBytes(t *testing.T) {
	t.Parallel()
	cfg := routertest.Config(t)
	cfg.Limits.MaxFrameBytes = 4096
	node := routertest.Start(t, cfg)
	a, b := node.Dial(), node.Dial()
	a.Connect("chat")
	routertest.ConnectJoin(t, b, "chat", "lobby")

	// frame returns a leave frame of exactly n bytes.
	frame := func(n, id int) string {
		head := fmt.Sprintf(`{"type":"leave","ns":"chat","room":"r","id":%d,"pad":"`, id)
		return head + strings.Repeat("x", n-len(head)-2) + `"}`
	}
	// Exactly the limit is fine, also as several frames in one message.
	if f := frame(4096, 1); len(f) != 4096 {
		t.Fatalf("frame of %d bytes", len(f))
	}
	a.Send(frame(4096, 1))
	if r := a.Next(routertest.IsReply(1)); r.Type() != "ack" {
		t.Fatalf("frame of max_frame_bytes: %v, want ack", r)
	}
	a.Send(frame(2000, 2) + "\n" + frame(2095, 3))
	a.Next(routertest.IsReply(2))
	a.Next(routertest.IsReply(3))

	// One byte over closes the connection with 1009.
	a.Send(frame(4097, 4))
	if ce := a.Closed(); ce == nil || ce.Code != websocket.CloseMessageTooBig {
		t.Fatalf("close after an oversized message: %v, want %d", ce, websocket.CloseMessageTooBig)
	}
	// Other connections are unaffected; so is a later client sending big data
	// within the limit.
	c := node.Dial()
	sidC := routertest.ConnectJoin(t, c, "chat", "lobby")
	big := strings.Repeat("y", 3900)
	c.MustAck(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "big", "data": big})
	if ev := b.Next(routertest.IsEventFrom("big", sidC)); ev["data"] != big {
		t.Errorf("big event: %d bytes of data", len(ev.Str("data")))
	}
}

func TestLimitLiveness(t *testing.T) {
	t.Parallel()
	cfg := routertest.Config(t)
	// A pong may be late by up to 2s (a loaded machine, -race) before a
	// client that answers is taken for dead.
	cfg.HTTP.PingInterval = 100 * time.Millisecond
	cfg.HTTP.PongTimeout = 2 * time.Second
	node := routertest.Start(t, cfg)
	watcher := node.Dial()
	routertest.ConnectJoin(t, watcher, "chat", "lobby")

	// A client that answers pings (as gorilla does by default) stays open.
	var livePings atomic.Int32
	live := limDial(t, node, websocket.DefaultDialer, func(ws *websocket.Conn) {
		ws.SetPingHandler(func(data string) error {
			livePings.Add(1)
			err := ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
			if errors.Is(err, websocket.ErrCloseSent) {
				return nil
			}
			return err
		})
	})
	liveR := limRead(live)

	// A client whose ping handler does not answer is closed.
	var deadPings atomic.Int32
	dead := limDial(t, node, websocket.DefaultDialer, func(ws *websocket.Conn) {
		ws.SetPingHandler(func(string) error { deadPings.Add(1); return nil })
	})
	deadR := limRead(dead)
	if err := dead.WriteMessage(websocket.TextMessage, []byte(`{"type":"connect","ns":"chat","id":1}`+"\n"+`{"type":"join","ns":"chat","room":"lobby","id":2}`)); err != nil {
		t.Fatal(err)
	}
	routertest.Eventually(t, "the silent client joined", func() error {
		if !deadR.has(`"id":2`) {
			return errors.New("no join ack yet")
		}
		return nil
	})
	err := deadR.ended(t, cfg.HTTP.PongTimeout+routertest.Wait)
	if deadPings.Load() == 0 {
		t.Errorf("the silent client ended (%v) before any ping", err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("the silent client's read timed out instead of the server closing: %v", err)
	}
	// Its socket is gone: the others in its room hear it left.
	watcher.Next(routertest.IsEvent("$leave"))

	// Meanwhile the answering client saw many pings, beyond two pong
	// timeouts (50 pings: 5s at least; one unanswered ping would have
	// closed it after 2s), and is still served.
	open := func() error {
		select {
		case <-liveR.done:
			return fmt.Errorf("the answering client was closed: %v", liveR.err)
		default:
			return nil
		}
	}
	routertest.EventuallyWithin(t, "50 pings to the live client", 6*routertest.Wait, func() error {
		if err := open(); err != nil {
			return err
		}
		if n := livePings.Load(); n < 50 {
			return fmt.Errorf("%d pings", n)
		}
		return nil
	})
	if err := live.WriteMessage(websocket.TextMessage, []byte(`{"type":"connect","ns":"chat","id":7}`)); err != nil {
		t.Fatalf("write to the live client: %v", err)
	}
	routertest.Eventually(t, "the live client's connect reply", func() error {
		if !liveR.has(`"type":"connected"`) {
			return errors.Join(errors.New("no reply"), open())
		}
		return nil
	})
}

func TestLimitSendQueueSlowConsumer(t *testing.T) {
	t.Parallel()
	cfg := routertest.Config(t)
	cfg.Limits.SendQueue = 16
	node := routertest.Start(t, cfg)
	nc := node.Backend()

	fast := node.Dial()
	routertest.ConnectJoin(t, fast, "chat", "flood")

	// The slow client joins, then never reads again.
	slow, slowSID := limJoinThenStall(t, node, "flood")
	fast.Next(routertest.IsPresence("$join", "flood", slowSID))

	// Flood the room from a backend in chunks the fast client keeps up with
	// (a chunk is less than its queue), until the slow one overflows.
	const chunk = 8
	pad := strings.Repeat("z", 256<<10)
	sent := 0
	publish := func() {
		t.Helper()
		for i := 0; i < chunk; i++ {
			data := fmt.Sprintf(`{"i":%d,"pad":%q}`, sent, pad)
			if err := nc.Publish("router.chat.room.flood.flood", []byte(data)); err != nil {
				t.Fatalf("publish: %v", err)
			}
			sent++
		}
		if err := nc.Flush(); err != nil {
			t.Fatalf("flush: %v", err)
		}
	}
	got := 0
	receive := func() {
		t.Helper()
		for ; got < sent; got++ {
			ev := fast.Next(routertest.IsEvent("flood"))
			d, _ := ev["data"].(map[string]any)
			if d["i"] != float64(got) || d["pad"] != pad {
				t.Fatalf("fast client: event %d arrived as i=%v", got, d["i"])
			}
		}
	}
	const sample = `routerd_closes_total{reason="slow_consumer"}`
	for routertest.Metric(t, node, sample) == "" {
		if sent >= 4000 { // 1 GB: no buffer on the way is that large
			t.Fatalf("the slow client was not cut off after %d events", sent)
		}
		publish()
		receive()
	}
	t.Logf("slow consumer cut off after %d events", sent)
	// Now the slow client reads what reached it: the stream ends with 1013.
	_ = slow.SetReadDeadline(time.Now().Add(routertest.Wait))
	var err error
	for err == nil {
		_, _, err = slow.ReadMessage()
	}
	if code := limCloseCode(err); code != websocket.CloseTryAgainLater {
		t.Errorf("slow client ended with %v, want close %d", err, websocket.CloseTryAgainLater)
	}
	fast.Next(routertest.IsPresence("$leave", "flood", slowSID))
	if v := routertest.Metric(t, node, sample); v != "1" {
		t.Errorf("%s = %s, want 1", sample, v)
	}

	// The fast member keeps receiving everything.
	publish()
	receive()
	fast.MustAck(map[string]any{"type": "presence", "ns": "chat", "room": "flood"})
}

// limJoinThenStall dials a client that joins room of chat and reads
// nothing after the join's ack; it returns it and its sid.
func limJoinThenStall(t *testing.T, node *routertest.Node, room string) (*websocket.Conn, string) {
	t.Helper()
	ws := limDial(t, node, &websocket.Dialer{ReadBufferSize: 512, WriteBufferSize: 512, HandshakeTimeout: routertest.Wait}, nil)
	if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"connect","ns":"chat","id":1}`+"\n"+`{"type":"join","ns":"chat","room":"`+room+`","id":2}`)); err != nil {
		t.Fatal(err)
	}
	sid := ""
	_ = ws.SetReadDeadline(time.Now().Add(routertest.Wait))
	for joined := false; !joined; {
		_, msg, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("stalling client setup: %v", err)
		}
		for _, line := range strings.Split(string(msg), "\n") {
			var f map[string]any
			_ = json.Unmarshal([]byte(line), &f)
			if f["type"] == "connected" {
				sid, _ = f["sid"].(string)
			}
			joined = joined || f["type"] == "ack" && f["id"] == float64(2)
		}
	}
	return ws, sid
}

// TestLimitStalledClientsDoNotHoldOthers: clients that stop reading, more
// of them than the server has flushers, with small events (written by the
// flushers' non-blocking writes), never delay a member that reads: it gets
// every chunk of the flood while their sockets fill, until they are cut
// off (1013).
func TestLimitStalledClientsDoNotHoldOthers(t *testing.T) {
	t.Parallel()
	cfg := routertest.Config(t)
	cfg.Limits.SendQueue = 64
	node := routertest.Start(t, cfg)
	nc := node.Backend()
	fast := node.Dial()
	routertest.ConnectJoin(t, fast, "chat", "stall")
	stalled := 2*runtime.GOMAXPROCS(0) + 1
	for range stalled {
		_, sid := limJoinThenStall(t, node, "stall")
		fast.Next(routertest.IsPresence("$join", "stall", sid))
	}

	pad := strings.Repeat("s", 1<<10)
	sent := 0
	const sample = `routerd_closes_total{reason="slow_consumer"}`
	for routertest.Metric(t, node, sample) != strconv.Itoa(stalled) {
		if sent >= 200000 { // 200 MB: far past any socket buffer
			t.Fatalf("the stalled clients were not cut off after %d events (%s)", sent, routertest.Metric(t, node, sample))
		}
		first := sent
		for range 32 { // half the queue: the reading member never overflows
			if err := nc.Publish("router.chat.room.stall.flood", fmt.Appendf(nil, `{"i":%d,"pad":%q}`, sent, pad)); err != nil {
				t.Fatal(err)
			}
			sent++
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		for i := first; i < sent; i++ { // each within routertest's wait
			ev := fast.Next(routertest.IsEvent("flood"))
			if d, _ := ev["data"].(map[string]any); d["i"] != float64(i) {
				t.Fatalf("event %d arrived as i=%v", i, d["i"])
			}
		}
	}
	t.Logf("%d stalled clients cut off after %d events", stalled, sent)
}

func TestLimitRate(t *testing.T) {
	t.Parallel()
	cfg := routertest.Config(t)
	// A token comes back every 10s, far longer than this test takes even
	// on a loaded machine: no frame passes for the time it took.
	cfg.Limits.Rate.PerSecond = 0.1
	cfg.Limits.Rate.Burst = 5
	node := routertest.Start(t, cfg)
	other := node.Dial()
	sidOther := routertest.ConnectJoin(t, other, "chat", "lobby")

	// Eight frames at once: the burst of five passes, the rest are refused
	// one by one.
	c := node.Dial()
	msg := `{"type":"connect","ns":"chat","id":1}` + "\n" + `{"type":"join","ns":"chat","room":"lobby","id":2}`
	for id := 3; id <= 8; id++ {
		msg += "\n" + fmt.Sprintf(`{"type":"leave","ns":"chat","room":"r%d","id":%d}`, id, id)
	}
	c.Send(msg)
	for id := 1; id <= 5; id++ {
		if r := c.Next(routertest.IsReply(id)); r.Type() == "error" {
			t.Errorf("frame %d within the burst: %v", id, r)
		}
	}
	for id := 6; id <= 8; id++ {
		if r := c.Next(routertest.IsReply(id)); r.Type() != "error" || r.Str("code") != "rate_limited" {
			t.Errorf("frame %d over the burst: %v, want error rate_limited", id, r)
		}
	}
	// Refused frames do not close the connection: it is still in the room.
	other.MustAck(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "still"})
	c.Next(routertest.IsEventFrom("still", sidOther))

	// A client that keeps going over the limit is closed with 1008.
	flood := node.Dial()
	var b strings.Builder
	for i := 1; i <= 100; i++ {
		fmt.Fprintf(&b, `{"type":"leave","ns":"chat","room":"r","id":%d}`+"\n", i)
	}
	flood.Send(b.String())
	if ce := flood.Closed(); ce == nil || ce.Code != websocket.ClosePolicyViolation {
		t.Fatalf("flooding client: %v, want close %d", ce, websocket.ClosePolicyViolation)
	}
	limited := 0
	for _, m := range flood.Raw() {
		limited += strings.Count(m, `"code":"rate_limited"`)
	}
	if limited == 0 {
		t.Errorf("no rate_limited errors before the close: %q", flood.Raw())
	}
	// The others are unaffected.
	other.MustAck(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "after", "self": true})
	other.Next(routertest.IsEvent("after"))
	c.Next(routertest.IsEvent("after"))
}

func TestLimitShutdownGoingAway(t *testing.T) {
	t.Parallel()
	node := routertest.Start(t, routertest.Config(t))
	a, b := node.Dial(), node.Dial()
	routertest.ConnectJoin(t, a, "chat", "lobby")
	b.Connect("chat") // attached, in no room
	idle := node.Dial()

	node.Stop()
	for name, c := range map[string]*routertest.Client{"member": a, "attached": b, "idle": idle} {
		if ce := c.Closed(); ce == nil || ce.Code != websocket.CloseGoingAway {
			t.Errorf("%s client at shutdown: %v, want close %d", name, ce, websocket.CloseGoingAway)
		}
	}
	// No new connections.
	if ws, _, err := websocket.DefaultDialer.Dial(node.WSURL(), nil); err == nil {
		_ = ws.Close()
		t.Errorf("dial after shutdown succeeded")
	}
}

func TestLimitMaxConnections(t *testing.T) {
	t.Parallel()
	cfg := routertest.Config(t)
	cfg.Limits.MaxConnections = 2
	node := routertest.Start(t, cfg)
	a := node.Dial()
	node.Dial()

	ws, resp, err := websocket.DefaultDialer.Dial(node.WSURL(), nil)
	if err == nil {
		_ = ws.Close()
		t.Fatalf("third connection accepted with max_connections 2")
	}
	if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("third connection: %v (response %v), want HTTP 503", err, resp)
	}
	// A closed connection frees its place.
	_ = a.WS.Close()
	routertest.Eventually(t, "a place after a close", func() error {
		ws, _, err := websocket.DefaultDialer.Dial(node.WSURL(), nil)
		if err != nil {
			return err
		}
		_ = ws.Close()
		return nil
	})
}

// TestLimitCloseCodeReachesBusyClient: a client still sending when the
// server closes it gets the close code, and its connection is not reset
// (where a client library reports 1006, the close frame lost): the server
// reads on, discarding, until the client answers the close.
func TestLimitCloseCodeReachesBusyClient(t *testing.T) {
	t.Parallel()
	cfg := routertest.Config(t)
	cfg.Limits.MaxFrameBytes = 4096
	node := routertest.Start(t, cfg)
	for name, tc := range map[string]struct {
		first string // sent before the stream of small frames
		code  int
	}{
		"rate limit": {"", websocket.ClosePolicyViolation},
		"too large":  {`{"type":"leave","ns":"chat","room":"` + strings.Repeat("r", 5000) + `"}`, websocket.CloseMessageTooBig},
	} {
		t.Run(name, func(t *testing.T) {
			ws := routertest.DialWebSocket(t, node.WSURL(), nil)
			routertest.ExpectCloseWhileSending(t, ws, tc.first, func(id int) string {
				return fmt.Sprintf(`{"type":"leave","ns":"chat","room":"r","id":%d}`, id)
			}, tc.code)
		})
	}
}
