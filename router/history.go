package router

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/contract"
	"github.com/routerd/routerd/internal/bus"
)

// Room history on JetStream (docs/history.md).
//
// Every namespace with history has one stream (relay.Names.HistoryStream),
// capturing P.{ns}.room.*.* — so events published by clients and by
// backends alike are stored, and the stream sequence of an event is its
// seq. Retention: max_age is the stream's MaxAge and max_msgs its
// MaxMsgsPerSubject (a bound per room and event name); max_stream_msgs and
// max_stream_bytes bound the whole stream (MaxMsgs, MaxBytes: the oldest
// events of any room go first). The history a room shows (replay and
// scrollback) is its last max_msgs events. The streams of glob namespaces
// are capped in number and deleted when idle (globstreams.go, sweep.go).
//
// Live delivery: the stream republishes every event it stores, from its
// leader, to $routerd.P.hist.{ns}.room.{room}.{event} (named by package
// relay) with its sequence in the Nats-Sequence header. A node subscribes
// there (once per room with local members, like any room) instead of to
// the room subject, so every delivered event carries its seq and arrives
// in stream order. A join with since replays from the stream (direct batch
// gets, served by any replica) while the live events of that room are held
// for the joining socket; the held events the replay already covered are
// skipped.

// streamOpTimeout bounds one JetStream API call. In a fresh cluster calls
// made before the meta leader is elected hang until their deadline, so calls
// are short and retried.
const streamOpTimeout = 2 * time.Second

// ensureTimeout bounds the start-up creation of a stream; a namespace whose
// stream is still missing then gets it when its first client connects.
const ensureTimeout = 30 * time.Second

// replayBatch is how many messages one direct batch get asks for.
const replayBatch = 256

// nsHistory is the history of one namespace: its stream, its policy, and
// the connection of the account the stream lives in.
type nsHistory struct {
	ns     string
	stream string
	policy config.History
	nats   *bus.Conn
}

// js is the JetStream context of the history's account.
func (nh *nsHistory) js() jetstream.JetStream { return nh.nats.JetStream() }

// streamConfig is the stream of namespace ns with history h.
func (r *Router) streamConfig(ns string, h config.History) jetstream.StreamConfig {
	storage := jetstream.FileStorage
	if r.cfg.NATS.JetStream.Storage == "memory" {
		storage = jetstream.MemoryStorage
	}
	return jetstream.StreamConfig{
		Name:              r.subj.sys.HistoryStream(ns),
		Description:       fmt.Sprintf("routerd room history of namespace %s", ns),
		Subjects:          []string{r.subj.join(ns, contract.KindRoom, "*", "*")},
		Storage:           storage,
		Replicas:          max(h.Replicas, 1),
		MaxAge:            h.MaxAge,
		MaxMsgsPerSubject: int64(h.MaxMsgs),
		MaxMsgs:           h.StreamMaxMsgs(),
		MaxBytes:          h.StreamMaxBytes(),
		Discard:           jetstream.DiscardOld,
		AllowDirect:       true,
		RePublish: &jetstream.RePublish{
			Source:      r.subj.join(ns, contract.KindRoom, ">"),
			Destination: r.subj.sys.Republished(ns),
		},
	}
}

// ensureStream creates or updates the stream of ns, retrying with short
// calls until ctx ends (JetStream may still be electing its leaders). A
// glob namespace's stream that this node does not know is made only within
// its glob key's history.max_streams (a *Error with limit_exceeded
// otherwise).
func (r *Router) ensureStream(ctx context.Context, ns string, h config.History) error {
	cfg := r.streamConfig(ns, h)
	if _, ok := r.streams.Load(cfg.Name); ok {
		return nil
	}
	made := func(bool) {}
	if key := r.globKey(ns); key != "" {
		var err error
		if made, err = r.reserveStream(ctx, key, cfg.Name, h.GlobMaxStreams()); err != nil {
			return err
		}
	}
	err := r.retry(ctx, func(ctx context.Context) error {
		_, err := r.bus.For(ns).JetStream().CreateOrUpdateStream(ctx, cfg)
		return err
	})
	made(err == nil)
	if err != nil {
		return fmt.Errorf("history stream %s: %w", cfg.Name, err)
	}
	r.streams.Store(cfg.Name, true)
	return nil
}

// retryable reports whether a JetStream API error may go away by itself:
// no answer yet (JetStream starting, a leader being elected), or a cluster
// still gathering its peers.
func retryable(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode {
		case jetstream.JSErrCodeJetStreamNotEnabled, jetstream.JSErrCodeJetStreamNotEnabledForAccount,
			jetstream.JSErrCodeStreamNotFound, jetstream.JSErrCodeStreamNameInUse, jetstream.JSErrCodeBadRequest:
			return false
		}
		return true
	}
	return errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, nats.ErrNoResponders)
}

// ensureStreams creates the streams of the namespaces declared by exact
// name, so that backend events are stored before any client connects. Glob
// namespaces get theirs when their first client connects.
func (r *Router) ensureStreams() {
	for name, ns := range r.cfg.Namespaces {
		if ns.History == nil || !config.ValidNamespaceName(name) {
			continue
		}
		ctx, cancel := context.WithTimeout(r.ctx, ensureTimeout)
		err := r.ensureStream(ctx, name, *ns.History)
		cancel()
		if err != nil {
			if r.ctx.Err() == nil {
				r.log.Error("create history stream", "ns", name, "err", err)
			}
			continue
		}
		r.log.Info("history stream ready", "ns", name, "stream", r.subj.sys.HistoryStream(name))
	}
}

// historyOf returns the history of namespace ns for a connecting socket,
// making its stream first if this node has not yet. entered must be called
// once the socket is attached (or is not): until then, no sweep deletes
// the stream.
func (r *Router) historyOf(ctx context.Context, ns string, h config.History) (_ *nsHistory, entered func(), err error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Limits.AckTimeout)
	defer cancel()
	entered, err = r.enterGlob(ctx, ns)
	if err == nil {
		if err = r.ensureStream(ctx, ns, h); err != nil {
			entered()
		}
	}
	if err != nil {
		var perr *Error
		if errors.As(err, &perr) {
			return nil, nil, err
		}
		r.log.Warn("history unavailable", "ns", ns, "err", err)
		return nil, nil, Errorf(contract.CodeUnavailable, "the history of namespace %q is unavailable", ns)
	}
	return &nsHistory{ns: ns, stream: r.subj.sys.HistoryStream(ns), policy: h, nats: r.bus.For(ns)}, entered, nil
}

// retry runs op with short per-call deadlines until it succeeds, fails for
// good, or ctx ends.
func (r *Router) retry(ctx context.Context, op func(context.Context) error) error {
	backoff := 50 * time.Millisecond
	for {
		cctx, cancel := context.WithTimeout(ctx, streamOpTimeout)
		err := op(cctx)
		cancel()
		if err == nil || !retryable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// dispatchStored delivers a room event the history stream republished.
// Its seq is in the Nats-Sequence header; the room keeps the newest seq it
// delivered, so a replayed or repeated event is not delivered again.
func (r *Router) dispatchStored(sp *space, p parsed, m *nats.Msg) {
	seq, err := strconv.ParseUint(header(m.Header, "Nats-Sequence"), 10, 64)
	if err != nil || seq == 0 {
		r.m.Dropped("bad_sequence")
		return
	}
	he, ok := r.roomEvent(sp.name, p, m.Header, m.Data, seq)
	if !ok {
		return
	}
	sp.mu.RLock()
	rm := sp.rooms[he.ev.Room]
	sp.mu.RUnlock()
	if rm == nil || !rm.sub.Owns(m) {
		return
	}
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if seq <= rm.pos {
		r.m.Dropped("redelivered")
		return
	}
	rm.pos = seq
	rm.deliverLive(r, he)
}

// histEvent is a stored room event with the sid it must skip.
type histEvent struct {
	ev      *Event
	exclude string
}

// storedEvent builds the event of a stored room message.
func (r *Router) storedEvent(ns, subject string, h nats.Header, data []byte, seq uint64) (histEvent, bool) {
	p, ok := r.subj.parse(subject)
	if !ok || p.kind != contract.KindRoom || p.ns != ns {
		return histEvent{}, false
	}
	return r.roomEvent(ns, p, h, data, seq)
}

// roomEvent builds the event of a room message whose subject p is parsed.
func (r *Router) roomEvent(ns string, p parsed, h nats.Header, data []byte, seq uint64) (histEvent, bool) {
	room, err := contract.Unescape(p.target)
	if err != nil {
		return histEvent{}, false
	}
	name, ok := r.eventName(p.event)
	if !ok {
		return histEvent{}, false
	}
	ev := &Event{NS: ns, Room: room, Name: name, From: header(h, contract.HeaderSid), Seq: seq, Data: contract.Payload(data)}
	return histEvent{ev: ev, exclude: header(h, contract.HeaderExclude)}, true
}

// catchup holds the live events of a room for a member whose replay is
// still running. The replay may also run ahead of the room's subscription:
// then, once replayed, the member is live but skips what the subscription
// brings up to floor, the last seq replayed.
type catchup struct {
	held     []histEvent
	overflow bool   // more than maxHeld events arrived: the join fails
	live     bool   // replay done: deliver events after floor
	floor    uint64 // valid when live
}

// maxHeld bounds the live events held for one joining member.
const maxHeld = 1 << 16

// deliverLive delivers a live history event to the members of rm, holding
// it for members still catching up. rm.mu must be held.
func (rm *room) deliverLive(r *Router, he histEvent) {
	if len(rm.catching) == 0 {
		r.deliver(slices.Values(rm.members), he.ev, he.exclude)
		return
	}
	r.deliver(func(yield func(*Socket) bool) {
		for _, s := range rm.members {
			if c := rm.catching[s]; c != nil {
				if !c.live {
					if s.sid != he.exclude && !c.overflow {
						c.held = append(c.held, he)
						c.overflow = len(c.held) > maxHeld
					}
					continue
				}
				if he.ev.Seq <= c.floor {
					continue // replayed already
				}
				delete(rm.catching, s)
			}
			if !yield(s) {
				return
			}
		}
	}, he.ev, he.exclude)
}

// publishStored publishes m to a history room through JetStream on c and
// returns the event's seq.
func (r *Router) publishStored(ctx context.Context, c *bus.Conn, m *nats.Msg) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Limits.AckTimeout)
	defer cancel()
	ack, err := c.JetStream().PublishMsg(ctx, m)
	if err != nil {
		if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) {
			return 0, Errorf(contract.CodeUnavailable, "the room history is unavailable: no history stream answered")
		}
		return 0, natsError(err)
	}
	return ack.Sequence, nil
}
