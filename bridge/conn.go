package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"

	"github.com/routerd/routerd/contract"
	"github.com/routerd/routerd/internal/sendq"
	"github.com/routerd/routerd/internal/wsclose"
	"github.com/routerd/routerd/internal/wscoalesce"
	"github.com/routerd/routerd/internal/wsread"
	"github.com/routerd/routerd/router"
)

const (
	writeWait     = 10 * time.Second // bound on one write to a client
	closeGrace    = time.Second      // wait for the client's close reply
	maxBatchBytes = 1 << 20          // most bytes coalesced into one message
)

// conn is one WebSocket connection: a reader goroutine that decodes client
// frames and calls the router, and, only while there is something to
// write, a flusher goroutine that coalesces the queued frames into one
// WebSocket message per write. An idle connection costs one goroutine: a
// flusher is started by the push into an idle queue (see sendq.Queue) and
// ends once it has emptied it. The reader owns the cleanup.
type conn struct {
	srv  *Server
	ws   *websocket.Conn
	rd   *wsread.Reader     // reads ws
	q    *sendq.Queue       // frames to write, at most limits.send_queue
	w    *wscoalesce.Writer // writes them; used by the one flusher running
	info router.ConnInfo
	ctx  context.Context // ends with the connection
	stop context.CancelFunc
	ping *time.Timer // sends the next liveness ping

	limit   *rate.Limiter // client frames; nil when unlimited
	strikes *rate.Limiter // rejected frames tolerated before 1008

	closeOnce  sync.Once
	closeCode  int            // the close frame's code (0: none); written before closeStart is set
	closeText  string         // written before closeStart is set
	closeStart atomic.Bool    // closing began; pongs no longer extend the deadline
	closeSent  sync.Once      // the close frame is written once
	pongDue    atomic.Bool    // a ping is unanswered and the read deadline for its pong is armed
	requests   sync.WaitGroup // server-bound requests in flight
	readEnd    error          // why reading ended, nil when the connection began closing; written by the reading side before readLoop returns

	// flushers counts the flushers started; q adds to it under its lock,
	// where it marks its take side owned, so that run, which closes q and
	// then waits for the flushers, cannot miss one that Send has just started.
	flushers sync.WaitGroup

	mu      sync.Mutex
	sockets map[string]*router.Socket // by namespace; guarded by mu
}

// Codec implements router.Conn.
func (c *conn) Codec() router.Codec { return c.srv.codec }

// Send implements router.Conn: it queues a frame without blocking, and
// closes the connection with 1013 when its queue is full.
func (c *conn) Send(frame []byte) {
	start, err := c.q.Push(frame)
	switch {
	case start && c.w.NonBlocking():
		c.srv.flushq.push(c)
	case start:
		go c.flush()
	case errors.Is(err, sendq.ErrFull):
		c.close(websocket.CloseTryAgainLater, "slow consumer", "slow_consumer")
	}
}

// Wait implements router.Pacer: a history replay waits here for the client
// to read.
func (c *conn) Wait(ctx context.Context, n int) (int, error) { return c.q.Wait(ctx, n) }

// Detached implements router.Conn.
func (c *conn) Detached(s *router.Socket, reason string) {
	c.mu.Lock()
	if c.sockets[s.Namespace()] == s {
		delete(c.sockets, s.Namespace())
	}
	c.mu.Unlock()
	c.sendFrame("disconnected", disconnectedFrame{Type: "disconnected", NS: s.Namespace(), Reason: reason})
}

func (c *conn) sendFrame(typ string, v any) {
	c.srv.m.FrameOut(typ)
	c.Send(encode(v))
}

// close ends the connection's write side: no more frames are queued; what
// is queued is still written, except for a slow consumer (1013) and for
// code 0 (the connection is gone), whose queues are dropped; then the close
// frame with code is sent (none for code 0). Only the first call counts.
func (c *conn) close(code int, text, reason string) {
	c.closeOnce.Do(func() {
		c.closeCode, c.closeText = code, text
		c.closeStart.Store(true)
		if reason != "" {
			c.srv.m.Closed(reason)
		}
		if c.q.Close(code == 0 || code == websocket.CloseTryAgainLater) {
			go c.flush()
		}
	})
}

// run serves the connection until it ends.
func (c *conn) run() {
	defer c.srv.m.ConnectionClosed()
	c.srv.m.FrameOut("hello")
	c.Send(c.srv.hello)
	c.ping = time.AfterFunc(c.srv.cfg.HTTP.PingInterval, c.sendPing)
	c.readLoop()
	c.stop()
	c.ping.Stop()
	c.mu.Lock()
	sockets := c.sockets
	c.sockets = nil
	c.mu.Unlock()
	for _, s := range sockets {
		s.Disconnect()
	}
	c.close(0, "", "")
	c.flushers.Wait()
	c.requests.Wait()
	c.linger()
	_ = c.ws.Close()
}

// linger reads on, discarding, after a close frame the server began, until
// the client answers it (see wsclose.Linger). With code 0 no frame went out
// and the socket is closed already.
func (c *conn) linger() {
	if c.readEnd != nil || c.closeCode != 0 {
		wsclose.Linger(c.ws, c.readEnd, closeGrace)
	}
}

// readLoop reads client messages until the connection ends, through the
// connection's wsread.Reader: an idle connection's reader keeps the
// initial 2 KiB stack, and each message is read and handled on a pooled
// worker.
func (c *conn) readLoop() {
	c.ws.SetReadLimit(int64(c.srv.cfg.Limits.MaxFrameBytes))
	c.ws.SetPongHandler(c.onPong)
	if err := c.rd.Run(c.readMessage); err != nil {
		c.srv.log.Debug("connection read ended", "remote", c.info.RemoteAddr, "err", err)
		c.readEnd = err
	}
}

// onPong clears the pong deadline.
func (c *conn) onPong(string) error {
	if !c.closeStart.Load() {
		err := c.ws.SetReadDeadline(time.Time{})
		c.pongDue.Store(false)
		return err
	}
	return nil
}

// readMessage reads one client message and handles its frames. It
// reports false once the connection is ending.
func (c *conn) readMessage() bool {
	typ, msg, err := c.ws.ReadMessage()
	if err != nil {
		if errors.Is(err, websocket.ErrReadLimit) {
			c.srv.m.Closed("too_large")
		}
		c.srv.log.Debug("connection read ended", "remote", c.info.RemoteAddr, "err", err)
		c.readEnd = err
		return false
	}
	if typ != websocket.TextMessage {
		c.replyError(0, "", router.Errorf(contract.CodeBadFrame, "binary messages are not supported; send JSON text"))
		return true
	}
	return c.handleFrames(msg)
}

// handleFrames handles the frames of one client message. A frame that
// trips a bug ends its connection (1011), not the daemon. It reports false
// once the connection is closing.
func (c *conn) handleFrames(msg []byte) (open bool) {
	defer func() {
		if v := recover(); v != nil {
			c.srv.log.Error("frame handling panicked", "remote", c.info.RemoteAddr, "panic", v)
			c.close(websocket.CloseInternalServerErr, "internal error", "panic")
			open = false
		}
	}()
	for _, f := range splitMessage(msg) {
		if c.closeStart.Load() {
			return false
		}
		c.handle(f)
	}
	return true
}

// sendPing runs on the ping timer: it arms the pong deadline (once per
// unanswered ping, so that a pong_timeout longer than ping_interval still
// expires) and sends a ping.
func (c *conn) sendPing() {
	if c.closeStart.Load() {
		return
	}
	if !c.pongDue.Swap(true) {
		_ = c.ws.SetReadDeadline(time.Now().Add(c.srv.cfg.HTTP.PongTimeout))
	}
	if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait)); err != nil {
		c.abort()
		return
	}
	c.ping.Reset(c.srv.cfg.HTTP.PingInterval)
}

// flush writes what flushOnce left held, then queued frames until the
// queue is empty, then, once the connection is closing, the close frame.
// A goroutine of the connection's, which owns the queue's take side.
func (c *conn) flush() { c.flushFrom(nil) }

// flushFrom is flush with a batch taken already.
func (c *conn) flushFrom(first [][]byte) {
	defer c.flushers.Done()
	err := c.w.Flush()
	if err == nil && len(first) > 0 {
		err = c.write(first)
	}
	if err != nil {
		c.writeFailed(err)
		return
	}
	var small [8][]byte // a paced delivery's batch, taken without allocating
	batch := small[:0]
	for {
		batch = c.q.Take(batch[:0], maxBatchBytes)
		if len(batch) == 0 {
			break
		}
		err := c.write(batch)
		clear(batch)
		if err != nil {
			c.writeFailed(err)
			return
		}
	}
	c.sendClose()
}

// flushOnce is flush on one of the server's flushers (flushQueue), which
// owns the queue's take side: it writes a few batches, each with one
// non-blocking write call, and hands the connection on to a goroutine of
// its own (flush) as soon as a write would block, so that a client that
// reads slowly never holds a flusher up.
func (c *conn) flushOnce() {
	var small [8][]byte
	for range flushOnceBatches {
		batch := c.q.Take(small[:0], flushOnceBytes)
		if len(batch) == 0 { // the take side is given up
			if c.closeDue() {
				go func() {
					defer c.flushers.Done()
					c.sendClose()
				}()
				return
			}
			c.flushers.Done()
			return
		}
		if !c.w.HoldsJoined(batch, newline) { // a message it would write in several blocking calls
			go c.flushFrom(slices.Clone(batch))
			clear(batch)
			return
		}
		err := c.w.WriteJoined(false, batch, newline)
		clear(batch)
		done := false
		if err == nil {
			done, err = c.w.TryFlush()
		}
		switch {
		case err != nil:
			c.writeFailed(err)
			c.flushers.Done()
			return
		case !done:
			go c.flush()
			return
		}
	}
	c.srv.flushq.push(c) // more to write: behind the others
}

// flushOnceBatches is how many batches flushOnce writes before it lets
// other connections' go first, and flushOnceBytes the most it takes in one
// (at least one frame).
const (
	flushOnceBatches = 4
	flushOnceBytes   = 32 << 10
)

// writeFailed ends the connection after a failed write, unless gorilla sent
// a close frame itself (1009 for an oversized message, or its answer to the
// client's close): then the reader ends by itself and lingers, so the
// socket must stay open until the client has the frame.
func (c *conn) writeFailed(err error) {
	if !errors.Is(err, websocket.ErrCloseSent) {
		c.abort()
	}
}

// closeDue reports whether the connection is closing with a close frame
// to send (code 0: the connection is gone, none is).
func (c *conn) closeDue() bool { return c.closeStart.Load() && c.closeCode != 0 }

// sendClose writes the close frame once one is due.
func (c *conn) sendClose() {
	if c.closeDue() {
		c.closeSent.Do(func() {
			msg := websocket.FormatCloseMessage(c.closeCode, c.closeText)
			_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(writeWait))
			_ = c.ws.SetReadDeadline(time.Now().Add(closeGrace))
		})
	}
}

// abort ends a connection whose writes fail: closing the socket ends the reader.
func (c *conn) abort() {
	c.close(0, "", "")
	_ = c.ws.NetConn().Close()
}

// write sends frames as one WebSocket message, joined by newlines.
func (c *conn) write(frames [][]byte) error {
	if len(frames) == 0 {
		return nil
	}
	if err := c.w.WriteJoined(false, frames, newline); err != nil {
		return err
	}
	return c.w.Flush()
}

var newline = []byte{'\n'}

// allow applies the rate limit to one client frame: over the limit the frame
// is refused, and a client that keeps going is closed with 1008.
func (c *conn) allow(f *clientFrame) bool {
	if c.limit == nil || c.limit.Allow() {
		return true
	}
	if !c.strikes.Allow() {
		c.close(websocket.ClosePolicyViolation, "rate limit exceeded", "rate_limited")
		return false
	}
	c.replyError(f.id, "", router.Errorf(contract.CodeRateLimited, "more than %g frames per second", c.srv.cfg.Limits.Rate.PerSecond))
	return false
}

// handle processes one client frame.
func (c *conn) handle(raw []byte) {
	f, perr := decodeFrame(raw)
	if perr != nil {
		c.srv.m.FrameIn("invalid")
		if c.allow(f) {
			ns := "" // the frame's, when it got as far as decoding it
			if f.NS != nil {
				ns = *f.NS
			}
			c.replyError(f.id, ns, perr)
		}
		return
	}
	if !c.allow(f) {
		return
	}
	h, ok := handlerFor(f.Type)
	if !ok {
		c.srv.m.FrameIn("unknown")
		c.replyError(f.id, str(f.NS), router.Errorf(contract.CodeUnknownType, "unknown frame type %q", f.Type))
		return
	}
	c.srv.m.FrameIn(f.Type)
	data, err := h(c, f)
	switch {
	case errors.Is(err, errReplied):
	case err != nil:
		c.replyError(f.id, str(f.NS), router.AsError(err))
	case f.id != 0:
		c.sendFrame("ack", ackFrame{Type: "ack", ID: f.id, Data: data})
	}
}

func (c *conn) replyError(id uint64, ns string, e *router.Error) {
	c.srv.m.Error(string(e.Code))
	c.sendFrame("error", errorFrame{Type: "error", ID: id, NS: ns, Code: string(e.Code), Message: e.Message})
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// socket returns the socket of namespace ns on this connection.
func (c *conn) socket(ns string) (*router.Socket, error) {
	c.mu.Lock()
	s := c.sockets[ns]
	c.mu.Unlock()
	if s == nil {
		return nil, router.Errorf(contract.CodeNotConnected, "not connected to namespace %q", ns)
	}
	return s, nil
}

// jsonData is the data of a frame: null when absent.
func jsonData(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage("null")
	}
	return raw
}
