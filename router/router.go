// Package router is routerd's core: it maps namespaces, rooms and events onto
// NATS subjects, enforces namespace policy, keeps the membership of local
// sockets, fans events out to them, and answers presence and control requests
// for the whole cluster. The subjects, headers, payload rule, error codes and
// bodies it shares with backends are package contract's; the node-to-node
// subjects under $routerd.P it uses (heartbeats, scatter, sweeps, history
// republishing) and the names of its streams are package internal/relay's.
//
// The router knows nothing of WebSockets. A transport (package bridge)
// attaches sockets through a Conn, calls the Socket methods for what clients
// ask, and receives frames encoded by its own Codec.
//
// Data flow: one NATS subscription per room (and per socket, user and
// namespace broadcast) per node; every delivered message lands on one of a few
// dispatcher goroutines (chosen by room, so per-room order holds), which
// decodes it once, encodes it once per codec and queues the bytes on each
// local member's Conn without blocking.
//
// Lifecycle: New → Start → (Connect sockets) → Close. Close detaches every
// socket and stops the dispatchers; the caller drains the NATS connection.
package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/contract"
	"github.com/routerd/routerd/internal/bus"
	"github.com/routerd/routerd/metrics"
)

// Options configure a Router. Conn and Config are required.
type Options struct {
	// Bus holds the NATS connections the router publishes and subscribes
	// on: routerd's own, and one per tenant account.
	Bus *bus.Bus
	// Config is the validated daemon configuration (node name, prefix,
	// limits and namespace policy are read from it).
	Config *config.Config
	// Logger receives the router's logs; nil discards them.
	Logger *slog.Logger
	// Metrics records what the router does; nil records nothing.
	Metrics *metrics.Metrics
	// Authenticator decides connects to namespaces whose auth is not none.
	// nil refuses them with unauthorized.
	Authenticator Authenticator
}

// Router routes events between local sockets and NATS. Its methods are safe
// for concurrent use.
type Router struct {
	bus   *bus.Bus
	cfg   *config.Config
	subj  subjects
	node  string
	log   *slog.Logger
	m     *metrics.Metrics
	auth  Authenticator
	nodes *nodeTable

	shards  []chan *nats.Msg // dispatcher inputs; each holds shardQueue messages
	readers chan struct{}    // control requests that only read, being served (at most ctlReaders)
	seed    maphash.Seed

	ctx    context.Context // ends when Close starts
	cancel context.CancelFunc
	wg     sync.WaitGroup // dispatcher and node goroutines

	mu      sync.RWMutex
	spaces  map[string]*space // live namespaces by name; guarded by mu
	closing bool              // Close has begun: no new sockets; guarded by mu
	sysSub  []*bus.Sub

	streams sync.Map    // names of the history streams made or checked
	glob    globStreams // the history streams of glob namespaces: census, sweeps
	perConn nsPerConn   // namespaces each client connection attached
	peers   peerTracker // the other nodes' sockets, for node loss

	conns  atomic.Int64  // client connections admitted, all transports
	opened atomic.Uint64 // client connections admitted since Start (inventory.go)
	closed atomic.Uint64 // client connections released since Start

	hostname string    // the host's name, for the inventory; set by Start
	started  time.Time // set by Start
}

// shardQueue bounds each dispatcher's input. nats.go drops (and reports a
// slow consumer) when it is full, so it is sized for bursts far above what a
// dispatcher falls behind in practice.
const shardQueue = 1 << 16

// New returns a router; call Start before attaching sockets. Options.Bus
// and Options.Config are required.
func New(o Options) *Router {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n := runtime.GOMAXPROCS(0)
	r := &Router{
		bus:     o.Bus,
		cfg:     o.Config,
		subj:    newSubjects(o.Config.NATS.Prefix),
		node:    o.Config.Node.Name,
		log:     log.With("component", "router"),
		m:       o.Metrics,
		auth:    o.Authenticator,
		shards:  make([]chan *nats.Msg, n),
		readers: make(chan struct{}, ctlReaders),
		seed:    maphash.MakeSeed(),
		spaces:  make(map[string]*space),
		peers:   peerTracker{byNode: make(map[string]*peerSockets)},
	}
	for i := range r.shards {
		r.shards[i] = make(chan *nats.Msg, shardQueue)
	}
	r.nodes = newNodeTable(r)
	return r
}

// Node returns this node's name.
func (r *Router) Node() string { return r.node }

// Admit counts a new client connection in, unless the node already holds
// limits.max_connections of them, of every transport together. Each
// admitted connection is counted out with Release.
func (r *Router) Admit() bool {
	if r.conns.Add(1) > int64(r.cfg.Limits.MaxConnections) {
		r.conns.Add(-1)
		return false
	}
	r.opened.Add(1)
	return true
}

// Release counts out a connection Admit counted in.
func (r *Router) Release() {
	r.conns.Add(-1)
	r.closed.Add(1)
}

// Nodes returns how many routerd nodes (this one included) are alive on the
// bus, as heartbeats show.
func (r *Router) Nodes() int { return r.nodes.count() }

// Start subscribes to the control and node subjects and starts the
// dispatchers. It returns once the subscriptions are confirmed by the
// server. When it fails, it undoes what it began: the router is as New
// left it, and Close need not be called.
func (r *Router) Start(ctx context.Context) (err error) {
	r.ctx, r.cancel = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			r.undoStart()
		}
	}()
	r.started = time.Now()
	r.hostname, _ = os.Hostname()
	for _, ch := range r.shards {
		r.wg.Add(1)
		go r.dispatchLoop(ch)
	}
	for _, c := range r.bus.Conns() {
		ctl, err := c.QueueSubscribe(r.subj.ctlSub(), "routerd.ctl", func(m *nats.Msg) { r.serveCtl(c, m) })
		if err != nil {
			return fmt.Errorf("router: subscribe ctl: %w", err)
		}
		r.sysSub = append(r.sysSub, ctl)
	}
	if err := r.nodes.start(); err != nil {
		return err
	}
	r.background(r.ensureStreams)
	r.background(r.sweepGlobStreams)
	for _, c := range r.bus.Conns() {
		if !c.Connected() {
			continue // the subscriptions are made when the connection is
		}
		if err := r.flush(ctx, c); err != nil {
			return fmt.Errorf("router: confirm subscriptions: %w", err)
		}
	}
	return nil
}

// undoStart stops what a failed Start began: the node's heartbeats (a
// node that announced itself says it leaves), the control subscriptions,
// the dispatchers and background work.
func (r *Router) undoStart() {
	if r.nodes.subs != nil {
		r.nodes.stop()
	}
	for _, sub := range r.sysSub {
		_ = sub.Unsubscribe()
	}
	r.sysSub = nil
	r.cancel()
	r.wg.Wait()
}

// Close detaches every socket (publishing their leave and disconnect
// notices), unsubscribes and stops the dispatchers. The transports have
// usually closed their connections first; Close catches what is left.
func (r *Router) Close() {
	r.mu.Lock()
	r.closing = true
	var all []*Socket
	for _, sp := range r.spaces {
		sp.mu.RLock()
		for _, s := range sp.sockets {
			all = append(all, s)
		}
		sp.mu.RUnlock()
	}
	r.mu.Unlock()
	for _, s := range all {
		s.detach("shutdown", true)
	}
	r.nodes.stop()
	r.unwatchPeers()
	for _, sub := range r.sysSub {
		_ = sub.Unsubscribe()
	}
	if r.cancel != nil {
		r.cancel()
	}
	r.wg.Wait()
}

// background runs f on a goroutine that Close waits for, unless Close has
// begun, and reports whether it did.
func (r *Router) background(f func()) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing {
		return false
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		f()
	}()
	return true
}

// shardFor picks the dispatcher for a key, so that every message of one room
// (or socket) goes through the same goroutine, in order.
func (r *Router) shardFor(key string) chan *nats.Msg {
	return r.shards[maphash.String(r.seed, key)%uint64(len(r.shards))]
}

// policy returns the policy of namespace ns, or an error frame's reason.
func (r *Router) policy(ns string) (config.Namespace, error) {
	if !config.ValidNamespaceName(ns) {
		return config.Namespace{}, Errorf(contract.CodeInvalidName, "invalid namespace name %q", ns)
	}
	p, ok := r.cfg.Namespace(ns)
	if !ok {
		return config.Namespace{}, Errorf(contract.CodeUnknownNamespace, "namespace %q is not declared", ns)
	}
	return p, nil
}

// validRoom checks a room name against docs/protocol.md#names and limits.max_name_bytes.
func (r *Router) validRoom(room string) error {
	if !contract.ValidRoomName(room, r.cfg.Limits.MaxNameBytes) {
		return Errorf(contract.CodeInvalidName, "room name must be 1..%d bytes of UTF-8 without control characters", r.cfg.Limits.MaxNameBytes)
	}
	return nil
}

// publish sends one message on c, mapping NATS failures to protocol errors.
func (r *Router) publish(c *bus.Conn, m *nats.Msg) error {
	if err := c.NC().PublishMsg(m); err != nil {
		return natsError(err)
	}
	return nil
}

// errBusDown refuses what needs NATS while the connection is down.
var errBusDown = Errorf(contract.CodeUnavailable, "the message bus is unavailable")

// natsError maps a NATS client error to the protocol error a client sees.
func natsError(err error) error {
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return Errorf(contract.CodeNoResponders, "no backend is listening")
	case errors.Is(err, nats.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return Errorf(contract.CodeTimeout, "no reply in time")
	case errors.Is(err, nats.ErrMaxPayload):
		return Errorf(contract.CodeTooLarge, "message exceeds the NATS maximum payload")
	case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrConnectionDraining),
		errors.Is(err, nats.ErrConnectionReconnecting), errors.Is(err, nats.ErrDisconnected):
		return Errorf(contract.CodeUnavailable, "the message bus is unavailable")
	}
	return fmt.Errorf("nats: %w", err)
}

// flush waits until the server has processed everything sent so far on c,
// so that a subscription is in force before the client hears it is.
func (r *Router) flush(ctx context.Context, c *bus.Conn) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Limits.AckTimeout)
	defer cancel()
	if err := c.Flush(ctx); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return Errorf(contract.CodeUnavailable, "the message bus did not confirm in time")
		}
		return natsError(err)
	}
	return nil
}

// header reads a header case-insensitively (nats.Header is case-sensitive;
// backends in other languages may not write canonical case).
func header(h nats.Header, key string) string {
	if h == nil {
		return ""
	}
	if v, ok := h[key]; ok && len(v) > 0 {
		return v[0]
	}
	for k, v := range h {
		if len(v) > 0 && strings.EqualFold(k, key) {
			return v[0]
		}
	}
	return ""
}

// marshal encodes v, which never fails for the router's own types.
func marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("router: marshal %T: %v", v, err))
	}
	return b
}
