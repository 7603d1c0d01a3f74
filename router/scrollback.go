package router

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"
)

// Scrollback: a history frame reads its room backwards from the end, so
// that its cost follows its limit, not the size of the room or the stream.
//
// Direct gets read forward only, but the answer to a batch direct get with
// a subject filter counts, in each message's Nats-Num-Pending header, the
// room's events after that message. So a one-message probe at sequence a
// tells N(a), how many of the room's events have seq >= a. The events
// between a and hi number N(a) - N(hi+1): the reader gallops back from hi
// with windows of doubling width until one holds the events still wanted
// (bisecting back when one holds far more), and then reads that window
// forward in one batch. A room with k events per w stream messages costs
// about log2(w × limit / k) probes and limit events read, whatever its
// size.
//
// The room's history is its last max_msgs events: an event whose
// Nats-Num-Pending is max_msgs or more has max_msgs newer ones, so it and
// every older event are not shown.

// overshoot bounds the events a window may hold, as a multiple of the
// events wanted, before the reader narrows it.
const overshoot = 4

// roomReader reads one room's events from its history stream.
type roomReader struct {
	r       *Router
	nh      *nsHistory
	filter  string // the room's subjects
	maxMsgs uint64 // the room's history: its last maxMsgs events
}

// scrollback returns up to limit events of the room's history (its last
// max_msgs events) with seq < before (before 0: no bound), oldest first.
func (r *Router) scrollback(ctx context.Context, nh *nsHistory, room string, limit int, before uint64) ([]*Event, error) {
	rd := &roomReader{r: r, nh: nh, filter: r.roomFilter(nh.ns, room), maxMsgs: uint64(nh.policy.MaxMsgs)}
	var hi, base uint64 // read events up to hi; base = N(hi+1)
	switch {
	case before == 0:
		last, err := rd.last(ctx)
		if err != nil {
			return nil, err
		}
		hi = last // and base 0: no newer event
	case before > 1:
		hi = before - 1
		n, err := rd.count(ctx, before)
		if err != nil {
			return nil, err
		}
		base = n
	}
	var windows [][]histEvent // newest first
	need := uint64(limit)     // events still wanted
	for need > 0 && hi > 0 {
		from, n, err := rd.window(ctx, hi, base, need)
		if err != nil {
			return nil, err
		}
		evs, nFrom, bounded, err := rd.read(ctx, from, hi, need, n)
		if err != nil {
			return nil, err
		}
		windows = append(windows, evs)
		need -= uint64(len(evs))
		if bounded || from <= 1 {
			break
		}
		hi, base = from-1, nFrom
	}
	slices.Reverse(windows)
	out := make([]*Event, 0, uint64(limit)-need)
	for _, evs := range windows {
		for _, he := range evs {
			out = append(out, he.ev)
		}
	}
	return out, nil
}

// window returns where to start reading the room's events up to hi so
// that about need of them are read, and the estimate n of those between
// the start and hi. base is N(hi+1).
func (rd *roomReader) window(ctx context.Context, hi, base, need uint64) (from, n uint64, err error) {
	under := hi + 1 // the latest start known to hold fewer than need
	for width := 2 * need; ; width *= 2 {
		from = hi + 1 - min(width, hi)
		total, err := rd.count(ctx, from)
		if err != nil {
			return 0, 0, err
		}
		n = total - min(base, total)
		// Earlier events are not wanted (n), not shown (total), or none.
		if n >= need || total >= rd.maxMsgs || from == 1 {
			break
		}
		under = from
	}
	for n > overshoot*need && under-from > 1 {
		mid := from + (under-from)/2
		total, err := rd.count(ctx, mid)
		if err != nil {
			return 0, 0, err
		}
		if m := total - min(base, total); m >= need {
			from, n = mid, m
		} else {
			under = mid
		}
	}
	return from, n, nil
}

// count returns N(from), the room's events with seq >= from: one probe.
func (rd *roomReader) count(ctx context.Context, from uint64) (n uint64, err error) {
	err = rd.batch(ctx, from, 1, func(_, pending uint64, _ *jetstream.RawStreamMsg) bool {
		n = pending + 1
		return false
	})
	return n, err
}

// read returns the newest need events of the room's history with seq in
// from..hi, oldest first, reading forward from from; estimate is about how
// many events the range holds. nFrom is N(from) as the read found it, and
// bounded reports that the history begins in the range: no earlier event
// is shown.
func (rd *roomReader) read(ctx context.Context, from, hi, need, estimate uint64) (evs []histEvent, nFrom uint64, bounded bool, err error) {
	w := &window{n: int(need)}
	size := int(min(estimate+1, replayBatch))
	for done := false; !done; size = replayBatch {
		done = true
		err := rd.batch(ctx, from, size, func(seq, pending uint64, m *jetstream.RawStreamMsg) bool {
			if nFrom == 0 {
				nFrom = pending + 1
			}
			if seq > hi {
				done = true
				return false
			}
			from, done = seq+1, pending == 0
			if pending >= rd.maxMsgs {
				bounded = true
				return true
			}
			if he, ok := rd.r.storedEvent(rd.nh.ns, m.Subject, m.Header, m.Data, seq); ok {
				w.add(he)
			}
			return true
		})
		if err != nil {
			return nil, 0, false, err
		}
	}
	return w.events(), nFrom, bounded, nil
}

// batch passes up to size of the room's events with seq >= from to f, with
// their seq and Nats-Num-Pending, until f returns false: one batch direct
// get, which any replica of the stream may answer. It passes nothing when
// there is no such event.
func (rd *roomReader) batch(ctx context.Context, from uint64, size int, f func(seq, pending uint64, m *jetstream.RawStreamMsg) bool) error {
	ctx, cancel := context.WithTimeout(ctx, streamOpTimeout)
	defer cancel()
	msgs, err := jetstreamext.GetBatch(ctx, rd.nh.js(), rd.nh.stream, size, jetstreamext.GetBatchSeq(max(from, 1)), jetstreamext.GetBatchSubject(rd.filter))
	if err != nil {
		return fmt.Errorf("read history: %w", err)
	}
	for m, err := range msgs {
		if errors.Is(err, jetstreamext.ErrNoMessages) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read history: %w", err)
		}
		pending, err := strconv.ParseUint(m.Header.Get("Nats-Num-Pending"), 10, 64)
		if err != nil {
			return fmt.Errorf("read history: bad Nats-Num-Pending: %w", err)
		}
		if !f(m.Sequence, pending, m) {
			return nil
		}
	}
	return nil
}

// last returns the seq of the room's newest event, 0 when it has none: one
// direct get by the room's subjects.
func (rd *roomReader) last(ctx context.Context) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, streamOpTimeout)
	defer cancel()
	req := marshal(struct {
		Last string `json:"last_by_subj"`
	}{rd.filter})
	m, err := rd.nh.nats.NC().RequestWithContext(ctx, rd.nh.nats.APIPrefix()+"DIRECT.GET."+rd.nh.stream, req)
	if err != nil {
		return 0, fmt.Errorf("read history: %w", err)
	}
	switch status := m.Header.Get("Status"); status {
	case "":
	case "404":
		return 0, nil
	default:
		return 0, fmt.Errorf("read history: direct get: status %s %s", status, m.Header.Get("Description"))
	}
	seq, err := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("read history: bad %s header: %w", jetstream.SequenceHeader, err)
	}
	return seq, nil
}
