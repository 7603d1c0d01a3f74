package router

import (
	"encoding/json"
	"sort"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/contract"
	"github.com/routerd/routerd/internal/bus"
)

// ctlRequest is the body of a control request (contract.CtlRequest), read
// strictly: a field that is present but empty is not one that is absent.
type ctlRequest struct {
	SID    *string `json:"sid"`
	User   *string `json:"user"`
	Room   *string `json:"room"`
	Reason *string `json:"reason"` // disconnect: the reason clients see (extension)
}

// ctlError is the reply to a control request that failed.
type ctlError struct {
	OK    bool   `json:"ok"`
	Error *Error `json:"error"`
}

// ctlReaders bounds the presence and rooms requests a node serves at once;
// more wait their turn.
const ctlReaders = 64

// serveCtl serves a control request received on c. NATS hands a
// subscription's messages over one at a time, and a request may wait up to
// gatherTimeout for a node that does not answer (one that died and is not
// counted lost yet): presence and rooms, which only read, are served on
// goroutines of their own (at most ctlReaders at once), so that one such
// wait does not hold up every request behind it; join, leave and
// disconnect are served one at a time, in the order the node receives them.
func (r *Router) serveCtl(c *bus.Conn, m *nats.Msg) {
	if _, op := r.ctlOp(m.Subject); op == contract.CtlPresence || op == contract.CtlRooms {
		r.readers <- struct{}{}
		if r.background(func() {
			defer func() { <-r.readers }()
			r.handleCtl(c, m)
		}) {
			return
		}
		<-r.readers // closing: served here, as the others
	}
	r.handleCtl(c, m)
}

// ctlOp splits a control request's subject, P.{ns}.ctl.{op}.
func (r *Router) ctlOp(subject string) (ns, op string) {
	rest := strings.TrimPrefix(subject, r.subj.Prefix()+".")
	ns, op, _ = strings.Cut(strings.Replace(rest, "."+contract.KindCtl+".", "\x00", 1), "\x00")
	return ns, op
}

// handleCtl answers P.{ns}.ctl.{op}, received on connection c. One node
// (of the queue group) takes each request and gathers the answer from every
// node. A request on a tenant's connection may name only that tenant's
// namespaces; routerd's own connection (its trusted users) may name any.
// A request without a reply subject, or whose reply subject is one routerd
// routes (see replyAllowed), is carried out but not answered. A reply that
// lacks a node's answer has the header Router-Partial: true.
func (r *Router) handleCtl(c *bus.Conn, m *nats.Msg) {
	reply, partial, err := r.ctl(c, m)
	out := &nats.Msg{}
	if err != nil {
		out.Data = marshal(ctlError{Error: AsError(err)})
	} else {
		out.Data = marshal(reply)
	}
	if partial {
		out.Header = nats.Header{contract.HeaderPartial: {"true"}}
	}
	if m.Reply == "" {
		return
	}
	if !r.replyAllowed(m.Reply) {
		r.m.Dropped("reply_subject")
		r.log.Debug("ctl request with a reply subject routerd does not answer on", "subject", m.Subject, "reply", m.Reply)
		return
	}
	if err := m.RespondMsg(out); err != nil {
		r.log.Warn("answer ctl request", "subject", m.Subject, "err", err)
	}
}

// replyAllowed reports whether routerd answers a request on reply: never on
// a subject of its own contract (P.>), nor on a system subject ($JS, $KV,
// $SYS, $routerd...), so that a requester cannot make routerd publish into
// a room, a socket or a stream by naming it as its reply subject. With one
// NATS account per tenant (nats.users) a reply only ever reaches the
// requester's account; this guard also holds on a shared external NATS.
func (r *Router) replyAllowed(reply string) bool {
	return !strings.HasPrefix(reply, "$") && reply != r.subj.Prefix() && !strings.HasPrefix(reply, r.subj.Prefix()+".")
}

// ctl carries out a control request; partial reports that the reply lacks
// the answer of a node counted alive.
func (r *Router) ctl(c *bus.Conn, m *nats.Msg) (reply any, partial bool, err error) {
	ns, op := r.ctlOp(m.Subject)
	if _, err := r.policy(ns); err != nil {
		return nil, false, err
	}
	if c != r.bus.Main() && !r.bus.Owns(c, ns) {
		return nil, false, Errorf(contract.CodeForbidden, "namespace %q belongs to another account", ns)
	}
	var req ctlRequest
	if len(strings.TrimSpace(string(m.Data))) > 0 {
		if err := json.Unmarshal(m.Data, &req); err != nil {
			return nil, false, Errorf(contract.CodeBadFrame, "control request body must be a JSON object: %v", err)
		}
	}
	sreq := scatterRequest{NS: ns, Op: op}
	switch op {
	case contract.CtlJoin, contract.CtlLeave:
		if err := r.ctlTarget(&req, &sreq, false); err != nil {
			return nil, false, err
		}
		if req.Room == nil {
			return nil, false, Errorf(contract.CodeBadFrame, "%s needs room", op)
		}
		if err := r.validRoom(*req.Room); err != nil {
			return nil, false, err
		}
		sreq.Room = *req.Room
	case contract.CtlDisconnect:
		if err := r.ctlTarget(&req, &sreq, true); err != nil {
			return nil, false, err
		}
		sreq.Reason = contract.ReasonKicked
		if req.Reason != nil && *req.Reason != "" {
			sreq.Reason = *req.Reason
		}
	case contract.CtlPresence:
		if req.Room == nil {
			return nil, false, Errorf(contract.CodeBadFrame, "presence needs room")
		}
		if err := r.validRoom(*req.Room); err != nil {
			return nil, false, err
		}
		p, err := r.clusterPresence(r.ctx, ns, *req.Room)
		if err != nil {
			return nil, false, err
		}
		return map[string]any{"ok": true, "members": p.Members}, p.Partial, nil
	case contract.CtlRooms:
		g, err := r.gather(r.ctx, sreq)
		if err != nil {
			return nil, false, err
		}
		return map[string]any{"ok": true, "rooms": mergeRooms(g.reps)}, g.partial, nil
	default:
		return nil, false, Errorf(contract.CodeUnknownType, "unknown control operation %q", op)
	}
	g, err := r.gather(r.ctx, sreq)
	if err != nil {
		return nil, false, err
	}
	count := 0
	for _, rep := range g.reps {
		count += rep.Count
	}
	return map[string]any{"ok": true, "count": count}, g.partial, nil
}

// ctlTarget checks that a request names exactly one of sid and user (or,
// where allowed, room) and copies it.
func (r *Router) ctlTarget(req *ctlRequest, sreq *scatterRequest, roomOK bool) error {
	n := 0
	if req.SID != nil {
		n++
		sreq.SID = *req.SID
	}
	if req.User != nil {
		n++
		sreq.User = *req.User
	}
	if roomOK && req.Room != nil {
		n++
		if err := r.validRoom(*req.Room); err != nil {
			return err
		}
		sreq.Room = *req.Room
	}
	if n != 1 || (req.SID != nil && *req.SID == "") || (req.User != nil && *req.User == "") {
		if roomOK {
			return Errorf(contract.CodeBadFrame, "name exactly one of sid, user and room")
		}
		return Errorf(contract.CodeBadFrame, "name exactly one of sid and user")
	}
	return nil
}

func mergeRooms(reps []scatterReply) []contract.RoomCount {
	sum := map[string]int{}
	for _, rep := range reps {
		for room, n := range rep.Rooms {
			sum[room] += n
		}
	}
	out := make([]contract.RoomCount, 0, len(sum))
	for room, n := range sum {
		out = append(out, contract.RoomCount{Room: room, Members: n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Room < out[j].Room })
	return out
}
