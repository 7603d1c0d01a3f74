package socketio

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"

	"github.com/routerd/routerd/internal/sendq"
	"github.com/routerd/routerd/router"
)

const (
	writeWait  = 10 * time.Second // bound on one write to a client
	closeGrace = time.Second      // wait for the client's WebSocket close reply
)

func deadline() time.Time { return time.Now().Add(writeWait) }

// closeReason says why a session ends and how.
type closeReason struct {
	metric string // routerd_closes_total reason; "" counts nothing
	code   int    // WebSocket close code; 0 sends no close frame
	drop   bool   // discard what is queued instead of writing it first
}

var (
	closeShutdown    = closeReason{"shutdown", websocket.CloseGoingAway, false}
	closeSlow        = closeReason{"slow_consumer", websocket.CloseTryAgainLater, true}
	closeRate        = closeReason{"rate_limited", websocket.ClosePolicyViolation, false}
	closeTooLarge    = closeReason{"too_large", websocket.CloseMessageTooBig, true}
	closeParse       = closeReason{"parse_error", websocket.CloseProtocolError, false}
	closePanic       = closeReason{"panic", websocket.CloseInternalServerErr, true}
	closePingTimeout = closeReason{"ping_timeout", 0, true}
	closeConnect     = closeReason{"connect_timeout", websocket.CloseNormalClosure, false} // no namespace connected in time
	closeClient      = closeReason{"", websocket.CloseNormalClosure, false}                // the client sent a close packet
	closeGone        = closeReason{"", 0, true}                                            // the transport ended
)

// session is one Engine.IO session: its send queue, heartbeat and current
// transport (long-polling or WebSocket), and the Socket.IO namespaces
// attached over it.
//
// Goroutines: a WebSocket session has a reader (which owns the connection)
// and, only while units are queued or the close frame is due, a writer: one
// at a time, started on demand (writerLocked: by the push into an idle
// queue, the switch to WebSocket and close) and ending once it has emptied
// the queue, so an idle session costs one goroutine. A polling session has
// none of its own, its requests run on net/http's. close starts a teardown
// goroutine that detaches the sockets.
type session struct {
	srv  *Server
	id   string
	info router.ConnInfo
	ctx  context.Context // ends when the session closes
	stop context.CancelFunc
	q    *sendq.Queue  // units waiting for the transport, at most limits.send_queue; closed with the session, under mu
	wake chan struct{} // capacity 1: units were queued for an idle poll, or the state changed (polling only)

	limit   *rate.Limiter // Socket.IO packets; nil when unlimited
	strikes *rate.Limiter // refused packets tolerated before closing

	mu        sync.Mutex           // taken before q's lock, never after
	ws        wsConn               // the WebSocket once upgraded (or WebSocket only); guarded by mu
	writing   bool                 // a writer runs on ws, or none may start again: the last one (the session is closed) was started, or a write failed; guarded by mu
	writers   sync.WaitGroup       // writers started, added to under mu (writerLocked); the reader waits for them
	probing   bool                 // a WebSocket probe succeeded: a pending poll returns at once; guarded by mu
	upgrading bool                 // an upgrade holds the session, from holdUpgrade until its handshake ends; guarded by mu
	pollBusy  bool                 // a poll is pending; guarded by mu
	postBusy  bool                 // a post is being read; guarded by mu
	closed    bool                 // guarded by mu
	why       closeReason          // set when closed; guarded by mu
	pongDue   bool                 // a ping is unanswered; guarded by mu
	heartbeat *time.Timer          // the next ping, or the pong deadline; guarded by mu
	connectBy *time.Timer          // socketio.connect_timeout until the first namespace connects; guarded by mu
	sockets   map[string]*nsSocket // by Socket.IO namespace; nil once torn down; guarded by mu
	decoder   decoder              // Socket.IO packets being reassembled; guarded by handling
	handling  sync.Mutex           // one Socket.IO packet at a time
	requests  sync.WaitGroup       // server-bound requests in flight
}

func newSession(srv *Server, r *http.Request) *session {
	ctx, cancel := context.WithCancel(context.Background())
	s := &session{
		srv:     srv,
		id:      srv.tag + "." + router.RandomID(),
		info:    srv.connInfo(r),
		ctx:     ctx,
		stop:    cancel,
		q:       sendq.New(srv.cfg.Limits.SendQueue, nil),
		wake:    make(chan struct{}, 1),
		sockets: make(map[string]*nsSocket),
	}
	if lim := srv.cfg.Limits.Rate; lim.PerSecond > 0 {
		s.limit = rate.NewLimiter(rate.Limit(lim.PerSecond), lim.Burst)
		s.strikes = rate.NewLimiter(rate.Limit(lim.PerSecond/2), lim.Burst)
	}
	return s
}

// openPacket is the data of Engine.IO's open packet.
type openPacket struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int64    `json:"pingInterval"`
	PingTimeout  int64    `json:"pingTimeout"`
	MaxPayload   int      `json:"maxPayload"`
}

// start queues the open packet and starts the heartbeat.
func (s *session) start(websocketOnly bool) {
	upgrades := []string{"websocket"}
	if websocketOnly {
		upgrades = []string{}
	}
	hc := s.srv.cfg.HTTP
	b, _ := json.Marshal(openPacket{
		SID:          s.id,
		Upgrades:     upgrades,
		PingInterval: hc.PingInterval.Milliseconds(),
		PingTimeout:  hc.PongTimeout.Milliseconds(),
		MaxPayload:   s.srv.cfg.Limits.MaxFrameBytes,
	})
	s.push(append([]byte{eioOpen}, b...))
	s.mu.Lock()
	s.heartbeat = time.AfterFunc(hc.PingInterval, s.beat)
	if d := s.srv.cfg.SocketIO.ConnectTimeout; d > 0 {
		s.connectBy = time.AfterFunc(d, func() { s.close(closeConnect) })
	}
	s.mu.Unlock()
}

// connected stops the connect timeout: a namespace is connected.
func (s *session) connected() {
	s.mu.Lock()
	if s.connectBy != nil {
		s.connectBy.Stop()
	}
	s.mu.Unlock()
}

// beat runs on the heartbeat timer: it sends a ping and arms the pong
// deadline, or, when the deadline passes unanswered, closes the session.
func (s *session) beat() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if s.pongDue {
		s.mu.Unlock()
		s.close(closePingTimeout)
		return
	}
	s.pongDue = true
	s.heartbeat.Reset(s.srv.cfg.HTTP.PongTimeout)
	s.mu.Unlock()
	s.mark() // its pong confirms what is queued before it
	s.push([]byte{eioPing})
}

// pong answers the heartbeat: the next ping comes after ping_interval, and
// the client has every packet queued before the ping.
func (s *session) pong() {
	s.mu.Lock()
	due := s.pongDue && !s.closed
	if due {
		s.pongDue = false
		s.heartbeat.Reset(s.srv.cfg.HTTP.PingInterval)
	}
	s.mu.Unlock()
	if due {
		s.confirm()
	}
}

// push queues a unit without blocking, and wakes the transport when it is
// idle (its last take found nothing); a session whose queue is full is a
// slow consumer and is closed.
func (s *session) push(unit []byte) {
	start, err := s.q.Push(unit)
	switch {
	case errors.Is(err, sendq.ErrFull):
		s.close(closeSlow)
	case start:
		s.signal()
	}
}

// signal wakes the transport: on WebSocket it starts a writer unless one
// runs (which then takes what was queued before the signal), else it wakes
// a pending poll.
func (s *session) signal() {
	s.mu.Lock()
	conn, start := s.wakeLocked()
	s.mu.Unlock()
	s.wakeUp(conn, start)
}

// wakeLocked is signal's decision, under mu: on WebSocket (conn not nil)
// whether a writer starts (writerLocked). The caller calls wakeUp with
// what it returns once mu is unlocked.
func (s *session) wakeLocked() (conn wsConn, start bool) {
	if s.ws == nil {
		return nil, false
	}
	return s.ws, s.writerLocked()
}

// wakeUp carries out what wakeLocked decided: it starts the writer, or
// wakes a pending poll.
func (s *session) wakeUp(conn wsConn, start bool) {
	switch {
	case start:
		go s.writeLoop(conn)
	case conn == nil:
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// writerLocked decides that a writer starts on ws (the caller runs
// writeLoop once it unlocks mu), unless one runs: that one takes again
// before it ends, and whatever was queued before this call is in the queue
// by then, for an empty take and the end of a writer are one step under mu
// (takeWrite). The writer is counted in writers and srv.wg (see close)
// here, under mu, so the reader, which waits for the writers once the
// session is closed, and Server.Shutdown cannot miss it. mu must be held,
// and ws set.
func (s *session) writerLocked() (start bool) {
	if s.writing {
		return false
	}
	s.writing = true
	s.writers.Add(1)
	s.srv.wg.Add(1)
	return true
}

// close ends the session once: no more units are queued, the transport
// writes what is left (unless why drops it) and closes, and a teardown
// goroutine detaches the sockets. It never calls the router itself, since
// it runs inside router deliveries (a slow consumer).
func (s *session) close(why closeReason) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed, s.why = true, why
	s.q.Close(why.drop) // the transport is woken below, whatever this reports
	if s.heartbeat != nil {
		s.heartbeat.Stop()
	}
	if s.connectBy != nil {
		s.connectBy.Stop()
	}
	// The session's goroutines are counted in srv.wg under s.mu, so
	// Server.Shutdown, which closes every session before it waits, waits
	// for all of them: one counted by another goroutine's close, too.
	s.srv.wg.Add(1)
	// On WebSocket, the last writer is decided here, under the lock that
	// sets closed: a reader that sees the session closed waits for it.
	conn, start := s.wakeLocked()
	s.mu.Unlock()
	if why.metric != "" {
		s.srv.m.Closed(why.metric)
	}
	s.stop()
	s.wakeUp(conn, start)
	go s.teardown()
}

// teardown parks every recovering socket (park.go) and detaches the
// others, and forgets the session. At shutdown nothing is parked (the
// recovery store keeps the rooms of sockets with history, for another
// node).
func (s *session) teardown() {
	defer s.srv.wg.Done()
	s.handling.Lock() // a packet being handled finishes first
	s.mu.Lock()
	sockets := s.sockets
	s.sockets = nil
	shutdown := s.why == closeShutdown
	s.mu.Unlock()
	s.handling.Unlock()
	for _, ns := range sockets {
		if !shutdown && ns.pid != "" {
			switch s.srv.parking.park(ns) {
			case parked, notLive:
				continue
			case unparked:
				ns.end()
				continue
			}
		}
		ns.save()
		s.srv.parking.forget(ns)
		ns.sock.Disconnect()
	}
	s.requests.Wait()
	s.srv.forget(s)
}

// takeWrite is take for a WebSocket writer: it removes and returns
// everything queued. When nothing is, it ends the writer (writing is
// cleared in the same step under mu as the empty take, which gave up the
// queue's take side, so a push after it reports start and signal starts
// another writer), or, once the session is closed, returns closed and the
// close code: this writer is the last, and writing stays set.
func (s *session) takeWrite() (units [][]byte, closed bool, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	units = s.q.Take(nil, math.MaxInt)
	switch {
	case len(units) > 0:
		return units, false, 0
	case s.closed:
		return nil, true, s.why.code
	}
	s.writing = false
	return nil, false, 0
}

// takePoll is take for a pending poll, which must return at once (with a
// noop when nothing is queued) while the session moves to WebSocket:
// probing is true then. Once on WebSocket a poll takes nothing.
func (s *session) takePoll() (units [][]byte, closed, probing bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ws != nil {
		return nil, s.closed, true
	}
	return s.q.Take(nil, math.MaxInt), s.closed, s.probing
}
