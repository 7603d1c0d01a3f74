package router

import (
	"encoding/json"
	"iter"
	"maps"
	"slices"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/contract"
)

// dispatchLoop delivers the messages of one shard until the router closes.
func (r *Router) dispatchLoop(ch chan *nats.Msg) {
	defer r.wg.Done()
	for {
		select {
		case m := <-ch:
			r.dispatchSafely(m)
		case <-r.ctx.Done():
			return
		}
	}
}

// dispatchSafely dispatches m; a message that trips a bug is logged and
// dropped instead of taking the node down.
func (r *Router) dispatchSafely(m *nats.Msg) {
	defer func() {
		if v := recover(); v != nil {
			r.m.Dropped("panic")
			r.log.Error("dispatch panicked", "subject", m.Subject, "panic", v)
		}
	}()
	r.dispatch(m)
}

// dispatch delivers one NATS message to the local sockets it is for. Every
// lookup checks that the message came through the subscription that is live
// now: a message still queued for a subscription that was replaced (a room
// emptied and filled again) is dropped rather than delivered twice.
func (r *Router) dispatch(m *nats.Msg) {
	subject, stored := r.subj.sys.Unstored(m.Subject)
	if !stored {
		subject = m.Subject
	}
	p, ok := r.subj.parse(subject)
	if !ok {
		return
	}
	sp := r.lookupSpace(p.ns)
	if sp == nil {
		return
	}
	if stored {
		if p.kind == contract.KindRoom {
			r.dispatchStored(sp, p, m)
		}
		return
	}
	switch p.kind {
	case contract.KindRoom:
		r.dispatchRoom(sp, p, m)
	case contract.KindPresence:
		r.dispatchPresence(sp, p, m)
	case contract.KindSocket:
		r.dispatchSocket(sp, p, m)
	case contract.KindUser:
		r.dispatchUser(sp, p, m)
	case contract.KindBroadcast:
		r.dispatchBroadcast(sp, p, m)
	}
}

// eventName decodes and checks the event token of a delivered subject.
func (r *Router) eventName(tok string) (string, bool) {
	name, err := contract.Unescape(tok)
	if err != nil || !contract.ValidEventName(name) {
		r.m.Dropped("bad_subject")
		return "", false
	}
	return name, true
}

// deliver queues ev on every socket of members except the one named
// exclude, encoding it once per codec.
func (r *Router) deliver(members iter.Seq[*Socket], ev *Event, exclude string) {
	start := time.Now()
	fc := frameCache{ev: ev}
	n := 0
	for s := range members {
		if s.sid == exclude {
			continue
		}
		s.conn.Send(fc.get(s.conn.Codec()))
		n++
	}
	r.m.Delivered(n, time.Since(start))
}

// event builds the event a delivered message carries, or reports that its
// event token is not a valid event name.
func (r *Router) event(sp *space, room string, p parsed, m *nats.Msg) (*Event, bool) {
	name, ok := r.eventName(p.event)
	if !ok {
		return nil, false
	}
	return &Event{NS: sp.name, Room: room, Name: name, From: header(m.Header, contract.HeaderSid), Data: contract.Payload(m.Data)}, true
}

func (r *Router) roomOf(sp *space, tok string) (*room, string) {
	name, err := contract.Unescape(tok)
	if err != nil {
		return nil, ""
	}
	sp.mu.RLock()
	rm := sp.rooms[name]
	sp.mu.RUnlock()
	return rm, name
}

func (r *Router) dispatchRoom(sp *space, p parsed, m *nats.Msg) {
	rm, name := r.roomOf(sp, p.target)
	if rm == nil || !rm.sub.Owns(m) {
		return
	}
	ev, ok := r.event(sp, name, p, m)
	if !ok {
		return
	}
	rm.mu.RLock()
	r.deliverMsg(slices.Values(rm.members), ev, header(m.Header, contract.HeaderExclude), m)
	rm.mu.RUnlock()
}

// dispatchPresence turns a presence notice into $join / $leave events for
// the other local members of the room.
func (r *Router) dispatchPresence(sp *space, p parsed, m *nats.Msg) {
	rm, name := r.roomOf(sp, p.target)
	if rm == nil || !rm.pres.Owns(m) {
		return
	}
	var n contract.PresenceNotice
	if json.Unmarshal(m.Data, &n) != nil || n.SID == "" {
		r.m.Dropped("bad_presence")
		return
	}
	var event string
	switch n.Action {
	case contract.PresenceJoin:
		event = "$join"
	case contract.PresenceLeave:
		event = "$leave"
	default:
		r.m.Dropped("bad_presence")
		return
	}
	if header(m.Header, contract.HeaderReason) == contract.ReasonNodeReturned {
		return // for backends: each node tells its members itself (tellJoined)
	}
	ev := &Event{NS: sp.name, Room: name, Name: event, Data: marshal(contract.Member{SID: n.SID, User: n.User})}
	rm.mu.Lock()
	if header(m.Header, contract.HeaderReason) == contract.ReasonNodeLost {
		// Published for a lost node's socket: its $leave is told once, by
		// nodeGone (which knew the member) or here, whichever comes first.
		if _, ok := rm.told[n.SID]; ok || event != "$leave" {
			delete(rm.told, n.SID)
			rm.mu.Unlock()
			return
		}
	}
	if node := header(m.Header, contract.HeaderNodeID); node != "" && node != r.nodes.id {
		if event == "$join" {
			if known, ok := rm.remote[n.SID]; ok && known.node == node && known.back {
				rm.remote[n.SID] = remoteMember{node: node, user: n.User}
				rm.mu.Unlock()
				return // told already, when its node returned (tellJoined)
			}
			rm.remote[n.SID] = remoteMember{node: node, user: n.User}
		} else {
			delete(rm.remote, n.SID)
		}
	}
	r.deliver(slices.Values(rm.members), ev, n.SID)
	rm.mu.Unlock()
}

func (r *Router) dispatchSocket(sp *space, p parsed, m *nats.Msg) {
	sp.mu.RLock()
	s := sp.sockets[p.target]
	live := sp.direct.Owns(m) || (s != nil && s.sub.Owns(m))
	sp.mu.RUnlock()
	if s == nil || !live {
		return
	}
	if ev, ok := r.event(sp, "", p, m); ok {
		r.deliverMsg(slices.Values([]*Socket{s}), ev, "", m)
	}
}

func (r *Router) dispatchUser(sp *space, p parsed, m *nats.Msg) {
	user, err := contract.Unescape(p.target)
	if err != nil {
		return
	}
	ev, ok := r.event(sp, "", p, m)
	if !ok {
		return
	}
	sp.mu.RLock()
	defer sp.mu.RUnlock()
	if g := sp.users[user]; g != nil && g.sub.Owns(m) {
		r.deliverMsg(slices.Values(g.sockets), ev, header(m.Header, contract.HeaderExclude), m)
	}
}

func (r *Router) dispatchBroadcast(sp *space, p parsed, m *nats.Msg) {
	ev, ok := r.event(sp, "", p, m)
	if !ok {
		return
	}
	sp.mu.RLock()
	defer sp.mu.RUnlock()
	if sp.bcast.Owns(m) {
		r.deliverMsg(maps.Values(sp.sockets), ev, header(m.Header, contract.HeaderExclude), m)
	}
}
