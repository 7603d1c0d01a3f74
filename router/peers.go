package router

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/contract"
	"github.com/routerd/routerd/internal/bus"
	"github.com/routerd/routerd/metrics"
)

// Node loss, as backends see it.
//
// A node that shuts down detaches its sockets and publishes their leave and
// disconnect notices itself. A node that dies cannot, so every node keeps
// track of the other nodes' sockets and rooms (from their lifecycle and
// presence notices, plus a snapshot asked of each node when it is first
// seen), and when a node is lost the live node with the smallest instance
// id publishes, for each socket the lost node held, a presence leave notice
// per room and a lifecycle disconnect notice, as the lost node would have,
// with the header Router-Reason: node_lost.
//
// A node counted lost may be heard again, the same instance: it was cut
// off (a network partition) and the partition healed. Every node then asks
// it for its sockets again and tells its local members of those in their
// rooms ($join), and the node that published the loss publishes, for each
// socket no notice told of since, a lifecycle connect notice and a
// presence join notice per room, with the header Router-Reason:
// node_returned.

// snapshotPage bounds the sockets in one snapshot reply.
const snapshotPage = 2000

// peerSocket is a socket of another node.
type peerSocket struct {
	ns, sid, user string
	rooms         map[string]struct{}
}

// peerSockets is what this node knows of another node's sockets.
type peerSockets struct {
	name    string
	sockets map[string]*peerSocket // by ns + "\x00" + sid
}

// peerTracker keeps the sockets of the other nodes, while there are other
// nodes (a node alone does not listen to its own notices).
type peerTracker struct {
	mu     sync.Mutex
	byNode map[string]*peerSockets // by instance id; guarded by mu
	subs   []*bus.Sub              // the notice subscriptions while watching; guarded by mu
}

// socketEntry is a socket in a snapshot reply.
type socketEntry struct {
	NS    string   `json:"ns"`
	SID   string   `json:"sid"`
	User  string   `json:"user,omitempty"`
	Rooms []string `json:"rooms,omitempty"`
}

func peerKey(ns, sid string) string { return ns + "\x00" + sid }

// node returns the entry of node id, making it; t.mu must be held.
func (t *peerTracker) node(id, name string) *peerSockets {
	p := t.byNode[id]
	if p == nil {
		p = &peerSockets{sockets: make(map[string]*peerSocket)}
		t.byNode[id] = p
	}
	if name != "" {
		p.name = name
	}
	return p
}

// socket returns the entry of a socket, making it (and counting it in m);
// the tracker's mu must be held.
func (p *peerSockets) socket(m *metrics.Metrics, ns, sid, user string) *peerSocket {
	k := peerKey(ns, sid)
	s := p.sockets[k]
	if s == nil {
		s = &peerSocket{ns: ns, sid: sid, user: user, rooms: make(map[string]struct{})}
		p.sockets[k] = s
		m.PeerSockets(1)
	}
	return s
}

// drop forgets a socket; the tracker's mu must be held.
func (p *peerSockets) drop(m *metrics.Metrics, ns, sid string) {
	k := peerKey(ns, sid)
	if _, ok := p.sockets[k]; ok {
		delete(p.sockets, k)
		m.PeerSockets(-1)
	}
}

// watchPeers subscribes to every namespace's lifecycle and presence notices
// when the first other node appears (before that node's snapshot is asked,
// so nothing falls between the two).
func (r *Router) watchPeers() {
	t := &r.peers
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.subs != nil {
		return
	}
	for _, c := range r.bus.Conns() {
		for _, kind := range []string{contract.KindLifecycle, contract.KindPresence} {
			sub, err := c.Subscribe(r.subj.join("*", kind, "*"), func(m *nats.Msg) { r.trackNotice(c, m) })
			if err != nil {
				r.log.Error("subscribe to notices: lost nodes' sockets will get no notices", "err", err)
				return
			}
			t.subs = append(t.subs, sub)
		}
	}
}

// unwatchPeers stops tracking when no other node is left.
func (r *Router) unwatchPeers() {
	t := &r.peers
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, sub := range t.subs {
		_ = sub.Unsubscribe()
	}
	t.subs = nil
	for id, p := range t.byNode {
		r.m.PeerSockets(-len(p.sockets))
		delete(t.byNode, id)
	}
}

// trackNotice records another node's lifecycle or presence notice, which
// came on connection c. A notice whose Router-Ns is not the namespace of
// its subject, or of a namespace c does not carry, is not routerd's: a
// tenant cannot make routerd speak for sockets of another namespace.
func (r *Router) trackNotice(c *bus.Conn, m *nats.Msg) {
	id := header(m.Header, contract.HeaderNodeID)
	ns, sid := header(m.Header, contract.HeaderNs), header(m.Header, contract.HeaderSid)
	if reason := header(m.Header, contract.HeaderReason); reason == contract.ReasonNodeLost || reason == contract.ReasonNodeReturned {
		return // said for another node, not by it
	}
	if id == "" || id == r.nodes.id || ns == "" || sid == "" {
		return
	}
	subj, ok := r.subj.parse(m.Subject)
	if !ok || subj.ns != ns || !r.bus.Owns(c, ns) {
		return
	}
	// A notice on routerd's own connection was published by a node: the
	// node is alive (a tenant's backends could make up node ids on theirs).
	if c == r.bus.Main() && !r.nodes.hear(id, header(m.Header, contract.HeaderNode), nil) {
		return // a node's previous instance
	}
	kind, last := subj.kind, subj.target
	user := header(m.Header, contract.HeaderUser)
	t := &r.peers
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.node(id, header(m.Header, contract.HeaderNode))
	switch {
	case kind == contract.KindLifecycle && last == contract.LifecycleConnect:
		p.socket(r.m, ns, sid, user)
	case kind == contract.KindLifecycle && last == contract.LifecycleDisconnect:
		p.drop(r.m, ns, sid)
	case kind == contract.KindPresence:
		var n contract.PresenceNotice
		room := header(m.Header, contract.HeaderRoom)
		if json.Unmarshal(m.Data, &n) != nil || room == "" {
			return
		}
		switch n.Action {
		case contract.PresenceJoin:
			p.socket(r.m, ns, sid, user).rooms[room] = struct{}{}
		case contract.PresenceLeave:
			if s := p.sockets[peerKey(ns, sid)]; s != nil {
				delete(s.rooms, room)
			}
		}
	}
}

// learnPeer asks node id, called name, just heard for the first time or
// again after it was counted lost (returned), for its sockets (a node
// learns what other nodes held before it started) and records them. For a
// returned node it also tells the local members of their rooms of those
// they were not told of (they were told all had left), and with announce
// (this node published the node's loss) publishes for backends the return
// of the sockets that no notice told of since. Nothing is done for a node
// lost again meanwhile.
func (r *Router) learnPeer(id, name string, returned, announce bool) {
	sockets, err := r.snapshotPeer(id)
	if err != nil {
		r.log.Warn("socket snapshot incomplete", "node", name, "id", id, "sockets", len(sockets), "err", err)
	}
	r.nodes.whileLive(id, func() {
		fresh := r.recordPeer(id, name, sockets)
		if !returned {
			return
		}
		r.tellJoined(id, sockets)
		if announce {
			for _, e := range fresh {
				r.speakFor(id, name, contract.ReasonNodeReturned, e)
			}
			r.log.Info("published the notices of a returned node", "node", name, "id", id, "sockets", len(fresh))
		}
	})
}

// snapshotPeer asks node id for its sockets, page by page. On an error it
// returns the pages it got.
func (r *Router) snapshotPeer(id string) ([]socketEntry, error) {
	var out []socketEntry
	after := ""
	for {
		ctx, cancel := context.WithTimeout(r.ctx, gatherTimeout)
		m, err := r.bus.Main().NC().RequestWithContext(ctx, r.subj.sys.Scatter(), marshal(scatterRequest{Op: "sockets", Node: id, After: after}))
		cancel()
		if err != nil {
			return out, fmt.Errorf("router: ask node %s for its sockets: %w", id, err)
		}
		var rep scatterReply
		if err := json.Unmarshal(m.Data, &rep); err != nil {
			return out, fmt.Errorf("router: sockets of node %s: %w", id, err)
		}
		if rep.Error != nil {
			return out, fmt.Errorf("router: sockets of node %s: %w", id, rep.Error)
		}
		out = append(out, rep.Sockets...)
		if rep.After == "" {
			return out, nil
		}
		after = rep.After
	}
}

// recordPeer records the sockets of node id from its snapshot and returns
// those that were not known before.
func (r *Router) recordPeer(id, name string, sockets []socketEntry) []socketEntry {
	t := &r.peers
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.node(id, name)
	var fresh []socketEntry
	for _, e := range sockets {
		_, had := p.sockets[peerKey(e.NS, e.SID)]
		s := p.socket(r.m, e.NS, e.SID, e.User)
		for _, room := range e.Rooms {
			s.rooms[room] = struct{}{}
		}
		if !had {
			fresh = append(fresh, e)
		}
	}
	return fresh
}

// localSocketPage lists this node's sockets whose key sorts after after,
// at most snapshotPage of them, and the key to ask from next ("" at the
// end).
func (r *Router) localSocketPage(after string) ([]socketEntry, string) {
	sel := slices.DeleteFunc(r.selectSockets("", ""), func(s *Socket) bool { return peerKey(s.ns, s.sid) <= after })
	sortSockets(sel) // the order of their keys
	next := ""
	if len(sel) > snapshotPage {
		sel = sel[:snapshotPage]
		next = peerKey(sel[len(sel)-1].ns, sel[len(sel)-1].sid)
	}
	out := make([]socketEntry, len(sel))
	for i, s := range sel {
		out[i] = socketEntry{NS: s.ns, SID: s.sid, User: s.id.User, Rooms: s.Rooms()}
	}
	return out, next
}

// forgetPeer drops what is known of node id and returns it.
func (r *Router) forgetPeer(id string) *peerSockets {
	r.peers.mu.Lock()
	defer r.peers.mu.Unlock()
	p := r.peers.byNode[id]
	delete(r.peers.byNode, id)
	if p != nil {
		r.m.PeerSockets(-len(p.sockets))
	}
	return p
}

// publishLoss forgets the sockets the lost node id held and, with announce
// (this node is the one to: the live node with the smallest instance id),
// publishes their leave and disconnect notices.
func (r *Router) publishLoss(id string, announce bool) {
	p := r.forgetPeer(id)
	if p == nil || !announce {
		return
	}
	for _, s := range p.sockets {
		e := socketEntry{NS: s.ns, SID: s.sid, User: s.user}
		for room := range s.rooms {
			e.Rooms = append(e.Rooms, room)
		}
		r.speakFor(id, p.name, contract.ReasonNodeLost, e)
	}
	r.log.Info("published the notices of a lost node", "node", p.name, "id", id, "sockets", len(p.sockets))
}

// speakFor publishes the notices of socket e of node name (instance id)
// for backends, with the header Router-Reason: reason. For a lost node
// (ReasonNodeLost), what the node would have published at the socket's
// end: a presence leave notice per room, then the lifecycle disconnect.
// For a returned node (ReasonNodeReturned), what backends saw undone: the
// lifecycle connect (without the handshake, which only the node had), then
// a presence join notice per room.
func (r *Router) speakFor(id, name, reason string, e socketEntry) {
	h := func(room string) nats.Header {
		h := nats.Header{
			contract.HeaderNs:     {e.NS},
			contract.HeaderSid:    {e.SID},
			contract.HeaderNode:   {name},
			contract.HeaderNodeID: {id},
			contract.HeaderReason: {reason},
		}
		if e.User != "" {
			h[contract.HeaderUser] = []string{e.User}
		}
		if room != "" {
			h[contract.HeaderRoom] = []string{room}
		}
		return h
	}
	c := r.bus.For(e.NS)
	lifecycle := func(event string) {
		r.publishNotice(c, &nats.Msg{Subject: r.subj.Lifecycle(e.NS, event), Header: h(""),
			Data: marshal(contract.LifecycleNotice{SID: e.SID, User: e.User, Node: name})})
	}
	action := contract.PresenceLeave
	if reason == contract.ReasonNodeReturned {
		action = contract.PresenceJoin
		lifecycle(contract.LifecycleConnect)
	}
	for _, room := range e.Rooms {
		r.publishNotice(c, &nats.Msg{Subject: r.subj.Presence(e.NS, room), Header: h(room),
			Data: marshal(contract.PresenceNotice{Action: action, SID: e.SID, User: e.User, Node: name})})
	}
	if reason == contract.ReasonNodeLost {
		lifecycle(contract.LifecycleDisconnect)
	}
}
