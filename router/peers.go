package router

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
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
	if id == "" || id == r.nodes.id || ns == "" || sid == "" || header(m.Header, contract.HeaderReason) == contract.ReasonNodeLost {
		return
	}
	subj, ok := r.subj.parse(m.Subject)
	if !ok || subj.ns != ns || !r.bus.Owns(c, ns) {
		return
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

// snapshotPeer asks node id for its sockets, page by page, and records
// them: a node learns what other nodes held before it started.
func (r *Router) snapshotPeer(id string) {
	after := ""
	for {
		ctx, cancel := context.WithTimeout(r.ctx, gatherTimeout)
		m, err := r.bus.Main().NC().RequestWithContext(ctx, r.subj.sys.Scatter(), marshal(scatterRequest{Op: "sockets", Node: id, After: after}))
		cancel()
		var rep scatterReply
		if err != nil || json.Unmarshal(m.Data, &rep) != nil || rep.Error != nil {
			r.log.Debug("socket snapshot incomplete", "node", id, "err", err)
			return
		}
		r.peers.mu.Lock()
		p := r.peers.node(id, rep.Node)
		for _, e := range rep.Sockets {
			s := p.socket(r.m, e.NS, e.SID, e.User)
			for _, room := range e.Rooms {
				s.rooms[room] = struct{}{}
			}
		}
		r.peers.mu.Unlock()
		if rep.After == "" {
			return
		}
		after = rep.After
	}
}

// localSocketPage lists this node's sockets whose key sorts after after,
// at most snapshotPage of them, and the key to ask from next ("" at the
// end).
func (r *Router) localSocketPage(after string) ([]socketEntry, string) {
	r.mu.RLock()
	spaces := make([]*space, 0, len(r.spaces))
	for _, sp := range r.spaces {
		spaces = append(spaces, sp)
	}
	r.mu.RUnlock()
	type keyed struct {
		key string
		e   socketEntry
	}
	var all []keyed
	for _, sp := range spaces {
		sp.mu.RLock()
		for sid, s := range sp.sockets {
			if k := peerKey(sp.name, sid); k > after {
				e := socketEntry{NS: sp.name, SID: sid, User: s.id.User}
				for room := range s.rooms {
					e.Rooms = append(e.Rooms, room)
				}
				all = append(all, keyed{k, e})
			}
		}
		sp.mu.RUnlock()
	}
	slices.SortFunc(all, func(a, b keyed) int { return strings.Compare(a.key, b.key) })
	next := ""
	if len(all) > snapshotPage {
		all = all[:snapshotPage]
		next = all[len(all)-1].key
	}
	out := make([]socketEntry, len(all))
	for i, k := range all {
		out[i] = k.e
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

// publishLoss publishes the leave and disconnect notices of the sockets the
// lost node id held, when this node is the one to: the live node with the
// smallest instance id.
func (r *Router) publishLoss(id string) {
	p := r.forgetPeer(id)
	if p == nil || !r.nodes.smallest() {
		return
	}
	for _, s := range p.sockets {
		h := func(room string) nats.Header {
			h := nats.Header{
				contract.HeaderNs:     {s.ns},
				contract.HeaderSid:    {s.sid},
				contract.HeaderNode:   {p.name},
				contract.HeaderNodeID: {id},
				contract.HeaderReason: {contract.ReasonNodeLost},
			}
			if s.user != "" {
				h[contract.HeaderUser] = []string{s.user}
			}
			if room != "" {
				h[contract.HeaderRoom] = []string{room}
			}
			return h
		}
		c := r.bus.For(s.ns)
		for room := range s.rooms {
			r.publishNotice(c, &nats.Msg{Subject: r.subj.Presence(s.ns, room), Header: h(room),
				Data: marshal(contract.PresenceNotice{Action: contract.PresenceLeave, SID: s.sid, User: s.user, Node: p.name})})
		}
		r.publishNotice(c, &nats.Msg{Subject: r.subj.Lifecycle(s.ns, contract.LifecycleDisconnect), Header: h(""),
			Data: marshal(contract.LifecycleNotice{SID: s.sid, User: s.user, Node: p.name})})
	}
	r.log.Info("published the notices of a lost node", "node", p.name, "id", id, "sockets", len(p.sockets))
}
