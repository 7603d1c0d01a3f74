package socketio

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
	"github.com/routerd/routerd/router"
)

// WebSocket upgrades without sticky sessions.
//
// An upgrade for a session of another node (its sid's tag is not this
// node's) is tunnelled to that node over NATS. This node, the edge, asks
// the owner on $routerd.P.eio.{owner}.ws to take the upgrade (header
// Eio-Sid, Eio-Tunnel {id}, Eio-Node {edge tag}); the owner answers like an
// HTTP response (Eio-Status 101, or the error it would have answered
// itself) and then serves the session over the tunnel as over a WebSocket
// of its own: the probe, the switch, every packet. The edge accepts the
// WebSocket and relays messages both ways, one at a time and each answered
// once handled, so each side's pace holds the other back as a socket's
// would:
//   - client to owner, on $routerd.P.eio.{owner}.ws.{id}: Eio-Type text or
//     binary, then close (the client's close frame) or toolarge (over
//     limits.max_frame_bytes) where that ended it, and last end (the edge
//     let go of the connection: no more answers will come);
//   - owner to client, on $routerd.P.eio.{edge}.ws.{id}: batch (every
//     packet queued for the client, written as a message each; encoded as
//     a multi-packet unit, see codec.go), text or binary (one message),
//     close (a close frame to send) or end (drop the connection).
//
// The edge enforces its own limits.max_frame_bytes. A relayed session
// costs a NATS round trip per exchange each way, so it is slower than a
// local WebSocket, but much faster than long-polling.

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

var errTunnelEnded = errors.New("websocket tunnel ended")

// tunnelSubject is the subject the node tagged tag receives a tunnel's
// messages on.
func (f *forwarding) tunnelSubject(tag, id string) string {
	return f.subject(tag) + ".ws." + id
}

// tunnel accepts a WebSocket upgrade for a session of the node tagged tag
// and relays it to that node (the edge's side).
func (s *Server) tunnel(w http.ResponseWriter, r *http.Request, tag string) {
	s.mu.Lock()
	if s.draining.Load() {
		s.mu.Unlock()
		fail(w, http.StatusServiceUnavailable, errBadRequest, "shutting down")
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	// The client's WebSocket is open here: it counts among this node's
	// connections, as the session does on its own node.
	if !s.r.Admit() {
		s.m.Refused("max_connections")
		fail(w, http.StatusServiceUnavailable, errBadRequest, "too many connections")
		return
	}
	defer s.r.Release()

	id := router.RandomID()
	ctx, cancel := context.WithCancel(s.stopping)
	defer cancel()
	e := &edge{ready: make(chan struct{}), end: cancel}
	e.asking, e.letGo = context.WithCancel(ctx)
	sub, err := s.fwd.nc.Subscribe(s.fwd.tunnelSubject(s.tag, id), e.down)
	if err != nil {
		fail(w, http.StatusInternalServerError, errBadRequest, "")
		return
	}
	defer func() { _ = sub.Unsubscribe() }()
	defer e.start(nil) // the upgrade did not happen
	open := nats.NewMsg(s.fwd.subject(tag) + ".ws")
	open.Header.Set(hdrSid, r.URL.Query().Get("sid"))
	open.Header.Set(hdrTunnel, id)
	open.Header.Set(hdrNode, s.tag)
	open.Header.Set(hdrRemote, r.RemoteAddr)
	reply, err := s.fwd.nc.NC().RequestMsg(open, s.cfg.HTTP.HandshakeTimeout)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		fail(w, http.StatusBadRequest, errSessionUnknown, "")
		return
	case err != nil:
		s.log.Debug("websocket tunnel", "tag", tag, "err", err)
		fail(w, http.StatusGatewayTimeout, errBadRequest, "the session's node did not answer")
		return
	case reply.Header.Get(hdrStatus) != "101":
		writeReply(w, reply)
		return
	}
	up := s.fwd.tunnelSubject(tag, id)
	conn, err := s.up.Upgrade(w, r, nil)
	if err != nil {
		_ = s.fwd.nc.NC().PublishMsg(tunnelMsg(up, tunnelEnd, nil))
		return
	}
	e.start(conn)
	s.m.Tunnel("edge", 1)
	defer s.m.Tunnel("edge", -1)
	// The tunnel ends when the owner drops it, or when this node shuts
	// down: then the client is told so, as a local client would be, and
	// relayUp reads on until it answers.
	stop := context.AfterFunc(ctx, func() {
		if s.stopping.Err() == nil {
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
	s.relayUp(e, up)
}

// relayUp sends the client's messages to the owner until the connection
// ends or the owner stops taking them. Once the client has a close frame
// and the owner let go, what the client still sends is discarded until it
// answers the close (see linger).
func (s *Server) relayUp(e *edge, up string) {
	conn := e.conn
	defer func() {
		_ = conn.Close()
		// Last, after what the client sent: the owner stops waiting for
		// answers from this side.
		_ = s.fwd.nc.NC().PublishMsg(tunnelMsg(up, tunnelEnd, nil))
	}()
	conn.SetReadLimit(int64(s.cfg.Limits.MaxFrameBytes))
	// The owner takes a message once its session is ready for the next
	// one; it pings within this.
	wait := s.cfg.HTTP.PingInterval + s.cfg.HTTP.PongTimeout
	request := func(typ string, data []byte) error {
		ctx, cancel := context.WithTimeout(e.asking, wait)
		defer cancel()
		_, err := s.fwd.nc.NC().RequestMsgWithContext(ctx, tunnelMsg(up, typ, data))
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
			if err = request(kind, msg); err != nil && (e.closed.Load() || s.stopping.Err() != nil) {
				// The client has (or is about to have) a close frame:
				// the owner takes no more, but the client gets to answer.
				e.linger()
				err = nil
			}
		case errors.Is(err, websocket.ErrReadLimit):
			e.closed.Store(true) // gorilla sent 1009
			_ = s.fwd.nc.NC().PublishMsg(tunnelMsg(up, tunnelTooLarge, nil))
			wsclose.Linger(conn, err, closeGrace)
		case errors.As(err, &ce):
			_ = s.fwd.nc.NC().PublishMsg(tunnelMsg(up, tunnelClose, websocket.FormatCloseMessage(ce.Code, ce.Text)))
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
	ready chan struct{}   // closed by start
	conn  *websocket.Conn // set by start; nil when the upgrade failed
	end   func()          // ends the tunnel: drops the connection

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

// start lets down write to conn (nil: drop what the owner sends). Only the
// first call counts.
func (e *edge) start(conn *websocket.Conn) {
	e.once.Do(func() {
		e.conn = conn
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
	case tunnelText, tunnelBinary:
		typ := websocket.TextMessage
		if m.Header.Get(hdrType) == tunnelBinary {
			typ = websocket.BinaryMessage
		}
		_ = e.conn.SetWriteDeadline(deadline())
		err = e.conn.WriteMessage(typ, m.Data)
	case tunnelBatch:
		err = writeUnits(e.conn, [][]byte{m.Data})
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
	if err != nil {
		reply.Header.Set(hdrError, err.Error())
		if !errors.Is(err, websocket.ErrCloseSent) { // else the client is being closed
			e.end()
		}
	}
	_ = m.RespondMsg(reply)
}

// serveTunnel takes an upgrade another node accepted for a session of this
// node's (the owner's side), and answers with the status a local upgrade
// would get.
func (s *Server) serveTunnel(m *nats.Msg) {
	rec := &recorder{header: make(http.Header)}
	defer func() { respondRecorded(m, rec) }()
	sess := s.lookup(m.Header.Get(hdrSid))
	id, edgeTag := m.Header.Get(hdrTunnel), m.Header.Get(hdrNode)
	switch {
	case sess == nil:
		fail(rec, http.StatusBadRequest, errSessionUnknown, "")
		return
	case id == "" || contract.Escape(id) != id || !validTag(edgeTag):
		// Each is one subject token.
		fail(rec, http.StatusBadRequest, errBadRequest, "")
		return
	case !sess.holdUpgrade():
		fail(rec, http.StatusBadRequest, errBadRequest, "")
		return
	}
	conn, err := newTunnelConn(s.fwd.nc, s.fwd.tunnelSubject(s.tag, id), s.fwd.tunnelSubject(edgeTag, id))
	if err != nil {
		sess.releaseUpgrade()
		fail(rec, http.StatusInternalServerError, errBadRequest, "")
		return
	}
	rec.WriteHeader(http.StatusSwitchingProtocols)
	s.m.Tunnel("owner", 1)
	go func() {
		defer s.m.Tunnel("owner", -1)
		sess.serveUpgrade(conn)
	}()
}

// tunnelConn is the owner's side of a tunnel: the session's WebSocket.
type tunnelConn struct {
	nc  *bus.Conn
	out string // the edge's subject
	sub *bus.Sub
	in  chan *nats.Msg // the client's next message, answered once read

	ctx       context.Context // ends with the tunnel: cancels writes in flight
	end       context.CancelFunc
	closeOnce sync.Once

	mu            sync.Mutex
	readDeadline  time.Time     // guarded by mu
	writeDeadline time.Time     // guarded by mu
	moved         chan struct{} // signalled when the read deadline changes
}

func newTunnelConn(nc *bus.Conn, in, out string) (*tunnelConn, error) {
	t := &tunnelConn{
		nc:    nc,
		out:   out,
		in:    make(chan *nats.Msg),
		moved: make(chan struct{}, 1),
	}
	t.ctx, t.end = context.WithCancel(context.Background())
	sub, err := nc.Subscribe(in, func(m *nats.Msg) {
		if m.Header.Get(hdrType) == tunnelEnd {
			// The edge is gone: so are the answers to writes in flight.
			t.end()
			return
		}
		select {
		case t.in <- m:
		case <-t.ctx.Done():
		}
	})
	if err != nil {
		t.end()
		return nil, fmt.Errorf("websocket tunnel: %w", err)
	}
	t.sub = sub
	return t, nil
}

// ReadMessage returns the client's next message, or how the connection
// ended.
func (t *tunnelConn) ReadMessage() (int, []byte, error) {
	for {
		t.mu.Lock()
		dl := t.readDeadline
		t.mu.Unlock()
		var expired <-chan time.Time
		var timer *time.Timer
		if !dl.IsZero() {
			timer = time.NewTimer(time.Until(dl))
			expired = timer.C
		}
		var m *nats.Msg
		var err error
		select {
		case m = <-t.in:
		case <-t.moved:
		case <-expired:
			err = fmt.Errorf("websocket tunnel: read: %w", os.ErrDeadlineExceeded)
		case <-t.ctx.Done():
			err = errTunnelEnded
		}
		if timer != nil {
			timer.Stop()
		}
		switch {
		case err != nil:
			return 0, nil, err
		case m != nil:
			return t.read(m)
		}
	}
}

// read answers a message from the edge and returns what it says.
func (t *tunnelConn) read(m *nats.Msg) (int, []byte, error) {
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
	return 0, nil, fmt.Errorf("websocket tunnel: message type %q", m.Header.Get(hdrType))
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
func (t *tunnelConn) WriteMessage(messageType int, data []byte) error {
	typ := tunnelText
	if messageType == websocket.BinaryMessage {
		typ = tunnelBinary
	}
	t.mu.Lock()
	dl := t.writeDeadline
	t.mu.Unlock()
	return t.send(typ, data, dl)
}

// maxBatch bounds the bytes of one batch sent to the edge (a packet larger
// than that goes alone).
const maxBatch = 256 << 10

// WriteUnits sends every packet of units to the client in as few batches
// as fit maxBatch, waiting for the edge to write each batch.
func (t *tunnelConn) WriteUnits(units [][]byte) error {
	batch := []byte{unitMulti}
	send := func() error {
		if len(batch) == 1 {
			return nil
		}
		err := t.send(tunnelBatch, batch, time.Time{})
		batch = []byte{unitMulti}
		return err
	}
	for _, u := range units {
		err := eachPacket(u, func(bin bool, p []byte) error {
			if len(batch) > 1 && len(batch)+len(p) > maxBatch {
				if err := send(); err != nil {
					return err
				}
			}
			batch = appendPacket(batch, bin, p)
			return nil
		})
		if err != nil {
			return err
		}
	}
	return send()
}

// WriteControl sends a close frame (the only control message a session
// writes; the edge answers pings itself).
func (t *tunnelConn) WriteControl(messageType int, data []byte, deadline time.Time) error {
	if messageType != websocket.CloseMessage {
		return fmt.Errorf("websocket tunnel: control message %d not relayed", messageType)
	}
	return t.send(tunnelClose, data, deadline)
}

func (t *tunnelConn) send(typ string, data []byte, deadline time.Time) error {
	if deadline.IsZero() {
		deadline = time.Now().Add(writeWait)
	}
	ctx, cancel := context.WithDeadline(t.ctx, deadline)
	defer cancel()
	reply, err := t.nc.NC().RequestMsgWithContext(ctx, tunnelMsg(t.out, typ, data))
	if err != nil {
		return fmt.Errorf("websocket tunnel: write: %w", err)
	}
	if e := reply.Header.Get(hdrError); e != "" {
		return fmt.Errorf("websocket tunnel: write: %s", e)
	}
	return nil
}

// SetReadLimit does nothing: the edge reads with its own limit.
func (t *tunnelConn) SetReadLimit(int64) {}

// SetReadDeadline bounds ReadMessage, also one in progress.
func (t *tunnelConn) SetReadDeadline(dl time.Time) error {
	t.mu.Lock()
	t.readDeadline = dl
	t.mu.Unlock()
	select {
	case t.moved <- struct{}{}:
	default:
	}
	return nil
}

// SetWriteDeadline bounds the next writes.
func (t *tunnelConn) SetWriteDeadline(dl time.Time) error {
	t.mu.Lock()
	t.writeDeadline = dl
	t.mu.Unlock()
	return nil
}

// Close ends the tunnel; the edge drops the client's connection.
func (t *tunnelConn) Close() error {
	t.closeOnce.Do(func() {
		t.end()
		_ = t.sub.Unsubscribe()
		_ = t.nc.NC().PublishMsg(tunnelMsg(t.out, tunnelEnd, nil))
	})
	return nil
}
