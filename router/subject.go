package router

import (
	"strings"

	"github.com/routerd/routerd/contract"
)

// sysRoot is the first token of routerd's own node-to-node subjects,
// $routerd.{P}.>: outside P.>, so that a backend observing P.> sees the
// subjects of the backend contract and nothing else.
const sysRoot = "$routerd"

// fits refuses a subject longer than contract.MaxSubjectBytes.
func fits(subject string) error {
	if len(subject) > contract.MaxSubjectBytes {
		return Errorf(contract.CodeInvalidName, "names too long: their NATS subject would be %d bytes, over the %d-byte bound", len(subject), contract.MaxSubjectBytes)
	}
	return nil
}

// subjects builds and parses the NATS subjects of one prefix: those of the
// backend contract (the embedded contract.Subjects) and those only routerd
// uses (subscription patterns, node-to-node subjects).
type subjects struct {
	contract.Subjects
}

// newSubjects returns the subject scheme under prefix.
func newSubjects(prefix string) subjects { return subjects{contract.NewSubjects(prefix)} }

// join builds prefix.tok1.tok2...; the tokens must already be escaped (or
// be wildcards).
func (s subjects) join(tokens ...string) string { return joinTokens(s.Prefix(), tokens) }

// joinTokens builds head.tok1.tok2...
func joinTokens(head string, tokens []string) string {
	return strings.Join(append([]string{head}, tokens...), ".")
}

// subscription patterns
func (s subjects) roomSub(ns, roomToken string) string {
	return s.join(ns, contract.KindRoom, roomToken, "*")
}
func (s subjects) socketSub(ns, sid string) string {
	return s.join(ns, contract.KindSocket, contract.Escape(sid), "*")
}
func (s subjects) socketsSub(ns string) string { return s.join(ns, contract.KindSocket, "*", "*") }
func (s subjects) userSub(ns, user string) string {
	return s.join(ns, contract.KindUser, contract.Escape(user), "*")
}
func (s subjects) broadcastSub(ns string) string { return s.join(ns, contract.KindBroadcast, "*") }
func (s subjects) presenceSub(ns, roomToken string) string {
	return s.join(ns, contract.KindPresence, roomToken)
}
func (s subjects) ctlSub() string { return s.join("*", contract.KindCtl, "*") }

// storedToken names the subjects a history stream republishes its rooms'
// events to: $routerd.{P}.hist.{ns}.room.{room}.{event}.
const storedToken = "hist"

// storedRoomSub subscribes to the events of a room as its history stream
// republishes them.
func (s subjects) storedRoomSub(ns, roomToken string) string {
	return s.internal(storedToken, ns, contract.KindRoom, roomToken, "*")
}

// unstored maps a republished subject back to the room subject it was
// stored under; ok is false for any other subject.
func (s subjects) unstored(subject string) (string, bool) {
	head := sysRoot + "." + s.Prefix() + "." + storedToken + "."
	if !strings.HasPrefix(subject, head) {
		return "", false
	}
	return s.Prefix() + "." + subject[len(head):], true
}

// InternalSubject is a subject of routerd's own node-to-node traffic under
// prefix, $routerd.{P}.{tokens...}, for transports that talk across nodes;
// the tokens must be valid subject tokens.
func InternalSubject(prefix string, tokens ...string) string {
	return joinTokens(sysRoot+"."+prefix, tokens)
}

// internal is a node-to-node subject: $routerd.{P}.{tokens...}.
func (s subjects) internal(tokens ...string) string { return InternalSubject(s.Prefix(), tokens...) }

// sys is a node-to-node subject: $routerd.{P}.{what}.
func (s subjects) sys(what string) string { return s.internal(what) }

// parsed is a subject split into the parts the dispatcher needs.
type parsed struct {
	ns, kind, target, event string // target: room/sid/user token; event token
}

// parse splits a delivered subject P.{ns}.{kind}[.{target}][.{event}]. Tokens
// stay escaped. ok is false for subjects outside the prefix.
func (s subjects) parse(subject string) (p parsed, ok bool) {
	prefix := s.Prefix()
	if len(subject) <= len(prefix)+1 || subject[:len(prefix)] != prefix || subject[len(prefix)] != '.' {
		return p, false
	}
	rest := subject[len(prefix)+1:]
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
	case p.kind == contract.KindBroadcast && n == 3:
		p.event = toks[2]
	case (p.kind == contract.KindPresence || p.kind == contract.KindLifecycle) && n == 3:
		p.target = toks[2]
	case (p.kind == contract.KindRoom || p.kind == contract.KindSocket || p.kind == contract.KindUser) && n == 4:
		p.target, p.event = toks[2], toks[3]
	default:
		return p, false
	}
	return p, true
}
