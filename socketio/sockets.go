package socketio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/contract"
	"github.com/routerd/routerd/internal/sendq"
	"github.com/routerd/routerd/router"
)

// nsSocket is one Socket.IO namespace attached over a session: the
// router.Conn its router socket delivers through, with the codec that
// writes that namespace's packets. A recovering socket (pid set) outlives
// its session: when the session is lost it is parked (park.go), its
// packets kept, until its client resumes it on a new session, here or on
// another node, or the window ends.
type nsSocket struct {
	srv   *Server
	nsp   string
	codec *codec
	sock  *router.Socket // set once Connect (or Adopt) returned
	pid   string         // connection state recovery id; "" without recovery

	// guarded by srv.parking.mu (park.go)
	state  parkState
	unhold func() // ends the relay's hold while parked
	place  bool   // counts in limits.max_connections while parked

	mu     sync.Mutex
	sess   *session    // the session it delivers to; nil while parked (or between sessions); guarded by mu
	owner  any         // the session it counts against in limits.max_namespaces_per_connection; guarded by mu
	kept   *backlog    // the packets kept for a resume; nil without recovery; guarded by mu
	live   bool        // Send pushes to sess; false while a resume's replay catches up; guarded by mu
	pushed uint64      // the number of the first kept packet not yet pushed to sess; guarded by mu
	mark   uint64      // the kept packets pushed before the ping the client has yet to answer; guarded by mu
	marked bool        // mark is set; guarded by mu
	lost   bool        // a packet not yet pushed was dropped: no resume can be whole; guarded by mu
	saved  bool        // its state is in the recovery store (history); guarded by mu
	hello  []byte      // a resumed socket's CONNECT, pushed once its replay caught up; guarded by mu
	expiry *time.Timer // while parked, the end of the window; written under srv.parking.mu and mu
}

// newNSSocket returns the socket of namespace nsp for session s, with a
// backlog when pid is set.
func (s *session) newNSSocket(nsp string, c *codec, pid string) *nsSocket {
	n := &nsSocket{srv: s.srv, nsp: nsp, codec: c, pid: pid, owner: s}
	if pid != "" {
		rc := s.srv.cfg.SocketIO.Recovery
		n.kept = newBacklog(rc.MaxBufferPackets, rc.MaxBufferBytes)
	}
	return n
}

// Codec implements router.Conn.
func (n *nsSocket) Codec() router.Codec { return n.codec }

// Transport implements router.Transporter: the transport of the session
// the socket delivers to ("polling", "websocket"), or "parked" while it
// has none (parked for a resume, park.go).
func (n *nsSocket) Transport() string {
	n.mu.Lock()
	s := n.sess
	n.mu.Unlock()
	if s == nil {
		return "parked"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ws != nil {
		return "websocket"
	}
	return "polling"
}

// Connection implements router.Multiplexed: every namespace of a session
// counts against one limits.max_namespaces_per_connection.
func (n *nsSocket) Connection() any {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.owner
}

// Send implements router.Conn: the unit goes to the session and, with its
// offset, to the backlog; while a resume's replay catches up, the backlog
// alone has it (an event asking for an ack, which has no offset, goes to
// the session at once, or is lost while the socket is parked). A parked
// socket that has to drop a packet its client never got ends at once; a
// session whose replay falls that far behind is closed as a slow consumer.
func (n *nsSocket) Send(unit []byte) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var off []byte
	if n.kept != nil {
		off = unitOffset(unit)
	}
	toSession := n.sess != nil && (n.live || off == nil)
	if off != nil {
		n.kept.add(off, unit)
		if toSession {
			n.pushed = n.kept.next()
		}
		if n.kept.first > n.pushed && !n.lost {
			n.lost = true
			switch {
			case n.sess != nil:
				n.sess.close(closeSlow)
			case n.expiry != nil:
				n.expiry.Reset(0)
			}
		}
	}
	if toSession {
		n.sess.push(unit)
	}
}

// Wait implements router.Pacer: a history replay waits here for the
// client to read.
func (n *nsSocket) Wait(ctx context.Context, k int) (int, error) {
	n.mu.Lock()
	s := n.sess
	n.mu.Unlock()
	if s == nil {
		return 0, sendq.ErrClosed
	}
	return s.q.Wait(ctx, k)
}

// Detached implements router.Conn: the client gets DISCONNECT for the
// namespace (Socket.IO's "io server disconnect", after which it does not
// reconnect), except at shutdown, when the whole session closes and the
// client reconnects. A parked socket is forgotten.
func (n *nsSocket) Detached(_ *router.Socket, reason string) {
	n.srv.parking.forget(n)
	if reason != "shutdown" {
		n.forgetSaved()
	}
	n.mu.Lock()
	s := n.sess
	n.sess = nil
	n.mu.Unlock()
	if s == nil {
		return
	}
	s.drop(n)
	if reason != "shutdown" {
		s.srv.m.FrameOut("disconnected")
		s.push(disconnectUnit(n.nsp))
	}
}

// drop takes n out of the session's namespaces, if it is there.
func (s *session) drop(n *nsSocket) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sockets[n.nsp] == n {
		delete(s.sockets, n.nsp)
	}
}

// decoder reassembles a binary Socket.IO packet from its text part and
// its attachments.
type decoder struct {
	pending *sioPacket    // the text part, until every attachment arrived; nil while attachments are dropped
	phs     []placeholder // where pending's data names its attachments
	atts    [][]byte      // pending's attachments so far
	left    int           // attachments still to come
	size    int           // bytes of the packet so far
}

// onMessage handles an Engine.IO message: the text part of a Socket.IO
// packet, or one attachment of a binary packet. A packet Socket.IO's own
// decoder would refuse closes the session, as Socket.IO does.
func (s *session) onMessage(p eioPacket) {
	s.handling.Lock()
	defer s.handling.Unlock()
	defer func() {
		// A packet that trips a bug ends its session, not the daemon.
		if v := recover(); v != nil {
			s.srv.log.Error("socket.io packet handling panicked", "remote", s.info.RemoteAddr, "panic", v)
			s.close(closePanic)
		}
	}()
	if p.binary {
		s.onAttachment(p.data)
	} else {
		s.onPacketText(p.data)
	}
}

// onPacketText handles the text part of a Socket.IO packet. Only its
// header is read before it is admitted (admit): a packet over limits.rate
// or for a namespace the session is not connected to costs no work on its
// data, and a binary one's attachments are dropped as they come. Lock
// handling must be held.
func (s *session) onPacketText(b []byte) {
	d := &s.decoder
	if d.left > 0 {
		s.closeMalformed(fmt.Errorf("socket.io: %w: a packet instead of an attachment", errPacket))
		return
	}
	pkt, err := decodeHeader(b)
	if err != nil {
		s.closeMalformed(err)
		return
	}
	s.srv.m.FrameIn(packetNames[pkt.typ])
	if !s.admit(pkt) {
		*d = decoder{left: pkt.attachments, size: len(b)}
		return
	}
	if err := pkt.checkData(); err != nil {
		s.closeMalformed(err)
		return
	}
	if pkt.attachments == 0 {
		s.dispatch(pkt)
		return
	}
	phs, err := findPlaceholders(pkt.data, pkt.attachments)
	if err != nil {
		s.closeMalformed(err)
		return
	}
	*d = decoder{left: pkt.attachments, size: len(b)}
	d.pending, d.phs = &pkt, phs
}

// onAttachment handles one attachment of the binary packet being
// reassembled, and the packet once it is whole. Lock handling must be
// held.
func (s *session) onAttachment(b []byte) {
	d := &s.decoder
	if d.left == 0 {
		s.closeMalformed(fmt.Errorf("socket.io: %w: an attachment no packet announced", errPacket))
		return
	}
	d.size += len(b)
	if d.size > s.srv.cfg.Limits.MaxFrameBytes {
		s.close(closeTooLarge)
		return
	}
	d.left--
	if d.pending == nil { // a packet's whose data is not used
		return
	}
	d.atts = append(d.atts, b)
	if d.left > 0 {
		return
	}
	pkt, phs, atts := *d.pending, d.phs, d.atts
	*d = decoder{}
	// The data is rebuilt with every attachment in base64: it must fit
	// max_frame_bytes as any event's data does, which is checked before
	// anything is built.
	if size, limit := rebuiltSize(pkt.data, phs, atts), s.srv.cfg.Limits.MaxFrameBytes; size > limit {
		s.refuse(pkt, router.Errorf(contract.CodeTooLarge, "the data with its attachments in base64 is %d bytes, over max_frame_bytes (%d)", size, limit))
		return
	}
	pkt.typ -= sioBinaryEvent - sioEvent // BINARY_EVENT → EVENT, BINARY_ACK → ACK
	pkt.attachments, pkt.data = 0, reconstruct(pkt.data, phs, atts)
	s.dispatch(pkt)
}

// closeMalformed closes the session for a packet Socket.IO's decoder
// refuses.
func (s *session) closeMalformed(err error) {
	s.srv.log.Debug("bad socket.io packet", "remote", s.info.RemoteAddr, "err", err)
	s.close(closeParse)
}

// packetNames label client packets in routerd_frames_in_total.
var packetNames = [...]string{"sio_connect", "sio_disconnect", "sio_event", "sio_ack", "sio_connect_error", "sio_binary_event", "sio_binary_ack"}

// dispatch carries out one whole Socket.IO packet, admitted and decoded.
// Lock handling must be held.
func (s *session) dispatch(pkt sioPacket) {
	if s.srv.admin.serves(pkt.nsp) {
		s.srv.admin.dispatch(s, pkt)
		return
	}
	switch pkt.typ {
	case sioConnect:
		s.onConnect(pkt)
	case sioDisconnect:
		s.onDisconnect(pkt)
	case sioEvent:
		s.onEvent(pkt)
	case sioAck:
		s.onAck(pkt)
	}
	// CONNECT_ERROR is the server's.
}

// admit decides on a packet from its header alone whether its data is
// worth decoding: it is charged to limits.rate, and but for a CONNECT it
// must be for a namespace the session is connected to. A refused event
// gets its error ack; other packets for such a namespace (a DISCONNECT
// crossing the server's, an ACK) are dropped.
func (s *session) admit(pkt sioPacket) bool {
	if !s.allow(pkt) {
		return false
	}
	if pkt.typ == sioConnect || s.socket(pkt.nsp) != nil || s.srv.admin.attached(s, pkt.nsp) {
		return true
	}
	if pkt.typ == sioEvent || pkt.typ == sioBinaryEvent {
		s.refuse(pkt, notConnected(pkt.nsp))
	}
	return false
}

// notConnected is the refusal of a packet for a namespace the session is
// not connected to.
func notConnected(nsp string) *router.Error {
	return router.Errorf(contract.CodeNotConnected, "not connected to namespace %q", nsp)
}

// allow applies limits.rate to one packet: over it the packet is refused,
// and a client that keeps going is closed.
func (s *session) allow(pkt sioPacket) bool {
	if s.limit == nil || s.limit.Allow() {
		return true
	}
	if !s.strikes.Allow() {
		s.close(closeRate)
		return false
	}
	s.refuse(pkt, router.Errorf(contract.CodeRateLimited, "more than %g packets per second", s.srv.cfg.Limits.Rate.PerSecond))
	return false
}

// refuse answers a packet that failed: CONNECT_ERROR for a connect, the
// error ack for an event with an ack id (an ACK's id is the server's: it
// gets none); otherwise it is only counted.
func (s *session) refuse(pkt sioPacket, e *router.Error) {
	s.srv.m.Error(string(e.Code))
	switch {
	case pkt.typ == sioConnect:
		s.srv.m.FrameOut("sio_connect_error")
		s.push(connectErrorUnit(pkt.nsp, e))
	case (pkt.typ == sioEvent || pkt.typ == sioBinaryEvent) && pkt.id != noID:
		s.srv.m.FrameOut("ack")
		s.push(ackUnit(pkt.nsp, pkt.id, errorArg(e)))
	default:
		s.srv.log.Debug("socket.io packet refused", "remote", s.info.RemoteAddr, "nsp", pkt.nsp, "code", e.Code, "message", e.Message)
	}
}

// reply answers an event: with err, the error ack; else, when the client
// asked for an ack, data ({"ok":true} when nil).
func (s *session) reply(pkt sioPacket, data json.RawMessage, err error) {
	if err != nil {
		s.refuse(pkt, router.AsError(err))
		return
	}
	if pkt.id == noID {
		return
	}
	if data == nil {
		data = okArg
	}
	s.srv.m.FrameOut("ack")
	s.push(ackUnit(pkt.nsp, pkt.id, data))
}

// replyServer answers a server-bound request as reply does, except that a
// request no backend serves gets no ack under socketio.no_responders
// "ignore" (the default), as a Socket.IO server never acks an event nobody
// handles: the client's own timeout tells it.
func (s *session) replyServer(pkt sioPacket, event string, data json.RawMessage, err error) {
	if e := (*router.Error)(nil); errors.As(err, &e) && e.Code == contract.CodeNoResponders && !s.srv.cfg.SocketIO.NoRespondersError() {
		s.srv.m.SocketIONoResponders()
		s.srv.log.Debug("socket.io request no backend serves, left unanswered", "remote", s.info.RemoteAddr, "nsp", pkt.nsp, "event", event)
		return
	}
	s.reply(pkt, data, err)
}

// socket returns the namespace attached as nsp, or nil.
func (s *session) socket(nsp string) *nsSocket {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sockets[nsp]
}

func (s *session) onConnect(pkt sioPacket) {
	ns, codec, ok := s.srv.namespace(pkt.nsp)
	if !ok {
		// Socket.IO's own message for it.
		s.refuse(pkt, &router.Error{Code: contract.CodeUnknownNamespace, Message: "Invalid namespace"})
		return
	}
	if s.socket(pkt.nsp) != nil {
		s.refuse(pkt, router.Errorf(contract.CodeAlreadyConnected, "already connected to namespace %q", pkt.nsp))
		return
	}
	auth, res := splitAuth(pkt.data)
	fromStore := false // the recovery store may hold the rooms of a socket whose node is gone
	pid := ""
	if codec.offsets != nil {
		pid = router.RandomID()
		if res.valid() {
			switch s.resume(pkt, ns, codec, res) {
			case resumed, refused:
				return
			case orphaned:
				fromStore = true
			}
		}
	}
	n := s.newNSSocket(pkt.nsp, codec, pid)
	n.sess, n.live = s, true
	sock, err := s.srv.r.Connect(s.ctx, n, ns, auth, s.info)
	if err != nil {
		s.refuse(pkt, router.AsError(err))
		return
	}
	n.sock = sock
	s.mu.Lock()
	if s.sockets == nil { // the session closed meanwhile
		s.mu.Unlock()
		sock.Disconnect()
		return
	}
	s.sockets[pkt.nsp] = n
	s.mu.Unlock()
	if sock.Detached() { // detached before it was stored (a token expiring at once)
		n.Detached(sock, "")
		return
	}
	s.connected()
	if fromStore && s.srv.recoverRooms(s.ctx, sock, res) {
		pid = res.pid // socket.recovered is true: every room is back whole
		s.srv.m.SocketIORecovery("history")
	} else if res.valid() && pid != "" {
		s.srv.m.SocketIORecovery("none")
	}
	s.srv.parking.register(n, pid)
	s.srv.m.FrameOut("sio_connect")
	s.push(connectUnit(pkt.nsp, sock.SID(), pid))
}

func (s *session) onDisconnect(pkt sioPacket) {
	s.mu.Lock()
	n := s.sockets[pkt.nsp]
	delete(s.sockets, pkt.nsp)
	s.mu.Unlock()
	if n != nil {
		s.srv.parking.forget(n)
		n.sock.Disconnect()
	}
}

// onEvent routes an event by its action in socketio.events (docs/socketio.md).
func (s *session) onEvent(pkt sioPacket) {
	n := s.socket(pkt.nsp)
	if n == nil {
		s.refuse(pkt, notConnected(pkt.nsp))
		return
	}
	var args []json.RawMessage
	var name string
	if json.Unmarshal(pkt.data, &args) != nil || json.Unmarshal(args[0], &name) != nil {
		s.refuse(pkt, router.Errorf(contract.CodeBadFrame, "the event name must be a string"))
		return
	}
	sock, rest, ack := n.sock, args[1:], pkt.id != noID
	switch action := s.srv.cfg.SocketIO.Events[name]; action {
	case config.ActionJoin, config.ActionLeave:
		room, err := roomArg(rest)
		if err == nil {
			if action == config.ActionJoin {
				err = sock.Join(s.ctx, room)
			} else {
				err = sock.Leave(room)
			}
		}
		s.reply(pkt, nil, err)
	case config.ActionRoom, config.ActionRoomAll:
		room, err := roomArg(rest)
		if err == nil {
			_, err = sock.EmitRoom(s.ctx, room, name, argsData(rest[1:]), action == config.ActionRoomAll, ack)
		}
		s.reply(pkt, nil, err)
	case config.ActionBroadcast, config.ActionBroadcastAll:
		s.reply(pkt, nil, sock.EmitBroadcast(s.ctx, name, argsData(rest), action == config.ActionBroadcastAll, ack))
	default: // server
		data := argsData(rest)
		if !ack {
			s.reply(pkt, nil, sock.EmitServer(s.ctx, name, data, false))
			return
		}
		// A request: published now, in order with the packets before and
		// after it; the reply may take up to ack_timeout, so it is awaited
		// aside and the session goes on reading.
		req, err := sock.Request(name, data)
		if err != nil {
			s.replyServer(pkt, name, nil, err)
			return
		}
		s.requests.Add(1)
		go func() {
			defer s.requests.Done()
			reply, err := req.Wait(s.ctx)
			s.replyServer(pkt, name, reply, err)
		}()
	}
}

// onAck answers an ack a backend asked of the socket (an EVENT routerd
// sent with an id): the arguments are the reply's data, by the rule of an
// emit's (none: null, one: itself, several: an array). An ACK for an id
// the socket does not owe is ignored, as a Socket.IO server ignores it.
func (s *session) onAck(pkt sioPacket) {
	n := s.socket(pkt.nsp)
	var args []json.RawMessage
	if n == nil || pkt.id == noID || json.Unmarshal(pkt.data, &args) != nil {
		return
	}
	if err := n.sock.Reply(uint64(pkt.id), argsData(args)); err != nil && !router.IsUnknownAck(err) {
		s.srv.log.Debug("socket.io ack not forwarded", "remote", s.info.RemoteAddr, "nsp", pkt.nsp, "id", pkt.id, "err", err)
	}
}

// roomArg returns the room named by an event's first argument.
func roomArg(args []json.RawMessage) (string, error) {
	var room string
	if len(args) == 0 || json.Unmarshal(args[0], &room) != nil {
		return "", router.Errorf(contract.CodeBadFrame, "the first argument must be the room name")
	}
	return room, nil
}
