package router

import (
	"strings"

	"github.com/routerd/routerd/contract"
	"github.com/routerd/routerd/internal/relay"
)

// fits refuses a subject longer than contract.MaxSubjectBytes.
func fits(subject string) error {
	if len(subject) > contract.MaxSubjectBytes {
		return Errorf(contract.CodeInvalidName, "names too long: their NATS subject would be %d bytes, over the %d-byte bound", len(subject), contract.MaxSubjectBytes)
	}
	return nil
}

// subjects builds and parses the NATS subjects of one prefix: those of the
// backend contract (the embedded contract.Subjects), the subscription
// patterns only routerd uses, and (sys) the node-to-node subjects and the
// stream names, which package relay names.
type subjects struct {
	contract.Subjects
	sys relay.Names
}

// newSubjects returns the subject scheme under prefix.
func newSubjects(prefix string) subjects {
	return subjects{Subjects: contract.NewSubjects(prefix), sys: relay.NewNames(prefix)}
}

// join builds prefix.tok1.tok2...; the tokens must already be escaped (or
// be wildcards).
func (s subjects) join(tokens ...string) string {
	return strings.Join(append([]string{s.Prefix()}, tokens...), ".")
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
