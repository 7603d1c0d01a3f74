package relay

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"

	"github.com/routerd/routerd/contract"
)

// root is the first token of every node-to-node subject, $routerd.{P}.>:
// outside P.>, so that a backend observing P.> sees the subjects of the
// backend contract and nothing else.
const root = "$routerd"

// Tokens after $routerd.{P}.
const (
	tokHeartbeat = "hb"
	tokScatter   = "ctl"
	tokSweep     = "sweep"
	tokStored    = "hist"
	tokEIO       = "eio" // Engine.IO was the relay's first user; the token stays
	tokCancel    = "cancel"
	tokTunnel    = "ws"
	tokResume    = "resume"
	tokAdmin     = "admin"
)

// Names are the node-to-node subjects and the JetStream stream and bucket
// names of the routerd nodes sharing one nats.prefix. They are the wire
// between nodes of different versions in one cluster, and the names of
// streams that outlive a node: they never change. The zero value is not
// usable; see NewNames.
type Names struct {
	prefix string
}

// NewNames returns the names under nats.prefix prefix.
func NewNames(prefix string) Names { return Names{prefix: prefix} }

// subject is $routerd.{P}.{tokens...}; the tokens must be valid subject
// tokens (or wildcards).
func (n Names) subject(tokens ...string) string {
	return strings.Join(append([]string{root, n.prefix}, tokens...), ".")
}

// Heartbeat is the subject every node announces itself on:
// $routerd.{P}.hb.
func (n Names) Heartbeat() string { return n.subject(tokHeartbeat) }

// Scatter is the subject a node asks every node for its local view on
// (presence, cluster-wide ctl, peers' sockets): $routerd.{P}.ctl.
func (n Names) Scatter() string { return n.subject(tokScatter) }

// Sweep is the subject of the sweeps of idle history streams:
// $routerd.{P}.sweep.
func (n Names) Sweep() string { return n.subject(tokSweep) }

// Admin is the subject the admin consoles of the nodes ask every node for
// its report on (package admin: the node's counts, metrics and sockets):
// $routerd.{P}.admin.
func (n Names) Admin() string { return n.subject(tokAdmin) }

// Republished is the subject pattern the history stream of namespace ns
// republishes its rooms' events to: $routerd.{P}.hist.{ns}.room.> (each
// event on $routerd.{P}.hist.{ns}.room.{room}.{event}).
func (n Names) Republished(ns string) string {
	return n.subject(tokStored, ns, contract.KindRoom, ">")
}

// StoredRoom subscribes to the events of a room as its history stream
// republishes them: $routerd.{P}.hist.{ns}.room.{room}.*; roomToken is
// the escaped room name.
func (n Names) StoredRoom(ns, roomToken string) string {
	return n.subject(tokStored, ns, contract.KindRoom, roomToken, "*")
}

// Unstored maps a republished subject back to the room subject it was
// stored under, P.{ns}.room.{room}.{event}; ok is false for any other
// subject.
func (n Names) Unstored(subject string) (string, bool) {
	rest, ok := strings.CutPrefix(subject, n.subject(tokStored)+".")
	if !ok {
		return "", false
	}
	return n.prefix + "." + rest, true
}

// HistoryStream is the name of the JetStream stream that keeps the room
// history of namespace ns: routerd_{P}_{ns}, with the prefix's dots as
// underscores. Backends read it, so the name is the contract's
// (contract.Subjects.HistoryStream).
func (n Names) HistoryStream(ns string) string {
	return contract.NewSubjects(n.prefix).HistoryStream(ns)
}

// HistoryNamespace is the namespace whose history stream is named stream;
// ok is false when stream is not named like a history stream under P (the
// namespace name it gives is not checked).
func (n Names) HistoryNamespace(stream string) (ns string, ok bool) {
	return strings.CutPrefix(stream, contract.HistoryStreamPrefix(n.prefix))
}

// RecoveryBucket is the name of the JetStream key-value bucket that keeps
// the state of lost Socket.IO connections: {P}_socketio_recovery, with
// every character of the prefix outside [A-Za-z0-9-] as an underscore.
func (n Names) RecoveryBucket() string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '_'
	}, n.prefix) + "_socketio_recovery"
}

// Forward is the subject the node tagged tag takes forwarded requests on:
// $routerd.{P}.eio.{tag}.
func (n Names) Forward(tag string) string { return n.subject(tokEIO, tag) }

// Cancel is the subject the node tagged tag takes the cancellation of a
// forwarded request on: $routerd.{P}.eio.{tag}.cancel.
func (n Names) Cancel(tag string) string { return n.subject(tokEIO, tag, tokCancel) }

// TunnelOpen is the subject the node tagged tag is asked to take a
// tunnelled WebSocket on: $routerd.{P}.eio.{tag}.ws.
func (n Names) TunnelOpen(tag string) string { return n.subject(tokEIO, tag, tokTunnel) }

// Tunnel is the subject the node tagged tag takes the messages of tunnel
// id on: $routerd.{P}.eio.{tag}.ws.{id}.
func (n Names) Tunnel(tag, id string) string { return n.subject(tokEIO, tag, tokTunnel, id) }

// Resume is the subject the node holding the parked Socket.IO socket of
// pid takes the request to hand it over on: $routerd.{P}.resume.{key},
// where key is the first 128 bits of the SHA-256 of pid in unpadded
// base64url, so that the pid, which is the client's secret, never shows
// in a subject.
func (n Names) Resume(pid string) string {
	sum := sha256.Sum256([]byte(pid))
	return n.subject(tokResume, base64.RawURLEncoding.EncodeToString(sum[:16]))
}
