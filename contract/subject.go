package contract

import "strings"

// Subject kinds: the token after P.{ns} in every subject of the contract.
const (
	KindRoom      = "room"
	KindSocket    = "socket"
	KindUser      = "user"
	KindBroadcast = "broadcast"
	KindServer    = "server"
	KindPresence  = "presence"
	KindLifecycle = "lifecycle"
	KindCtl       = "ctl"
	KindAuth      = "auth"
)

// Lifecycle notices: the last token of Subjects.Lifecycle.
const (
	LifecycleConnect    = "connect"
	LifecycleDisconnect = "disconnect"
)

// Control operations: the last token of Subjects.Ctl.
const (
	CtlJoin       = "join"
	CtlLeave      = "leave"
	CtlDisconnect = "disconnect"
	CtlPresence   = "presence"
	CtlRooms      = "rooms"
)

// MaxSubjectBytes bounds every subject routerd builds from names that
// clients, tokens or backends chose (rooms, events, sids, users), escaped.
// nats-server closes a connection whose protocol line passes its
// max_control_line (4096 bytes by default), and nats.go gives such a
// connection up for good: routerd refuses a name whose subject would pass
// this bound with CodeInvalidName instead (docs/security.md).
const MaxSubjectBytes = 2048

// Subjects builds the NATS subjects of one prefix (routerd's nats.prefix,
// "router" by default). Names are escaped into one token each; ns, the
// namespace, is one token as it is. The zero value has an empty prefix:
// use NewSubjects.
type Subjects struct {
	prefix string // e.g. "router"
}

// NewSubjects returns the subjects under prefix.
func NewSubjects(prefix string) Subjects { return Subjects{prefix: prefix} }

// Prefix returns the prefix P the subjects start with.
func (s Subjects) Prefix() string { return s.prefix }

// HistoryStream is the name of the JetStream stream that keeps the room
// history of namespace ns (docs/history.md):
// routerd_{P}_{ns}, with the prefix's dots as underscores. A backend reads
// a room's history from it (the subject filter is Room(ns, room, "*")).
func (s Subjects) HistoryStream(ns string) string {
	return HistoryStreamPrefix(s.prefix) + ns
}

// HistoryStreamPrefix starts the name of every history stream under
// prefix: routerd_{P}_.
func HistoryStreamPrefix(prefix string) string {
	return "routerd_" + strings.ReplaceAll(prefix, ".", "_") + "_"
}

// join builds prefix.tok1.tok2...; the tokens must already be escaped.
func (s Subjects) join(tokens ...string) string {
	n := len(s.prefix)
	for _, t := range tokens {
		n += 1 + len(t)
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(s.prefix)
	for _, t := range tokens {
		b.WriteByte('.')
		b.WriteString(t)
	}
	return b.String()
}

// Room is the subject of event in room of namespace ns: P.{ns}.room.{room}.{event}.
func (s Subjects) Room(ns, room, event string) string {
	return s.join(ns, KindRoom, Escape(room), Escape(event))
}

// Socket is the subject of a direct event to sid: P.{ns}.socket.{sid}.{event}.
func (s Subjects) Socket(ns, sid, event string) string {
	return s.join(ns, KindSocket, Escape(sid), Escape(event))
}

// User is the subject of an event to every socket of user: P.{ns}.user.{user}.{event}.
func (s Subjects) User(ns, user, event string) string {
	return s.join(ns, KindUser, Escape(user), Escape(event))
}

// Broadcast is the subject of an event to every socket of ns: P.{ns}.broadcast.{event}.
func (s Subjects) Broadcast(ns, event string) string {
	return s.join(ns, KindBroadcast, Escape(event))
}

// Server is the subject of a server-bound event: P.{ns}.server.{event}.
func (s Subjects) Server(ns, event string) string {
	return s.join(ns, KindServer, Escape(event))
}

// Presence is the subject of room membership notices: P.{ns}.presence.{room}.
func (s Subjects) Presence(ns, room string) string {
	return s.join(ns, KindPresence, Escape(room))
}

// Lifecycle is the subject of connect/disconnect notices:
// P.{ns}.lifecycle.{what}, what being LifecycleConnect or
// LifecycleDisconnect.
func (s Subjects) Lifecycle(ns, what string) string {
	return s.join(ns, KindLifecycle, what)
}

// Auth is the subject of backend authentication requests: P.{ns}.auth.
func (s Subjects) Auth(ns string) string { return s.join(ns, KindAuth) }

// Ctl is the subject of control request op in ns: P.{ns}.ctl.{op}, op
// being one of the Ctl... operations.
func (s Subjects) Ctl(ns, op string) string { return s.join(ns, KindCtl, op) }
