// Package bridge is routerd's WebSocket side: it upgrades HTTP requests,
// runs one reader goroutine per connection (and a flusher while frames are
// queued for it), decodes client frames (docs/protocol.md), applies the
// per-connection limits, and hands every request to package router. It
// never builds a NATS subject.
package bridge

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/internal/connheader"
	"github.com/routerd/routerd/internal/sendq"
	"github.com/routerd/routerd/internal/wscoalesce"
	"github.com/routerd/routerd/internal/wsread"
	"github.com/routerd/routerd/metrics"
	"github.com/routerd/routerd/router"
)

// Subprotocol is the WebSocket subprotocol of the v1 protocol.
const Subprotocol = "routerd.v1"

// Options configure a Server. Router and Config are required.
type Options struct {
	Router  *router.Router
	Config  *config.Config
	Logger  *slog.Logger
	Metrics *metrics.Metrics
}

// Server is the WebSocket endpoint. It is an http.Handler.
type Server struct {
	r       *router.Router
	cfg     *config.Config
	log     *slog.Logger
	m       *metrics.Metrics
	codec   router.Codec
	up      websocket.Upgrader
	workers *wsread.Workers // run client frame handling
	flushq  *flushQueue     // write what fan-outs queue
	hello   []byte          // the hello frame, the same for every connection

	// credentials: a namespace authenticates with a backend, which gets
	// the upgrade request's credentials (Cookie, Authorization) with its
	// other headers. Each connection keeps the headers for its life, since
	// any later connect may need them (the lifecycle connect notice does:
	// the headers but the credentials), in a compact copy within
	// http.max_header_bytes (connheader.Keep).
	credentials bool

	draining atomic.Bool // Shutdown began: refuse new connections

	mu    sync.Mutex
	conns map[*conn]struct{} // guarded by mu
	wg    sync.WaitGroup     // one per connection
}

// New returns a WebSocket server for the router.
func New(o Options) *Server {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		r:           o.Router,
		cfg:         o.Config,
		log:         log.With("component", "bridge"),
		m:           o.Metrics,
		codec:       codec{},
		workers:     wsread.NewWorkers(),
		flushq:      newFlushQueue(),
		conns:       make(map[*conn]struct{}),
		credentials: o.Config.BackendAuth(),
	}
	s.hello = encode(helloFrame{Type: "hello", Version: "1", Node: o.Router.Node(), MaxFrameBytes: o.Config.Limits.MaxFrameBytes})
	s.up = websocket.Upgrader{
		HandshakeTimeout: o.Config.HTTP.HandshakeTimeout,
		// ReadBufferSize 0: gorilla reads through the wsread.Reader's
		// buffer (wsread.Upgrade). Data
		// messages go through the connection's wscoalesce.Writer, never
		// gorilla's write buffer: the pool only keeps gorilla from holding
		// net/http's for good.
		WriteBufferPool: &sync.Pool{},
		Subprotocols:    []string{Subprotocol},
		CheckOrigin:     s.checkOrigin,
	}
	return s
}

// checkOrigin applies http.allowed_origins.
func (s *Server) checkOrigin(r *http.Request) bool {
	if s.cfg.HTTP.OriginAllowed(r.Header.Get("Origin")) {
		return true
	}
	s.m.Refused("origin")
	return false
}

// ServeHTTP upgrades the request and starts serving the connection.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		s.m.Refused("shutdown")
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	if !s.r.Admit() {
		s.m.Refused("max_connections")
		http.Error(w, "too many connections", http.StatusServiceUnavailable)
		return
	}
	ws, rd, err := wsread.Upgrade(&s.up, w, r, nil, s.workers)
	if err != nil {
		s.r.Release()
		s.log.Debug("upgrade failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	s.m.ConnectionOpened()
	ctx, cancel := context.WithCancel(context.Background())
	info := router.ConnInfo{
		RemoteAddr: r.RemoteAddr,
		Header:     connheader.Keep(r, s.cfg.HTTP.MaxHeaderBytes, s.credentials),
		URL:        r.RequestURI,
		Query:      r.URL.RawQuery,
	}
	c := &conn{
		srv:     s,
		ws:      ws,
		w:       wscoalesce.NewWriter(ws, writeWait),
		rd:      rd,
		info:    info,
		ctx:     ctx,
		stop:    cancel,
		sockets: make(map[string]*router.Socket),
	}
	c.q = sendq.New(s.cfg.Limits.SendQueue, &c.flushers)
	if lim := s.cfg.Limits.Rate; lim.PerSecond > 0 {
		c.limit = rate.NewLimiter(rate.Limit(lim.PerSecond), lim.Burst)
		c.strikes = rate.NewLimiter(rate.Limit(lim.PerSecond/2), lim.Burst)
	}
	if !s.track(c) {
		s.r.Release()
		cancel()
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "shutting down"), time.Now().Add(writeWait))
		_ = ws.Close()
		s.m.ConnectionClosed()
		return
	}
	// The connection gets a goroutine of its own, so that this one returns
	// and net/http lets go of the request and its buffers (several KB that
	// would otherwise live as long as the connection).
	go func() {
		defer s.r.Release()
		defer s.untrack(c)
		c.run()
	}()
}

func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining.Load() {
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

// Shutdown refuses new connections, then closes every open one with 1001
// (going away) after writing what is queued for it, and waits for them to
// end or for ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.draining.Store(true)
	for c := range s.conns {
		c.close(websocket.CloseGoingAway, "server shutting down", "shutdown")
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
