package wscoalesce

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

const wait = 10 * time.Second // bound on what a test waits for

// message is a WebSocket data message.
type message struct {
	typ  int
	data []byte
}

// counting is an upgrade's ResponseWriter whose hijacked connection counts
// the write calls made on it.
type counting struct {
	http.ResponseWriter
	writes *atomic.Int64
}

// Hijack hijacks the connection, counting its writes, and wraps it.
func (c counting) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := c.ResponseWriter.(http.Hijacker).Hijack()
	return Wrap(countingConn{nc, c.writes}), brw, err
}

type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// serve starts a server that upgrades each request over a Conn (read
// limit 1024) and runs serve on the WebSocket and a Writer to it, then
// closes it; writes counts the write calls on the connection after the
// upgrade. It returns a client's WebSocket to it.
func serve(t *testing.T, writes *atomic.Int64, serve func(ws *websocket.Conn, w *Writer)) *websocket.Conn {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var up websocket.Upgrader
		ws, err := up.Upgrade(counting{rw, writes}, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		defer ws.Close()
		writes.Store(0) // the handshake's answer does not count
		ws.SetReadLimit(1024)
		serve(ws, NewWriter(ws, wait))
	}))
	t.Cleanup(srv.Close)
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	_ = ws.SetReadDeadline(time.Now().Add(wait))
	return ws
}

// expect reads want from ws, in order.
func expect(t *testing.T, ws *websocket.Conn, want []message) {
	t.Helper()
	for i, m := range want {
		typ, data, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if typ != m.typ || !bytes.Equal(data, m.data) {
			t.Fatalf("message %d: type %d, %d bytes %.20q; want type %d, %d bytes %.20q", i, typ, len(data), data, m.typ, len(m.data), m.data)
		}
	}
}

// TestWriter: messages a Writer writes reach a gorilla client as the
// WebSocket messages gorilla itself would write, in order, for every
// length encoding, text and binary, joined or not, and across writes of
// maxHeld (70000 bytes is streamed); a run of small messages takes a write
// call per maxHeld bytes.
func TestWriter(t *testing.T) {
	var want []message
	add := func(typ int, data []byte) { want = append(want, message{typ, data}) }
	for _, n := range []int{0, 1, 124, 125, 126, 0xfffe, 0xffff, 0x10000, 70000} {
		add(websocket.TextMessage, bytes.Repeat([]byte{'x'}, n))
	}
	add(websocket.BinaryMessage, []byte{0, 1, 2, 0xff})
	add(websocket.TextMessage, []byte("after binary"))
	joined := [][]byte{[]byte("one"), []byte("two"), bytes.Repeat([]byte{'j'}, 40000), []byte("four")}
	add(websocket.TextMessage, bytes.Join(joined, []byte("\n")))
	add(websocket.TextMessage, bytes.Join(append(joined, joined...), []byte("\n")))
	add(websocket.TextMessage, []byte("after joined"))
	mixed := len(want)
	for range 3 * maxHeld / 100 {
		add(websocket.TextMessage, bytes.Repeat([]byte{'y'}, 98)) // 100 bytes framed
	}

	var writes atomic.Int64
	done := make(chan int64, 2)
	ws := serve(t, &writes, func(ws *websocket.Conn, w *Writer) {
		write := func(ms []message) {
			for _, m := range ms {
				var err error
				switch {
				case m.typ == websocket.BinaryMessage:
					err = w.Write(true, m.data)
				case bytes.HasPrefix(m.data, []byte("one\n")):
					n := bytes.Count(m.data, []byte("\n")) + 1
					err = w.WriteJoined(false, append(joined, joined...)[:n], []byte("\n"))
				default:
					p := bytes.Clone(m.data)
					err = w.Write(false, p)
					clear(p) // the Writer holds a copy
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
			if err := w.Flush(); err != nil {
				t.Error(err)
			}
			done <- writes.Swap(0)
		}
		write(want[:mixed])
		write(want[mixed:])
		if err := w.Flush(); err != nil || writes.Load() != 0 { // nothing pending
			t.Errorf("Flush with nothing pending: %v, %d write calls", err, writes.Load())
		}
		_, _, _ = ws.ReadMessage() // until the client is done
	})
	expect(t, ws, want)
	// The mixed run: a write per maxHeld, and the ones before and after
	// each streamed message.
	if n := <-done; n > 14 {
		t.Errorf("%d mixed messages in %d write calls", mixed, n)
	}
	// The small ones: as many as fit in maxHeld bytes in each write call.
	perWrite := maxHeld / 100
	if n, most := <-done, int64((len(want[mixed:])+perWrite-1)/perWrite); n > most {
		t.Errorf("%d small messages in %d write calls, want at most %d", len(want)-mixed, n, most)
	}
}

// TestWriterCloseSent: once gorilla's reader has sent a close frame (1009
// for an oversized message), the Writer's writes are refused with
// websocket.ErrCloseSent, those it held included: nothing goes after the
// close frame.
func TestWriterCloseSent(t *testing.T) {
	var writes atomic.Int64
	flushed := make(chan error, 1)
	ws := serve(t, &writes, func(ws *websocket.Conn, w *Writer) {
		if err := w.Write(false, []byte("before")); err != nil {
			t.Error(err)
		}
		if err := w.Flush(); err != nil {
			t.Error(err)
		}
		for _, m := range []string{"a", "b", "c"} {
			if err := w.Write(false, []byte(m)); err != nil {
				t.Error(err)
			}
		}
		if _, _, err := ws.ReadMessage(); !errors.Is(err, websocket.ErrReadLimit) {
			t.Errorf("read %v, want %v", err, websocket.ErrReadLimit)
		}
		flushed <- w.Flush()
		_ = ws.NetConn().SetReadDeadline(time.Now().Add(wait))
		_, _ = io.Copy(io.Discard, ws.NetConn()) // what the client sent, until it closes
	})
	expect(t, ws, []message{{websocket.TextMessage, []byte("before")}})
	if err := ws.WriteMessage(websocket.TextMessage, bytes.Repeat([]byte{'z'}, 2000)); err != nil {
		t.Fatal(err)
	}
	_, m, err := ws.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseMessageTooBig {
		t.Fatalf("read %q %v, want close %d", m, err, websocket.CloseMessageTooBig)
	}
	select {
	case err := <-flushed:
		if !errors.Is(err, websocket.ErrCloseSent) {
			t.Fatalf("Flush after the close frame: %v, want %v", err, websocket.ErrCloseSent)
		}
	case <-time.After(wait):
		t.Fatal("no Flush")
	}
}

// TestWriterControlBetweenFrames: the pongs gorilla's reader writes while
// a Writer streams large messages go out between whole frames: the client,
// pinging all along, reads every message whole and gets every pong.
func TestWriterControlBetweenFrames(t *testing.T) {
	const messages = 50
	big := bytes.Repeat([]byte{'b'}, 3*maxHeld+7)
	var writes atomic.Int64
	ws := serve(t, &writes, func(ws *websocket.Conn, w *Writer) {
		streamed := make(chan struct{})
		go func() {
			defer close(streamed)
			for range messages {
				if err := w.Write(false, big); err != nil {
					t.Error(err)
					return
				}
			}
			if err := w.Flush(); err != nil {
				t.Error(err)
			}
		}()
		for { // gorilla answers the pings as it reads; echo the rest
			_, data, err := ws.ReadMessage()
			if err != nil {
				return
			}
			<-streamed
			if err := w.Write(false, data); err != nil || w.Flush() != nil {
				return
			}
		}
	})
	var pongs atomic.Int64
	ws.SetPongHandler(func(string) error { pongs.Add(1); return nil })
	stop, pinged := make(chan struct{}), make(chan int64, 1)
	go func() {
		var n int64
		defer func() { pinged <- n }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := ws.WriteControl(websocket.PingMessage, []byte("p"), time.Now().Add(wait)); err != nil {
				t.Error(err)
				return
			}
			n++
		}
	}()
	for i := range messages {
		_, data, err := ws.ReadMessage()
		if err != nil || !bytes.Equal(data, big) {
			t.Fatalf("message %d: %d bytes, %v", i, len(data), err)
		}
	}
	close(stop)
	pings := <-pinged
	for pongs.Load() < pings {
		if err := ws.WriteMessage(websocket.TextMessage, []byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, _, err := ws.ReadMessage(); err != nil { // the echo, after the pongs sent before it
			t.Fatalf("%d pongs of %d, then %v", pongs.Load(), pings, err)
		}
	}
}

// TestDeadlineLazy: a write deadline later than the one set by less than
// deadlineSlack is not set again; an earlier one, a much later one and
// none are.
func TestDeadlineLazy(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c := Wrap(a)
	t0 := time.Now().Add(time.Hour)
	steps := []struct {
		t, want time.Time
	}{
		{t0, t0},
		{t0.Add(deadlineSlack / 2), t0},
		{t0.Add(-time.Millisecond), t0.Add(-time.Millisecond)},
		{t0.Add(deadlineSlack), t0.Add(deadlineSlack)},
		{time.Time{}, time.Time{}},
		{time.Time{}, time.Time{}},
		{t0, t0},
	}
	for i, s := range steps {
		if err := c.SetWriteDeadline(s.t); err != nil {
			t.Fatal(err)
		}
		if !c.deadline.Equal(s.want) {
			t.Fatalf("step %d: deadline %v, want %v", i, c.deadline, s.want)
		}
	}
}
