package router

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/contract"
	"github.com/routerd/routerd/internal/bus"
)

// The history streams of glob namespaces.
//
// A namespace declared by exact name has its stream from the node's start.
// The namespaces of a glob key ("tenant-*": {history: ...}) are as many as
// clients choose, so their streams are bounded in number and in time:
//
//   - history.max_streams caps how many namespaces of one glob key have a
//     stream. The streams are counted as JetStream lists them (a census by
//     the stream names API, in every account routerd works in), so the cap
//     holds across restarts and nodes. A connect that would make stream
//     max_streams+1 is refused with limit_exceeded. A node lists again for
//     every connect that makes a stream (connects arriving during a
//     listing share the next one); a refusal reuses a listing younger than
//     censusTTL, so refused connects list at most once per censusTTL. A
//     namespace whose stream this node made, checked or last listed needs
//     no listing. Nodes that make streams in the same instant may pass the
//     cap by one stream each until their next listing.
//   - A stream whose newest event is older than history.idle_timeout, in
//     a namespace where no node has a socket, is deleted by the sweeper
//     (sweep.go); the next connect makes it again.

// censusTTL is how long a listing of the glob streams may answer a
// connect that is refused for history.max_streams.
const censusTTL = time.Second

// globStreams is a node's view of the streams of glob namespaces. The zero
// value is ready.
type globStreams struct {
	listMu sync.Mutex // one census listing at a time

	mu      sync.Mutex
	at      time.Time              // when the last listing began; guarded by mu
	listed  map[string]string      // stream name → glob key, as last listed; guarded by mu
	local   map[string]localStream // streams this node made that a listing may not show yet; guarded by mu
	pending map[string]int         // connects between their stream and their space, by namespace; guarded by mu
	held    map[string]*sweepHold  // namespaces promised to a sweep: connects wait; guarded by mu
}

// localStream is a stream this node is making, or made after the last
// listing began.
type localStream struct {
	key  string    // the glob key of its namespace
	made time.Time // zero while being made
}

// globKey returns the glob key whose policy namespace ns follows, or ""
// when ns is declared by exact name.
func (r *Router) globKey(ns string) string {
	key, _, ok := r.cfg.NamespaceKey(ns)
	if !ok || key == ns {
		return ""
	}
	return key
}

// enterGlob counts a connect to glob namespace ns as pending, waiting first
// while ns is promised to a sweep, so that no sweep deletes the stream of a
// namespace a socket is attaching to. The returned func ends the count; the
// socket's space, once attached, keeps the namespace in use. Namespaces
// declared by exact name are never swept: for them it does nothing.
func (r *Router) enterGlob(ctx context.Context, ns string) (func(), error) {
	if r.globKey(ns) == "" {
		return func() {}, nil
	}
	g := &r.glob
	g.mu.Lock()
	for h := g.held[ns]; h != nil; h = g.held[ns] {
		g.mu.Unlock()
		select {
		case <-h.done:
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for a sweep of namespace %s: %w", ns, ctx.Err())
		}
		g.mu.Lock()
	}
	if g.pending == nil {
		g.pending = make(map[string]int)
	}
	g.pending[ns]++
	g.mu.Unlock()
	return func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.pending[ns]--; g.pending[ns] == 0 {
			delete(g.pending, ns)
		}
	}, nil
}

// reserveStream admits the making of stream name for a namespace of glob
// key, unless the key has limit streams already. done must be called once
// the stream is made (or not).
func (r *Router) reserveStream(ctx context.Context, key, name string, limit int) (done func(made bool), err error) {
	g := &r.glob
	g.mu.Lock()
	exists := g.listed[name] != "" || g.local[name].key != ""
	full := time.Since(g.at) < censusTTL && g.count(key) >= limit
	g.mu.Unlock()
	switch {
	case exists:
		return func(bool) {}, nil
	case full:
		return nil, tooManyStreams(key, limit)
	}
	if err := r.takeCensus(ctx); err != nil {
		return nil, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.listed[name] != "" || g.local[name].key != "" {
		return func(bool) {}, nil
	}
	if g.count(key) >= limit {
		return nil, tooManyStreams(key, limit)
	}
	if g.local == nil {
		g.local = make(map[string]localStream)
	}
	g.local[name] = localStream{key: key}
	return func(made bool) {
		g.mu.Lock()
		defer g.mu.Unlock()
		if made {
			g.local[name] = localStream{key: key, made: time.Now()}
		} else {
			delete(g.local, name)
		}
	}, nil
}

// tooManyStreams is the refusal of a connect over history.max_streams.
func tooManyStreams(key string, limit int) error {
	return Errorf(contract.CodeLimitExceeded, "the namespaces of %q have %d history streams, the most they may have (history.max_streams)", key, limit)
}

// count is how many streams glob key has, listed or made here since. Lock
// must be held.
func (g *globStreams) count(key string) int {
	n := 0
	for _, k := range g.listed {
		if k == key {
			n++
		}
	}
	for name, l := range g.local {
		if l.key == key && g.listed[name] == "" {
			n++
		}
	}
	return n
}

// forget drops stream name from the census, once deleted. Lock must not be
// held.
func (g *globStreams) forget(name string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.listed, name)
	delete(g.local, name)
}

// takeCensus lists the streams of glob namespaces, unless a listing began
// since the call did (concurrent callers share one listing).
func (r *Router) takeCensus(ctx context.Context) error {
	g := &r.glob
	arrived := time.Now()
	g.listMu.Lock()
	defer g.listMu.Unlock()
	g.mu.Lock()
	fresh := !g.at.Before(arrived)
	g.mu.Unlock()
	if fresh {
		return nil
	}
	began := time.Now()
	listed := make(map[string]string)
	for _, c := range r.bus.Conns() {
		err := r.retry(ctx, func(ctx context.Context) error {
			names := c.JetStream().StreamNames(ctx, jetstream.WithStreamListSubject(r.historySubjects()))
			for name := range names.Name() {
				if ns, key := r.globStream(c, name); ns != "" {
					listed[name] = key
				}
			}
			return names.Err()
		})
		if err != nil {
			return fmt.Errorf("list history streams: %w", err)
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.listed, g.at = listed, began
	for name, l := range g.local {
		if !l.made.IsZero() && l.made.Before(began) {
			delete(g.local, name) // the listing is the truth about it now
		}
	}
	return nil
}

// historySubjects matches the subjects of every history stream.
func (r *Router) historySubjects() string { return r.subj.join("*", contract.KindRoom, "*", "*") }

// globStream returns the namespace and glob key of stream name when it is
// the history stream of a glob namespace with history, in the account of
// connection c; else "".
func (r *Router) globStream(c *bus.Conn, name string) (ns, key string) {
	ns, ok := r.subj.sys.HistoryNamespace(name)
	if !ok || !config.ValidNamespaceName(ns) || r.bus.For(ns) != c {
		return "", ""
	}
	key, policy, _ := r.cfg.NamespaceKey(ns)
	if key == ns || policy.History == nil {
		return "", ""
	}
	return ns, key
}
