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
	// payload as its message. routerd sets it on its reply for a socket
	// that did not answer a backend's request (CodeTimeout,
	// CodeNotConnected, CodeLimitExceeded), with the message as payload.
	HeaderError = "Router-Error"
	// HeaderReason is on the notices another node publishes for the
	// sockets of a node that died (ReasonNodeLost) or that was cut off
	// and is heard again (ReasonNodeReturned).
	HeaderReason = "Router-Reason"
	// HeaderPartial, with the value "true", is on a reply to a control
	// request that lacks the answer of a node: a node routerd counts as
	// alive did not answer in time, so counts and lists may be short.
	HeaderPartial = "Router-Partial"
	// HeaderRemoteAddr, on an auth request, is the client's remote address.
	HeaderRemoteAddr = "Router-Remote-Addr"
	// HeaderURL, on an auth request, is the target of the HTTP request
	// the client's connection opened with, as the client sent it: path
	// and query (a Socket.IO session's first request, Engine.IO's
	// parameters included), as Socket.IO's handshake.url.
	HeaderURL = "Router-Url"
	// HeaderQuery, on an auth request, is the query the client gave, in
	// URL encoding as sent (a=b&x=1&x=2): the query of HeaderURL, less
	// Engine.IO's own parameters (EIO, transport, sid, t, j, b64) for a
	// Socket.IO session. Absent when the client gave none.
	HeaderQuery = "Router-Query"
	// HeaderHTTPPrefix, on an auth request, is put before the name of each
	// HTTP header of the request the client's connection opened with (the
	// WebSocket upgrade, a Socket.IO session's first request), and of its
	// Host: Http-Cookie, Http-Origin, Http-Host. Hop-by-hop and WebSocket
	// handshake headers are not passed on.
	HeaderHTTPPrefix = "Http-"
)

// ReasonNodeLost is the HeaderReason of notices published for a node that
// died.
const ReasonNodeLost = "node_lost"

// ReasonNodeReturned is the HeaderReason of the notices published for the
// sockets of a node announced lost that is heard again, the same instance
// (a network partition healed): a lifecycle connect notice per socket
// and a presence join notice per room it is in.
const ReasonNodeReturned = "node_returned"

// ReasonKicked is the reason clients see in their disconnected frame after
// a CtlDisconnect that gives none.
const ReasonKicked = "kicked"
