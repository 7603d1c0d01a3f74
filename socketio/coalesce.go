package socketio

import (
	"bufio"
	"encoding/binary"
	"net"
	"net/http"
	"sync"

	"github.com/gorilla/websocket"
)

// Engine.IO over WebSocket sends every packet as a WebSocket message of its
// own, and gorilla/websocket writes every message with a write call of its
// own: a session with a hundred packets queued would cost a hundred write
// syscalls, which is most of what a delivery costs. So the network
// connection under a session's WebSocket is a coalescer. The writer frames
// all but the last packet of a batch itself and holds the frames in the
// coalescer (hold); the last packet goes through gorilla, whose write —
// under gorilla's lock and with its deadline, refused once a close frame
// went out — carries the held frames before its own, in one call.

// maxHeld bounds the frames held for one write.
const maxHeld = 64 << 10

// heldBuffers are the buffers frames are held in, between a hold and the
// write that carries them: an idle session holds none.
var heldBuffers = sync.Pool{New: func() any { return new([]byte) }}

// coalescer is the network connection a session's WebSocket writes to.
// Whatever gorilla writes next carries the frames held: a control frame
// it writes from the reader meanwhile (a pong, its answer to the client's
// close) goes out after them just the same.
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

// appendFrame appends p framed as a WebSocket message, as gorilla frames
// it (no compression is negotiated).
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

// writeUnits writes every packet of units as a WebSocket message of its
// own, in as few write calls as maxHeld allows: each packet is held in co
// until the next one shows whether it is the last of a write, which goes
// through conn.
func writeUnits(conn *websocket.Conn, co *coalescer, units [][]byte) error {
	var (
		last    []byte // the packet not yet written or held
		lastBin bool
		pending bool // last is set
		held    int  // bytes held in co since the last write
	)
	for _, u := range units {
		err := eachPacket(u, func(bin bool, p []byte) error {
			if pending {
				if size := frameSize(len(last)); held+size <= maxHeld {
					co.hold(lastBin, last)
					held += size
				} else {
					if err := writeMessage(conn, lastBin, last); err != nil {
						return err
					}
					held = 0
				}
			}
			last, lastBin, pending = p, bin, true
			return nil
		})
		if err != nil {
			return err
		}
	}
	if !pending {
		return nil
	}
	return writeMessage(conn, lastBin, last)
}

// writeMessage writes p through gorilla, with what co holds before it,
// within writeWait.
func writeMessage(conn *websocket.Conn, bin bool, p []byte) error {
	typ := websocket.TextMessage
	if bin {
		typ = websocket.BinaryMessage
	}
	_ = conn.SetWriteDeadline(deadline())
	return conn.WriteMessage(typ, p)
}

// coalescing wraps the ResponseWriter of an upgrade so that the WebSocket
// writes to a coalescer.
type coalescing struct {
	http.ResponseWriter
}

// Hijack hijacks the connection and returns it as a coalescer.
func (h coalescing) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, http.ErrNotSupported
	}
	nc, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	return &coalescer{Conn: nc}, brw, nil
}

// upgrade upgrades a request to a session's WebSocket, which writes to a
// coalescer.
func (s *Server) upgrade(w http.ResponseWriter, r *http.Request) (*websocket.Conn, error) {
	return s.up.Upgrade(coalescing{w}, r, nil)
}
