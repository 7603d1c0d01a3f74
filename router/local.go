package router

import (
	"slices"
	"strings"
)

// What this node holds, for an operator's view of it (package admin's
// console). Each call copies what it reports under the locks of the
// namespace it reads: for a view refreshed every second or so, not for a
// hot path.

// NodeRef names a live routerd node.
type NodeRef struct {
	ID   string // instance id, new at every start (InstanceID)
	Name string // node name
}

// LiveNodes lists the live routerd nodes as heartbeats show them, this
// one first, the others by name.
func (r *Router) LiveNodes() []NodeRef {
	out := []NodeRef{{ID: r.nodes.id, Name: r.node}}
	for id, name := range r.nodes.known() {
		out = append(out, NodeRef{ID: id, Name: name})
	}
	slices.SortFunc(out[1:], func(a, b NodeRef) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// NamespaceCount is what this node holds of one namespace.
type NamespaceCount struct {
	Name    string
	Sockets int
	// Rooms maps each room with local members to their number.
	Rooms map[string]int
}

// LocalNamespaces counts the sockets and the room members of every
// namespace with sockets on this node, sorted by name.
func (r *Router) LocalNamespaces() []NamespaceCount {
	var out []NamespaceCount
	for _, sp := range r.liveSpaces() {
		sp.mu.RLock()
		c := NamespaceCount{Name: sp.name, Sockets: len(sp.sockets), Rooms: make(map[string]int, len(sp.rooms))}
		for name, rm := range sp.rooms {
			rm.mu.RLock()
			c.Rooms[name] = len(rm.members)
			rm.mu.RUnlock()
		}
		sp.mu.RUnlock()
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b NamespaceCount) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// LocalSocket is a socket attached on this node.
type LocalSocket struct {
	NS    string
	SID   string
	User  string
	Rooms []string // sorted
}

// LocalSocketList lists the sockets of namespace ns attached on this node,
// only the members of room when room is not "", sorted by sid: at most
// limit of them (none when limit < 1), and how many there are.
func (r *Router) LocalSocketList(ns, room string, limit int) (list []LocalSocket, total int) {
	sp := r.lookupSpace(ns)
	if sp == nil {
		return nil, 0
	}
	sp.mu.RLock()
	defer sp.mu.RUnlock()
	var sel []*Socket
	if room == "" {
		sel = make([]*Socket, 0, len(sp.sockets))
		for _, s := range sp.sockets {
			sel = append(sel, s)
		}
	} else if rm := sp.rooms[room]; rm != nil {
		rm.mu.RLock()
		sel = slices.Clone(rm.members)
		rm.mu.RUnlock()
	}
	slices.SortFunc(sel, func(a, b *Socket) int { return strings.Compare(a.sid, b.sid) })
	total = len(sel)
	if len(sel) > max(limit, 0) {
		sel = sel[:max(limit, 0)]
	}
	list = make([]LocalSocket, 0, len(sel))
	for _, s := range sel {
		e := LocalSocket{NS: ns, SID: s.sid, User: s.id.User}
		for name := range s.rooms { // guarded by sp.mu
			e.Rooms = append(e.Rooms, name)
		}
		slices.Sort(e.Rooms)
		list = append(list, e)
	}
	return list, total
}

// Attached reports whether the socket sid of namespace ns is attached on
// this node.
func (r *Router) Attached(ns, sid string) bool {
	sp := r.lookupSpace(ns)
	if sp == nil {
		return false
	}
	sp.mu.RLock()
	defer sp.mu.RUnlock()
	_, ok := sp.sockets[sid]
	return ok
}

// liveSpaces returns the namespaces with sockets on this node.
func (r *Router) liveSpaces() []*space {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*space, 0, len(r.spaces))
	for _, sp := range r.spaces {
		out = append(out, sp)
	}
	return out
}
