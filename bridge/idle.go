package bridge

import (
	"bufio"
	"net"
	"net/http"
	"time"

	"github.com/gorilla/websocket"

	"github.com/routerd/routerd/internal/wscoalesce"
)

// An idle connection costs its reader goroutine's stack. The reader waits
// for the socket to become readable (readiness, a shallow call) and lets a
// worker call gorilla, so its stack stays at the initial 2 KiB instead of
// the 4 KiB gorilla's frame reader grows it to. Waiting outside gorilla is
// only right when gorilla has no bytes buffered, which is why the bridge
// hands gorilla the bufio.Reader it reads through (hijacker) and checks it.

// readBufferSize is the bufio.Reader gorilla reads client frames through.
// Client frames are small; a larger one is read in several calls.
const readBufferSize = 512

// hijacker wraps the ResponseWriter of an upgrade so that gorilla reads the
// connection through a bufio.Reader the bridge keeps (br).
type hijacker struct {
	http.ResponseWriter
	br *bufio.Reader
}

// Hijack hijacks the connection, wraps it for the connection's
// wscoalesce.Writer, and swaps net/http's reader (4 KiB, and never read
// again) for a small one of the bridge's. A reader that already holds
// bytes is passed on as it is (gorilla refuses it).
func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, http.ErrNotSupported
	}
	nc, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	if brw.Reader.Buffered() > 0 {
		return wscoalesce.Wrap(nc), brw, nil
	}
	h.br = bufio.NewReaderSize(nc, readBufferSize)
	return wscoalesce.Wrap(nc), bufio.NewReadWriter(h.br, brw.Writer), nil
}

// WebSocket control frames a client sends (RFC 6455 §5.5): final, with an
// opcode, masked, at most 125 bytes of payload.
const (
	finPing     = 0x89
	finPong     = 0x8a
	maskBit     = 0x80
	maxControl  = 125
	maskKeySize = 4
)

// skipControl answers the pings and pongs at the head of what the client
// sent, while they are whole in the read buffer, and reports whether that
// was all it had sent. Otherwise gorilla, which would answer them just the
// same, would go on to wait for a data message on the worker: a client
// answering the server's pings would keep a worker parked for good. Anything
// else (data, close, a malformed or partial frame) is left to gorilla.
func (c *conn) skipControl() bool {
	if _, err := c.br.Peek(1); err != nil { // the socket is readable: fill the buffer
		return false
	}
	for c.br.Buffered() >= 2 {
		hdr, _ := c.br.Peek(2)
		if (hdr[0] != finPing && hdr[0] != finPong) || hdr[1]&maskBit == 0 || int(hdr[1]&^maskBit) > maxControl {
			return false
		}
		n := 2 + maskKeySize + int(hdr[1]&^maskBit)
		frame, err := c.br.Peek(n)
		if err != nil || len(frame) < n {
			return false
		}
		key, payload := frame[2:2+maskKeySize], append([]byte(nil), frame[2+maskKeySize:]...)
		for i := range payload {
			payload[i] ^= key[i%maskKeySize]
		}
		_, _ = c.br.Discard(n)
		if hdr[0] == finPong {
			_ = c.onPong(string(payload))
		} else if err := c.ws.WriteControl(websocket.PongMessage, payload, time.Now().Add(writeWait)); err != nil {
			return false
		}
	}
	return c.br.Buffered() == 0
}
