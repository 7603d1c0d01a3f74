package socketio

import (
	"errors"
	"net/http"
	"strings"

	"github.com/routerd/routerd/internal/relay"
)

// Sessions without sticky sessions.
//
// A session lives on the node that opened it, but a load balancer may send
// each of its requests to any node. Every Engine.IO sid starts with its
// node's tag ("{tag}.{random}", relay.NewTag). A node that gets a poll or a
// post for a sid that is not its own forwards it to the owning node
// (relay.Relay.Forward), which serves it as if it had come in itself; a
// WebSocket upgrade is tunnelled to the owner (relay.Relay.Tunnel), which
// serves the session over the tunnel as over a WebSocket of its own
// (takeTunnel). The subjects and the wire are package relay's.

// sidTag returns the node tag an Engine.IO sid starts with.
func sidTag(sid string) string {
	tag, _, _ := strings.Cut(sid, ".")
	return tag
}

// newRelay returns the relay of s over o.NATS: it serves forwarded
// requests as s.serve does (never forwarding them again) and tunnels with
// takeTunnel.
func (s *Server) newRelay(o Options) *relay.Relay {
	cfg := o.Config
	return relay.New(relay.Options{
		Conn:         o.NATS,
		Prefix:       cfg.NATS.Prefix,
		Tag:          s.tag,
		Path:         cfg.SocketIO.Path,
		Handler:      http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, false) }),
		Accept:       s.takeTunnel,
		Upgrader:     &s.up,
		MaxBytes:     cfg.Limits.MaxFrameBytes,
		AnswerWithin: cfg.HTTP.PingInterval + cfg.HTTP.PongTimeout, // a poll is answered within a ping interval
		OpenWithin:   cfg.HTTP.HandshakeTimeout,
		Metrics:      o.Metrics,
	})
}

// forward relays a poll or a post for a session of the node tagged tag.
func (s *Server) forward(w http.ResponseWriter, r *http.Request, tag string) {
	if err := s.relay.Forward(w, r, tag); err != nil {
		s.relayFailed(w, r, err)
	}
}

// tunnel accepts a WebSocket upgrade for a session of the node tagged tag
// and relays it to that node (the edge's side) until either side ends it,
// or this node shuts down.
func (s *Server) tunnel(w http.ResponseWriter, r *http.Request, tag string) {
	s.mu.Lock()
	if s.draining.Load() {
		s.mu.Unlock()
		fail(w, http.StatusServiceUnavailable, errBadRequest, "shutting down")
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	// The client's WebSocket is open here: it counts among this node's
	// connections, as the session does on its own node.
	if !s.r.Admit() {
		s.m.Refused("max_connections")
		fail(w, http.StatusServiceUnavailable, errBadRequest, "too many connections")
		return
	}
	defer s.r.Release()
	if err := s.relay.Tunnel(s.stopping, w, r, tag, r.URL.Query().Get("sid")); err != nil {
		s.relayFailed(w, r, err)
	}
}

// relayFailed answers a request the relay could not take to its session's
// node, as Engine.IO would.
func (s *Server) relayFailed(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, relay.ErrBadBody):
		http.Error(w, "payload too large", http.StatusRequestEntityTooLarge)
	case errors.Is(err, relay.ErrNoNode):
		fail(w, http.StatusBadRequest, errSessionUnknown, "")
	case r.Context().Err() != nil: // the client went away
	case errors.Is(err, relay.ErrNoAnswer):
		s.log.Debug("relay", "err", err)
		fail(w, http.StatusGatewayTimeout, errBadRequest, "the session's node did not answer")
	default:
		s.log.Debug("relay", "err", err)
		fail(w, http.StatusInternalServerError, errBadRequest, "")
	}
}

// takeTunnel takes an upgrade another node accepted for a session of this
// node's (the owner's side), or answers as a local upgrade would be
// answered.
func (s *Server) takeTunnel(w http.ResponseWriter, t *relay.TunnelRequest) {
	sess := s.lookup(t.Session)
	switch {
	case sess == nil:
		fail(w, http.StatusBadRequest, errSessionUnknown, "")
		return
	case !sess.holdUpgrade():
		fail(w, http.StatusBadRequest, errBadRequest, "")
		return
	}
	conn, err := t.Accept()
	if err != nil {
		sess.releaseUpgrade()
		status := http.StatusInternalServerError
		if errors.Is(err, relay.ErrBadTunnel) {
			status = http.StatusBadRequest
		}
		fail(w, status, errBadRequest, "")
		return
	}
	go sess.serveUpgrade(conn, nil)
}
