// Package socketio is routerd's Socket.IO transport (docs/socketio.md): Engine.IO v4
// (HTTP long-polling with the upgrade to WebSocket, and WebSocket only)
// carrying Socket.IO v5 packets, so that apps built on the official
// socket.io-client connect unchanged. It maps Socket.IO namespaces and
// events onto routerd namespaces and routing actions and drives package
// router through the same Socket methods as the native bridge, so Socket.IO
// and native sockets share rooms, presence and subjects. Its own NATS use is
// the connection state recovery store (a JetStream key-value bucket) and
// package relay, which takes the requests of a session that reach another
// node to the node that holds it (relay.go), and a parked socket (one whose
// session was lost) to the node its client resumes it on (park.go);
// package relay names the subjects and the bucket.
//
// Lifecycle: New builds (no network work) → Start subscribes the relay →
// (mounted on the HTTP mux; serves sessions) → Shutdown, which closes
// every session and waits for their goroutines.
package socketio

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gorilla/websocket"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/internal/bus"
	"github.com/routerd/routerd/internal/connheader"
	"github.com/routerd/routerd/internal/relay"
	"github.com/routerd/routerd/internal/wsread"
	"github.com/routerd/routerd/metrics"
	"github.com/routerd/routerd/router"
)

// Options configure a Server. Router and Config are required.
type Options struct {
	Router  *router.Router
	Config  *config.Config
	Logger  *slog.Logger
	Metrics *metrics.Metrics
	// NATS holds the recovery store (a JetStream key-value bucket) for
	// namespaces with history and carries the relay to other nodes; nil
	// turns connection state recovery and the relay off.
	NATS *bus.Conn
}

// Server is the Socket.IO endpoint. It is an http.Handler for
// socketio.path and everything under it.
type Server struct {
	r       *router.Router
	cfg     *config.Config
	log     *slog.Logger
	m       *metrics.Metrics
	up      websocket.Upgrader
	workers *wsread.Workers // read and handle the packets of WebSocket sessions
	store   *recoveryStore  // nil without recovery
	tag     string          // this node's prefix of Engine.IO sids
	relay   *relay.Relay    // nil without NATS

	listed    map[string]*codec // by Socket.IO namespace listed in socketio.namespaces
	derived   *codec            // every other namespace ("/x" → x) without recovery
	derivedCR *codec            // every other namespace with connection state recovery

	parking parking  // recovering sockets (park.go)
	admin   *adminUI // the Admin UI's namespace (adminui.go); nil without admin.socketio_ui

	// credentials: a namespace authenticates with a backend, which gets
	// the handshake request's credentials (Cookie, Authorization) with its
	// other headers. Each session keeps the headers for its life, since
	// any later CONNECT may need them (the lifecycle connect notice does:
	// the headers but the credentials), in a compact copy within
	// http.max_header_bytes (connheader.Keep).
	credentials bool

	draining atomic.Bool // Shutdown began: refuse new sessions

	stopping context.Context // ends when Shutdown begins (tunnels end then)
	stop     context.CancelFunc

	mu       sync.Mutex
	sessions map[string]*session // by Engine.IO sid; guarded by mu
	wg       sync.WaitGroup      // session goroutines
}

// New returns a Socket.IO server for the router.
func New(o Options) *Server {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		r:           o.Router,
		cfg:         o.Config,
		log:         log.With("component", "socketio"),
		m:           o.Metrics,
		listed:      make(map[string]*codec),
		derived:     &codec{},
		sessions:    make(map[string]*session),
		credentials: o.Config.BackendAuth(),
		tag:         relay.NewTag(),
	}
	s.parking = parking{srv: s, byPID: make(map[string]*nsSocket)}
	s.stopping, s.stop = context.WithCancel(context.Background())
	offs := &offsets{prefix: s.tag + "-"}
	s.derivedCR = &codec{offsets: offs}
	rc := o.Config.SocketIO.Recovery
	for nsp, ns := range o.Config.SocketIO.Namespaces {
		c := &codec{nsp: nsp}
		if policy, ok := o.Config.Namespace(ns); ok && rc.Recovers(policy) {
			c.offsets = offs
		}
		s.listed[nsp] = c
	}
	history := false
	for _, ns := range o.Config.Namespaces {
		if ns.History != nil {
			history = true
		}
	}
	if history && o.NATS != nil {
		s.store = newRecoveryStore(o.NATS, o.Config)
	}
	s.workers = wsread.NewWorkers()
	s.up = websocket.Upgrader{
		HandshakeTimeout: o.Config.HTTP.HandshakeTimeout,
		// ReadBufferSize 0: gorilla reads through the wsread.Reader's
		// buffer (wsread.Upgrade). Data messages go through the
		// session's wscoalesce.Writer; gorilla writes only "3probe" and
		// control frames, and the pool keeps it from holding a buffer.
		WriteBufferPool: &sync.Pool{},
		CheckOrigin:     func(*http.Request) bool { return true }, // checked in ServeHTTP
	}
	if o.NATS != nil {
		s.relay = s.newRelay(o)
		if o.Config.Admin.SocketIOUI {
			s.admin = newAdminUI(s, o.NATS)
		}
	}
	return s
}

// Start subscribes to what other nodes relay to this node's sessions. A
// server without NATS has nothing to start.
func (s *Server) Start(ctx context.Context) error {
	if s.relay == nil {
		return nil
	}
	if err := s.relay.Start(ctx); err != nil {
		return fmt.Errorf("socketio: %w", err)
	}
	return nil
}

// Pattern returns the http.ServeMux pattern that serves path and
// everything under it (the client asks for path + "/?EIO=4&...").
func Pattern(path string) string {
	return strings.TrimSuffix(path, "/") + "/"
}

// namespace maps a Socket.IO namespace to a routerd namespace (docs/socketio.md):
// one listed in socketio.namespaces, else "/x" names namespace x when it
// is declared.
func (s *Server) namespace(nsp string) (string, *codec, bool) {
	if ns, ok := s.cfg.SocketIO.Namespaces[nsp]; ok {
		return ns, s.listed[nsp], true
	}
	name, ok := strings.CutPrefix(nsp, "/")
	if !ok {
		return "", nil, false
	}
	policy, declared := s.cfg.Namespace(name)
	if !declared {
		return "", nil, false
	}
	if s.cfg.SocketIO.Recovery.Recovers(policy) {
		return name, s.derivedCR, true
	}
	return name, s.derived, true
}

// Engine.IO's HTTP error codes and messages.
const (
	errTransportUnknown = 0
	errSessionUnknown   = 1
	errBadHandshake     = 2
	errBadRequest       = 3
	errForbidden        = 4
	errUnsupportedProto = 5
)

var errMessages = map[int]string{
	errTransportUnknown: "Transport unknown",
	errSessionUnknown:   "Session ID unknown",
	errBadHandshake:     "Bad handshake method",
	errBadRequest:       "Bad request",
	errForbidden:        "Forbidden",
	errUnsupportedProto: "Unsupported protocol version",
}

// fail answers a request with Engine.IO's JSON error body.
func fail(w http.ResponseWriter, status, code int, message string) {
	if message == "" {
		message = errMessages[code]
	}
	body, _ := json.Marshal(map[string]any{"code": code, "message": message})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// ServeHTTP serves Engine.IO requests: handshakes, polls, posts and
// WebSocket upgrades. A poll or post for a session of another node is
// forwarded to it, an upgrade tunnelled to it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.serve(w, r, true) }

// serve serves a request; forward says whether one for another node's
// session may be forwarded (not when it was forwarded here).
func (s *Server) serve(w http.ResponseWriter, r *http.Request, forward bool) {
	origin := r.Header.Get("Origin")
	if !s.cfg.HTTP.OriginAllowed(origin) {
		s.m.Refused("origin")
		fail(w, http.StatusForbidden, errForbidden, "")
		return
	}
	upgrade := websocket.IsWebSocketUpgrade(r)
	if origin != "" && !upgrade {
		// Browsers poll across origins (a page served elsewhere): allow
		// what http.allowed_origins allows. Any origin (an empty list)
		// gets "*", with which browsers send no cookies; only origins
		// listed get their own back, with credentials.
		if len(s.cfg.HTTP.AllowedOrigins) == 0 {
			w.Header().Set("Access-Control-Allow-Origin", "*")
		} else {
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Set("Access-Control-Allow-Credentials", "true")
		}
		w.Header().Add("Vary", "Origin")
		if r.Method == http.MethodOptions {
			w.Header().Set("Access-Control-Allow-Methods", "GET, POST")
			if h := r.Header.Get("Access-Control-Request-Headers"); h != "" {
				w.Header().Set("Access-Control-Allow-Headers", h)
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	if name, ok := strings.CutPrefix(r.URL.Path, Pattern(s.cfg.SocketIO.Path)); ok && name != "" {
		serveClient(w, r, name)
		return
	}
	q := r.URL.Query()
	if q.Get("EIO") != "4" {
		fail(w, http.StatusBadRequest, errUnsupportedProto, "")
		return
	}
	transport := q.Get("transport")
	if transport != "polling" && transport != "websocket" {
		fail(w, http.StatusBadRequest, errTransportUnknown, "")
		return
	}
	sid := q.Get("sid")
	if sid == "" {
		switch {
		case r.Method != http.MethodGet:
			fail(w, http.StatusBadRequest, errBadHandshake, "")
		case transport == "websocket" && !upgrade:
			fail(w, http.StatusBadRequest, errBadRequest, "")
		default:
			s.handshake(w, r, transport == "websocket")
		}
		return
	}
	sess := s.lookup(sid)
	if sess == nil {
		if tag := sidTag(sid); forward && s.relay != nil && tag != s.tag && relay.ValidTag(tag) {
			switch {
			case transport == "polling":
				s.forward(w, r, tag)
				return
			case upgrade:
				s.tunnel(w, r, tag)
				return
			}
		}
		fail(w, http.StatusBadRequest, errSessionUnknown, "")
		return
	}
	switch {
	case transport == "websocket" && upgrade:
		sess.upgrade(w, r)
	case transport == "websocket":
		fail(w, http.StatusBadRequest, errBadRequest, "")
	case r.Method == http.MethodGet:
		sess.poll(w, r)
	case r.Method == http.MethodPost:
		sess.post(w, r)
	default:
		fail(w, http.StatusBadRequest, errBadRequest, "")
	}
}

// handshake opens a session: on a long-polling GET, whose response is the
// open packet, or on a WebSocket upgrade (WebSocket only).
func (s *Server) handshake(w http.ResponseWriter, r *http.Request, ws bool) {
	if s.draining.Load() {
		s.m.Refused("shutdown")
		fail(w, http.StatusServiceUnavailable, errBadRequest, "shutting down")
		return
	}
	if !s.r.Admit() {
		s.m.Refused("max_connections")
		fail(w, http.StatusServiceUnavailable, errBadRequest, "too many connections")
		return
	}
	var conn *websocket.Conn
	var rd *wsread.Reader
	if ws {
		var err error
		if conn, rd, err = s.upgrade(w, r); err != nil {
			s.r.Release()
			s.log.Debug("upgrade failed", "remote", r.RemoteAddr, "err", err)
			return
		}
	}
	sess := newSession(s, r)
	if !s.track(sess) {
		s.r.Release()
		if conn != nil {
			_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "shutting down"), deadline())
			_ = conn.Close()
		} else {
			fail(w, http.StatusServiceUnavailable, errBadRequest, "shutting down")
		}
		return
	}
	s.m.ConnectionOpened()
	sess.start(conn != nil)
	if conn != nil {
		sess.attachWebSocket(conn, rd)
		return
	}
	sess.poll(w, r)
}

// engineParams are the query parameters of Engine.IO itself (j and b64
// of its older versions): not part of the query a client gave.
var engineParams = []string{"EIO", "transport", "sid", "t", "j", "b64"}

// connInfo describes the session that the handshake request r opens: its
// headers, its target as sent, and the query the client gave (the
// target's, without engineParams), as Socket.IO's socket.handshake.
func (s *Server) connInfo(r *http.Request) router.ConnInfo {
	return router.ConnInfo{
		RemoteAddr: r.RemoteAddr,
		Header:     connheader.Keep(r, s.cfg.HTTP.MaxHeaderBytes, s.credentials),
		URL:        r.RequestURI,
		Query:      clientQuery(r.URL.RawQuery),
	}
}

// clientQuery returns the raw query of a handshake request without the
// pairs that name one of engineParams, the others as they were sent.
func clientQuery(raw string) string {
	var b strings.Builder
	for pair := range strings.SplitSeq(raw, "&") {
		name, _, _ := strings.Cut(pair, "=")
		if n, err := url.QueryUnescape(name); err == nil {
			name = n
		}
		if pair == "" || slices.Contains(engineParams, name) {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(pair)
	}
	return b.String()
}

func (s *Server) track(sess *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining.Load() {
		return false
	}
	s.sessions[sess.id] = sess
	return true
}

// forget removes a closed session.
func (s *Server) forget(sess *session) {
	s.mu.Lock()
	delete(s.sessions, sess.id)
	s.mu.Unlock()
	s.r.Release()
	s.m.ConnectionClosed()
}

func (s *Server) lookup(sid string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[sid]
}

// Shutdown takes no more requests from other nodes, refuses new sessions,
// closes every open one (WebSocket: what is queued, then close 1001;
// polling: the pending poll gets what is queued and the close packet),
// waits for them to end or for ctx, and ends the parked sockets (their
// notices are published; the recovery store keeps the rooms of those with
// history for another node).
func (s *Server) Shutdown(ctx context.Context) error {
	if s.relay != nil {
		s.relay.Close()
	}
	s.mu.Lock()
	s.draining.Store(true)
	s.stop()
	all := make([]*session, 0, len(s.sessions))
	for _, sess := range s.sessions {
		all = append(all, sess)
	}
	s.mu.Unlock()
	for _, sess := range all {
		sess.close(closeShutdown)
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		if s.relay != nil {
			s.relay.Wait() // the requests other nodes forwarded
		}
		s.admin.wait()     // the Admin UIs' goroutines, their sessions closed
		s.parking.endAll() // nobody can resume them here any more
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("socketio shutdown: %w", ctx.Err())
	}
}
