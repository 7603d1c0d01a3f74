// Package wscoalesce writes WebSocket data messages in few write calls,
// beside gorilla/websocket.
//
// gorilla/websocket writes every message with a write call of its own, and
// each takes its lock (a channel), checks its error state and sets the
// socket's write deadline (a runtime timer): for a small message that is
// a fifth of what a delivery costs beside the write syscall itself, and a
// server with a hundred messages queued for a client would make a hundred
// write syscalls. So the network connection under a WebSocket is a Conn,
// and a Writer frames data messages itself (RFC 6455 §5.2: final,
// unmasked, uncompressed) into a buffer and writes them to the Conn in as
// few calls as maxHeld bytes allow. gorilla keeps reading and writes its
// control frames (pongs, pings, close frames) to the same Conn; the Conn's
// lock keeps them whole and between data frames. A close frame written
// through the Conn, by gorilla or anyone, ends the data messages: a
// Writer's later writes are refused with websocket.ErrCloseSent, as
// gorilla's own would be.
//
// The Conn also sets the write deadline lazily: a deadline that is later
// than the one set by less than deadlineSlack is not set again, so a
// connection writing often changes its timer about once per
// deadlineSlack instead of once per write.
package wscoalesce

import (
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// maxHeld bounds the bytes a Writer holds, and writes in one call.
const maxHeld = 64 << 10

// deadlineSlack is how much later than the deadline set a new write
// deadline may be and still not be set: each write gets between its bound
// less deadlineSlack and its bound.
const deadlineSlack = time.Second

// heldBuffers are the buffers a Writer holds frames in until it writes
// them: an idle connection holds none.
var heldBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// Conn is the network connection under a WebSocket (see Wrap).
type Conn struct {
	net.Conn
	raw       syscall.RawConn // for TryFlush; nil: none (TLS)
	mu        sync.Mutex
	deadline  time.Time // the write deadline set on Conn; guarded by mu
	closeSent bool      // a close frame went out; guarded by mu
	err       error     // a write failed: every later one fails; guarded by mu
}

// Wrap returns nc as a Conn, for a WebSocket whose data messages a Writer
// writes: the http.Hijacker that an upgrade hijacks the connection with
// wraps it (wsread.Upgrade does).
func Wrap(nc net.Conn) *Conn { return &Conn{Conn: nc, raw: rawConn(nc)} }

// Raw returns the raw socket of the connection Conn wraps, or nil (TLS).
func (c *Conn) Raw() syscall.RawConn { return c.raw }

// NetConn returns the connection Conn wraps.
func (c *Conn) NetConn() net.Conn { return c.Conn }

// Write writes p, which gorilla passes whole for each control frame (and
// for a data message of its own, which it is not given with a Writer).
func (c *Conn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.Conn.Write(p)
	if err != nil {
		c.err = err
		return n, err
	}
	if isClose(p) {
		c.closeSent = true
	}
	return n, nil
}

// isClose reports whether p is exactly one close frame, as gorilla's
// WriteControl writes it: one write call per control frame.
func isClose(p []byte) bool {
	return len(p) >= 2 && p[0] == finClose && int(p[1]) == len(p)-2
}

// SetWriteDeadline sets the write deadline lazily (deadlineSlack).
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.setDeadline(t)
}

// SetDeadline sets the read deadline, and the write deadline lazily.
func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// setDeadline sets the write deadline to t unless the one set is earlier
// by less than deadlineSlack. Lock must be held.
func (c *Conn) setDeadline(t time.Time) error {
	if t.IsZero() == c.deadline.IsZero() && !t.Before(c.deadline) && t.Sub(c.deadline) < deadlineSlack {
		return nil
	}
	if err := c.Conn.SetWriteDeadline(t); err != nil {
		return err
	}
	c.deadline = t
	return nil
}

// writeData writes frames of data messages, within wait; it refuses them
// once a close frame went out. Lock must be held.
func (c *Conn) writeData(frames []byte, wait time.Duration) error {
	if err := c.usable(); err != nil {
		return fmt.Errorf("wscoalesce: write: %w", err)
	}
	err := c.setDeadline(time.Now().Add(wait))
	if err == nil {
		_, err = c.Conn.Write(frames)
	}
	if err != nil {
		c.err = err
		return fmt.Errorf("wscoalesce: write: %w", err)
	}
	return nil
}

// usable reports why data frames may not be written: a close frame went
// out, or a write failed. Lock must be held.
func (c *Conn) usable() error {
	switch {
	case c.closeSent:
		return websocket.ErrCloseSent
	case c.err != nil:
		return c.err
	}
	return nil
}

// Frame headers of a server's WebSocket frames (RFC 6455 §5.2): final,
// not masked, the payload's length in 7 bits, or 126 and 16 bits, or 127
// and 64 bits.
const (
	finText   = 0x81
	finBinary = 0x82
	finClose  = 0x88
	len16     = 126
	len64     = 127
)

// frameSize is the size of the frame of an n-byte message.
func frameSize(n int) int {
	switch {
	case n < len16:
		return 2 + n
	case n <= 0xffff:
		return 4 + n
	}
	return 10 + n
}

// appendHeader appends the header of an n-byte uncompressed message (valid
// also where compression was negotiated: it is per message).
func appendHeader(b []byte, bin bool, n int) []byte {
	op := byte(finText)
	if bin {
		op = finBinary
	}
	switch {
	case n < len16:
		return append(b, op, byte(n))
	case n <= 0xffff:
		b = append(b, op, len16)
		return binary.BigEndian.AppendUint16(b, uint16(n))
	}
	b = append(b, op, len64)
	return binary.BigEndian.AppendUint64(b, uint64(n))
}

// A Writer writes the data messages of a WebSocket over a Conn: it frames
// each message into a buffer and writes the buffer when it is full and on
// Flush. Its methods are for one goroutine at a time; gorilla's reader
// may write control frames meanwhile, which go out between whole frames.
// A write error ends the Writer, as gorilla's do the connection's writes.
type Writer struct {
	co     *Conn
	wait   time.Duration // bound on each write call
	buf    *[]byte       // frames not written yet; nil when none
	locked bool          // TryFlush wrote part of buf and left co locked for Flush
}

// NewWriter returns a Writer to ws, whose network connection is a Conn,
// whose every write call must complete within wait.
func NewWriter(ws *websocket.Conn, wait time.Duration) *Writer {
	co, ok := ws.NetConn().(*Conn)
	if !ok {
		panic("wscoalesce: NewWriter: not a WebSocket over a Conn")
	}
	return &Writer{co: co, wait: wait}
}

// Write writes p as a WebSocket message, binary when bin, else text, after
// the messages written before. It may only hold it until Flush; p may
// change once Write returns.
func (w *Writer) Write(bin bool, p []byte) error {
	return w.WriteJoined(bin, [][]byte{p}, nil)
}

// WriteJoined writes parts joined by sep as one WebSocket message, as Write
// does.
func (w *Writer) WriteJoined(bin bool, parts [][]byte, sep []byte) error {
	n := joinedLen(parts, sep)
	if w.buf == nil {
		w.buf = heldBuffers.Get().(*[]byte)
	}
	if len(*w.buf) > 0 && len(*w.buf)+frameSize(n) > maxHeld {
		if err := w.Flush(); err != nil {
			return err
		}
		w.buf = heldBuffers.Get().(*[]byte)
	}
	if frameSize(n) <= maxHeld {
		b := appendHeader(*w.buf, bin, n)
		for i, p := range parts {
			if i > 0 {
				b = append(b, sep...)
			}
			b = append(b, p...)
		}
		*w.buf = b
		return nil
	}
	return w.stream(bin, n, parts, sep)
}

// stream writes a message too large to hold (the buffer is empty) in
// writes of maxHeld bytes, holding the Conn's lock from its first byte to
// its last, so that no control frame goes out inside it.
func (w *Writer) stream(bin bool, n int, parts [][]byte, sep []byte) error {
	w.co.mu.Lock()
	defer w.co.mu.Unlock()
	defer w.release()
	b := appendHeader(*w.buf, bin, n)
	add := func(p []byte) error {
		for len(p) > 0 {
			k := min(maxHeld-len(b), len(p))
			b, p = append(b, p[:k]...), p[k:]
			if len(b) == maxHeld {
				if err := w.co.writeData(b, w.wait); err != nil {
					return err
				}
				b = b[:0]
			}
		}
		return nil
	}
	for i, p := range parts {
		if i > 0 {
			if err := add(sep); err != nil {
				return err
			}
		}
		if err := add(p); err != nil {
			return err
		}
	}
	*w.buf = b
	if len(b) == 0 {
		return nil
	}
	return w.co.writeData(b, w.wait)
}

// joinedLen is the length of parts joined by sep.
func joinedLen(parts [][]byte, sep []byte) int {
	n := len(sep) * max(len(parts)-1, 0)
	for _, p := range parts {
		n += len(p)
	}
	return n
}

// HoldsJoined reports whether the message of parts joined by sep fits
// what a Writer holds: one that does not is written, by WriteJoined, in
// several blocking calls.
func (w *Writer) HoldsJoined(parts [][]byte, sep []byte) bool {
	return frameSize(joinedLen(parts, sep)) <= maxHeld
}

// NonBlocking reports whether TryFlush can write: the connection has a
// raw socket (not TLS).
func (w *Writer) NonBlocking() bool { return w.co.raw != nil }

// TryFlush writes the messages not written yet in one non-blocking write
// call, when the connection has a raw socket (not TLS). done reports that
// they all went out (or that there were none). Otherwise they, or what is
// left of them, stay held, and the caller must call Flush, from any
// goroutine, before anything else; when a part went out, the connection
// stays locked until then, so that nothing goes out inside a frame.
func (w *Writer) TryFlush() (done bool, err error) {
	if w.buf == nil || len(*w.buf) == 0 {
		if w.buf != nil {
			w.release()
		}
		return true, nil
	}
	if w.co.raw == nil {
		return false, nil
	}
	w.co.mu.Lock()
	if err := w.co.usable(); err != nil {
		w.co.mu.Unlock()
		w.release()
		return false, fmt.Errorf("wscoalesce: write: %w", err)
	}
	n, err := tryWrite(w.co.raw, *w.buf)
	switch {
	case err != nil:
		w.co.err = err
		w.co.mu.Unlock()
		w.release()
		return false, fmt.Errorf("wscoalesce: write: %w", err)
	case n == len(*w.buf):
		w.co.mu.Unlock()
		w.release()
		return true, nil
	case n == 0:
		w.co.mu.Unlock()
		return false, nil
	}
	*w.buf = (*w.buf)[:copy(*w.buf, (*w.buf)[n:])]
	w.locked = true
	return false, nil
}

// Flush writes the messages not written yet, in one write call.
func (w *Writer) Flush() error {
	if w.buf == nil {
		return nil
	}
	defer w.release()
	if len(*w.buf) == 0 {
		return nil
	}
	if !w.locked {
		w.co.mu.Lock()
	}
	w.locked = false
	defer w.co.mu.Unlock()
	return w.co.writeData(*w.buf, w.wait)
}

// release empties the buffer and gives it back, unless growing it for
// maxHeld bytes went far past that.
func (w *Writer) release() {
	if cap(*w.buf) <= 2*maxHeld {
		*w.buf = (*w.buf)[:0]
		heldBuffers.Put(w.buf)
	}
	w.buf = nil
}
