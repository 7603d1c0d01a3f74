package socketio

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/routerd/routerd/contract"
	"github.com/routerd/routerd/internal/relay"
	"github.com/routerd/routerd/router"
)

// Connection state recovery, as Socket.IO does it.
//
// A socket of a namespace that recovers (socketio.recovery) has a pid,
// sent in its CONNECT reply, and every EVENT packet it gets (but those
// asking for an ack) carries an offset as its last argument (codec.go).
// It keeps the packets its client has not confirmed (backlog.go: a pong
// confirms what was queued before its ping).
//
// When its session ends other than by the client's DISCONNECT (or the
// node's shutdown), the socket is parked: its router socket stays
// attached, rooms, presence and subscriptions unchanged, no notice
// published, while what it is sent goes to its backlog, for
// socketio.recovery.max_disconnection. A CONNECT with auth {pid, offset}
// resumes it: on this node the socket moves to the new session
// (resumeLocal); on another, that node asks this one over NATS
// (relay.Resume), which hands the socket over (serveResume) and detaches
// it silently, and the other node attaches it with the same sid
// (router.Adopt). Either way the client gets the kept packets after its
// offset in order, then its CONNECT with the same sid and pid
// (socket.recovered is true), then live traffic. A client whose offset is
// not among the
// kept packets (or the one before them) cannot resume: the parked socket
// ends, its notices are published, and the client gets a new socket. So
// does one when the window passes, or when its backlog has to drop a
// packet the client never got. A parked socket counts in
// limits.max_connections.
//
// Where the node that held a socket is gone, a namespace with history
// falls back to the rooms kept in the recovery store (recovery.go).

// parkState is where a recovering socket stands.
type parkState int

const (
	stLive   parkState = iota // on a session
	stParked                  // its session lost, kept for a resume
	stBusy                    // claimed by a resume, or being attached
)

// parking is this node's recovering sockets, by pid.
type parking struct {
	srv *Server

	mu    sync.Mutex
	byPID map[string]*nsSocket // guarded by mu
}

// parkResult is what park did.
type parkResult int

const (
	parked   parkResult = iota // kept for a resume
	notLive                    // not a live socket of the registry: whoever holds it decides
	unparked                   // cannot be kept (lost packets, no connection left): forgotten, the caller ends it
)

// register makes n, live, findable by pid, which becomes its pid; a
// socket without a pid is not registered.
func (p *parking) register(n *nsSocket, pid string) {
	if pid == "" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	n.pid, n.state = pid, stLive
	p.byPID[pid] = n
}

// reserve registers n, being attached, unless its pid is taken.
func (p *parking) reserve(n *nsSocket) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.byPID[n.pid] != nil {
		return false
	}
	n.state = stBusy
	p.byPID[n.pid] = n
	return true
}

// forget takes n out of the registry, parked or not.
func (p *parking) forget(n *nsSocket) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.byPID[n.pid] != n {
		return
	}
	p.unpark(n)
	delete(p.byPID, n.pid)
}

// unpark ends what park set up for n, if it is parked. Lock mu must be
// held.
func (p *parking) unpark(n *nsSocket) {
	if n.state != stParked {
		return
	}
	n.mu.Lock()
	n.expiry.Stop()
	n.expiry = nil
	n.mu.Unlock()
	if n.unhold != nil {
		n.unhold()
		n.unhold = nil
	}
	if n.place {
		p.srv.r.Release()
		n.place = false
	}
	p.srv.m.SocketIOParked(-1)
}

// park keeps n, whose session ended, for its client to resume.
func (p *parking) park(n *nsSocket) parkResult {
	p.mu.Lock()
	if p.byPID[n.pid] != n || n.state != stLive {
		p.mu.Unlock()
		return notLive
	}
	n.mu.Lock()
	n.sess, n.live, n.marked = nil, false, false
	lost := n.lost
	if !lost && p.srv.r.Admit() {
		n.state, n.place = stParked, true
		n.expiry = time.AfterFunc(p.srv.cfg.SocketIO.Recovery.MaxDisconnection, func() { p.expire(n) })
	}
	n.mu.Unlock()
	if n.state != stParked {
		delete(p.byPID, n.pid)
		p.mu.Unlock()
		return unparked
	}
	p.mu.Unlock()
	p.srv.m.SocketIOParked(1)
	p.hold(n)
	n.save()
	if !p.isParked(n) {
		n.forgetSaved() // resumed or ended while it was saved
	}
	return parked
}

// hold makes n, parked, one that other nodes can resume (relay.Hold).
func (p *parking) hold(n *nsSocket) {
	if p.srv.relay == nil {
		return
	}
	stop, err := p.srv.relay.Hold(n.pid, func(req relay.ResumeRequest, respond func(relay.ResumeReply) error) {
		p.serveResume(n, req, respond)
	})
	if err != nil {
		if !p.srv.draining.Load() {
			p.srv.log.Warn("connection state recovery: no other node can resume a parked socket", "err", err)
		}
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.byPID[n.pid] == n && n.state == stParked && n.unhold == nil {
		n.unhold = stop
	} else {
		stop() // resumed or ended meanwhile
	}
}

// isParked reports whether n is parked.
func (p *parking) isParked(n *nsSocket) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.byPID[n.pid] == n && n.state == stParked
}

// expire ends n when its window passes, or when it lost a packet, unless
// a resume claimed it first.
func (p *parking) expire(n *nsSocket) {
	p.mu.Lock()
	if p.byPID[n.pid] != n || n.state != stParked {
		p.mu.Unlock()
		return
	}
	p.unpark(n)
	delete(p.byPID, n.pid)
	p.mu.Unlock()
	n.end()
}

// claim takes the socket of pid and Socket.IO namespace nsp out of reach
// of every other resume and of its expiry, for a resume: a parked socket,
// or, with takeLive, a live one that a client resuming after offset can
// get whole, whose session (which the client left) goes on without it.
// It returns nil when there is none.
func (p *parking) claim(pid, nsp, offset string, takeLive bool) *nsSocket {
	p.mu.Lock()
	n := p.byPID[pid]
	if n == nil || n.nsp != nsp || n.state == stBusy || (n.state == stLive && !(takeLive && n.resumable(offset))) {
		p.mu.Unlock()
		return nil
	}
	p.unpark(n)
	n.state = stBusy
	n.mu.Lock()
	old := n.sess
	n.sess, n.live, n.marked = nil, false, false
	n.mu.Unlock()
	p.mu.Unlock()
	if old != nil {
		old.drop(n)
	}
	return n
}

// resumable reports whether a client whose last packet had offset can
// resume n whole.
func (n *nsSocket) resumable(offset string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	_, ok := n.kept.after(offset)
	return ok && !n.lost
}

// revive marks n, claimed, live again.
func (p *parking) revive(n *nsSocket) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.byPID[n.pid] == n {
		n.state = stLive
	}
}

// endAll ends every parked socket: the node shuts down. Their state stays
// in the recovery store, for another node to fall back on.
func (p *parking) endAll() {
	p.mu.Lock()
	var all []*nsSocket
	for pid, n := range p.byPID {
		if n.state == stParked {
			p.unpark(n)
			delete(p.byPID, pid)
			all = append(all, n)
		}
	}
	p.mu.Unlock()
	for _, n := range all {
		n.sock.Disconnect()
	}
}

// end ends a socket that will not be resumed: its notices are published
// and its state leaves the recovery store.
func (n *nsSocket) end() {
	n.sock.Disconnect()
	n.forgetSaved()
}

// resumeResult is what a resume did.
type resumeResult int

const (
	resumed  resumeResult = iota // the socket is back on this session
	refused                      // the CONNECT got CONNECT_ERROR
	fresh                        // no socket to resume: a new one
	orphaned                     // no node holds it: the recovery store may have its rooms
)

// resume resumes the socket that res names for the CONNECT pkt, from this
// node or from the node that holds it.
func (s *session) resume(pkt sioPacket, ns string, c *codec, res resume) resumeResult {
	srv := s.srv
	if n := srv.parking.claim(res.pid, pkt.nsp, res.offset, true); n != nil {
		return s.resumeLocal(pkt, n, res.offset)
	}
	if srv.relay == nil {
		return orphaned
	}
	// The socket is held elsewhere, if anywhere: it will be this one.
	n := s.newNSSocket(pkt.nsp, c, res.pid)
	if !srv.parking.reserve(n) {
		return fresh // the pid is here, in a resume under way
	}
	ctx, cancel := context.WithTimeout(s.ctx, srv.cfg.Limits.AckTimeout)
	defer cancel()
	rep, err := srv.relay.Resume(ctx, relay.ResumeRequest{
		PID: res.pid, Offset: res.offset, NS: ns, NSP: pkt.nsp, Node: srv.r.InstanceID(), NodeName: srv.r.Node(),
	})
	if err != nil || !rep.OK {
		srv.parking.forget(n)
	}
	switch {
	case errors.Is(err, relay.ErrNoNode):
		return orphaned
	case err != nil:
		srv.log.Debug("connection state recovery: the holding node did not answer", "err", err)
		return fresh
	case !rep.OK:
		return fresh
	}
	return s.adopt(pkt, ns, n, rep)
}

// resumeLocal moves n, claimed, to this session, when its backlog holds
// what came after the client's offset.
func (s *session) resumeLocal(pkt sioPacket, n *nsSocket, offset string) resumeResult {
	n.mu.Lock()
	from, ok := n.kept.after(offset)
	ok = ok && !n.lost
	if ok {
		n.kept.trim(from)
	}
	n.mu.Unlock()
	if !ok {
		s.srv.parking.forget(n)
		n.end()
		return fresh
	}
	err := n.sock.Rebind(s, func() {
		n.mu.Lock()
		n.owner = s
		n.mu.Unlock()
	})
	if err != nil {
		s.srv.parking.forget(n)
		n.end()
		if e := router.AsError(err); e.Code == contract.CodeLimitExceeded {
			s.refuse(pkt, e)
			return refused
		}
		return fresh
	}
	s.attachResumed(pkt, n, from, "local")
	return resumed
}

// adopt attaches here, as n (reserved), the socket another node handed
// over in rep.
func (s *session) adopt(pkt sioPacket, ns string, n *nsSocket, rep relay.ResumeReply) resumeResult {
	n.mu.Lock()
	for _, p := range rep.Packets {
		n.kept.add([]byte(p.Offset), p.Unit)
	}
	n.lost = n.kept.first > 0 // over this node's bounds
	n.mu.Unlock()
	id := router.Identity{User: rep.User, Rooms: rep.TokenRooms}
	if rep.Expires != 0 {
		id.Expires = time.UnixMilli(rep.Expires)
	}
	sock, err := s.srv.r.Adopt(s.ctx, n, ns, router.Moved{SID: rep.SID, Identity: id, Rooms: rep.Rooms, From: rep.Node})
	if err != nil {
		s.srv.parking.forget(n)
		s.srv.log.Debug("connection state recovery: a socket another node handed over could not attach", "err", err)
		if e := router.AsError(err); e.Code == contract.CodeLimitExceeded {
			s.refuse(pkt, e)
			return refused
		}
		return fresh
	}
	n.sock = sock
	n.mu.Lock()
	lost := n.lost
	n.mu.Unlock()
	if lost || sock.Detached() {
		s.srv.parking.forget(n)
		sock.Disconnect()
		return fresh
	}
	s.attachResumed(pkt, n, n.kept.first, "remote")
	return resumed
}

// attachResumed puts n, claimed and counted against this session, on it:
// its kept packets from number from on, then CONNECT with its sid and pid,
// then live traffic. As with Socket.IO, which sends a resumed socket's
// missed packets before its CONNECT, the client's listeners get the
// missed events before its "connect".
func (s *session) attachResumed(pkt sioPacket, n *nsSocket, from uint64, outcome string) {
	srv := s.srv
	s.mu.Lock()
	open := s.sockets != nil
	if open {
		s.sockets[n.nsp] = n
	}
	s.mu.Unlock()
	if open {
		n.mu.Lock()
		n.sess, n.live, n.pushed = s, false, from
		n.hello = connectUnit(pkt.nsp, n.sock.SID(), n.pid)
		n.mu.Unlock()
	}
	srv.parking.revive(n)
	s.mu.Lock()
	open = s.sockets != nil
	s.mu.Unlock()
	if !open { // the session closed meanwhile: as if n had been on it
		if srv.parking.park(n) == unparked {
			n.end()
		}
		return
	}
	if n.sock.Detached() { // a backend disconnected it meanwhile
		n.Detached(n.sock, "")
		return
	}
	s.connected()
	srv.m.SocketIORecovery(outcome)
	n.catchUp(s)
	n.forgetSaved()
}

// catchUp pushes the kept packets not yet pushed to s, paced to the
// client's reading, then its CONNECT, and turns n live, unless s lost n
// meanwhile. When n's backlog dropped a packet before it could be pushed,
// the session is closed as a slow consumer: its client comes back, and n,
// which cannot be whole, is not resumed.
func (n *nsSocket) catchUp(s *session) {
	room := 0
	for {
		n.mu.Lock()
		if n.sess != s || n.lost {
			lost := n.sess == s
			n.mu.Unlock()
			if lost {
				s.close(closeSlow)
			}
			return
		}
		for _, p := range n.kept.from(n.pushed, room) {
			s.push(p.unit)
			n.pushed++
		}
		if n.pushed == n.kept.next() {
			s.srv.m.FrameOut("sio_connect")
			s.push(n.hello)
			n.hello, n.live = nil, true
			n.mu.Unlock()
			return
		}
		left := int(n.kept.next() - n.pushed)
		n.mu.Unlock()
		var err error
		if room, err = s.q.Wait(s.ctx, left); err != nil {
			return // the session closed: it parks n
		}
	}
}

// serveResume answers another node's request to hand n over: n is
// detached here without a notice, and the reply carries its sid, identity
// and rooms with the kept packets after the client's offset; or, when n
// cannot be resumed, OK false, and n ends. Should the reply not go out, n
// is gone: its end notices are published.
func (p *parking) serveResume(n *nsSocket, req relay.ResumeRequest, respond func(relay.ResumeReply) error) {
	if req.NS != n.sock.Namespace() || p.claim(n.pid, req.NSP, req.Offset, false) != n {
		_ = respond(relay.ResumeReply{})
		return
	}
	n.mu.Lock()
	from, ok := n.kept.after(req.Offset)
	ok = ok && !n.lost
	var packets []relay.Packet
	if ok {
		packets = n.kept.packets(from)
	}
	n.lost = true // what comes from now on is not kept for anyone
	n.mu.Unlock()
	p.forget(n)
	if !ok {
		_ = respond(relay.ResumeReply{})
		n.end()
		return
	}
	rooms, handed := n.sock.Handoff()
	if !handed { // it ended meanwhile (a backend's ctl disconnect)
		_ = respond(relay.ResumeReply{})
		n.forgetSaved()
		return
	}
	id := n.sock.Identity()
	rep := relay.ResumeReply{OK: true, SID: n.sock.SID(), User: id.User, TokenRooms: id.Rooms, Rooms: rooms, Node: p.srv.r.InstanceID(), Packets: packets}
	if !id.Expires.IsZero() {
		rep.Expires = id.Expires.UnixMilli()
	}
	if err := respond(rep); err != nil {
		p.srv.log.Warn("connection state recovery: a parked socket could not be handed over", "err", err)
		_ = respond(relay.ResumeReply{})
		n.sock.Abandon(rooms)
	}
	n.forgetSaved()
}

// mark notes, before a ping is queued, the packets the pong will confirm.
func (s *session) mark() {
	for _, n := range s.recovering() {
		n.mu.Lock()
		if n.sess == s {
			n.mark, n.marked = n.pushed, true
		}
		n.mu.Unlock()
	}
}

// confirm drops the packets the client confirmed with its pong.
func (s *session) confirm() {
	for _, n := range s.recovering() {
		n.mu.Lock()
		if n.sess == s && n.marked {
			n.kept.trim(n.mark)
			n.marked = false
		}
		n.mu.Unlock()
	}
}

// recovering returns the session's recovering sockets.
func (s *session) recovering() []*nsSocket {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*nsSocket
	for _, n := range s.sockets {
		if n.kept != nil {
			out = append(out, n)
		}
	}
	return out
}
