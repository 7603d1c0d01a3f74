package contract

// Headers routerd sets on what it publishes for a client (room, direct,
// broadcast and server-bound emits, presence and lifecycle notices), with
// names unescaped, and reads on what backends publish or answer.
const (
	// HeaderNs is the namespace.
	HeaderNs = "Router-Ns"
	// HeaderSid is the socket the message is from: an event's from. A
	// trusted backend may set it to speak for a socket.
	HeaderSid = "Router-Sid"
	// HeaderUser is the socket's authenticated user, when it has one.
	HeaderUser = "Router-User"
	// HeaderNode is the name of the node holding the socket (node.name).
	HeaderNode = "Router-Node"
	// HeaderNodeID is the node's instance id, new at each start.
	HeaderNodeID = "Router-Node-Id"
	// HeaderRoom is the room of a room emit or a presence notice.
	HeaderRoom = "Router-Room"
	// HeaderEvent is the event name of an emit.
	HeaderEvent = "Router-Event"
	// HeaderExclude names a sid the message is not delivered to: the
	// sender of a room emit without self. A backend may set it on a room,
	// user or broadcast publish.
	HeaderExclude = "Router-Exclude"
	// HeaderError, on a backend's reply to a server-bound request, is a
	// Code: the client gets an error frame with that code and the reply's
	// payload as its message.
	HeaderError = "Router-Error"
	// HeaderReason is on the notices another node publishes for the
	// sockets of a node that died: ReasonNodeLost.
	HeaderReason = "Router-Reason"
	// HeaderRemoteAddr, on an auth request, is the client's remote address.
	HeaderRemoteAddr = "Router-Remote-Addr"
	// HeaderHTTPPrefix, on an auth request, is put before the name of each
	// HTTP header of the client's upgrade request: Http-Cookie, Http-Origin.
	// Hop-by-hop and WebSocket handshake headers are not passed on.
	HeaderHTTPPrefix = "Http-"
)

// ReasonNodeLost is the HeaderReason of notices published for a node that
// died.
const ReasonNodeLost = "node_lost"

// ReasonKicked is the reason clients see in their disconnected frame after
// a CtlDisconnect that gives none.
const ReasonKicked = "kicked"
