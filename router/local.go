package router

import (
	"slices"
	"strings"

	"github.com/routerd/routerd/contract"
)

// What this node holds, for the operators' views of it: package admin's
// console asks LocalNamespaces and LocalSockets directly, the Socket.IO
// Admin UI reads the same snapshot of every node through the inventory
// (inventory.go). Each call copies what it reports under the locks of the
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
		n := len(sp.sockets)
		sp.mu.RUnlock()
		out = append(out, NamespaceCount{Name: sp.name, Sockets: n, Rooms: r.localRooms(sp.name)})
	}
	slices.SortFunc(out, func(a, b NamespaceCount) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Transporter may be implemented by a Conn to tell the transport its
// client connection is on now ("polling", "websocket"). A Conn that does
// not implement it is reported with no transport.
type Transporter interface {
	Transport() string
}

// SocketInfo is a snapshot of a socket attached on a node: what
// LocalSockets reports of this node's sockets, and the inventory
// (Inventory, NodeSockets) of every node's.
type SocketInfo struct {
	NS    string   `json:"ns"`
	SID   string   `json:"sid"`
	User  string   `json:"user,omitempty"`
	Rooms []string `json:"rooms"` // sorted
	// Client names the client connection the socket is attached
	// through: the same for every socket of that connection, unique
	// across the cluster, and no credential (unlike a Socket.IO
	// session id).
	Client string `json:"client"`
	// Transport is what the socket's Conn tells (Transporter); "" when
	// it does not.
	Transport string `json:"transport,omitempty"`
	// Handshake is the handshake of the lifecycle connect notice. A
	// socket that connected on another node (Adopt) has only its time
	// there, when it came to this node (no URL): the rest stayed with
	// that node. The inventory leaves it out (nil) of a socket whose
	// handshake alone would not fit in an inventory reply.
	Handshake *contract.Handshake `json:"handshake,omitempty"`
}

// LocalSockets lists the sockets attached on this node to namespace ns
// (every namespace when ns is ""), only the members of room when room is
// not "", sorted by namespace, then sid: at most limit of them (none when
// limit < 1), and how many there are.
func (r *Router) LocalSockets(ns, room string, limit int) (list []SocketInfo, total int) {
	sel := r.selectSockets(ns, room)
	sortSockets(sel)
	total = len(sel)
	sel = sel[:min(max(limit, 0), total)]
	list = make([]SocketInfo, len(sel))
	for i, s := range sel {
		list[i] = r.describe(s)
	}
	return list, total
}

// selectSockets returns the sockets attached on this node to namespace ns
// (every namespace when ns is ""), only the members of room when room is
// not "", in no particular order.
func (r *Router) selectSockets(ns, room string) []*Socket {
	var spaces []*space
	if ns == "" {
		spaces = r.liveSpaces()
	} else if sp := r.lookupSpace(ns); sp != nil {
		spaces = []*space{sp}
	}
	var out []*Socket
	for _, sp := range spaces {
		sp.mu.RLock()
		if room == "" {
			for _, s := range sp.sockets {
				out = append(out, s)
			}
		} else if rm := sp.rooms[room]; rm != nil {
			rm.mu.RLock()
			out = append(out, rm.members...)
			rm.mu.RUnlock()
		}
		sp.mu.RUnlock()
	}
	return out
}

// sortSockets sorts list by namespace, then sid: in the order of their
// keys (SocketKey.String).
func sortSockets(list []*Socket) {
	slices.SortFunc(list, func(a, b *Socket) int {
		if c := strings.Compare(a.ns, b.ns); c != 0 {
			return c
		}
		return strings.Compare(a.sid, b.sid)
	})
}

// describe takes the snapshot of s.
func (r *Router) describe(s *Socket) SocketInfo {
	rooms := s.Rooms()
	slices.Sort(rooms)
	return SocketInfo{
		NS:        s.ns,
		SID:       s.sid,
		User:      s.id.User,
		Rooms:     rooms,
		Client:    r.clientOf(s),
		Transport: transportOf(s),
		Handshake: s.info.handshake(s.since),
	}
}

// transportOf is what the Conn of s tells of its transport (Transporter),
// or "".
func transportOf(s *Socket) string {
	if t, ok := s.conn.(Transporter); ok {
		return t.Transport()
	}
	return ""
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
