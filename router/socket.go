package router

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"path"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/contract"
	"github.com/routerd/routerd/internal/bus"
)

// Conn is a transport connection that sockets attach through. The router
// calls it from its dispatcher goroutines, so Send must never block.
type Conn interface {
	// Codec returns the encoder for frames delivered to this connection; the
	// same value for every connection of one transport.
	Codec() Codec
	// Send queues one encoded frame. It never blocks; a connection that
	// cannot keep up deals with it itself (the bridge closes it with 1013).
	Send(frame []byte)
	// Detached tells the transport that the router detached s (a backend
	// disconnected it, its token expired, the router is closing).
	Detached(s *Socket, reason string)
}

// Socket is one client's attachment to one namespace.
type Socket struct {
	r      *Router
	conn   Conn
	ns     string
	sid    string
	id     Identity
	policy config.Namespace
	nats   *bus.Conn  // the connection of the namespace's account
	sub    *bus.Sub   // P.{ns}.socket.{sid}.*, nil with per_namespace socket subscriptions; set before the socket is visible
	sp     *space     // set by attachSocket
	hist   *nsHistory // the namespace's history; nil without
	acks   clientAcks // the acks backends asked of the socket
	info   ConnInfo   // the connection it attached through (zero when adopted), for its handshake
	since  time.Time  // when it connected: its handshake's time

	// guarded by sp.mu
	expiry   *time.Timer
	rooms    map[string]*room // made at the first join
	detached bool
}

// SID returns the socket id.
func (s *Socket) SID() string { return s.sid }

// Namespace returns the namespace the socket is attached to.
func (s *Socket) Namespace() string { return s.ns }

// User returns the authenticated user, or "" for anonymous sockets.
func (s *Socket) User() string { return s.id.User }

// RandomID returns 128 random bits as 22 characters of [A-Za-z0-9_-]: a
// sid, a node instance id, a generated credential.
func RandomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Connect attaches a new socket for conn to namespace ns after checking the
// namespace exists, conn's client connection has room for one more
// namespace (limits.max_namespaces_per_connection) and the auth object
// passes its auth policy. info describes the connection's opening
// request: the auth backend gets it, and the lifecycle connect notice its
// handshake.
func (r *Router) Connect(ctx context.Context, conn Conn, ns string, auth json.RawMessage, info ConnInfo) (*Socket, error) {
	return r.connect(ctx, conn, ns, auth, info, nil)
}

// connect is Connect or, with mv, Adopt: the socket mv describes, with its
// sid, identity and rooms, and no auth and no notice.
func (r *Router) connect(ctx context.Context, conn Conn, ns string, auth json.RawMessage, info ConnInfo, mv *Moved) (*Socket, error) {
	policy, err := r.policy(ns)
	if err != nil {
		return nil, err
	}
	if err := r.admitNamespace(conn, ns); err != nil {
		return nil, err
	}
	attached := false // from then on, detach counts the socket out
	defer func() {
		if !attached {
			r.releaseNamespace(conn, ns)
		}
	}()
	var id Identity
	sid := RandomID()
	if mv != nil {
		id, sid = mv.Identity, mv.SID
	} else if policy.Auth != config.AuthNone && policy.Auth != "" {
		if r.auth == nil {
			return nil, Errorf(contract.CodeUnauthorized, "namespace %q requires %s auth, which this router does not offer", ns, policy.Auth)
		}
		if id, err = r.auth.Authenticate(ctx, ns, policy, auth, info); err != nil {
			return nil, err
		}
	}
	if id.User != "" {
		if !contract.ValidUser(id.User) {
			return nil, Errorf(contract.CodeInvalidName, "the user name must be 1..%d bytes of UTF-8 without control characters", contract.MaxUserBytes)
		}
		if err := fits(r.subj.userSub(ns, id.User)); err != nil {
			return nil, err
		}
	}
	s := &Socket{r: r, conn: conn, ns: ns, sid: sid, id: id, policy: policy, nats: r.bus.For(ns), info: info, since: time.Now()}
	if !s.nats.Connected() {
		return nil, errBusDown
	}
	if policy.History != nil {
		var entered func()
		if s.hist, entered, err = r.historyOf(ctx, ns, *policy.History); err != nil {
			return nil, err
		}
		defer entered() // the space keeps the stream from sweeps once attached
	}
	if !r.cfg.NATS.PerNamespaceSockets() {
		if s.sub, err = s.nats.ChanSubscribe(r.subj.socketSub(ns, s.sid), r.shardFor(s.sid)); err != nil {
			return nil, natsError(err)
		}
	}
	confirm, err := r.attachSocket(s, policy)
	if err != nil {
		s.unsubscribe()
		return nil, err
	}
	attached = true
	r.m.SocketUp(ns)
	// The namespace's broadcast subject and the user's subject are known
	// to backends without this socket: they must be in force before the
	// client hears it is connected. The socket's own subject needs no
	// flush: whoever learns the sid learns it from something published on
	// this same connection after the subscription (the connect notice, a
	// client's emit), and NATS keeps one connection's messages in order.
	// The socket is attached meanwhile (a backend may already join or
	// disconnect it): a failure detaches it as any socket.
	if confirm != nil {
		if err := r.flush(ctx, s.nats); err != nil {
			s.detach("", false)
			return nil, err
		}
		confirm()
	}
	if s.Detached() {
		return nil, Errorf(contract.CodeNotConnected, "the socket was disconnected while it connected")
	}
	if mv != nil {
		if err := r.enterRooms(ctx, s, mv.Rooms); err != nil {
			s.end("", false, false)
			return nil, err
		}
	} else {
		r.connectNotice(s, info)
	}
	if !id.Expires.IsZero() {
		s.sp.mu.Lock()
		s.expiry = time.AfterFunc(time.Until(id.Expires), func() { s.detach("token_expired", true) })
		s.sp.mu.Unlock()
	}
	return s, nil
}

// headers returns the Router-* headers of a message published for s.
func (s *Socket) headers(room, event string) nats.Header {
	h := nats.Header{
		contract.HeaderNs:     {s.ns},
		contract.HeaderSid:    {s.sid},
		contract.HeaderNode:   {s.r.node},
		contract.HeaderNodeID: {s.r.nodes.id},
	}
	if s.id.User != "" {
		h[contract.HeaderUser] = []string{s.id.User}
	}
	if room != "" {
		h[contract.HeaderRoom] = []string{room}
	}
	if event != "" {
		h[contract.HeaderEvent] = []string{event}
	}
	return h
}

// notice publishes a presence or lifecycle notice about s. Notices are best
// effort: a NATS failure is logged, not returned.
func (r *Router) notice(subject string, s *Socket, room string, v any) {
	r.publishNotice(s.nats, &nats.Msg{Subject: subject, Data: marshal(v), Header: s.headers(room, "")})
}

// publishNotice publishes a notice on c, logging a failure.
func (r *Router) publishNotice(c *bus.Conn, m *nats.Msg) {
	if err := c.NC().PublishMsg(m); err != nil {
		r.log.Warn("publish notice", "subject", m.Subject, "err", err)
	}
}

// Disconnect detaches the socket at the client's request: it leaves all its
// rooms and its leave and disconnect notices are published.
func (s *Socket) Disconnect() { s.detach("", false) }

// detach ends the socket once, publishing its leave and disconnect
// notices. tell reports the reason to the transport.
func (s *Socket) detach(reason string, tell bool) { s.end(reason, tell, true) }

// end ends the socket once: detach, or with notify false (Handoff) as if
// it had never been here: no notice is published. It returns the rooms
// the socket was in, and false when it had ended already.
func (s *Socket) end(reason string, tell, notify bool) (rooms []string, ended bool) {
	sp := s.sp
	sp.mu.Lock()
	if s.detached {
		sp.mu.Unlock()
		return nil, false
	}
	s.detached = true
	if s.expiry != nil {
		s.expiry.Stop()
	}
	rooms = make([]string, 0, len(s.rooms))
	for name := range s.rooms {
		rooms = append(rooms, name)
	}
	sp.mu.Unlock()
	s.failAcks()
	for _, name := range rooms {
		if notify {
			s.r.leaveRoom(s, name)
		} else {
			s.r.dropMember(s, name)
		}
	}
	s.unsubscribe()
	s.r.removeSocket(s)
	s.r.releaseNamespace(s.conn, s.ns)
	s.r.m.SocketDown(s.ns)
	if notify {
		s.r.notice(s.r.subj.Lifecycle(s.ns, contract.LifecycleDisconnect), s, "", contract.LifecycleNotice{SID: s.sid, User: s.id.User, Node: s.r.node})
	}
	if tell {
		s.conn.Detached(s, reason)
	}
	return rooms, true
}

// checkClientEvent applies the event name rules to a client's emit.
func checkClientEvent(event string) error {
	if !contract.ValidEventName(event) {
		return Errorf(contract.CodeInvalidName, "event name must be 1..%d bytes of UTF-8 without control characters", contract.MaxEventBytes)
	}
	if event[0] == '$' {
		return Errorf(contract.CodeInvalidName, "event names starting with $ are reserved")
	}
	return nil
}

// unsubscribe ends the socket's own subscription, if it has one.
func (s *Socket) unsubscribe() {
	if s.sub != nil {
		_ = s.sub.Unsubscribe()
	}
}

// mayJoin applies the client policy of a join: client_join and the token's
// rooms claim.
func (s *Socket) mayJoin(room string) error {
	if !s.policy.ClientJoin {
		return Errorf(contract.CodeForbidden, "clients may not join rooms in namespace %q", s.ns)
	}
	if err := s.r.validRoom(room); err != nil {
		return err
	}
	if s.id.Rooms != nil && !MatchAny(s.id.Rooms, room) {
		return Errorf(contract.CodeForbidden, "the token does not allow room %q", room)
	}
	return nil
}

// Join puts the socket in room at the client's request (policy client_join,
// the token's rooms claim, limits.max_rooms_per_socket). Joining a room the
// socket is in already succeeds.
func (s *Socket) Join(ctx context.Context, room string) error {
	if err := s.mayJoin(room); err != nil {
		return err
	}
	_, _, err := s.r.joinRoom(ctx, s, room, nil)
	return err
}

// Leave takes the socket out of room at the client's request. Leaving a room
// the socket is not in succeeds.
func (s *Socket) Leave(room string) error {
	if !s.policy.ClientJoin {
		return Errorf(contract.CodeForbidden, "clients may not leave rooms in namespace %q", s.ns)
	}
	if err := s.r.validRoom(room); err != nil {
		return err
	}
	s.r.leaveRoom(s, room)
	return nil
}

// MatchAny reports whether name matches one of the globs (path.Match syntax).
func MatchAny(globs []string, name string) bool {
	for _, g := range globs {
		if ok, _ := path.Match(g, name); ok {
			return true
		}
	}
	return false
}

// Detached reports whether the socket has ended.
func (s *Socket) Detached() bool {
	s.sp.mu.RLock()
	defer s.sp.mu.RUnlock()
	return s.detached
}

// InRoom reports whether the socket is a member of room.
func (s *Socket) InRoom(room string) bool {
	s.sp.mu.RLock()
	defer s.sp.mu.RUnlock()
	_, ok := s.rooms[room]
	return ok
}

// Rooms lists the rooms the socket is in, in no particular order.
func (s *Socket) Rooms() []string {
	s.sp.mu.RLock()
	defer s.sp.mu.RUnlock()
	out := make([]string, 0, len(s.rooms))
	for name := range s.rooms {
		out = append(out, name)
	}
	return out
}

// HasHistory reports whether the socket's namespace keeps room history.
func (s *Socket) HasHistory() bool { return s.policy.History != nil }

// EmitRoom broadcasts event to room (policy client_publish), to every member
// but the sender unless self. With ack the call returns once NATS has
// accepted the message, and, where the namespace keeps history, the event's
// room sequence number (0 otherwise).
func (s *Socket) EmitRoom(ctx context.Context, room, event string, data json.RawMessage, self, ack bool) (uint64, error) {
	if err := checkClientEvent(event); err != nil {
		return 0, err
	}
	if err := s.r.validRoom(room); err != nil {
		return 0, err
	}
	subject := s.r.subj.Room(s.ns, room, event)
	if err := fits(subject); err != nil {
		return 0, err
	}
	switch s.policy.ClientPublish {
	case config.PublishNone:
		return 0, Errorf(contract.CodeForbidden, "clients may not publish in namespace %q", s.ns)
	case config.PublishAny:
		// Any socket may publish, within the rooms its identity allows.
		if s.id.Rooms != nil && !MatchAny(s.id.Rooms, room) && !s.InRoom(room) {
			return 0, Errorf(contract.CodeForbidden, "the token does not allow room %q", room)
		}
	default:
		if !s.InRoom(room) {
			return 0, Errorf(contract.CodeNotMember, "not a member of room %q", room)
		}
	}
	h := s.headers(room, event)
	if !self {
		h[contract.HeaderExclude] = []string{s.sid}
	}
	m := &nats.Msg{Subject: subject, Data: data, Header: h}
	if s.hist != nil && ack {
		seq, err := s.r.publishStored(ctx, s.nats, m)
		if err == nil {
			s.r.m.Published(s.ns)
		}
		return seq, err
	}
	return 0, s.send(ctx, m, ack)
}

// EmitBroadcast sends event to every socket of the namespace across the
// cluster (P.{ns}.broadcast.{event}), the sender excluded unless self: the
// Socket.IO actions broadcast and broadcast_all. It applies the namespace's
// client_publish policy: none refuses it.
func (s *Socket) EmitBroadcast(ctx context.Context, event string, data json.RawMessage, self, ack bool) error {
	if err := checkClientEvent(event); err != nil {
		return err
	}
	if s.policy.ClientPublish == config.PublishNone {
		return Errorf(contract.CodeForbidden, "clients may not publish in namespace %q", s.ns)
	}
	h := s.headers("", event)
	if !self {
		h[contract.HeaderExclude] = []string{s.sid}
	}
	return s.send(ctx, &nats.Msg{Subject: s.r.subj.Broadcast(s.ns, event), Data: data, Header: h}, ack)
}

// EmitTo sends event to the socket sid of the same namespace (policy
// direct). A sid that does not exist is not an error.
func (s *Socket) EmitTo(ctx context.Context, sid, event string, data json.RawMessage, ack bool) error {
	if !s.policy.Direct {
		return Errorf(contract.CodeForbidden, "direct messages are off in namespace %q", s.ns)
	}
	if err := checkClientEvent(event); err != nil {
		return err
	}
	if !contract.ValidSID(sid) {
		return Errorf(contract.CodeInvalidName, "to must be a socket id: 1..%d characters of [A-Za-z0-9_-]", contract.MaxSIDBytes)
	}
	return s.send(ctx, &nats.Msg{Subject: s.r.subj.Socket(s.ns, sid, event), Data: data, Header: s.headers("", event)}, ack)
}

// EmitServer publishes a server-bound event for backends.
func (s *Socket) EmitServer(ctx context.Context, event string, data json.RawMessage, ack bool) error {
	if err := checkClientEvent(event); err != nil {
		return err
	}
	return s.send(ctx, &nats.Msg{Subject: s.r.subj.Server(s.ns, event), Data: data, Header: s.headers("", event)}, ack)
}

// send publishes m for s; with ack, it returns once the server has it.
func (s *Socket) send(ctx context.Context, m *nats.Msg, ack bool) error {
	if err := fits(m.Subject); err != nil {
		return err
	}
	if err := s.r.publish(s.nats, m); err != nil {
		return err
	}
	s.r.m.Published(s.ns)
	if ack {
		return s.r.flush(ctx, s.nats)
	}
	return nil
}

// Request publishes a server-bound event as a NATS request, before it
// returns, and returns the Request that awaits the backend's reply. A
// transport calls it on the goroutine that reads the client's frames, so
// the client's requests and emits reach NATS in the order it sent them, and
// awaits the reply on another.
func (s *Socket) Request(event string, data json.RawMessage) (*Request, error) {
	if err := checkClientEvent(event); err != nil {
		return nil, err
	}
	subject := s.r.subj.Server(s.ns, event)
	if err := fits(subject); err != nil {
		return nil, err
	}
	if !s.nats.Connected() {
		return nil, errBusDown // rather than a timeout once the request waited in nats.go's buffer
	}
	q := &Request{s: s, start: time.Now()}
	var err error
	if q.p, err = s.nats.Request(&nats.Msg{Subject: subject, Data: data, Header: s.headers("", event)}); err != nil {
		s.r.m.AckRoundTrip(time.Since(q.start))
		return nil, q.fail(err)
	}
	return q, nil
}

// Request is a server-bound request published by Socket.Request.
type Request struct {
	s     *Socket
	p     *bus.Pending
	start time.Time
}

// Wait returns the backend's reply as event data. No backend →
// no_responders; no reply within limits.ack_timeout of the publish →
// timeout; a Router-Error header → that code. Every Request must be
// awaited once.
func (q *Request) Wait(ctx context.Context) (json.RawMessage, error) {
	ctx, cancel := context.WithDeadline(ctx, q.start.Add(q.s.r.cfg.Limits.AckTimeout))
	defer cancel()
	reply, err := q.p.Wait(ctx)
	q.s.r.m.AckRoundTrip(time.Since(q.start))
	if err != nil {
		return nil, q.fail(err)
	}
	if code := header(reply.Header, contract.HeaderError); code != "" {
		return nil, &Error{Code: contract.Code(code), Message: string(reply.Data)}
	}
	return contract.Payload(reply.Data), nil
}

// fail maps the error of a request to the client's: unavailable while
// NATS is down.
func (q *Request) fail(err error) error {
	if !q.s.nats.Connected() {
		return errBusDown
	}
	return natsError(err)
}

// Presence lists the members of room across the cluster (policy presence).
// As for history, a socket may list the rooms it is in and those it may
// join (client_join and the token's rooms claim).
func (s *Socket) Presence(ctx context.Context, room string) (Presence, error) {
	if !s.policy.Presence {
		return Presence{}, Errorf(contract.CodeForbidden, "presence is off in namespace %q", s.ns)
	}
	if err := s.r.validRoom(room); err != nil {
		return Presence{}, err
	}
	if !s.InRoom(room) {
		if err := s.mayJoin(room); err != nil {
			return Presence{}, err
		}
	}
	return s.r.clusterPresence(ctx, s.ns, room)
}

// History returns up to limit events of room's history with seq < before
// (before 0: the newest), oldest first: a history frame's scrollback. The
// room's history is its last max_msgs events. Namespaces without history
// refuse it (docs/protocol.md); a socket may read the rooms it is in and those it may
// join.
func (s *Socket) History(ctx context.Context, room string, limit int, before uint64) ([]*Event, error) {
	if s.hist == nil {
		return nil, Errorf(contract.CodeForbidden, "namespace %q keeps no history", s.ns)
	}
	if !s.InRoom(room) {
		if err := s.mayJoin(room); err != nil {
			return nil, err
		}
	}
	if limit <= 0 {
		return nil, Errorf(contract.CodeBadFrame, "limit must be a positive number")
	}
	evs, err := s.r.scrollback(ctx, s.hist, room, min(limit, s.hist.policy.MaxMsgs), before)
	if err != nil {
		s.r.log.Warn("history", "ns", s.ns, "room", room, "err", err)
		return nil, Errorf(contract.CodeUnavailable, "the room history is unavailable")
	}
	return evs, nil
}

// JoinSince joins room like Join and, where the namespace keeps history,
// first replays to the socket every retained event of the room with seq >
// since, then continues live with no gap and no duplicate (docs/history.md).
// recovered is false when events after since were already dropped by
// retention. Without history it is Join, and recovered is false. The
// replayed events are sent before JoinSince returns.
func (s *Socket) JoinSince(ctx context.Context, room string, since uint64) (recovered bool, err error) {
	if s.hist == nil {
		return false, s.Join(ctx, room)
	}
	if err := s.mayJoin(room); err != nil {
		return false, err
	}
	return s.r.joinReplay(ctx, s, room, since)
}
