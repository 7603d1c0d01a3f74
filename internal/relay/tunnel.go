package relay

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/contract"
	"github.com/routerd/routerd/internal/bus"
	"github.com/routerd/routerd/internal/wsclose"
	"github.com/routerd/routerd/internal/wscoalesce"
	"github.com/routerd/routerd/internal/wsread"
	"github.com/routerd/routerd/metrics"
)

// WebSocket tunnels.
//
// The edge asks the owner on $routerd.P.eio.{owner}.ws to take the upgrade
// (headers Eio-Sid, the session; Eio-Tunnel, a new id; Eio-Node, the edge's
// tag; Eio-Remote); the owner answers like an HTTP response (Eio-Status
// 101, or the error it would have answered itself) and then serves the
// session over the tunnel as over a WebSocket of its own. The edge accepts
// the WebSocket and relays messages both ways, one at a time and each
// answered once handled, so each side's pace holds the other back as a
// socket's would:
//   - client to owner, on $routerd.P.eio.{owner}.ws.{id}: Eio-Type text or
//     binary, then close (the client's close frame) or toolarge (over
//     Options.MaxBytes) where that ended it, and last end (the edge let go
//     of the connection: no more answers will come);
//   - owner to client, on $routerd.P.eio.{edge}.ws.{id}: batch (messages
//     written one after the other, in as few write calls as package
//     wscoalesce makes them; see AppendBatch), text or binary (one
//     message), close (a close frame to send) or end (drop the
//     connection). An answer with Eio-Error says the write failed; with
//     Eio-Type close too, it failed because the client has a close frame
//     already (websocket.ErrCloseSent: gorilla sent 1009 for an oversized
//     message, or answered the client's close), and the edge lingers for
//     the client's answer whatever the owner does next.
//
// The edge enforces Options.MaxBytes and answers pings itself. A relayed
// WebSocket costs a NATS round trip per exchange each way, so it is slower
// than a local one, but much faster than long-polling.

// Headers of a tunnel's messages.
const (
	hdrSid    = "Eio-Sid"
	hdrTunnel = "Eio-Tunnel"
	hdrNode   = "Eio-Node"
	hdrType   = "Eio-Type"
	hdrError  = "Eio-Error"
)

// Eio-Type values.
const (
	tunnelText     = "text"
	tunnelBinary   = "binary"
	tunnelBatch    = "batch"
	tunnelClose    = "close"
	tunnelTooLarge = "toolarge"
	tunnelEnd      = "end"
)

const (
	writeWait  = 10 * time.Second // bound on one write to a client
	closeGrace = time.Second      // wait for the client's WebSocket close reply
)

func deadline() time.Time { return time.Now().Add(writeWait) }

// maxBatch bounds the bytes of one batch sent to the edge (a larger
// message goes alone).
const maxBatch = 256 << 10

var errTunnelEnded = errors.New("relay: websocket tunnel ended")

// Tunnel accepts the WebSocket upgrade r for session of the node tagged tag
// and relays it to that node until the client or the owner ends it, or
// ctx ends: then the client gets a close frame 1001 (going away), as a
// client of a node shutting down would. On an error (ErrNoNode,
// ErrNoAnswer, or a failure to subscribe) nothing was written; otherwise
// the owner's refusal, the upgrader's or the tunnel answered.
func (rl *Relay) Tunnel(ctx context.Context, w http.ResponseWriter, r *http.Request, tag, session string) error {
	id := newID()
	tunnel, cancel := context.WithCancel(ctx)
	defer cancel()
	e := &edge{ready: make(chan struct{}), end: cancel}
	e.asking, e.letGo = context.WithCancel(tunnel)
	sub, err := rl.o.Conn.Subscribe(rl.names.Tunnel(rl.o.Tag, id), e.down)
	if err != nil {
		return fmt.Errorf("relay: websocket tunnel: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	defer e.start(nil) // the upgrade did not happen
	open := nats.NewMsg(rl.names.TunnelOpen(tag))
	open.Header.Set(hdrSid, session)
	open.Header.Set(hdrTunnel, id)
	open.Header.Set(hdrNode, rl.o.Tag)
	open.Header.Set(hdrRemote, r.RemoteAddr)
	reply, err := rl.o.Conn.NC().RequestMsg(open, rl.o.OpenWithin)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return fmt.Errorf("websocket tunnel to node %s: %w", tag, ErrNoNode)
	case err != nil:
		return fmt.Errorf("websocket tunnel to node %s: %w: %w", tag, ErrNoAnswer, err)
	case reply.Header.Get(hdrStatus) != "101":
		writeReply(w, reply)
		return nil
	}
	up := rl.names.Tunnel(tag, id)
	conn, _, err := wsread.Upgrade(rl.o.Upgrader, w, r, nil, nil) // relayUp reads on this goroutine
	if err != nil {
		_ = rl.o.Conn.NC().PublishMsg(tunnelMsg(up, tunnelEnd, nil))
		return nil // the upgrader answered
	}
	e.start(conn)
	rl.o.Metrics.Tunnel("edge", 1)
	defer rl.o.Metrics.Tunnel("edge", -1)
	// The tunnel ends when the owner drops it, or when ctx ends: then the
	// client is told so, as a local client would be, and relayUp reads on
	// until it answers.
	stop := context.AfterFunc(tunnel, func() {
		if ctx.Err() == nil {
			_ = conn.Close()
			return
		}
		if conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "shutting down"), deadline()) != nil {
			_ = conn.Close()
			return
		}
		e.closed.Store(true)
		e.linger()
	})
	defer stop()
	rl.relayUp(ctx, e, up)
	return nil
}

// relayUp sends the client's messages to the owner until the connection
// ends or the owner stops taking them. Once the client has a close frame
// and the owner let go, what the client still sends is discarded until it
// answers the close (see linger). ctx is Tunnel's.
func (rl *Relay) relayUp(ctx context.Context, e *edge, up string) {
	conn := e.conn
	defer func() {
		_ = conn.Close()
		// Last, after what the client sent: the owner stops waiting for
		// answers from this side.
		_ = rl.o.Conn.NC().PublishMsg(tunnelMsg(up, tunnelEnd, nil))
	}()
	conn.SetReadLimit(int64(rl.o.MaxBytes))
	request := func(typ string, data []byte) error {
		ctx, cancel := context.WithTimeout(e.asking, rl.o.AnswerWithin)
		defer cancel()
		_, err := rl.o.Conn.NC().RequestMsgWithContext(ctx, tunnelMsg(up, typ, data))
		return err
	}
	for {
		typ, msg, err := conn.ReadMessage()
		var ce *websocket.CloseError
		switch {
		case err == nil && e.lingering.Load():
		case err == nil:
			kind := tunnelText
			if typ == websocket.BinaryMessage {
				kind = tunnelBinary
			}
			if err = request(kind, msg); err != nil && (e.closed.Load() || ctx.Err() != nil) {
				// The client has (or is about to have) a close frame:
				// the owner takes no more, but the client gets to answer.
				e.linger()
				err = nil
			}
		case errors.Is(err, websocket.ErrReadLimit):
			e.closed.Store(true) // gorilla sent 1009
			_ = rl.o.Conn.NC().PublishMsg(tunnelMsg(up, tunnelTooLarge, nil))
			wsclose.Linger(conn, err, closeGrace)
		case errors.As(err, &ce):
			_ = rl.o.Conn.NC().PublishMsg(tunnelMsg(up, tunnelClose, websocket.FormatCloseMessage(ce.Code, ce.Text)))
		}
		if err != nil {
			return
		}
	}
}

// tunnelMsg is a tunnel message of Eio-Type typ.
func tunnelMsg(subject, typ string, data []byte) *nats.Msg {
	m := nats.NewMsg(subject)
	m.Header.Set(hdrType, typ)
	m.Data = data
	return m
}

// edge is the edge's side of a tunnel: it writes what the owner sends.
type edge struct {
	once  sync.Once
	ready chan struct{}      // closed by start
	conn  *websocket.Conn    // set by start; nil when the upgrade failed
	w     *wscoalesce.Writer // writes to conn; set by start
	end   func()             // ends the tunnel: drops the connection

	asking context.Context // the requests to the owner; ends with the tunnel, or when the owner let go
	letGo  func()          // ends asking

	closed    atomic.Bool // a close frame went to the client
	lingering atomic.Bool // the owner let go after the close: relayUp discards
}

// linger stops asking the owner and has relayUp discard what the client
// still sends until it answers the close frame, for at most the close
// grace.
func (e *edge) linger() {
	if e.lingering.CompareAndSwap(false, true) {
		e.letGo()
		_ = e.conn.SetReadDeadline(time.Now().Add(closeGrace))
	}
}

// start lets down write to conn, from wsread.Upgrade (nil: drop what
// the owner sends). Only the first call counts.
func (e *edge) start(conn *websocket.Conn) {
	e.once.Do(func() {
		if conn != nil {
			e.conn, e.w = conn, wscoalesce.NewWriter(conn, writeWait)
		}
		close(e.ready)
	})
}

// down writes one message from the owner to the client and answers it.
// NATS calls it for one message at a time, in order.
func (e *edge) down(m *nats.Msg) {
	<-e.ready
	if e.conn == nil {
		return
	}
	var err error
	switch m.Header.Get(hdrType) {
	case tunnelText, tunnelBinary, tunnelBatch:
		err = e.write(m)
	case tunnelClose:
		err = e.conn.WriteControl(websocket.CloseMessage, m.Data, deadline())
		if errors.Is(err, websocket.ErrCloseSent) {
			err = nil // gorilla sent one already (1009, over the read limit)
		}
		if err == nil {
			e.closed.Store(true)
		}
	case tunnelEnd:
		if !e.closed.Load() {
			e.end()
			return
		}
		e.linger()
		return
	default:
		e.end()
		return
	}
	reply := nats.NewMsg(m.Reply)
	switch {
	case errors.Is(err, websocket.ErrCloseSent):
		// gorilla sent a close frame itself (1009 for an oversized
		// message, or its answer to the client's close): relayUp ends by
		// itself and lingers before it closes the socket, so the client
		// gets the frame. The owner ends the tunnel next: with closed set,
		// its end does not drop the connection under relayUp.
		e.closed.Store(true)
		reply.Header.Set(hdrError, err.Error())
		reply.Header.Set(hdrType, tunnelClose)
	case err != nil:
		reply.Header.Set(hdrError, err.Error())
		e.end()
	}
	_ = m.RespondMsg(reply)
}

// write writes the message, or batch of messages, of the owner's tunnel
// message m to the client, in one write call as far as wscoalesce can.
func (e *edge) write(m *nats.Msg) error {
	var err error
	switch typ := m.Header.Get(hdrType); typ {
	case tunnelBatch:
		err = EachMessage(m.Data, func(msg Message) error { return e.w.Write(msg.Binary, msg.Data) })
	default:
		err = e.w.Write(typ == tunnelBinary, m.Data)
	}
	if err != nil {
		return err
	}
	return e.w.Flush()
}

// TunnelRequest is a WebSocket upgrade another node accepted for a session
// of this node's, which it asks this node to take.
type TunnelRequest struct {
	// Session is the session the client asked for.
	Session string

	rl      *Relay
	w       http.ResponseWriter // the answer to the edge
	id      string              // the tunnel's id
	edgeTag string
}

// serveTunnel has Options.Accept take or refuse a tunnel, and answers the
// edge.
func (rl *Relay) serveTunnel(m *nats.Msg) {
	rec := &recorder{header: make(http.Header)}
	defer func() { respondRecorded(m, rec) }()
	rl.o.Accept(rec, &TunnelRequest{
		Session: m.Header.Get(hdrSid),
		rl:      rl,
		w:       rec,
		id:      m.Header.Get(hdrTunnel),
		edgeTag: m.Header.Get(hdrNode),
	})
}

// Accept takes the tunnel: it answers the edge 101 (Switching Protocols)
// and returns the connection to serve the session on, which the caller
// must Close. On an error (ErrBadTunnel, or a failure to subscribe) the
// answer is the caller's.
func (t *TunnelRequest) Accept() (*Conn, error) {
	if t.id == "" || contract.Escape(t.id) != t.id || !ValidTag(t.edgeTag) {
		return nil, ErrBadTunnel // each must be one subject token
	}
	rl := t.rl
	conn, err := newConn(rl.o.Conn, rl.names.Tunnel(rl.o.Tag, t.id), rl.names.Tunnel(t.edgeTag, t.id), rl.o.Metrics)
	if err != nil {
		return nil, err
	}
	t.w.WriteHeader(http.StatusSwitchingProtocols)
	return conn, nil
}

// Conn is the owner's side of a tunnel: the client's WebSocket, as the
// edge relays it. Its methods are those of a *websocket.Conn a session
// uses; the edge answers pings, enforces the read limit, and writes every
// message of a batch (WriteAll).
type Conn struct {
	nc  *bus.Conn
	out string // the edge's subject
	sub *bus.Sub
	in  chan *nats.Msg // the client's next message, answered once read
	m   *metrics.Metrics

	ctx       context.Context // ends with the tunnel: cancels writes in flight
	end       context.CancelFunc
	closeOnce sync.Once

	mu            sync.Mutex
	readDeadline  time.Time     // guarded by mu
	writeDeadline time.Time     // guarded by mu
	moved         chan struct{} // signalled when the read deadline changes
}

// newConn subscribes a tunnel's owner side: it reads on subject in and
// writes to subject out.
func newConn(nc *bus.Conn, in, out string, m *metrics.Metrics) (*Conn, error) {
	c := &Conn{
		nc:    nc,
		out:   out,
		in:    make(chan *nats.Msg),
		m:     m,
		moved: make(chan struct{}, 1),
	}
	c.ctx, c.end = context.WithCancel(context.Background())
	sub, err := nc.Subscribe(in, func(m *nats.Msg) {
		if m.Header.Get(hdrType) == tunnelEnd {
			// The edge is gone: so are the answers to writes in flight.
			c.end()
			return
		}
		select {
		case c.in <- m:
		case <-c.ctx.Done():
		}
	})
	if err != nil {
		c.end()
		return nil, fmt.Errorf("relay: websocket tunnel: %w", err)
	}
	c.sub = sub
	c.m.Tunnel("owner", 1)
	return c, nil
}

// ReadMessage returns the client's next message, or how the connection
// ended.
func (c *Conn) ReadMessage() (int, []byte, error) {
	for {
		c.mu.Lock()
		dl := c.readDeadline
		c.mu.Unlock()
		var expired <-chan time.Time
		var timer *time.Timer
		if !dl.IsZero() {
			timer = time.NewTimer(time.Until(dl))
			expired = timer.C
		}
		var m *nats.Msg
		var err error
		select {
		case m = <-c.in:
		case <-c.moved:
		case <-expired:
			err = fmt.Errorf("relay: websocket tunnel: read: %w", os.ErrDeadlineExceeded)
		case <-c.ctx.Done():
			err = errTunnelEnded
		}
		if timer != nil {
			timer.Stop()
		}
		switch {
		case err != nil:
			return 0, nil, err
		case m != nil:
			return c.read(m)
		}
	}
}

// read answers a message from the edge and returns what it says.
func (c *Conn) read(m *nats.Msg) (int, []byte, error) {
	_ = m.Respond(nil)
	switch m.Header.Get(hdrType) {
	case tunnelText:
		return websocket.TextMessage, m.Data, nil
	case tunnelBinary:
		return websocket.BinaryMessage, m.Data, nil
	case tunnelTooLarge:
		return 0, nil, websocket.ErrReadLimit
	case tunnelClose:
		return 0, nil, closeError(m.Data)
	}
	return 0, nil, fmt.Errorf("relay: websocket tunnel: message type %q", m.Header.Get(hdrType))
}

// closeError is what a close frame's payload says.
func closeError(payload []byte) error {
	ce := &websocket.CloseError{Code: websocket.CloseNoStatusReceived}
	if len(payload) >= 2 {
		ce.Code = int(payload[0])<<8 | int(payload[1])
		ce.Text = string(payload[2:])
	}
	return ce
}

// WriteMessage sends a message to the client and waits until the edge
// wrote it, or the write deadline.
func (c *Conn) WriteMessage(messageType int, data []byte) error {
	typ := tunnelText
	if messageType == websocket.BinaryMessage {
		typ = tunnelBinary
	}
	c.mu.Lock()
	dl := c.writeDeadline
	c.mu.Unlock()
	return c.send(typ, data, dl)
}

// WriteAll sends every message of msgs to the client, in order, each a
// text message or a batch of messages (AppendBatch, EachMessage), in as
// few batches as fit maxBatch bytes, waiting for the edge to write each
// batch.
func (c *Conn) WriteAll(msgs [][]byte) error {
	var batch []byte
	send := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := c.send(tunnelBatch, batch, time.Time{})
		batch = nil
		return err
	}
	for _, b := range msgs {
		err := EachMessage(b, func(m Message) error {
			if len(batch) > 0 && len(batch)+len(m.Data) > maxBatch {
				if err := send(); err != nil {
					return err
				}
			}
			batch = AppendBatch(batch, m)
			return nil
		})
		if err != nil {
			return err
		}
	}
	return send()
}

// WriteControl sends a close frame (the only control message relayed;
// the edge answers pings itself).
func (c *Conn) WriteControl(messageType int, data []byte, deadline time.Time) error {
	if messageType != websocket.CloseMessage {
		return fmt.Errorf("relay: websocket tunnel: control message %d not relayed", messageType)
	}
	return c.send(tunnelClose, data, deadline)
}

// send sends the edge a message of Eio-Type typ and waits for its answer
// until deadline (zero: writeWait from now). Where the edge found a close
// frame sent to the client already, the error wraps
// websocket.ErrCloseSent, as a *websocket.Conn's write's would.
func (c *Conn) send(typ string, data []byte, deadline time.Time) error {
	if deadline.IsZero() {
		deadline = time.Now().Add(writeWait)
	}
	ctx, cancel := context.WithDeadline(c.ctx, deadline)
	defer cancel()
	reply, err := c.nc.NC().RequestMsgWithContext(ctx, tunnelMsg(c.out, typ, data))
	if err != nil {
		return fmt.Errorf("relay: websocket tunnel: write: %w", err)
	}
	switch e := reply.Header.Get(hdrError); {
	case e == "":
		return nil
	case reply.Header.Get(hdrType) == tunnelClose:
		return fmt.Errorf("relay: websocket tunnel: write: %w", websocket.ErrCloseSent)
	default:
		return fmt.Errorf("relay: websocket tunnel: write: %s", e)
	}
}

// SetReadLimit does nothing: the edge reads with its own limit.
func (c *Conn) SetReadLimit(int64) {}

// SetReadDeadline bounds ReadMessage, also one in progress.
func (c *Conn) SetReadDeadline(dl time.Time) error {
	c.mu.Lock()
	c.readDeadline = dl
	c.mu.Unlock()
	select {
	case c.moved <- struct{}{}:
	default:
	}
	return nil
}

// SetWriteDeadline bounds the next writes.
func (c *Conn) SetWriteDeadline(dl time.Time) error {
	c.mu.Lock()
	c.writeDeadline = dl
	c.mu.Unlock()
	return nil
}

// Close ends the tunnel; the edge drops the client's connection.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.end()
		_ = c.sub.Unsubscribe()
		_ = c.nc.NC().PublishMsg(tunnelMsg(c.out, tunnelEnd, nil))
		c.m.Tunnel("owner", -1)
	})
	return nil
}
