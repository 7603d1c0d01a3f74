// Package relay is routerd's node-to-node traffic: the one place that
// names every subject nodes talk to each other on and every JetStream
// stream and bucket routerd makes (Names), and the relay that takes an
// HTTP request or a WebSocket to the node that owns its session (Relay), so
// that a transport needs no sticky sessions.
//
// Every node-to-node subject lives under $routerd.{P} (P is nats.prefix),
// outside P.>, so that a backend observing P.> sees the subjects of the
// backend contract (package contract) and nothing else:
//
//	subject                               traffic                                 user
//	$routerd.P.hb                         heartbeats: nodes find each other       router
//	$routerd.P.ctl                        scatter/gather: presence, ctl, peers    router
//	$routerd.P.sweep                      sweeps of idle history streams          router
//	$routerd.P.hist.{ns}.room.{room}.{e}  history events, republished by streams  router
//	$routerd.P.eio.{tag}                  a forwarded HTTP request (req/reply)    Relay
//	$routerd.P.eio.{tag}.cancel           its client went away                    Relay
//	$routerd.P.eio.{tag}.ws               take a tunnelled WebSocket (req/reply)  Relay
//	$routerd.P.eio.{tag}.ws.{id}          one side of tunnel id's messages        Relay
//	$routerd.P.resume.{key}               hand over a parked socket (req/reply)   Relay
//
// and the JetStream names: stream routerd_{P}_{ns} keeps the room history
// of namespace ns, bucket {P}_socketio_recovery the state of lost
// Socket.IO connections. Nodes of different versions share a cluster
// during a rolling upgrade and streams outlive nodes: none of these names,
// headers or encodings may change.
//
// A node is reached by its tag (NewTag), which a transport puts at the
// start of its session ids. A Relay forwards a request for another node's
// session to $routerd.P.eio.{tag} with its headers, method, query and body,
// where the owner serves it into an http.Handler and answers with the
// recorded response; the edge writes it. An upgrade to WebSocket is
// tunnelled instead: the edge asks the owner to take it, accepts the
// client's WebSocket and relays each message both ways, one exchange at a
// time, and the owner serves the session on a Conn, which reads and writes
// like a WebSocket.
//
// A parked Socket.IO socket (one whose client lost its connection, kept
// for it to resume) is held on $routerd.P.resume.{key}, a subject of its
// own, so that a node its client resumes on finds the holder, or learns
// from no responders that there is none (Hold, Resume; resume.go).
//
// Lifecycle: New builds (no network work) → Start subscribes → Close
// unsubscribes → Wait waits for the forwarded requests and resume
// requests being served.
package relay

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/contract"
	"github.com/routerd/routerd/internal/bus"
	"github.com/routerd/routerd/metrics"
)

// Errors of Forward and Tunnel, which answer nothing then: the transport
// answers its client as it sees fit.
var (
	// ErrNoNode: no node has the tag (no responders), so none has the
	// session.
	ErrNoNode = errors.New("relay: no node has that tag")
	// ErrNoAnswer: the node did not answer in time (or the client went
	// away first).
	ErrNoAnswer = errors.New("relay: the node did not answer")
	// ErrBadBody: the request's body is over Options.MaxBytes, or cut
	// short.
	ErrBadBody = errors.New("relay: request body too large or cut short")
)

// ErrBadTunnel is returned by TunnelRequest.Accept when the edge named the
// tunnel or itself in anything but a subject token.
var ErrBadTunnel = errors.New("relay: bad tunnel id or edge tag")

// tagLen is the length of a node tag.
const tagLen = 8

// NewTag returns a new node tag: tagLen characters of [A-Za-z0-9_-].
func NewTag() string { return newID()[:tagLen] }

// ValidTag reports whether tag may be a node's: one subject token of the
// right length. An id with any other tag is unknown everywhere.
func ValidTag(tag string) bool {
	return len(tag) == tagLen && contract.Escape(tag) == tag
}

// newID returns a random id of 22 characters of [A-Za-z0-9_-].
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Options configure a Relay. Conn, Prefix, Tag, Handler, Accept and
// Upgrader are required.
type Options struct {
	// Conn is routerd's own NATS connection.
	Conn *bus.Conn
	// Prefix is nats.prefix.
	Prefix string
	// Tag is this node's tag (NewTag).
	Tag string
	// Path is the URL path the requests forwarded here are served at (the
	// forwarding node sends the query only).
	Path string
	// Handler serves the requests other nodes forward here.
	Handler http.Handler
	// Accept takes the WebSocket upgrades other nodes tunnel here: it
	// answers w as it would answer a local upgrade, or takes the tunnel
	// with t.Accept.
	Accept func(w http.ResponseWriter, t *TunnelRequest)
	// Upgrader accepts the client WebSockets this node tunnels to others
	// (through wsread.Upgrade: its ReadBufferSize must be 0).
	Upgrader *websocket.Upgrader
	// MaxBytes bounds the body of a request forwarded from here and each
	// message a tunnelled client sends here.
	MaxBytes int
	// AnswerWithin bounds how long the owner may take to answer a
	// forwarded request or to take a tunnelled client's message (a long
	// poll waits until something is queued).
	AnswerWithin time.Duration
	// OpenWithin bounds how long the owner may take to answer the opening
	// of a tunnel, and Start's confirmation of its subscriptions.
	OpenWithin time.Duration
	// Metrics counts the open tunnels; nil counts nothing.
	Metrics *metrics.Metrics
}

// Relay forwards requests and tunnels WebSockets to the node that owns
// their session, and serves those other nodes relay here. Its methods are
// safe for concurrent use.
type Relay struct {
	o     Options
	names Names

	wg sync.WaitGroup // forwarded requests and resume requests being served

	resumes chan *nats.Msg // the resume requests of every held socket
	done    chan struct{}  // closed by Close: serveResumes ends

	mu       sync.Mutex
	subs     []*bus.Sub                    // guarded by mu
	closed   bool                          // Close was called; guarded by mu
	inflight map[string]context.CancelFunc // forwarded requests served here, by Eio-Request; guarded by mu
	held     map[string]*held              // parked sockets held here, by resume subject; guarded by mu
}

// New returns a relay; it does no network work (see Start).
func New(o Options) *Relay {
	return &Relay{
		o:        o,
		names:    NewNames(o.Prefix),
		resumes:  make(chan *nats.Msg, resumeQueue),
		done:     make(chan struct{}),
		inflight: make(map[string]context.CancelFunc),
		held:     make(map[string]*held),
	}
}

// Start subscribes to what other nodes relay to this node (forwarded
// requests, their cancellations, tunnels) and, while connected, waits
// until the server confirms it, within ctx and Options.OpenWithin.
func (rl *Relay) Start(ctx context.Context) error {
	if err := rl.subscribe(); err != nil {
		return err
	}
	if !rl.o.Conn.Connected() {
		return nil // made when the connection is
	}
	ctx, cancel := context.WithTimeout(ctx, rl.o.OpenWithin)
	defer cancel()
	if err := rl.o.Conn.Flush(ctx); err != nil {
		rl.Close()
		return fmt.Errorf("relay: confirm subscriptions: %w", err)
	}
	return nil
}

// subscribe makes the subscriptions of Start.
func (rl *Relay) subscribe() error {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if rl.closed {
		return errors.New("relay: start after close")
	}
	go rl.serveResumes()
	for _, s := range []struct {
		subject string
		handler nats.MsgHandler
	}{
		{rl.names.Forward(rl.o.Tag), rl.serveForwarded},
		{rl.names.Cancel(rl.o.Tag), rl.cancelForwarded},
		{rl.names.TunnelOpen(rl.o.Tag), rl.serveTunnel},
	} {
		sub, err := rl.o.Conn.Subscribe(s.subject, s.handler)
		if err != nil {
			rl.unsubscribe()
			return fmt.Errorf("relay: subscribe %s: %w", s.subject, err)
		}
		rl.subs = append(rl.subs, sub)
	}
	return nil
}

// unsubscribe ends every subscription. Lock must be held.
func (rl *Relay) unsubscribe() {
	for _, sub := range rl.subs {
		_ = sub.Unsubscribe()
	}
	rl.subs = nil
}

// Close takes no more forwarded requests, tunnels or resume requests, and
// ends every Hold. The requests being served go on (see Wait), and so do
// open tunnels.
func (rl *Relay) Close() {
	rl.mu.Lock()
	if !rl.closed {
		close(rl.done)
	}
	rl.closed = true
	rl.unsubscribe()
	for subject, h := range rl.held {
		_ = h.sub.Unsubscribe()
		delete(rl.held, subject)
	}
	rl.mu.Unlock()
	// Once NATS has the unsubscriptions, a request for this node is answered
	// no responders (the client's 404) rather than left to time out (504).
	ctx, cancel := context.WithTimeout(context.Background(), closeFlush)
	defer cancel()
	_ = rl.o.Conn.Flush(ctx)
}

// closeFlush bounds how long Close waits for NATS to confirm the
// unsubscriptions: a connection that is down does not hold a shutdown up.
const closeFlush = time.Second

// Wait waits until every forwarded request being served is answered.
// Call it after Close.
func (rl *Relay) Wait() { rl.wg.Wait() }
