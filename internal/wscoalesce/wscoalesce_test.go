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

func (c counting) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := c.ResponseWriter.(http.Hijacker).Hijack()
	return countingConn{nc, c.writes}, brw, err
}

type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// serve starts a server that upgrades each request with Upgrade (read
// limit 1024) and runs serve on the WebSocket and a Writer to it, then
// closes it; writes counts the write calls on the connection after the
// upgrade. It returns a client's WebSocket to it.
func serve(t *testing.T, writes *atomic.Int64, serve func(ws *websocket.Conn, w *Writer)) *websocket.Conn {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var up websocket.Upgrader
		ws, err := Upgrade(&up, counting{rw, writes}, r, nil)
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
// length encoding, text and binary, and across writes of maxHeld; a run
// of small messages takes a write call per maxHeld bytes.
func TestWriter(t *testing.T) {
	var want []message
	add := func(typ int, data []byte) { want = append(want, message{typ, data}) }
	for _, n := range []int{0, 1, 124, 125, 126, 0xfffe, 0xffff, 0x10000, 70000} {
		add(websocket.TextMessage, bytes.Repeat([]byte{'x'}, n))
	}
	add(websocket.BinaryMessage, []byte{0, 1, 2, 0xff})
	add(websocket.TextMessage, []byte("after binary"))
	mixed := len(want)
	for range 3 * maxHeld / 100 {
		add(websocket.TextMessage, bytes.Repeat([]byte{'y'}, 98)) // 100 bytes framed
	}

	var writes atomic.Int64
	done := make(chan int64, 2)
	ws := serve(t, &writes, func(ws *websocket.Conn, w *Writer) {
		write := func(ms []message) {
			for _, m := range ms {
				if err := w.Write(m.typ == websocket.BinaryMessage, m.data); err != nil {
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
	// The mixed run: whatever gorilla splits a message over its write
	// buffer into, plus a write per maxHeld.
	if n := <-done; n > 12 {
		t.Errorf("%d mixed messages in %d write calls", mixed, n)
	}
	// The small ones: maxHeld bytes held and one message per write call.
	if n, most := <-done, int64(len(want[mixed:])*100/(maxHeld+100)+1); n > most {
		t.Errorf("%d small messages in %d write calls, want at most %d", len(want)-mixed, n, most)
	}
}

// TestWriterCloseSent: the close frame gorilla's reader sends for an
// oversized message carries the messages held before it, and the Writer's
// next write is refused with websocket.ErrCloseSent: nothing goes after
// the close frame.
func TestWriterCloseSent(t *testing.T) {
	var writes atomic.Int64
	flushed := make(chan error, 1)
	ws := serve(t, &writes, func(ws *websocket.Conn, w *Writer) {
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
	if err := ws.WriteMessage(websocket.TextMessage, bytes.Repeat([]byte{'z'}, 2000)); err != nil {
		t.Fatal(err)
	}
	expect(t, ws, []message{{websocket.TextMessage, []byte("a")}, {websocket.TextMessage, []byte("b")}})
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
