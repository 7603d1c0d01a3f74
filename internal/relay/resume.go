package relay

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/internal/bus"
)

// Parked sockets taken over by another node.
//
// A node that keeps the socket of a lost Socket.IO session for its client
// to resume (a parked socket) holds $routerd.P.resume.{key} (Names.Resume)
// while it does. A node whose client resumes a socket it does not hold
// asks there (request/reply, a JSON ResumeRequest); no responders means no
// node holds it. The holder answers with a ResumeReply: its JSON, then the
// packets kept for the client as a batch (AppendBatch) of two messages
// each, the offset (text) and the unit (binary), so that they travel
// without the growth of base64.

// ResumeRequest asks the node holding a parked socket to hand it over.
type ResumeRequest struct {
	PID      string `json:"pid"`    // the socket's recovery id, the client's secret
	Offset   string `json:"offset"` // the offset of the last packet the client got
	NS       string `json:"ns"`     // the routerd namespace the client resumes
	NSP      string `json:"nsp"`    // the Socket.IO namespace it resumes
	Node     string `json:"node"`   // the asking node's instance id
	NodeName string `json:"node_name"`
}

// ResumeReply is the holder's answer. OK false: the socket cannot be
// resumed (the holder ended it, or it is not the namespace asked for).
type ResumeReply struct {
	OK   bool   `json:"ok"`
	SID  string `json:"sid,omitempty"`
	User string `json:"user,omitempty"`
	// TokenRooms are the room globs the socket's credential allows; null
	// allows any room.
	TokenRooms []string `json:"token_rooms"`
	// Expires is when the socket's credential ends, in Unix milliseconds;
	// 0 never.
	Expires int64    `json:"expires,omitempty"`
	Rooms   []string `json:"rooms,omitempty"`
	// Node is the holder's instance id.
	Node string `json:"node,omitempty"`
	// Packets are the packets sent to the socket after the offset asked
	// for, oldest first.
	Packets []Packet `json:"-"`
}

// Packet is one packet a parked socket kept: its offset and its unit as
// the transport queues it.
type Packet struct {
	Offset string
	Unit   []byte
}

// errBadResume is a resume reply that does not decode.
var errBadResume = errors.New("relay: malformed resume reply")

// encode returns the reply as it travels.
func (rep ResumeReply) encode() []byte {
	head, _ := json.Marshal(rep)
	b := binary.AppendUvarint(nil, uint64(len(head)))
	b = append(b, head...)
	var batch []byte
	for _, p := range rep.Packets {
		batch = AppendBatch(batch, Message{Data: []byte(p.Offset)})
		batch = AppendBatch(batch, Message{Binary: true, Data: p.Unit})
	}
	return append(b, batch...)
}

// decodeResumeReply decodes what encode made.
func decodeResumeReply(b []byte) (ResumeReply, error) {
	var rep ResumeReply
	n, w := binary.Uvarint(b)
	if w <= 0 || uint64(len(b)-w) < n {
		return rep, errBadResume
	}
	if err := json.Unmarshal(b[w:w+int(n)], &rep); err != nil {
		return rep, fmt.Errorf("%w: %w", errBadResume, err)
	}
	rest := b[w+int(n):]
	var offset *string
	_ = EachMessage(rest, func(m Message) error {
		if offset == nil {
			s := string(m.Data)
			offset = &s
			return nil
		}
		rep.Packets = append(rep.Packets, Packet{Offset: *offset, Unit: m.Data})
		offset = nil
		return nil
	})
	if offset != nil || (len(rest) > 0 && rest[0] != batchMark) {
		return rep, errBadResume
	}
	return rep, nil
}

// Resume asks the node holding the parked socket of req.PID to hand it
// over, and waits for its answer within ctx. ErrNoNode: no node holds it
// (never parked, ended, or its node is gone); ErrNoAnswer: the holder did
// not answer in time, or its answer does not decode.
func (rl *Relay) Resume(ctx context.Context, req ResumeRequest) (ResumeReply, error) {
	body, _ := json.Marshal(req)
	m, err := rl.o.Conn.NC().RequestWithContext(ctx, rl.names.Resume(req.PID), body)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return ResumeReply{}, fmt.Errorf("resume: %w", ErrNoNode)
	case err != nil:
		return ResumeReply{}, fmt.Errorf("resume: %w: %w", ErrNoAnswer, err)
	}
	rep, err := decodeResumeReply(m.Data)
	if err != nil {
		return ResumeReply{}, fmt.Errorf("resume: %w: %w", ErrNoAnswer, err)
	}
	return rep, nil
}

// ResumeServer serves the resume requests for one parked socket: it
// answers req with respond, which fails when the reply cannot be sent
// (over the NATS maximum payload, or NATS is down); after a failure it may
// respond again (OK false), so that the asker need not wait for its
// timeout.
type ResumeServer func(req ResumeRequest, respond func(ResumeReply) error)

// held is a parked socket this node holds.
type held struct {
	pid   string
	serve ResumeServer
	sub   *bus.Sub
}

// resumeQueue bounds the resume requests waiting to be read; nats.go drops
// what would not fit.
const resumeQueue = 1024

// Hold takes the resume requests for pid (Names.Resume) and serves each,
// on a goroutine of its own that Wait waits for, until stop is called or
// the relay closes. It returns once the server confirmed the subscription
// (within Options.OpenWithin; while NATS is down it is made on the
// reconnect). A request that names another pid (whose subject is the
// same), or that arrives as the hold ends, is answered OK false.
func (rl *Relay) Hold(pid string, serve ResumeServer) (stop func(), err error) {
	subject := rl.names.Resume(pid)
	rl.mu.Lock()
	if rl.closed {
		rl.mu.Unlock()
		return nil, errors.New("relay: hold after close")
	}
	sub, err := rl.o.Conn.ChanSubscribe(subject, rl.resumes)
	if err != nil {
		rl.mu.Unlock()
		return nil, fmt.Errorf("relay: hold: %w", err)
	}
	h := &held{pid: pid, serve: serve, sub: sub}
	rl.held[subject] = h
	rl.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), rl.o.OpenWithin)
	defer cancel()
	_ = rl.o.Conn.Flush(ctx) // best effort: an unconfirmed hold still holds
	return func() {
		rl.mu.Lock()
		defer rl.mu.Unlock()
		if rl.held[subject] == h {
			delete(rl.held, subject)
		}
		_ = sub.Unsubscribe()
	}, nil
}

// serveResumes reads the resume requests until the relay closes.
func (rl *Relay) serveResumes() {
	for {
		select {
		case m := <-rl.resumes:
			rl.serveResume(m)
		case <-rl.done:
			return
		}
	}
}

// serveResume hands one resume request to the parked socket it is for.
func (rl *Relay) serveResume(m *nats.Msg) {
	rl.mu.Lock()
	h := rl.held[m.Subject]
	if h != nil && !h.sub.Owns(m) {
		h = nil // for a hold that ended, and was made again
	}
	if h != nil {
		rl.wg.Add(1) // under mu: Close, then Wait, waits for it
	}
	rl.mu.Unlock()
	var req ResumeRequest
	respond := func(rep ResumeReply) error {
		b := rep.encode()
		if limit := rl.o.Conn.NC().MaxPayload(); int64(len(b)) > limit {
			return fmt.Errorf("relay: resume reply of %d bytes: %w", len(b), nats.ErrMaxPayload)
		}
		if err := m.Respond(b); err != nil {
			return fmt.Errorf("relay: resume reply: %w", err)
		}
		return nil
	}
	if h == nil || json.Unmarshal(m.Data, &req) != nil || req.PID != h.pid {
		_ = respond(ResumeReply{}) // a hold that just ended, or not this pid's
		if h != nil {
			rl.wg.Done()
		}
		return
	}
	go func() {
		defer rl.wg.Done()
		h.serve(req, respond)
	}()
}
