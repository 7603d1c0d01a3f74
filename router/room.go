package router

import (
	"context"
	"slices"
	"sync"

	"github.com/routerd/routerd/contract"
	"github.com/routerd/routerd/internal/bus"
)

// room is a room with local members on this node, and its subscriptions:
// one to the room's events and, where the namespace has presence events, one
// to its presence notices. A room exists while it has local members.
type room struct {
	name string
	sub  *bus.Sub // P.{ns}.room.{room}.*, or $routerd.P.hist.{ns}.room.{room}.* with history; immutable
	pres *bus.Sub // P.{ns}.presence.{room}; nil without presence events; immutable

	ready chan struct{} // closed once the server confirmed the subscriptions
	err   error         // written before ready is closed

	mu      sync.RWMutex
	members []*Socket       // guarded by mu
	index   map[*Socket]int // position in members; guarded by mu
	// remote holds the members on other nodes, by sid, where the namespace
	// has presence events, so that their $leave can be told when their node
	// dies; guarded by mu.
	remote map[string]remoteMember
	// told holds the members of a lost node whose $leave nodeGone told,
	// until the node_lost notice published for them comes (and is not told
	// again); guarded by mu.
	told map[string]struct{}
	// catching holds the live events for members whose history replay is
	// running (history namespaces); guarded by mu.
	catching map[*Socket]*catchup
	// pos is the seq of the newest event delivered (history namespaces);
	// guarded by mu.
	pos uint64
}

// remoteMember is a room member held by another node.
type remoteMember struct {
	node string // instance id
	user string
	// back: its $join was told when its node returned (tellJoined), so
	// that a presence notice of that join still on its way is not told
	// again.
	back bool
}

// add makes s a member. With c, live events are held in c until the
// member's replay is done; pos is then the seq of the newest event the room
// delivered before.
func (rm *room) add(s *Socket, c *catchup) (pos uint64) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	rm.index[s] = len(rm.members)
	rm.members = append(rm.members, s)
	if c != nil {
		if rm.catching == nil {
			rm.catching = make(map[*Socket]*catchup)
		}
		rm.catching[s] = c
		return rm.pos
	}
	return 0
}

// remove takes s out and reports how many members are left.
func (rm *room) remove(s *Socket) int {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	i, ok := rm.index[s]
	if !ok {
		return len(rm.members)
	}
	delete(rm.catching, s)
	last := len(rm.members) - 1
	moved := rm.members[last]
	rm.members[i] = moved
	rm.index[moved] = i
	rm.members[last] = nil
	rm.members = rm.members[:last]
	delete(rm.index, s)
	return len(rm.members)
}

// roomKey is the dispatcher key of a room: its events and presence notices
// go through one goroutine, in order.
func roomKey(ns, name string) string { return ns + "\x00r" + name }

// joinRoom puts s in the room called name, subscribing to the room when it
// is the first local member, and publishes the presence notice. It returns
// the room when s was not a member before (nil when it was). With c (history
// namespaces) the member's live events are held in c from the position pos
// on, for joinReplay. It applies no client policy.
func (r *Router) joinRoom(ctx context.Context, s *Socket, name string, c *catchup) (rm *room, pos uint64, err error) {
	if rm, pos, err = r.enterRoom(ctx, s, name, c); rm != nil {
		r.notice(r.subj.Presence(s.ns, name), s, name, contract.PresenceNotice{Action: contract.PresenceJoin, SID: s.sid, User: s.id.User, Node: r.node})
	}
	return rm, pos, err
}

// enterRoom is joinRoom without the presence notice.
func (r *Router) enterRoom(ctx context.Context, s *Socket, name string, c *catchup) (rm *room, pos uint64, err error) {
	sp := s.sp
	sp.mu.Lock()
	if s.detached {
		sp.mu.Unlock()
		return nil, 0, Errorf(contract.CodeNotConnected, "socket is disconnected")
	}
	if rm, ok := s.rooms[name]; ok {
		sp.mu.Unlock()
		<-rm.ready
		return nil, 0, nil
	}
	if len(s.rooms) >= r.cfg.Limits.MaxRoomsPerSocket {
		sp.mu.Unlock()
		return nil, 0, Errorf(contract.CodeLimitExceeded, "a socket may be in at most %d rooms", r.cfg.Limits.MaxRoomsPerSocket)
	}
	rm = sp.rooms[name]
	first := rm == nil
	if first {
		if rm, err = r.openRoom(sp, name); err != nil {
			sp.mu.Unlock()
			return nil, 0, err
		}
		sp.rooms[name] = rm
	}
	pos = rm.add(s, c)
	if s.rooms == nil {
		s.rooms = make(map[string]*room)
	}
	s.rooms[name] = rm
	sp.mu.Unlock()

	if first {
		rm.err = r.flush(ctx, sp.nats)
		close(rm.ready)
	} else {
		<-rm.ready
	}
	if rm.err != nil {
		r.dropMember(s, name)
		return nil, 0, rm.err
	}
	if first && rm.pres != nil {
		r.background(func() { r.learnRemoteMembers(s.ns, rm) })
	}
	return rm, pos, nil
}

// openRoom subscribes to a room: to its events (as the history stream
// republishes them, where the namespace keeps history), and to its presence
// notices where there are presence events. space.mu must be held.
func (r *Router) openRoom(sp *space, name string) (*room, error) {
	tok := contract.Escape(name)
	ch := r.shardFor(roomKey(sp.name, name))
	rm := &room{name: name, ready: make(chan struct{}), index: make(map[*Socket]int), remote: make(map[string]remoteMember)}
	events := r.subj.roomSub(sp.name, tok)
	if sp.policy.History != nil {
		events = r.subj.sys.StoredRoom(sp.name, tok)
	}
	if err := fits(events); err != nil {
		return nil, err
	}
	var err error
	if rm.sub, err = sp.nats.ChanSubscribe(events, ch); err != nil {
		return nil, natsError(err)
	}
	if sp.policy.PresenceEvents {
		if rm.pres, err = sp.nats.ChanSubscribe(r.subj.presenceSub(sp.name, tok), ch); err != nil {
			_ = rm.sub.Unsubscribe()
			return nil, natsError(err)
		}
	}
	r.m.RoomUp()
	return rm, nil
}

// leaveRoom takes s out of the room called name and publishes the presence
// notice. It reports whether s was a member.
func (r *Router) leaveRoom(s *Socket, name string) bool {
	if !r.dropMember(s, name) {
		return false
	}
	r.notice(r.subj.Presence(s.ns, name), s, name, contract.PresenceNotice{Action: contract.PresenceLeave, SID: s.sid, User: s.id.User, Node: r.node})
	return true
}

// dropMember takes s out of the room called name, closing the room when it
// was the last local member.
func (r *Router) dropMember(s *Socket, name string) bool {
	sp := s.sp
	sp.mu.Lock()
	defer sp.mu.Unlock()
	rm, ok := s.rooms[name]
	if !ok {
		return false
	}
	delete(s.rooms, name)
	if rm.remove(s) == 0 {
		delete(sp.rooms, name)
		_ = rm.sub.Unsubscribe()
		if rm.pres != nil {
			_ = rm.pres.Unsubscribe()
		}
		r.m.RoomDown()
	}
	return true
}

// localMembers lists the members of room in ns on this node.
func (r *Router) localMembers(ns, name string) []contract.Member {
	sp := r.lookupSpace(ns)
	if sp == nil {
		return nil
	}
	sp.mu.RLock()
	rm := sp.rooms[name]
	sp.mu.RUnlock()
	if rm == nil {
		return nil
	}
	rm.mu.RLock()
	defer rm.mu.RUnlock()
	out := make([]contract.Member, 0, len(rm.members))
	for _, s := range rm.members {
		out = append(out, contract.Member{SID: s.sid, User: s.id.User})
	}
	return out
}

// localRooms counts the local members of every room of ns on this node.
func (r *Router) localRooms(ns string) map[string]int {
	sp := r.lookupSpace(ns)
	if sp == nil {
		return nil
	}
	sp.mu.RLock()
	defer sp.mu.RUnlock()
	out := make(map[string]int, len(sp.rooms))
	for name, rm := range sp.rooms {
		rm.mu.RLock()
		out[name] = len(rm.members)
		rm.mu.RUnlock()
	}
	return out
}

// learnRemoteMembers fills a newly opened room's view of the members other
// nodes hold. Notices that arrive meanwhile keep it current from then on.
func (r *Router) learnRemoteMembers(ns string, rm *room) {
	g, err := r.gather(r.ctx, scatterRequest{NS: ns, Op: "presence", Room: rm.name})
	if err != nil {
		r.log.Debug("learn remote members", "ns", ns, "room", rm.name, "err", err)
		return
	}
	rm.mu.Lock()
	defer rm.mu.Unlock()
	for _, rep := range g.reps {
		if rep.ID == r.nodes.id {
			continue
		}
		for _, m := range rep.Members {
			if _, ok := rm.remote[m.SID]; !ok {
				rm.remote[m.SID] = remoteMember{node: rep.ID, user: m.User}
			}
		}
	}
}

// nodeGone tells the local members of every room that the members another
// node held have left: that node died (or restarted) without saying so.
// With announce (this node speaks for the lost node), its sockets'
// notices are published for backends.
func (r *Router) nodeGone(id string, announce bool) {
	r.m.NodeLost()
	r.publishLoss(id, announce)
	for sp, rooms := range r.presenceRooms() {
		for _, rm := range rooms {
			rm.mu.Lock()
			var lost []contract.Member
			for sid, m := range rm.remote {
				if m.node == id {
					lost = append(lost, contract.Member{SID: sid, User: m.user})
					delete(rm.remote, sid)
					if rm.told == nil {
						rm.told = make(map[string]struct{})
					}
					rm.told[sid] = struct{}{}
				}
			}
			for _, m := range lost {
				r.deliver(slices.Values(rm.members), &Event{NS: sp.name, Room: rm.name, Name: "$leave", Data: marshal(m)}, "")
			}
			rm.mu.Unlock()
		}
	}
}

// presenceRooms returns the rooms with local members of every namespace
// with presence events.
func (r *Router) presenceRooms() map[*space][]*room {
	r.mu.RLock()
	spaces := make([]*space, 0, len(r.spaces))
	for _, sp := range r.spaces {
		if sp.policy.PresenceEvents {
			spaces = append(spaces, sp)
		}
	}
	r.mu.RUnlock()
	out := make(map[*space][]*room, len(spaces))
	for _, sp := range spaces {
		sp.mu.RLock()
		rooms := make([]*room, 0, len(sp.rooms))
		for _, rm := range sp.rooms {
			rooms = append(rooms, rm)
		}
		sp.mu.RUnlock()
		out[sp] = rooms
	}
	return out
}

// tellJoined tells the local members of each room with presence events
// that the members node id holds joined ($join), but those they were told
// of already (the room's remote members): node id was heard again after it
// was counted lost (they were told its members left), and sockets lists
// its sockets.
func (r *Router) tellJoined(id string, sockets []socketEntry) {
	byRoom := make(map[string][]socketEntry) // by ns + "\x00" + room
	for _, e := range sockets {
		for _, room := range e.Rooms {
			k := peerKey(e.NS, room)
			byRoom[k] = append(byRoom[k], e)
		}
	}
	if len(byRoom) == 0 {
		return
	}
	for sp, rooms := range r.presenceRooms() {
		for _, rm := range rooms {
			members := byRoom[peerKey(sp.name, rm.name)]
			if len(members) == 0 {
				continue
			}
			rm.mu.Lock()
			for _, e := range members {
				if _, ok := rm.remote[e.SID]; ok {
					continue
				}
				rm.remote[e.SID] = remoteMember{node: id, user: e.User, back: true}
				m := contract.Member{SID: e.SID, User: e.User}
				r.deliver(slices.Values(rm.members), &Event{NS: sp.name, Room: rm.name, Name: "$join", Data: marshal(m)}, "")
			}
			rm.mu.Unlock()
		}
	}
}
