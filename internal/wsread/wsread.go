// Package wsread reads the client messages of a server's WebSockets so
// that an idle connection costs a goroutine with the initial 2 KiB stack.
//
// A connection's reader spends its life waiting, and a goroutine's stack
// never shrinks back once grown (the runtime only halves stacks that are
// at most a quarter used): gorilla's frame reader alone grows it to 4 KiB,
// and what handles a message (JSON, router calls) to 8 KiB or more. So a
// Reader's goroutine keeps to shallow calls: it waits until the socket is
// readable (the runtime poller, through the raw connection) and hands
// reading and handling the message to a pooled worker (Workers), whose
// stack, grown once, serves every connection. Waiting outside gorilla is
// only right when gorilla has no bytes buffered, which is why Upgrade has
// gorilla read through a bufio.Reader the Reader can check. Pings and
// pongs alone are answered without gorilla, which would otherwise go on to
// wait for a data message on the worker: a client answering the server's
// pings would keep a worker parked for good.
//
// Without a raw socket to wait on (TLS) the Reader reads on its own
// goroutine, as a plain loop would.
package wsread

import (
	"bufio"
	"fmt"
	"net"
	"net/http"

	"github.com/gorilla/websocket"

	"github.com/routerd/routerd/internal/wscoalesce"
)

// readBufferSize is the bufio.Reader gorilla reads client frames through.
// Client frames are small; a larger one is read in several calls (gorilla
// reuses a hijacked reader only when it holds more than 256 bytes).
const readBufferSize = 512

// hijacker wraps the ResponseWriter of an upgrade so that the connection
// is a wscoalesce.Conn and gorilla reads it through a bufio.Reader of the
// Reader's (br).
type hijacker struct {
	http.ResponseWriter
	br *bufio.Reader
}

// Hijack hijacks the connection, wraps it, and swaps net/http's reader
// (4 KiB, and never read again) for a small one. A reader that already
// holds bytes is passed on as it is (gorilla refuses it).
func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, http.ErrNotSupported
	}
	nc, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, fmt.Errorf("wsread: hijack: %w", err)
	}
	if brw.Reader.Buffered() > 0 {
		return wscoalesce.Wrap(nc), brw, nil
	}
	h.br = bufio.NewReaderSize(nc, readBufferSize)
	return wscoalesce.Wrap(nc), bufio.NewReadWriter(h.br, brw.Writer), nil
}

// Upgrade upgrades r to a WebSocket with up, as up.Upgrade does (which
// answers the request when it fails), over a wscoalesce.Conn, and returns
// it with its Reader. up.ReadBufferSize must be 0, so that gorilla reads
// through the Reader's buffer. With nil workers the Reader reads on the
// goroutine that calls Run, as a plain loop would: the connection still
// gets the small buffer.
func Upgrade(up *websocket.Upgrader, w http.ResponseWriter, r *http.Request, h http.Header, workers *Workers) (*websocket.Conn, *Reader, error) {
	if up.ReadBufferSize != 0 {
		panic("wsread: Upgrade: the Upgrader's ReadBufferSize must be 0")
	}
	hw := &hijacker{ResponseWriter: w}
	ws, err := up.Upgrade(hw, r, h)
	if err != nil {
		return nil, nil, err
	}
	rd := &Reader{ws: ws, br: hw.br, workers: workers}
	if hw.br != nil && workers != nil {
		rd.ready = newReadiness(ws.NetConn().(*wscoalesce.Conn).Raw())
	}
	if rd.ready != nil { // what only reading on workers needs
		rd.handled, rd.job = make(chan bool, 1), rd.readOne
	}
	return ws, rd, nil
}

// A Reader reads one WebSocket's messages (see Run).
type Reader struct {
	ws      *websocket.Conn
	br      *bufio.Reader // what gorilla reads through; nil when gorilla made its own
	ready   *readiness    // nil: the Reader reads on its own goroutine
	workers *Workers
	handled chan bool   // capacity 1: a worker is done with a message; nil without ready
	read    func() bool // Run's
	job     func()      // readOne, made once; nil without ready
}

// Run calls read for each message the client sends, until read reports
// false, and returns nil then; read reads the message from the WebSocket
// (gorilla's ReadMessage) and handles it. Run returns the error that ended
// waiting for the socket to be readable (a read deadline passed, the
// socket closed), without calling read. read runs on a worker, one message
// at a time and in order; without a raw socket to wait on, on the calling
// goroutine.
func (r *Reader) Run(read func() bool) error {
	if r.ready == nil {
		for read() {
		}
		return nil
	}
	r.read = read
	for {
		if r.br.Buffered() == 0 {
			if err := r.ready.wait(); err != nil {
				return err
			}
		}
		r.workers.Run(r.job)
		if !<-r.handled {
			return nil
		}
	}
}

// readOne is a worker's job: the control frames the client sent, or else
// its next message.
func (r *Reader) readOne() {
	if r.skipControl() {
		r.handled <- true
		return
	}
	r.handled <- r.read()
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

// skipControl hands the pings and pongs at the head of what the client
// sent to the WebSocket's ping and pong handlers, while they are whole in
// the read buffer, and reports whether that was all it had sent. Anything
// else (data, close, a malformed or partial frame) is left to gorilla.
func (r *Reader) skipControl() bool {
	if _, err := r.br.Peek(1); err != nil { // the socket is readable: fill the buffer
		return false
	}
	for r.br.Buffered() >= 2 {
		hdr, _ := r.br.Peek(2)
		if (hdr[0] != finPing && hdr[0] != finPong) || hdr[1]&maskBit == 0 || int(hdr[1]&^maskBit) > maxControl {
			return false
		}
		n := 2 + maskKeySize + int(hdr[1]&^maskBit)
		frame, err := r.br.Peek(n)
		if err != nil || len(frame) < n {
			return false
		}
		key, payload := frame[2:2+maskKeySize], append([]byte(nil), frame[2+maskKeySize:]...)
		for i := range payload {
			payload[i] ^= key[i%maskKeySize]
		}
		_, _ = r.br.Discard(n)
		handle := r.ws.PongHandler()
		if frame[0] == finPing { // not hdr: filling the buffer for frame may have moved it
			handle = r.ws.PingHandler()
		}
		if err := handle(string(payload)); err != nil {
			return false
		}
	}
	return r.br.Buffered() == 0
}
