// Package wscoalesce writes runs of WebSocket messages in few write calls.
//
// gorilla/websocket writes every message with a write call of its own: a
// server with a hundred messages queued for a client would make a hundred
// write syscalls, which is most of what a delivery costs. So the network
// connection under a WebSocket from Upgrade is a coalescer. A Writer frames
// all but the last message of a run itself and holds the frames in the
// coalescer; the last message goes through gorilla, whose write — under
// gorilla's lock and with its deadline, refused once a close frame went
// out — carries the held frames before its own, in one call. Message
// boundaries are those gorilla would have written.
package wscoalesce

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// maxHeld bounds the frames held for one write.
const maxHeld = 64 << 10

// heldBuffers are the buffers frames are held in, between a hold and the
// write that carries them: an idle connection holds none.
var heldBuffers = sync.Pool{New: func() any { return new([]byte) }}

// coalescer is the network connection a WebSocket from Upgrade writes to.
// Whatever gorilla writes next carries the frames held: a control frame
// it writes from the reader meanwhile (a pong, its answer to the client's
// close, 1009 for an oversized message) goes out after them just the same.
type coalescer struct {
	net.Conn
	mu   sync.Mutex
	held *[]byte // frames for the next write; nil when none; guarded by mu
}

// hold frames p as a WebSocket message (text, or binary when bin) for the
// next write.
func (c *coalescer) hold(bin bool, p []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held == nil {
		c.held = heldBuffers.Get().(*[]byte)
	}
	*c.held = appendFrame(*c.held, bin, p)
}

// Write writes the frames held, then p, in one call. It reports the bytes
// of p written.
func (c *coalescer) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held == nil {
		return c.Conn.Write(p)
	}
	held := len(*c.held)
	buf := append(*c.held, p...)
	n, err := c.Conn.Write(buf)
	*c.held = buf[:0]
	heldBuffers.Put(c.held)
	c.held = nil
	return max(n-held, 0), err
}

// Frame headers of a server's WebSocket messages (RFC 6455 §5.2): final,
// not masked, the payload's length in 7 bits, or 126 and 16 bits, or 127
// and 64 bits.
const (
	finText   = 0x81
	finBinary = 0x82
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

// appendFrame appends p framed as an uncompressed WebSocket message, as
// gorilla frames it (an uncompressed message is valid also where
// compression was negotiated: it is per message).
func appendFrame(b []byte, bin bool, p []byte) []byte {
	op := byte(finText)
	if bin {
		op = finBinary
	}
	switch n := len(p); {
	case n < len16:
		b = append(b, op, byte(n))
	case n <= 0xffff:
		b = append(b, op, len16)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, op, len64)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, p...)
}

// hijacker is the ResponseWriter of an upgrade, whose hijacked connection
// is a coalescer.
type hijacker struct {
	http.ResponseWriter
}

// Hijack hijacks the connection and returns it as a coalescer.
func (h hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, http.ErrNotSupported
	}
	nc, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, fmt.Errorf("wscoalesce: hijack: %w", err)
	}
	return &coalescer{Conn: nc}, brw, nil
}

// Upgrade upgrades r to a WebSocket with up, as up.Upgrade does (which
// answers the request when it fails), over a connection a Writer
// coalesces writes on.
func Upgrade(up *websocket.Upgrader, w http.ResponseWriter, r *http.Request, h http.Header) (*websocket.Conn, error) {
	return up.Upgrade(hijacker{w}, r, h)
}

// A Writer writes WebSocket messages to a WebSocket from Upgrade in as few
// write calls as maxHeld allows: each message is held until the next one,
// or Flush, shows whether it is the last of a write. As gorilla's write
// methods, a Writer's are for one goroutine at a time; the connection's
// reader may write control frames meanwhile. A write error ends the
// Writer, as gorilla's do the connection's writes.
type Writer struct {
	ws   *websocket.Conn
	co   *coalescer
	wait time.Duration // bound on each write

	last    []byte // the message not yet written or held
	lastBin bool
	pending bool // last is set
	held    int  // bytes held in co since the last write
}

// NewWriter returns a Writer to ws, a WebSocket Upgrade returned, whose
// every write must complete within wait.
func NewWriter(ws *websocket.Conn, wait time.Duration) *Writer {
	co, ok := ws.NetConn().(*coalescer)
	if !ok {
		panic("wscoalesce: NewWriter: not a WebSocket Upgrade returned")
	}
	return &Writer{ws: ws, co: co, wait: wait}
}

// Write writes p as a WebSocket message, binary when bin, else text, after
// the messages written before: it holds the one before for the next write,
// or writes it when holding it would exceed maxHeld. p must not change
// until the next Write or Flush.
func (w *Writer) Write(bin bool, p []byte) error {
	if w.pending {
		if size := frameSize(len(w.last)); w.held+size <= maxHeld {
			w.co.hold(w.lastBin, w.last)
			w.held += size
		} else if err := w.writeLast(); err != nil {
			return err
		}
	}
	w.last, w.lastBin, w.pending = p, bin, true
	return nil
}

// Flush writes the messages not written yet.
func (w *Writer) Flush() error {
	if !w.pending {
		return nil
	}
	return w.writeLast()
}

// writeLast writes the last message through gorilla, with the frames held
// before it, within w.wait.
func (w *Writer) writeLast() error {
	typ := websocket.TextMessage
	if w.lastBin {
		typ = websocket.BinaryMessage
	}
	p := w.last
	w.last, w.pending, w.held = nil, false, 0
	_ = w.ws.SetWriteDeadline(time.Now().Add(w.wait))
	if err := w.ws.WriteMessage(typ, p); err != nil {
		return fmt.Errorf("wscoalesce: write: %w", err)
	}
	return nil
}
