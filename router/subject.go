package router

import "strings"

// Subject kinds: the second token after the prefix and namespace (SPEC §3).
const (
	kindRoom      = "room"
	kindSocket    = "socket"
	kindUser      = "user"
	kindBroadcast = "broadcast"
	kindServer    = "server"
	kindPresence  = "presence"
	kindLifecycle = "lifecycle"
	kindCtl       = "ctl"
	kindAuth      = "auth"
)

// sysRoot is the first token of routerd's own node-to-node subjects,
// $routerd.{P}.>: outside P.>, so that a backend observing P.> sees the
// subjects of SPEC §3 and nothing else.
const sysRoot = "$routerd"

// MaxSubjectBytes bounds every subject routerd builds from names that
// clients, tokens or backends chose (rooms, events, sids, users), escaped.
// nats-server closes a connection whose protocol line passes its
// max_control_line (4096 bytes by default), and nats.go gives such a
// connection up for good: a name whose subject would pass this bound is
// refused with invalid_name instead (docs/security.md).
const MaxSubjectBytes = 2048

// fits refuses a subject longer than MaxSubjectBytes.
func fits(subject string) error {
	if len(subject) > MaxSubjectBytes {
		return Errorf(CodeInvalidName, "names too long: their NATS subject would be %d bytes, over the %d-byte bound", len(subject), MaxSubjectBytes)
	}
	return nil
}

// Subjects builds and parses the NATS subjects of one prefix (SPEC §3).
type Subjects struct {
	prefix string // e.g. "router"
}

// NewSubjects returns the subject scheme under prefix.
func NewSubjects(prefix string) Subjects { return Subjects{prefix: prefix} }

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
	return s.join(ns, kindRoom, Escape(room), Escape(event))
}

// Socket is the subject of a direct event to sid: P.{ns}.socket.{sid}.{event}.
func (s Subjects) Socket(ns, sid, event string) string {
	return s.join(ns, kindSocket, Escape(sid), Escape(event))
}

// User is the subject of an event to every socket of user: P.{ns}.user.{user}.{event}.
func (s Subjects) User(ns, user, event string) string {
	return s.join(ns, kindUser, Escape(user), Escape(event))
}

// Broadcast is the subject of an event to every socket of ns: P.{ns}.broadcast.{event}.
func (s Subjects) Broadcast(ns, event string) string {
	return s.join(ns, kindBroadcast, Escape(event))
}

// Server is the subject of a server-bound event: P.{ns}.server.{event}.
func (s Subjects) Server(ns, event string) string {
	return s.join(ns, kindServer, Escape(event))
}

// Presence is the subject of room membership notices: P.{ns}.presence.{room}.
func (s Subjects) Presence(ns, room string) string {
	return s.join(ns, kindPresence, Escape(room))
}

// Lifecycle is the subject of connect/disconnect notices: P.{ns}.lifecycle.{what}.
func (s Subjects) Lifecycle(ns, what string) string {
	return s.join(ns, kindLifecycle, what)
}

// Auth is the subject of backend authentication requests: P.{ns}.auth.
func (s Subjects) Auth(ns string) string { return s.join(ns, kindAuth) }

// Ctl is the subject of control request op in ns: P.{ns}.ctl.{op}.
func (s Subjects) Ctl(ns, op string) string { return s.join(ns, kindCtl, op) }

// subscription patterns
func (s Subjects) roomSub(ns, roomToken string) string { return s.join(ns, kindRoom, roomToken, "*") }
func (s Subjects) socketSub(ns, sid string) string     { return s.join(ns, kindSocket, Escape(sid), "*") }
func (s Subjects) socketsSub(ns string) string         { return s.join(ns, kindSocket, "*", "*") }
func (s Subjects) userSub(ns, user string) string      { return s.join(ns, kindUser, Escape(user), "*") }
func (s Subjects) broadcastSub(ns string) string       { return s.join(ns, kindBroadcast, "*") }
func (s Subjects) presenceSub(ns, roomToken string) string {
	return s.join(ns, kindPresence, roomToken)
}
func (s Subjects) ctlSub() string { return s.join("*", kindCtl, "*") }

// storedToken names the subjects a history stream republishes its rooms'
// events to: $routerd.{P}.hist.{ns}.room.{room}.{event}.
const storedToken = "hist"

// storedRoomSub subscribes to the events of a room as its history stream
// republishes them.
func (s Subjects) storedRoomSub(ns, roomToken string) string {
	return s.Internal(storedToken, ns, kindRoom, roomToken, "*")
}

// unstored maps a republished subject back to the room subject it was
// stored under; ok is false for any other subject.
func (s Subjects) unstored(subject string) (string, bool) {
	head := s.Internal(storedToken) + "."
	if !strings.HasPrefix(subject, head) {
		return "", false
	}
	return s.prefix + "." + subject[len(head):], true
}

// Internal is a subject of routerd's own node-to-node traffic,
// $routerd.{P}.{tokens...}, for transports that talk across nodes; the
// tokens must be valid subject tokens.
func (s Subjects) Internal(tokens ...string) string {
	return sysRoot + "." + s.join(tokens...)
}

// sys is a node-to-node subject: $routerd.{P}.{what}.
func (s Subjects) sys(what string) string { return s.Internal(what) }

// parsed is a subject split into the parts the dispatcher needs.
type parsed struct {
	ns, kind, target, event string // target: room/sid/user token; event token
}

// parse splits a delivered subject P.{ns}.{kind}[.{target}][.{event}]. Tokens
// stay escaped. ok is false for subjects outside the prefix.
func (s Subjects) parse(subject string) (p parsed, ok bool) {
	if len(subject) <= len(s.prefix)+1 || subject[:len(s.prefix)] != s.prefix || subject[len(s.prefix)] != '.' {
		return p, false
	}
	rest := subject[len(s.prefix)+1:]
	var toks [4]string
	n := 0
	for n < 4 {
		i := strings.IndexByte(rest, '.')
		if i < 0 {
			toks[n] = rest
			n++
			rest = ""
			break
		}
		toks[n] = rest[:i]
		n++
		rest = rest[i+1:]
	}
	if rest != "" || n < 2 {
		return p, false
	}
	p.ns, p.kind = toks[0], toks[1]
	switch {
	case p.kind == kindBroadcast && n == 3:
		p.event = toks[2]
	case (p.kind == kindPresence || p.kind == kindLifecycle) && n == 3:
		p.target = toks[2]
	case (p.kind == kindRoom || p.kind == kindSocket || p.kind == kindUser) && n == 4:
		p.target, p.event = toks[2], toks[3]
	default:
		return p, false
	}
	return p, true
}
