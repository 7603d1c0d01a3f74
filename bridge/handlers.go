package bridge

import (
	"encoding/json"
	"errors"

	"github.com/routerd/routerd/contract"
	"github.com/routerd/routerd/router"
)

// handler carries out one client frame. It returns the ack data (when the
// frame had an id) or an error for the error frame; errReplied means it
// answered by itself.
type handler func(c *conn, f *clientFrame) (json.RawMessage, error)

// errReplied tells handle that the handler already sent the reply, or
// that the frame gets none.
var errReplied = errors.New("replied")

// handlerFor returns the handler of a client frame type (docs/protocol.md).
func handlerFor(typ string) (handler, bool) {
	switch typ {
	case "connect":
		return onConnect, true
	case "disconnect":
		return onDisconnect, true
	case "join":
		return onJoin, true
	case "leave":
		return onLeave, true
	case "emit":
		return onEmit, true
	case "presence":
		return onPresence, true
	case "history":
		return onHistory, true
	case "reply":
		return onReply, true
	}
	return nil, false
}

// need returns a required string field or a bad_frame error naming it.
func need(p *string, field string) (string, error) {
	if p == nil {
		return "", router.Errorf(contract.CodeBadFrame, "missing field %q", field)
	}
	return *p, nil
}

// target returns the socket of the frame's namespace.
func (c *conn) target(f *clientFrame) (*router.Socket, error) {
	ns, err := need(f.NS, "ns")
	if err != nil {
		return nil, err
	}
	return c.socket(ns)
}

func onConnect(c *conn, f *clientFrame) (json.RawMessage, error) {
	ns, err := need(f.NS, "ns")
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	_, dup := c.sockets[ns]
	c.mu.Unlock()
	if dup {
		return nil, router.Errorf(contract.CodeAlreadyConnected, "already connected to namespace %q", ns)
	}
	auth := f.Auth
	if string(auth) == "null" {
		auth = nil
	}
	s, err := c.srv.r.Connect(c.ctx, c, ns, auth, c.info)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.sockets == nil { // the connection ended meanwhile
		c.mu.Unlock()
		s.Disconnect()
		return nil, errReplied
	}
	c.sockets[ns] = s
	c.mu.Unlock()
	if s.Detached() { // detached before it was stored (a token expiring at once)
		c.mu.Lock()
		if c.sockets[ns] == s {
			delete(c.sockets, ns)
		}
		c.mu.Unlock()
	}
	c.sendFrame("connected", connectedFrame{Type: "connected", NS: ns, SID: s.SID(), ID: f.id})
	return nil, errReplied
}

func onDisconnect(c *conn, f *clientFrame) (json.RawMessage, error) {
	s, err := c.target(f)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	delete(c.sockets, s.Namespace())
	c.mu.Unlock()
	s.Disconnect()
	return nil, nil
}

// inRoom returns the socket of the frame's namespace and its room field.
func (c *conn) inRoom(f *clientFrame) (*router.Socket, string, error) {
	s, err := c.target(f)
	if err != nil {
		return nil, "", err
	}
	room, err := need(f.Room, "room")
	return s, room, err
}

func onJoin(c *conn, f *clientFrame) (json.RawMessage, error) {
	s, room, err := c.inRoom(f)
	if err != nil {
		return nil, err
	}
	if f.Since == nil {
		return nil, s.Join(c.ctx, room)
	}
	recovered, err := s.JoinSince(c.ctx, room, *f.Since)
	if err != nil || !s.HasHistory() {
		return nil, err
	}
	return json.Marshal(recoveredData{Recovered: recovered})
}

type recoveredData struct {
	Recovered bool `json:"recovered"`
}

func onLeave(c *conn, f *clientFrame) (json.RawMessage, error) {
	s, room, err := c.inRoom(f)
	if err != nil {
		return nil, err
	}
	return nil, s.Leave(room)
}

func onEmit(c *conn, f *clientFrame) (json.RawMessage, error) {
	s, err := c.target(f)
	if err != nil {
		return nil, err
	}
	event, err := need(f.Event, "event")
	if err != nil {
		return nil, err
	}
	data := jsonData(f.Data)
	ack := f.id != 0
	switch {
	case f.Room != nil && f.To != nil:
		return nil, router.Errorf(contract.CodeBadFrame, "emit takes room or to, not both")
	case f.Room != nil:
		seq, err := s.EmitRoom(c.ctx, *f.Room, event, data, f.Self != nil && *f.Self, ack)
		if err != nil || seq == 0 {
			return nil, err
		}
		return json.Marshal(seqData{Seq: seq})
	case f.To != nil:
		return nil, s.EmitTo(c.ctx, *f.To, event, data, ack)
	case !ack:
		return nil, s.EmitServer(c.ctx, event, data, false)
	}
	// A request: published now, in order with the frames before and after
	// it; the reply may take up to ack_timeout, so it is awaited aside and
	// the connection goes on reading.
	req, err := s.Request(event, data)
	if err != nil {
		return nil, err
	}
	c.requests.Add(1)
	go func() {
		defer c.requests.Done()
		reply, err := req.Wait(c.ctx)
		if err != nil {
			c.replyError(f.id, s.Namespace(), router.AsError(err))
			return
		}
		c.sendFrame("ack", ackFrame{Type: "ack", ID: f.id, Data: reply})
	}()
	return nil, errReplied
}

func onPresence(c *conn, f *clientFrame) (json.RawMessage, error) {
	s, room, err := c.inRoom(f)
	if err != nil {
		return nil, err
	}
	list, err := s.Presence(c.ctx, room)
	if err != nil {
		return nil, err
	}
	return json.Marshal(list)
}

func onHistory(c *conn, f *clientFrame) (json.RawMessage, error) {
	s, room, err := c.inRoom(f)
	if err != nil {
		return nil, err
	}
	limit := defaultHistoryLimit
	if f.Limit != nil {
		limit = *f.Limit
	}
	var before uint64
	if f.Before != nil {
		before = *f.Before
	}
	evs, err := s.History(c.ctx, room, limit, before)
	if err != nil {
		return nil, err
	}
	b := []byte(`{"events":[`)
	for i, ev := range evs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, c.srv.codec.EncodeEvent(ev)...)
	}
	return append(b, "]}"...), nil
}

// defaultHistoryLimit is a history frame's limit when it gives none (docs/protocol.md).
const defaultHistoryLimit = 50

type seqData struct {
	Seq uint64 `json:"seq"`
}

// onReply answers an ack a backend asked of the socket (an event frame
// with "ack"): data goes to the backend as the NATS reply. An ack the
// socket does not owe (answered already, timed out, never asked) gets an
// error frame when the reply frame has an id, and is dropped otherwise: a
// late answer is a race, not a fault.
func onReply(c *conn, f *clientFrame) (json.RawMessage, error) {
	s, err := c.target(f)
	if err != nil {
		return nil, err
	}
	switch {
	case f.Ack == nil:
		return nil, router.Errorf(contract.CodeBadFrame, "missing field %q", "ack")
	case *f.Ack == 0:
		return nil, router.Errorf(contract.CodeBadFrame, "ack must be a positive integer")
	}
	err = s.Reply(*f.Ack, jsonData(f.Data))
	if router.IsUnknownAck(err) && f.id == 0 {
		return nil, errReplied // nothing to answer
	}
	return nil, err
}
