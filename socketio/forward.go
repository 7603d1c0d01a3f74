package socketio

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/contract"
	"github.com/routerd/routerd/internal/bus"
	"github.com/routerd/routerd/router"
)

// Long-polling without sticky sessions.
//
// A polling session lives on the node that opened it, but a load balancer
// may send each of its requests to any node. Every Engine.IO sid starts with
// its node's tag ("{tag}.{random}"); a node that gets a poll or a post for a
// sid that is not its own forwards the request over NATS to
// $routerd.P.eio.{tag}, where the owning node serves it as if it had come in
// itself, and relays the answer. A forwarded poll whose client goes away is
// cancelled on the owner ($routerd.P.eio.{tag}.cancel), as a local one would
// be. A WebSocket upgrade that reaches another node is tunnelled to the
// owner (tunnel.go).

// Headers of a forwarded request and its answer, besides the HTTP headers
// they carry.
const (
	hdrMethod  = "Eio-Method"
	hdrQuery   = "Eio-Query"
	hdrRemote  = "Eio-Remote"
	hdrRequest = "Eio-Request"
	hdrStatus  = "Eio-Status"
)

// forwarding is what a node needs to forward and serve forwarded requests.
type forwarding struct {
	nc      *bus.Conn
	subject func(tag string) string // $routerd.P.eio.{tag}

	mu       sync.Mutex
	subs     []*bus.Sub                    // guarded by mu
	inflight map[string]context.CancelFunc // forwarded requests served here, by Eio-Request; guarded by mu
}

// sidTag returns the node tag an Engine.IO sid starts with.
func sidTag(sid string) string {
	tag, _, _ := strings.Cut(sid, ".")
	return tag
}

// tagLen is the length of a node tag.
const tagLen = 8

// validTag reports whether tag may be a node's: one subject token of the
// right length. A sid with any other tag is unknown everywhere.
func validTag(tag string) bool {
	return len(tag) == tagLen && contract.Escape(tag) == tag
}

// startForwarding subscribes to the requests other nodes forward here.
func (s *Server) startForwarding(nc *bus.Conn) error {
	prefix := s.cfg.NATS.Prefix
	s.fwd = &forwarding{
		nc:       nc,
		subject:  func(tag string) string { return router.InternalSubject(prefix, "eio", tag) },
		inflight: make(map[string]context.CancelFunc),
	}
	reqs, err := nc.Subscribe(s.fwd.subject(s.tag), s.serveForwarded)
	if err != nil {
		return err
	}
	cancels, err := nc.Subscribe(s.fwd.subject(s.tag)+".cancel", func(m *nats.Msg) {
		s.fwd.mu.Lock()
		cancel := s.fwd.inflight[string(m.Data)]
		s.fwd.mu.Unlock()
		if cancel != nil {
			cancel()
		}
	})
	if err != nil {
		_ = reqs.Unsubscribe()
		return err
	}
	tunnels, err := nc.Subscribe(s.fwd.subject(s.tag)+".ws", s.serveTunnel)
	if err != nil {
		_ = reqs.Unsubscribe()
		_ = cancels.Unsubscribe()
		return err
	}
	s.fwd.subs = []*bus.Sub{reqs, cancels, tunnels}
	return nil
}

// stopForwarding takes no more forwarded requests.
func (s *Server) stopForwarding() {
	if s.fwd == nil {
		return
	}
	s.fwd.mu.Lock()
	defer s.fwd.mu.Unlock()
	for _, sub := range s.fwd.subs {
		_ = sub.Unsubscribe()
	}
	s.fwd.subs = nil
}

// forward relays a poll or a post for a session of the node tagged tag.
func (s *Server) forward(w http.ResponseWriter, r *http.Request, tag string) {
	body, err := readBody(w, r, s.cfg.Limits.MaxFrameBytes)
	if err != nil {
		http.Error(w, "payload too large", http.StatusRequestEntityTooLarge)
		return
	}
	id := router.RandomID()
	m := nats.NewMsg(s.fwd.subject(tag))
	m.Data = body
	for k, v := range r.Header {
		m.Header[k] = v
	}
	m.Header.Set(hdrMethod, r.Method)
	m.Header.Set(hdrQuery, r.URL.RawQuery)
	m.Header.Set(hdrRemote, r.RemoteAddr)
	m.Header.Set(hdrRequest, id)
	// A poll is answered within a ping interval (a ping is queued then).
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.HTTP.PingInterval+s.cfg.HTTP.PongTimeout)
	defer cancel()
	reply, err := s.fwd.nc.NC().RequestMsgWithContext(ctx, m)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		fail(w, http.StatusBadRequest, errSessionUnknown, "")
		return
	case err != nil:
		if r.Context().Err() != nil { // the client went away: so does the poll
			_ = s.fwd.nc.NC().Publish(s.fwd.subject(tag)+".cancel", []byte(id))
			return
		}
		s.log.Debug("forward", "tag", tag, "err", err)
		fail(w, http.StatusGatewayTimeout, errBadRequest, "the session's node did not answer")
		return
	}
	writeReply(w, reply)
}

// writeReply answers a request with the reply of the node that served it.
func writeReply(w http.ResponseWriter, reply *nats.Msg) {
	status, _ := strconv.Atoi(reply.Header.Get(hdrStatus))
	for k, v := range reply.Header {
		if k != hdrStatus {
			w.Header()[k] = v
		}
	}
	w.WriteHeader(max(status, http.StatusOK))
	_, _ = w.Write(reply.Data)
}

// respondRecorded answers a forwarded request with the response rec holds.
func respondRecorded(m *nats.Msg, rec *recorder) {
	reply := nats.NewMsg(m.Reply)
	reply.Header = nats.Header(rec.header)
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	reply.Header.Set(hdrStatus, strconv.Itoa(status))
	reply.Data = rec.body.Bytes()
	_ = m.RespondMsg(reply)
}

// readBody reads a request's body, up to limit bytes.
func readBody(w http.ResponseWriter, r *http.Request, limit int) ([]byte, error) {
	var b bytes.Buffer
	_, err := b.ReadFrom(http.MaxBytesReader(w, r.Body, int64(limit)))
	return b.Bytes(), err
}

// serveForwarded serves a request another node forwarded, on a goroutine of
// its own (a poll waits), and answers it.
func (s *Server) serveForwarded(m *nats.Msg) {
	s.mu.Lock()
	if s.draining.Load() {
		s.mu.Unlock()
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		id := m.Header.Get(hdrRequest)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		s.fwd.mu.Lock()
		s.fwd.inflight[id] = cancel
		s.fwd.mu.Unlock()
		defer func() {
			s.fwd.mu.Lock()
			delete(s.fwd.inflight, id)
			s.fwd.mu.Unlock()
		}()
		req, err := http.NewRequestWithContext(ctx, m.Header.Get(hdrMethod), s.cfg.SocketIO.Path+"?"+m.Header.Get(hdrQuery), bytes.NewReader(m.Data))
		if err != nil {
			return
		}
		for k, v := range m.Header {
			if !strings.HasPrefix(k, "Eio-") {
				req.Header[k] = v
			}
		}
		req.RemoteAddr = m.Header.Get(hdrRemote)
		rec := &recorder{header: make(http.Header)}
		s.serve(rec, req, false)
		respondRecorded(m, rec)
	}()
}

// recorder is the http.ResponseWriter a forwarded request is served into.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *recorder) Header() http.Header { return w.header }

func (w *recorder) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *recorder) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(p)
}
