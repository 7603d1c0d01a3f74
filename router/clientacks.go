package router

import (
	"encoding/json"
	"errors"
	"iter"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/contract"
)

// Acks backends ask of clients.
//
// A NATS request (a message with a reply subject) on a socket, room, user
// or broadcast subject asks every socket it reaches for an ack, as a
// Socket.IO server's socket.emit(event, data, callback) does: each socket
// gets the event with an ack id of its own, and its client's answer is
// published on the reply subject, one reply per socket, with the socket's
// Router-* headers (Router-Sid names who answered). A socket that does not
// answer within limits.ack_timeout, or ends first, gets a reply with
// Router-Error timeout or not_connected for it, so a backend gathering
// answers knows every socket's outcome. Ack ids are the socket's own,
// counted from 1: a client can only answer what was asked of its socket.

// MaxClientAcks bounds the acks one socket may owe backends at once. A
// request that would ask one more is not delivered to that socket; its
// reply says Router-Error limit_exceeded.
const MaxClientAcks = 256

// clientAcks are the acks backends asked of one socket and wait for.
type clientAcks struct {
	mu      sync.Mutex
	last    uint64                // the last ack id issued
	pending map[uint64]*clientAck // by ack id; made at the first ack
	closed  bool                  // the socket ended: no more acks
}

// clientAck is one ack a socket owes: where its answer goes.
type clientAck struct {
	reply string // the request's reply subject
	event string
	timer *time.Timer // limits.ack_timeout
}

// errUnknownAck answers a client's reply to an ack its socket does not owe.
var errUnknownAck = Errorf(contract.CodeBadFrame, "no ack with that id is pending on this socket (answered already, timed out, or never asked)")

// IsUnknownAck reports whether err is Socket.Reply's refusal of an ack id
// the socket does not owe.
func IsUnknownAck(err error) bool { return errors.Is(err, errUnknownAck) }

// asks reports whether m asks the sockets it reaches for an ack: it has a
// reply subject, it did not come from routerd's client path (everything
// routerd publishes for a client carries Router-Node-Id; a client cannot
// make other clients answer anywhere), and its reply subject is one
// routerd answers on (never under P. nor a $ subject, as for ctl). A
// request with a reply subject routerd does not answer on is delivered as
// a plain event.
func (r *Router) asks(m *nats.Msg) bool {
	if m.Reply == "" || header(m.Header, contract.HeaderNodeID) != "" {
		return false
	}
	if !r.replyAllowed(m.Reply) {
		r.m.Dropped("reply_subject")
		r.log.Debug("request to sockets with a reply subject routerd does not answer on", "subject", m.Subject, "reply", m.Reply)
		return false
	}
	return true
}

// deliverMsg delivers ev, built from m, to every socket of members but
// exclude: asking each for an ack when m asks for one (see asks), else
// encoded once per codec.
func (r *Router) deliverMsg(members iter.Seq[*Socket], ev *Event, exclude string, m *nats.Msg) {
	if !r.asks(m) {
		r.deliver(members, ev, exclude)
		return
	}
	start := time.Now()
	n := 0
	for s := range members {
		if s.sid == exclude {
			continue
		}
		id, err := s.ask(m.Reply, ev.Name)
		if err != nil {
			s.answer(m.Reply, ev.Name, nil, err)
			r.m.ClientAck("refused")
			continue
		}
		asked := *ev
		asked.Ack = id
		s.conn.Send(s.conn.Codec().EncodeEvent(&asked))
		n++
	}
	r.m.Delivered(n, time.Since(start))
}

// ask records an ack asked of s, answered on reply, and returns its id.
// It refuses one beyond MaxClientAcks, and any once the socket ended.
func (s *Socket) ask(reply, event string) (uint64, error) {
	a := &s.acks
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.closed:
		return 0, Errorf(contract.CodeNotConnected, "the socket disconnected")
	case len(a.pending) >= MaxClientAcks:
		return 0, Errorf(contract.CodeLimitExceeded, "the socket owes %d acks already", MaxClientAcks)
	}
	if a.pending == nil {
		a.pending = make(map[uint64]*clientAck)
	}
	a.last++
	id := a.last
	a.pending[id] = &clientAck{reply: reply, event: event, timer: time.AfterFunc(s.r.cfg.Limits.AckTimeout, func() { s.expireAck(id) })}
	return id, nil
}

// takeAck removes the ack id from those s owes, or returns nil.
func (s *Socket) takeAck(id uint64) *clientAck {
	a := &s.acks
	a.mu.Lock()
	defer a.mu.Unlock()
	ack := a.pending[id]
	if ack != nil {
		delete(a.pending, id)
		ack.timer.Stop()
	}
	return ack
}

// Reply answers the ack id asked of the socket with the client's data: it
// is published on the request's reply subject. An id the socket does not
// owe (answered already, timed out, never asked: see IsUnknownAck) is
// refused and counted as dropped.
func (s *Socket) Reply(id uint64, data json.RawMessage) error {
	ack := s.takeAck(id)
	if ack == nil {
		s.r.m.Dropped("unknown_ack")
		return errUnknownAck
	}
	s.r.m.ClientAck("answered")
	return s.answer(ack.reply, ack.event, data, nil)
}

// expireAck answers the ack id with Router-Error timeout: the client did
// not answer within limits.ack_timeout.
func (s *Socket) expireAck(id uint64) {
	if ack := s.takeAck(id); ack != nil {
		s.r.m.ClientAck("timeout")
		_ = s.answer(ack.reply, ack.event, nil, Errorf(contract.CodeTimeout, "the client did not answer within %s", s.r.cfg.Limits.AckTimeout))
	}
}

// failAcks answers every ack the socket owes with Router-Error
// not_connected, and refuses new ones: the socket ended.
func (s *Socket) failAcks() {
	a := &s.acks
	a.mu.Lock()
	owed := a.pending
	a.pending, a.closed = nil, true
	a.mu.Unlock()
	for _, ack := range owed {
		ack.timer.Stop()
		s.r.m.ClientAck("disconnected")
		_ = s.answer(ack.reply, ack.event, nil, Errorf(contract.CodeNotConnected, "the socket disconnected before it answered"))
	}
}

// answer publishes the socket's answer to a request on reply: data, or,
// with fail, the error's message with its code in Router-Error. Either way
// it carries the socket's Router-* headers.
func (s *Socket) answer(reply, event string, data json.RawMessage, fail error) error {
	h := s.headers("", event)
	if fail != nil {
		e := AsError(fail)
		h[contract.HeaderError] = []string{string(e.Code)}
		data = []byte(e.Message)
	}
	if err := s.r.publish(s.nats, &nats.Msg{Subject: reply, Data: data, Header: h}); err != nil {
		s.r.log.Warn("publish a client's ack", "ns", s.ns, "sid", s.sid, "reply", reply, "err", err)
		return err
	}
	return nil
}
