package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"

	"github.com/routerd/routerd/contract"
)

// window keeps the newest n stored events of a room as a scan passes them.
type window struct {
	n    int
	buf  []histEvent // a ring once full
	head int         // oldest event once full
	seen int         // events passed, kept or not
}

func (w *window) add(he histEvent) {
	w.seen++
	if len(w.buf) < w.n {
		w.buf = append(w.buf, he)
		return
	}
	w.buf[w.head] = he
	w.head = (w.head + 1) % w.n
}

// events returns the events kept, oldest first.
func (w *window) events() []histEvent {
	return slices.Concat(w.buf[w.head:], w.buf[:w.head])
}

// last returns the seq of the newest event kept, or 0.
func (w *window) last() uint64 {
	if len(w.buf) == 0 {
		return 0
	}
	return w.buf[(w.head-1+len(w.buf))%len(w.buf)].ev.Seq
}

// roomFilter is the stream subject filter of every event of room in ns.
func (r *Router) roomFilter(ns, room string) string {
	return r.subj.join(ns, contract.KindRoom, contract.Escape(room), "*")
}

// scan passes the stored events of a room with seq >= from, oldest first,
// to f, until f returns false. It reads with direct batch gets, which any
// replica of the stream may answer.
func (r *Router) scan(ctx context.Context, nh *nsHistory, filter string, from uint64, f func(histEvent) bool) error {
	for {
		cctx, cancel := context.WithTimeout(ctx, streamOpTimeout)
		msgs, err := jetstreamext.GetBatch(cctx, nh.js(), nh.stream, replayBatch, jetstreamext.GetBatchSeq(max(from, 1)), jetstreamext.GetBatchSubject(filter))
		if err != nil {
			cancel()
			return fmt.Errorf("read history: %w", err)
		}
		more := false
		for m, err := range msgs {
			if err != nil {
				cancel()
				if errors.Is(err, jetstreamext.ErrNoMessages) {
					return nil
				}
				return fmt.Errorf("read history: %w", err)
			}
			from = m.Sequence + 1
			pending, _ := strconv.ParseUint(m.Header.Get("Nats-Num-Pending"), 10, 64)
			more = pending > 0
			he, ok := r.storedEvent(nh.ns, m.Subject, m.Header, m.Data, m.Sequence)
			if ok && !f(he) {
				cancel()
				return nil
			}
		}
		cancel()
		if !more {
			return nil
		}
	}
}

// streamBounds returns the first and last sequence of the stream, from its
// leader.
func (r *Router) streamBounds(ctx context.Context, nh *nsHistory) (first, last uint64, err error) {
	err = r.retry(ctx, func(ctx context.Context) error {
		st, err := nh.js().Stream(ctx, nh.stream)
		if err != nil {
			return err
		}
		first, last = st.CachedInfo().State.FirstSeq, st.CachedInfo().State.LastSeq
		return nil
	})
	return first, last, err
}

// replay returns the retained events of room with seq > since, oldest
// first: at most the room's last max_msgs, and at least every event up to
// pos (the newest the room delivered before the member was registered) and
// up to the stream's last sequence when replay began (the events after it
// were republished to the room's subscription, which was in force by then,
// and are held). So, with the held events, nothing is missed. recovered is
// false when events after since may have been dropped.
func (r *Router) replay(ctx context.Context, nh *nsHistory, room string, since, pos uint64) ([]histEvent, bool, error) {
	first, last, err := r.streamBounds(ctx, nh)
	if err != nil {
		return nil, false, err
	}
	recovered := true
	if since > last {
		// The client saw a seq this stream never reached: the stream was
		// deleted and made anew. Everything it holds is new to the client.
		since, recovered = 0, false
	}
	if since+1 < first {
		recovered = false // events after since expired or were purged
	}
	filter := r.roomFilter(nh.ns, room)
	w := &window{n: nh.policy.MaxMsgs}
	var oldest uint64
	err = r.scan(ctx, nh, filter, since+1, func(he histEvent) bool {
		if oldest == 0 {
			oldest = he.ev.Seq
		}
		w.add(he)
		return true
	})
	if err != nil {
		return nil, false, err
	}
	switch {
	case w.seen > w.n:
		recovered = false
	case w.seen == w.n && oldest > since+1 && recovered:
		// A room keeps max_msgs events per event name: the oldest one may
		// have pushed an older one out. It did not if every sequence
		// between since and the oldest kept event still exists.
		if recovered, err = r.contiguous(ctx, nh, since+1, oldest-1); err != nil {
			return nil, false, err
		}
	}
	// A replica answering the batch gets may lag behind the leader: ask the
	// leader for any event up to the bound the scan did not see.
	bound := max(pos, last)
	next := max(w.last(), since)
	for next < bound {
		he, ok, err := r.leaderNext(ctx, nh, filter, next+1)
		if err != nil {
			return nil, false, err
		}
		if !ok || he.ev.Seq > bound {
			break
		}
		if len(w.buf) == w.n {
			recovered = false
		}
		w.add(he)
		next = he.ev.Seq
	}
	return w.events(), recovered, nil
}

// contiguous reports whether every sequence from..to is still stored (by
// any subject). A range too long to check counts as not contiguous.
func (r *Router) contiguous(ctx context.Context, nh *nsHistory, from, to uint64) (bool, error) {
	if to-from+1 > replayBatch {
		return false, nil
	}
	cctx, cancel := context.WithTimeout(ctx, streamOpTimeout)
	defer cancel()
	msgs, err := jetstreamext.GetBatch(cctx, nh.js(), nh.stream, int(to-from+1), jetstreamext.GetBatchSeq(from))
	if err != nil {
		return false, fmt.Errorf("read history: %w", err)
	}
	want := from
	for m, err := range msgs {
		if err != nil {
			if errors.Is(err, jetstreamext.ErrNoMessages) {
				return false, nil
			}
			return false, fmt.Errorf("read history: %w", err)
		}
		if m.Sequence != want {
			return false, nil
		}
		want++
	}
	return want == to+1, nil
}

// leaderNext asks the stream leader for the first event matching filter
// with seq >= seq.
func (r *Router) leaderNext(ctx context.Context, nh *nsHistory, filter string, seq uint64) (histEvent, bool, error) {
	req := marshal(struct {
		Seq  uint64 `json:"seq"`
		Next string `json:"next_by_subj"`
	}{seq, filter})
	var resp struct {
		Message *struct {
			Subject string    `json:"subject"`
			Seq     uint64    `json:"seq"`
			Header  []byte    `json:"hdrs"`
			Data    []byte    `json:"data"`
			Time    time.Time `json:"time"`
		} `json:"message"`
		Error *jetstream.APIError `json:"error"`
	}
	err := r.retry(ctx, func(ctx context.Context) error {
		m, err := nh.nats.NC().RequestWithContext(ctx, nh.nats.APIPrefix()+"STREAM.MSG.GET."+nh.stream, req)
		if err != nil {
			return err
		}
		resp.Message, resp.Error = nil, nil
		return json.Unmarshal(m.Data, &resp)
	})
	switch {
	case err != nil:
		return histEvent{}, false, fmt.Errorf("read history: %w", err)
	case resp.Error != nil && resp.Error.Code == 404:
		return histEvent{}, false, nil
	case resp.Error != nil:
		return histEvent{}, false, fmt.Errorf("read history: %w", resp.Error)
	case resp.Message == nil:
		return histEvent{}, false, nil
	}
	var h nats.Header
	if len(resp.Message.Header) > 0 {
		if h, err = nats.DecodeHeadersMsg(resp.Message.Header); err != nil {
			return histEvent{}, false, fmt.Errorf("read history: %w", err)
		}
	}
	he, ok := r.storedEvent(nh.ns, resp.Message.Subject, h, resp.Message.Data, resp.Message.Seq)
	if !ok {
		// Not a valid room event (a bad event token): skip past it.
		return r.leaderNext(ctx, nh, filter, resp.Message.Seq+1)
	}
	return he, true, nil
}

// Pacer may be implemented by a Conn whose send queue is bounded, so that a
// replay larger than the queue is sent as fast as the client reads rather
// than overflowing it.
type Pacer interface {
	// Wait blocks until frames fit in the send queue with room left for
	// the frames other senders queue meanwhile, or ctx ends, and returns
	// how many fit (at least 1, at most n).
	Wait(ctx context.Context, n int) (int, error)
}

// joinReplay joins s to room, replays the room's events after since and
// then switches the member to live delivery: the live events that arrive
// meanwhile are held, and those the replay already covered are dropped.
func (r *Router) joinReplay(ctx context.Context, s *Socket, room string, since uint64) (bool, error) {
	start := time.Now()
	c := &catchup{}
	rm, pos, err := r.joinRoom(ctx, s, room, c)
	if err != nil || rm == nil {
		// Already a member: it has had everything since it joined.
		return err == nil, err
	}
	evs, recovered, err := r.replay(ctx, s.hist, room, since, pos)
	if err == nil {
		err = r.sendReplay(ctx, s, evs)
	}
	if err == nil {
		var ok bool
		if ok, err = r.goLive(ctx, s, rm, c, lastSeq(evs, since)); err == nil && !ok {
			err = Errorf(contract.CodeLimitExceeded, "the room is too busy to replay its history")
		}
	}
	if err != nil {
		r.leaveRoom(s, room)
		r.m.Replayed("failed", 0, time.Since(start))
		var perr *Error
		if !errors.As(err, &perr) {
			r.log.Warn("replay", "ns", s.ns, "room", room, "err", err)
			err = Errorf(contract.CodeUnavailable, "the room history is unavailable")
		}
		return false, err
	}
	outcome := "recovered"
	if !recovered {
		outcome = "not_recovered"
	}
	r.m.Replayed(outcome, len(evs), time.Since(start))
	return recovered, nil
}

// lastSeq is the seq of the last event of evs, or since when there is none.
func lastSeq(evs []histEvent, since uint64) uint64 {
	if len(evs) == 0 {
		return since
	}
	return max(since, evs[len(evs)-1].ev.Seq)
}

// goLive ends the catch-up of member s, whose replay went up to seq last:
// the live events held meanwhile that come after last are sent, paced as
// the replay (more are held while they are), and then live delivery takes
// over. It reports false when too many events were held (the join fails).
func (r *Router) goLive(ctx context.Context, s *Socket, rm *room, c *catchup, last uint64) (bool, error) {
	for {
		held, done, ok := rm.takeHeld(s, c, last)
		if done {
			return ok, nil
		}
		if err := r.sendReplay(ctx, s, held); err != nil {
			return true, err
		}
		last = held[len(held)-1].ev.Seq
	}
}

// takeHeld takes the events held for member s after seq last. When there
// are none, it switches s to live delivery and reports done; ok is false
// when too many events were held.
func (rm *room) takeHeld(s *Socket, c *catchup, last uint64) (held []histEvent, done, ok bool) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	switch {
	case rm.catching[s] != c: // it left meanwhile
		return nil, true, true
	case c.overflow:
		delete(rm.catching, s)
		return nil, true, false
	}
	for _, he := range c.held {
		if he.ev.Seq > last {
			held = append(held, he)
		}
	}
	c.held = nil
	if len(held) > 0 {
		return held, false, true
	}
	if rm.pos >= last {
		delete(rm.catching, s)
	} else {
		// The replay read events the subscription has not brought yet.
		c.live, c.floor = true, last
	}
	return nil, true, true
}

// sendReplay queues the replayed events for s, pacing them where the
// connection allows.
func (r *Router) sendReplay(ctx context.Context, s *Socket, evs []histEvent) error {
	pacer, _ := s.conn.(Pacer)
	codec := s.conn.Codec()
	room := len(evs) // frames that may be queued before waiting
	if pacer != nil {
		room = 0
	}
	for _, he := range evs {
		if room == 0 {
			var err error
			if room, err = pacer.Wait(ctx, len(evs)); err != nil {
				return Errorf(contract.CodeUnavailable, "replay interrupted: %v", err)
			}
		}
		if he.exclude != s.sid {
			s.conn.Send(codec.EncodeEvent(he.ev))
			room--
		}
	}
	return nil
}
