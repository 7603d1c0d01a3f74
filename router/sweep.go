package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/internal/bus"
)

// Sweeping idle glob streams.
//
// Every node runs one sweeper goroutine; the node with the smallest
// instance id sweeps every sweepInterval (the others only answer). A sweep
// lists the streams (one STREAM.LIST page per 256 streams and account),
// picks at most sweepBatch streams of glob namespaces whose newest event
// (or, without events, whose creation) is older than the glob key's
// history.idle_timeout, and asks every node to hold them: a node with a
// socket in the namespace, or a connect to it under way, answers busy;
// otherwise it promises, for sweepLease, to make connects to the namespace
// wait, and forgets that it made the stream. Only when every node in the
// node table answered are the streams no node called busy deleted (each
// checked idle once more first), within sweepDeleteWindow of the ask; then
// the holds are released, and the waiting connects make the stream anew.
// So a namespace with a socket anywhere keeps its stream and its live
// events.

// Sweep bounds.
const (
	sweepBatch        = 100              // streams considered per sweep
	sweepLease        = 30 * time.Second // how long a node holds a namespace for a sweep
	sweepDeleteWindow = 10 * time.Second // deletions start this soon after the ask, well within the lease
	minSweepInterval  = 250 * time.Millisecond
	maxSweepInterval  = time.Minute
)

// sweepHold is a namespace a node promised to one sweep or more (two nodes
// may both sweep while they learn of each other).
type sweepHold struct {
	done   chan struct{}          // closed when the last sweep released it
	sweeps map[string]*time.Timer // by sweep id: releases it after sweepLease
}

// sweepRequest is sent on $routerd.P.sweep.
type sweepRequest struct {
	Op string   `json:"op"` // "hold" (answered) or "release"
	ID string   `json:"id"` // the sweep's
	NS []string `json:"ns"`
}

// sweepReply answers a hold.
type sweepReply struct {
	ID   string   `json:"id"`
	Busy []string `json:"busy,omitempty"` // namespaces in use on the node
}

// sweepInterval is how often idle glob streams are looked for: a quarter
// of the shortest idle_timeout of the glob keys with history, within
// [minSweepInterval, maxSweepInterval]; 0 when no glob key has history.
func (r *Router) sweepInterval() time.Duration {
	var shortest time.Duration
	for key, ns := range r.cfg.Namespaces {
		if ns.History == nil || config.ValidNamespaceName(key) {
			continue
		}
		if d := ns.History.GlobIdleTimeout(); shortest == 0 || d < shortest {
			shortest = d
		}
	}
	if shortest == 0 {
		return 0
	}
	return min(max(shortest/4, minSweepInterval), maxSweepInterval)
}

// sweepGlobStreams answers other nodes' sweeps and, when this node has the
// smallest instance id, sweeps, until the router closes.
func (r *Router) sweepGlobStreams() {
	sub, err := r.bus.Main().Subscribe(r.subj.sys.Sweep(), r.handleSweep)
	if err != nil {
		r.log.Error("subscribe to sweeps: idle glob history streams are kept", "err", err)
		return
	}
	defer func() { _ = sub.Unsubscribe() }()
	every := r.sweepInterval()
	if every == 0 {
		<-r.ctx.Done()
		return
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	after := "" // where the next sweep goes on from
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-tick.C:
			if r.nodes.smallest() {
				after = r.sweep(r.ctx, after)
			}
		}
	}
}

// idleStream is a stream a sweep may delete.
type idleStream struct {
	ns, name string
	idle     time.Duration // its glob key's idle_timeout
	nats     *bus.Conn     // the connection of its account
}

// sweep deletes idle streams of glob namespaces no node uses: at most
// sweepBatch of them, the first after stream name after (in name order,
// from the start again past the last), and returns the last name it
// considered, for the next sweep to go on from. So idle streams of
// namespaces in use do not keep the others from being considered.
func (r *Router) sweep(ctx context.Context, after string) (last string) {
	idle, err := r.idleStreams(ctx)
	if err != nil {
		r.log.Warn("sweep history streams", "err", err)
		return after
	}
	if len(idle) == 0 {
		return ""
	}
	idle = nextBatch(idle, after, sweepBatch)
	last = idle[len(idle)-1].name
	names := make([]string, len(idle))
	for i, st := range idle {
		names[i] = st.ns
	}
	id, asked := RandomID(), time.Now()
	busy, err := r.holdForSweep(ctx, id, names)
	defer r.publishSweep(sweepRequest{Op: "release", ID: id, NS: names})
	if err != nil {
		r.log.Warn("sweep history streams", "err", err)
		return after
	}
	for _, st := range idle {
		if busy[st.ns] {
			continue
		}
		if time.Since(asked) > sweepDeleteWindow || ctx.Err() != nil {
			return last
		}
		if err := r.deleteIdle(ctx, st); err != nil {
			r.log.Warn("delete idle history stream", "ns", st.ns, "stream", st.name, "err", err)
		}
	}
	return last
}

// nextBatch returns the first n streams of idle, in name order, whose
// names come after after, continuing from the first name past the last.
func nextBatch(idle []idleStream, after string, n int) []idleStream {
	slices.SortFunc(idle, func(a, b idleStream) int { return strings.Compare(a.name, b.name) })
	next := max(slices.IndexFunc(idle, func(st idleStream) bool { return st.name > after }), 0)
	return slices.Concat(idle[next:], idle[:next])[:min(len(idle), n)]
}

// idleStreams lists, in every account, the streams of glob namespaces
// whose newest event is older than their idle_timeout (as many as
// history.max_streams allows, at most).
func (r *Router) idleStreams(ctx context.Context) ([]idleStream, error) {
	var out []idleStream
	for _, c := range r.bus.Conns() {
		cctx, cancel := context.WithTimeout(ctx, streamOpTimeout)
		list := c.JetStream().ListStreams(cctx, jetstream.WithStreamListSubject(r.historySubjects()))
		for info := range list.Info() {
			ns, key := r.globStream(c, info.Config.Name)
			if ns == "" {
				continue
			}
			idle := r.cfg.Namespaces[key].History.GlobIdleTimeout()
			if streamIdle(info, idle) {
				out = append(out, idleStream{ns: ns, name: info.Config.Name, idle: idle, nats: c})
			}
		}
		err := list.Err()
		cancel()
		if err != nil {
			return nil, fmt.Errorf("list history streams: %w", err)
		}
	}
	return out, nil
}

// streamIdle reports whether the newest event of a stream, or its creation
// when it never had one, is older than idle.
func streamIdle(info *jetstream.StreamInfo, idle time.Duration) bool {
	return time.Since(info.State.LastTime) > idle && time.Since(info.Created) > idle
}

// deleteIdle deletes st's stream if it is still idle.
func (r *Router) deleteIdle(ctx context.Context, st idleStream) error {
	ctx, cancel := context.WithTimeout(ctx, streamOpTimeout)
	defer cancel()
	js := st.nats.JetStream()
	s, err := js.Stream(ctx, st.name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if !streamIdle(s.CachedInfo(), st.idle) {
		return nil
	}
	if err := js.DeleteStream(ctx, st.name); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return err
	}
	r.streams.Delete(st.name)
	r.glob.forget(st.name)
	r.log.Info("idle history stream deleted", "ns", st.ns, "stream", st.name)
	return nil
}

// holdForSweep asks every node to hold the namespaces and returns those
// some node uses. It fails unless every node in the node table answered
// within gatherTimeout: then nothing may be deleted. (Unlike gather, which
// makes do with the answers it gets.)
func (r *Router) holdForSweep(ctx context.Context, id string, names []string) (map[string]bool, error) {
	nc := r.bus.Main().NC()
	inbox := nc.NewRespInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return nil, fmt.Errorf("ask nodes to hold: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	req := &nats.Msg{Subject: r.subj.sys.Sweep(), Reply: inbox, Data: marshal(sweepRequest{Op: "hold", ID: id, NS: names})}
	if err := nc.PublishMsg(req); err != nil {
		return nil, fmt.Errorf("ask nodes to hold: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, gatherTimeout)
	defer cancel()
	want := r.nodes.count()
	seen := make(map[string]bool, want)
	busy := make(map[string]bool)
	for len(seen) < want {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return nil, fmt.Errorf("ask nodes to hold: %d of %d nodes answered: %w", len(seen), want, err)
		}
		var rep sweepReply
		if json.Unmarshal(m.Data, &rep) != nil || rep.ID == "" || seen[rep.ID] {
			continue
		}
		seen[rep.ID] = true
		for _, ns := range rep.Busy {
			busy[ns] = true
		}
	}
	return busy, nil
}

// publishSweep sends req to every node without waiting for answers.
func (r *Router) publishSweep(req sweepRequest) {
	r.publishNotice(r.bus.Main(), &nats.Msg{Subject: r.subj.sys.Sweep(), Data: marshal(req)})
}

// handleSweep answers a sweep's hold or takes its release.
func (r *Router) handleSweep(m *nats.Msg) {
	var req sweepRequest
	if err := json.Unmarshal(m.Data, &req); err != nil {
		r.log.Warn("bad sweep request", "err", err)
		return
	}
	switch req.Op {
	case "hold":
		rep := sweepReply{ID: r.nodes.id, Busy: r.hold(req.ID, req.NS)}
		if err := m.Respond(marshal(rep)); err != nil {
			r.log.Warn("answer sweep", "err", err)
		}
	case "release":
		for _, ns := range req.NS {
			r.releaseHold(ns, req.ID)
		}
	}
}

// hold promises the namespaces not in use on this node to sweep id, for
// sweepLease, and returns those in use: with a socket (a space) or a
// connect under way.
func (r *Router) hold(id string, names []string) (busy []string) {
	g := &r.glob
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, ns := range names {
		if g.pending[ns] > 0 || r.lookupSpace(ns) != nil {
			busy = append(busy, ns)
			continue
		}
		h := g.held[ns]
		if h == nil {
			h = &sweepHold{done: make(chan struct{}), sweeps: make(map[string]*time.Timer)}
			if g.held == nil {
				g.held = make(map[string]*sweepHold)
			}
			g.held[ns] = h
		}
		if h.sweeps[id] == nil {
			h.sweeps[id] = time.AfterFunc(sweepLease, func() { r.releaseHold(ns, id) })
		}
		// The next connect makes (or checks) the stream again.
		r.streams.Delete(r.subj.sys.HistoryStream(ns))
	}
	return busy
}

// releaseHold ends sweep id's hold of ns.
func (r *Router) releaseHold(ns, id string) {
	g := &r.glob
	g.mu.Lock()
	defer g.mu.Unlock()
	h := g.held[ns]
	if h == nil || h.sweeps[id] == nil {
		return
	}
	h.sweeps[id].Stop()
	delete(h.sweeps, id)
	if len(h.sweeps) == 0 {
		delete(g.held, ns)
		close(h.done)
	}
}
