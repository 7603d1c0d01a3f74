package router

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/routerd/routerd/config"
)

// Room history on JetStream (SPEC §5).
//
// Every namespace with history has one stream, named by historyStream,
// capturing P.{ns}.room.*.* — so events published by clients and by
// backends alike are stored, and the stream sequence of an event is its
// seq. Retention: max_age is the stream's MaxAge and max_msgs its
// MaxMsgsPerSubject (a bound per room and event name); the history a room
// shows (replay and scrollback) is its last max_msgs events.
//
// Live delivery: while a namespace with history has sockets on a node, the
// node reads the namespace's room events from one ordered consumer (filter
// P.{ns}.room.>) instead of core subscriptions, so that every delivered
// event carries its seq, and fans them out to the local members of each
// room. A join with since replays from the stream (direct batch gets, served
// by any replica), while the live events of that room are held for the
// joining socket; the held events the replay already covered are skipped.

// streamOpTimeout bounds one JetStream API call. In a fresh cluster calls
// made before the meta leader is elected hang until their deadline, so calls
// are short and retried.
const streamOpTimeout = 2 * time.Second

// ensureTimeout bounds the start-up creation of a stream; a namespace whose
// stream is still missing then gets it when its first client connects.
const ensureTimeout = 30 * time.Second

// replayBatch is how many messages one direct batch get asks for.
const replayBatch = 256

// historyStream is the name of the stream of namespace ns under prefix:
// "routerd_{prefix}_{ns}" with the prefix's dots as underscores.
func historyStream(prefix, ns string) string {
	return "routerd_" + strings.ReplaceAll(prefix, ".", "_") + "_" + ns
}

// nsHistory is the live history state of one namespace on this node: its
// stream and the ordered consumer that feeds its rooms. It exists while the
// namespace has sockets here.
type nsHistory struct {
	ns     string
	stream string
	policy config.History

	ready chan struct{} // closed when the consumer runs (or failed)
	err   error         // written before ready is closed
	cc    jetstream.ConsumeContext

	// pos is the stream sequence of the newest event the consumer has
	// taken; it is raised before the event is handed to the room, so a
	// member registered after reading pos gets every later event held.
	pos atomic.Uint64

	refs    int         // sockets using it; guarded by Router.hmu
	stopped atomic.Bool // released by its last socket: deliver no more
}

// streamConfig is the stream of namespace ns with history h.
func (r *Router) streamConfig(ns string, h config.History) jetstream.StreamConfig {
	storage := jetstream.FileStorage
	if r.cfg.NATS.JetStream.Storage == "memory" {
		storage = jetstream.MemoryStorage
	}
	return jetstream.StreamConfig{
		Name:              historyStream(r.subj.prefix, ns),
		Description:       fmt.Sprintf("routerd room history of namespace %s", ns),
		Subjects:          []string{r.subj.join(ns, kindRoom, "*", "*")},
		Storage:           storage,
		Replicas:          max(h.Replicas, 1),
		MaxAge:            h.MaxAge,
		MaxMsgsPerSubject: int64(h.MaxMsgs),
		Discard:           jetstream.DiscardOld,
		AllowDirect:       true,
	}
}

// ensureStream creates or updates the stream of ns, retrying with short
// calls until ctx ends (JetStream may still be electing its leaders).
func (r *Router) ensureStream(ctx context.Context, ns string, h config.History) error {
	cfg := r.streamConfig(ns, h)
	if _, ok := r.streams.Load(cfg.Name); ok {
		return nil
	}
	backoff := 50 * time.Millisecond
	for {
		cctx, cancel := context.WithTimeout(ctx, streamOpTimeout)
		_, err := r.js.CreateOrUpdateStream(cctx, cfg)
		cancel()
		if err == nil {
			r.streams.Store(cfg.Name, true)
			return nil
		}
		if !retryable(err) {
			return fmt.Errorf("history stream %s: %w", cfg.Name, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("history stream %s: %w (last error: %v)", cfg.Name, ctx.Err(), err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
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
		r.log.Info("history stream ready", "ns", name, "stream", historyStream(r.subj.prefix, name))
	}
}

// acquireHistory returns the running history of ns, starting its stream
// and consumer for the first socket.
func (r *Router) acquireHistory(ctx context.Context, ns string, h config.History) (*nsHistory, error) {
	r.hmu.Lock()
	nh := r.hists[ns]
	if nh == nil {
		nh = &nsHistory{ns: ns, stream: historyStream(r.subj.prefix, ns), policy: h, ready: make(chan struct{})}
		r.hists[ns] = nh
		go r.startHistory(nh)
	}
	nh.refs++
	r.hmu.Unlock()
	select {
	case <-nh.ready:
	case <-ctx.Done():
		r.releaseHistory(nh)
		return nil, Errorf(CodeUnavailable, "history of namespace %q is not ready", ns)
	}
	if nh.err != nil {
		r.releaseHistory(nh)
		return nil, nh.err
	}
	return nh, nil
}

// releaseHistory drops a socket's reference; the last one stops the
// consumer.
func (r *Router) releaseHistory(nh *nsHistory) {
	r.hmu.Lock()
	nh.refs--
	last := nh.refs == 0
	if last {
		nh.stopped.Store(true)
		delete(r.hists, nh.ns)
	}
	r.hmu.Unlock()
	if last {
		<-nh.ready
		if nh.cc != nil {
			nh.cc.Stop()
		}
	}
}

// startHistory brings up the stream and the live consumer of nh and closes
// nh.ready. A failure is remembered for the sockets waiting and the next
// socket tries again.
func (r *Router) startHistory(nh *nsHistory) {
	defer close(nh.ready)
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.Limits.AckTimeout)
	defer cancel()
	fail := func(what string, err error) {
		r.log.Warn("history unavailable", "ns", nh.ns, "step", what, "err", err)
		nh.err = Errorf(CodeUnavailable, "the history of namespace %q is unavailable: %s", nh.ns, what)
		r.hmu.Lock()
		if r.hists[nh.ns] == nh {
			delete(r.hists, nh.ns) // let the next socket try afresh
		}
		r.hmu.Unlock()
	}
	if err := r.ensureStream(ctx, nh.ns, nh.policy); err != nil {
		fail("stream", err)
		return
	}
	var last uint64
	var cons jetstream.Consumer
	err := r.retry(ctx, func(ctx context.Context) error {
		st, err := r.js.Stream(ctx, nh.stream)
		if err != nil {
			return err
		}
		last = st.CachedInfo().State.LastSeq
		cons, err = st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{r.subj.join(nh.ns, kindRoom, ">")},
			DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
			OptStartSeq:    last + 1,
		})
		return err
	})
	if err != nil {
		fail("consumer", err)
		return
	}
	nh.pos.Store(last)
	cc, err := cons.Consume(func(m jetstream.Msg) { r.dispatchHistory(nh, m) },
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			r.log.Debug("history consumer", "ns", nh.ns, "err", err)
		}))
	if err != nil {
		fail("consume", err)
		return
	}
	nh.cc = cc
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

// dispatchHistory delivers one room event from the live consumer of nh.
func (r *Router) dispatchHistory(nh *nsHistory, m jetstream.Msg) {
	md, err := m.Metadata()
	if err != nil || nh.stopped.Load() {
		return
	}
	if md.Sequence.Stream <= nh.pos.Load() {
		// Redelivered around a consumer reset: it went out already.
		r.log.Warn("history redelivery dropped", "ns", nh.ns, "seq", md.Sequence.Stream, "pos", nh.pos.Load())
		r.m.Dropped("redelivered")
		return
	}
	nh.pos.Store(md.Sequence.Stream)
	defer func() {
		if v := recover(); v != nil {
			r.m.Dropped("panic")
			r.log.Error("history dispatch panicked", "subject", m.Subject(), "panic", v)
		}
	}()
	sp := r.lookupSpace(nh.ns)
	if sp == nil {
		return
	}
	he, ok := r.storedEvent(sp.name, m.Subject(), m.Headers(), m.Data(), md.Sequence.Stream)
	if !ok {
		return
	}
	sp.mu.RLock()
	rm := sp.rooms[he.ev.Room]
	sp.mu.RUnlock()
	if rm == nil {
		return
	}
	rm.mu.Lock()
	rm.deliverLive(r, he)
	rm.mu.Unlock()
}

// histEvent is a stored room event with the sid it must skip.
type histEvent struct {
	ev      *Event
	exclude string
}

// storedEvent builds the event of a stored room message.
func (r *Router) storedEvent(ns, subject string, h nats.Header, data []byte, seq uint64) (histEvent, bool) {
	p, ok := r.subj.parse(subject)
	if !ok || p.kind != kindRoom || p.ns != ns {
		return histEvent{}, false
	}
	room, err := Unescape(p.target)
	if err != nil {
		return histEvent{}, false
	}
	name, ok := r.eventName(p.event)
	if !ok {
		return histEvent{}, false
	}
	ev := &Event{NS: ns, Room: room, Name: name, From: header(h, "Router-Sid"), Seq: seq, Data: Payload(data)}
	return histEvent{ev: ev, exclude: header(h, "Router-Exclude")}, true
}

// catchup holds the live events of a room for a member whose replay is
// still running. The replay may also run ahead of the live consumer: then,
// once replayed, the member is live but skips what the consumer brings up to
// floor, the last seq replayed.
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
		r.deliver(rm.memberSeq(), he.ev, he.exclude)
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

var errNoStream = errors.New("no history stream")

// publishStored publishes m to a history room through JetStream and
// returns the event's seq.
func (r *Router) publishStored(ctx context.Context, m *nats.Msg) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Limits.AckTimeout)
	defer cancel()
	ack, err := r.js.PublishMsg(ctx, m)
	if err != nil {
		if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) {
			return 0, Errorf(CodeUnavailable, "the room history is unavailable: %v", errNoStream)
		}
		return 0, natsError(err)
	}
	return ack.Sequence, nil
}

// histOf returns the running history of ns on this node, or nil.
func (r *Router) histOf(ns string) *nsHistory {
	r.hmu.Lock()
	defer r.hmu.Unlock()
	return r.hists[ns]
}

// stopHistories stops every live consumer (Close).
func (r *Router) stopHistories() {
	r.hmu.Lock()
	all := make([]*nsHistory, 0, len(r.hists))
	for _, nh := range r.hists {
		all = append(all, nh)
	}
	clear(r.hists)
	r.hmu.Unlock()
	for _, nh := range all {
		<-nh.ready
		if nh.cc != nil {
			nh.cc.Stop()
		}
	}
}
