package router

import (
	"context"

	"github.com/routerd/routerd/contract"
)

// Moving sockets between client connections and nodes.
//
// A transport may keep a socket whose client lost its connection attached
// (a parked socket: Socket.IO's connection state recovery), its membership
// and presence unchanged and no notice published, while its Conn keeps
// what is delivered, and move it to the connection the client comes back
// on: on this node with Rebind, which only moves the socket's count in
// limits.max_namespaces_per_connection; to another node with Handoff on
// the node that held it and Adopt on the one that takes it over, which
// publish no notice either. The move is announced to every node (scatter
// op "moved"), so that the nodes that track other nodes' sockets for node
// loss (peers.go) and the rooms' remote members (presence events) follow
// it to its new node.

// Moved is a socket that another node held, as Adopt takes it over.
type Moved struct {
	SID      string
	Identity Identity
	Rooms    []string
	// From is the instance id (InstanceID) of the node that held it.
	From string
}

// moveNotice is the body of the scatter op "moved": the socket sid of a
// namespace is now held by node To.
type moveNotice struct {
	SID    string   `json:"sid"`
	User   string   `json:"user,omitempty"`
	Rooms  []string `json:"rooms,omitempty"`
	From   string   `json:"from"`    // the instance id of the node that held it
	To     string   `json:"to"`      // the instance id of the node that holds it now
	ToName string   `json:"to_name"` // that node's name
}

// InstanceID returns this node's instance id (new at every start), which
// names it in Moved.From.
func (r *Router) InstanceID() string { return r.nodes.id }

// Identity returns what authentication established about s.
func (s *Socket) Identity() Identity { return s.id }

// Rebind counts s against another client connection of its transport
// from now on (limits.max_namespaces_per_connection): to is the value
// Multiplexed.Connection returns for that connection. switchConn, which
// makes s's Conn report to and deliver to that connection, runs while no
// detach of s can begin. It fails with limit_exceeded when that connection
// has no room for s (switchConn does not run then), and with
// not_connected once s is detached.
func (s *Socket) Rebind(to any, switchConn func()) error {
	sp := s.sp
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if s.detached {
		return Errorf(contract.CodeNotConnected, "socket is disconnected")
	}
	if err := s.r.moveNamespace(connKey(s.conn), to, s.ns); err != nil {
		return err
	}
	switchConn()
	return nil
}

// Handoff detaches s for another node to take it over (Adopt): it leaves
// its rooms and this node, and nothing is published or told to the
// transport. It returns the rooms s was in, which the taker puts it back
// in, and false when s had ended already (nothing to hand over).
func (s *Socket) Handoff() (rooms []string, ok bool) { return s.end("", false, false) }

// Abandon publishes the notices of the end of s, handed off (Handoff) but
// taken over by no node: its presence leave in each of rooms and its
// lifecycle disconnect, as its detach would have.
func (s *Socket) Abandon(rooms []string) {
	s.r.lostNotices(s.ns, Moved{SID: s.sid, Identity: s.id, Rooms: rooms})
}

// Adopt attaches, for conn, the socket mv that another node held and
// handed off, with its sid, identity and rooms, after checking as Connect
// does that the namespace exists and conn's client connection has room for
// it, but with no auth (the socket authenticated where it connected) and
// no notice: for backends and the other members it never left. The move
// is announced to every node. It refuses a sid that is not one, or is
// attached here already; when it fails otherwise, the socket is gone: the
// notices of its end are published then (presence leave per room,
// lifecycle disconnect), as its detach would have.
func (r *Router) Adopt(ctx context.Context, conn Conn, ns string, mv Moved) (*Socket, error) {
	if !contract.ValidSID(mv.SID) {
		return nil, Errorf(contract.CodeInvalidName, "a moved socket's sid must be 1..%d characters of [A-Za-z0-9_-]", contract.MaxSIDBytes)
	}
	if len(r.localSockets(ns, func(x *Socket) bool { return x.sid == mv.SID })) > 0 {
		return nil, Errorf(contract.CodeAlreadyConnected, "socket %q is attached here already", mv.SID)
	}
	s, err := r.connect(ctx, conn, ns, nil, ConnInfo{}, &mv)
	if err != nil {
		r.lostNotices(ns, mv)
		return nil, err
	}
	user, rooms := s.id.User, s.Rooms()
	r.background(func() {
		note := &moveNotice{SID: mv.SID, User: user, Rooms: rooms, From: mv.From, To: r.nodes.id, ToName: r.node}
		if _, err := r.gather(r.ctx, scatterRequest{NS: ns, Op: opMoved, Move: note}); err != nil {
			r.log.Warn("announce a moved socket", "ns", ns, "err", err)
		}
	})
	return s, nil
}

// opMoved is the scatter op that announces a moved socket.
const opMoved = "moved"

// enterRooms puts s in rooms without presence notices (Adopt).
func (r *Router) enterRooms(ctx context.Context, s *Socket, rooms []string) error {
	for _, name := range rooms {
		if err := r.validRoom(name); err != nil {
			return err
		}
		if _, _, err := r.enterRoom(ctx, s, name, nil); err != nil {
			return err
		}
	}
	return nil
}

// lostNotices publishes the notices of the end of a moved socket that
// could not be adopted: its presence leave in each of its rooms and its
// lifecycle disconnect.
func (r *Router) lostNotices(ns string, mv Moved) {
	s := &Socket{r: r, ns: ns, sid: mv.SID, id: mv.Identity, nats: r.bus.For(ns)}
	for _, room := range mv.Rooms {
		r.notice(r.subj.Presence(ns, room), s, room, contract.PresenceNotice{Action: contract.PresenceLeave, SID: s.sid, User: s.id.User, Node: r.node})
	}
	r.notice(r.subj.Lifecycle(ns, contract.LifecycleDisconnect), s, "", contract.LifecycleNotice{SID: s.sid, User: s.id.User, Node: r.node})
}

// socketMoved follows a moved socket (scatter op "moved") to its new node:
// in the rooms with presence events its $leave is now told when that node
// dies, and the peers' sockets (peers.go) list it under that node.
func (r *Router) socketMoved(ns string, mv *moveNotice) {
	if mv == nil || mv.SID == "" || mv.To == "" {
		return
	}
	if sp := r.lookupSpace(ns); sp != nil && sp.policy.PresenceEvents {
		for _, name := range mv.Rooms {
			sp.mu.RLock()
			rm := sp.rooms[name]
			sp.mu.RUnlock()
			if rm == nil {
				continue
			}
			rm.mu.Lock()
			if mv.To == r.nodes.id {
				delete(rm.remote, mv.SID) // a local member now
			} else {
				rm.remote[mv.SID] = remoteMember{node: mv.To, user: mv.User}
			}
			rm.mu.Unlock()
		}
	}
	t := &r.peers
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.subs == nil {
		return // no other node is tracked
	}
	known := mv.From == r.nodes.id // this node handed it off
	if p := t.byNode[mv.From]; p != nil {
		_, known = p.sockets[peerKey(ns, mv.SID)]
		p.drop(r.m, ns, mv.SID)
	}
	if mv.To == r.nodes.id || !known {
		return // this node's own now, or one that ended before the notice came
	}
	e := t.node(mv.To, mv.ToName).socket(r.m, ns, mv.SID, mv.User)
	for _, room := range mv.Rooms {
		e.rooms[room] = struct{}{}
	}
}
