// Package contract is routerd's backend contract: what a backend in Go
// needs to talk to routerd over plain NATS, as constants and small types
// instead of copied strings. It holds the subjects (Subjects), the
// escaping of room, event, user and sid names into subject tokens (Escape,
// Unescape) and the rules for those names, the Router-* headers routerd
// sets and reads (Header...), the rule by which a payload becomes event
// data (Payload), the protocol error codes (Code...), and the JSON bodies
// of control requests and replies, auth replies and presence and lifecycle
// notices.
//
// The contract itself is docs/backends.md (subjects, headers, payloads, ctl,
// the auth request, client acks); this package says the same in
// Go and follows it. It depends on the standard library only: a backend
// needs no SDK, and importing this package brings in nothing of routerd's
// daemon.
package contract
