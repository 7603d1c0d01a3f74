package contract

// Member is one socket in a presence list: an entry of a CtlPresence
// reply, and the data of the $join and $leave events clients get.
type Member struct {
	SID  string `json:"sid"`
	User string `json:"user,omitempty"`
}

// Presence notice actions: PresenceNotice.Action.
const (
	PresenceJoin  = "join"
	PresenceLeave = "leave"
)

// PresenceNotice is the payload of Subjects.Presence: a socket joined or
// left the room (whose name is also in HeaderRoom).
type PresenceNotice struct {
	Action string `json:"action"` // PresenceJoin or PresenceLeave
	SID    string `json:"sid"`
	User   string `json:"user,omitempty"`
	Node   string `json:"node"` // the node holding the socket
}

// LifecycleNotice is the payload of Subjects.Lifecycle: a socket attached
// to the namespace (LifecycleConnect) or left it (LifecycleDisconnect).
type LifecycleNotice struct {
	SID  string `json:"sid"`
	User string `json:"user,omitempty"`
	Node string `json:"node"` // the node holding the socket
	// Handshake, on LifecycleConnect only, describes the HTTP request the
	// client's connection opened with. It is absent from disconnect
	// notices, and from a connect notice that would not fit NATS's
	// maximum payload with it.
	Handshake *Handshake `json:"handshake,omitempty"`
}

// CtlRequest is the body of a control request to Subjects.Ctl, as a
// backend writes it. CtlJoin and CtlLeave name one of SID and User, and
// Room; CtlDisconnect one of SID, User and Room, and optionally the Reason
// the clients see (ReasonKicked when empty); CtlPresence the Room; CtlRooms
// nothing.
type CtlRequest struct {
	SID    string `json:"sid,omitempty"`
	User   string `json:"user,omitempty"`
	Room   string `json:"room,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// CtlReply is routerd's answer to a control request, as a backend reads
// it: one answer for the whole cluster. OK false carries the Error;
// otherwise the field of the operation is set: Count for CtlJoin (sockets
// in the room afterwards), CtlLeave (sockets that left) and CtlDisconnect,
// Members for CtlPresence, Rooms for CtlRooms. A reply that lacks the
// answer of a node (it did not answer in time) has the header
// HeaderPartial: its counts and lists may be short.
type CtlReply struct {
	OK      bool        `json:"ok"`
	Count   int         `json:"count"`
	Members []Member    `json:"members"`
	Rooms   []RoomCount `json:"rooms"`
	Error   *Error      `json:"error"`
}

// RoomCount is an entry of a CtlRooms reply: a room of the namespace and
// its number of members across the cluster.
type RoomCount struct {
	Room    string `json:"room"`
	Members int    `json:"members"`
}

// AuthReply is what an auth backend answers to a request on Subjects.Auth.
// The request's payload is the client's auth object as it sent it ({} when
// absent), its headers HeaderNs, HeaderNode, HeaderRemoteAddr, HeaderURL,
// HeaderQuery (when the client gave a query) and the HTTP headers of the
// request the client's connection opened with behind HeaderHTTPPrefix.
type AuthReply struct {
	// Allow lets the socket attach.
	Allow bool `json:"allow"`
	// User is the socket's user (see ValidUser); empty: anonymous.
	User string `json:"user,omitempty"`
	// Rooms lists the room globs (path.Match syntax) the socket may join,
	// and whose presence and history it may read; nil (null) allows any
	// room, an empty list none.
	Rooms []string `json:"rooms"`
	// Message tells a refused client why.
	Message string `json:"message,omitempty"`
}
