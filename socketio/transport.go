package socketio

import (
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/gorilla/websocket"

	"github.com/routerd/routerd/internal/wsclose"
	"github.com/routerd/routerd/internal/wscoalesce"
	"github.com/routerd/routerd/internal/wsread"
)

// wsConn is a session's WebSocket: a *websocket.Conn, or a tunnel to one
// that another node accepted (a *relay.Conn, relay.go). Close drops the
// connection without a close frame.
type wsConn interface {
	ReadMessage() (messageType int, p []byte, err error)
	WriteMessage(messageType int, data []byte) error
	WriteControl(messageType int, data []byte, deadline time.Time) error
	SetReadLimit(limit int64)
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
	Close() error
}

// poll serves a long-polling GET: it waits until something is queued (a
// ping comes every ping_interval) and answers with everything queued, or
// with a noop once a WebSocket probe succeeded, or with the close packet.
func (s *session) poll(w http.ResponseWriter, r *http.Request) {
	if !s.claim(w, &s.pollBusy, "overlapping polls") {
		return
	}
	defer s.release(&s.pollBusy)
	for {
		units, closed, probing := s.takePoll()
		if len(units) > 0 || closed || probing {
			var body []byte
			for _, u := range units {
				body = appendPolling(body, u)
			}
			switch {
			case closed:
				body = appendPolling(body, []byte{eioClose})
			case len(units) == 0:
				body = appendPolling(body, []byte{eioNoop})
			}
			h := w.Header()
			h.Set("Content-Type", "text/plain; charset=UTF-8")
			h.Set("Cache-Control", "no-store")
			_, _ = w.Write(body)
			return
		}
		select {
		case <-s.wake:
		case <-r.Context().Done():
			// The client gave up the poll: Engine.IO ends the session.
			s.close(closeGone)
			return
		}
	}
}

// claim marks a polling request in progress in busy (pollBusy or
// postBusy, guarded by mu). It refuses one once the session is upgraded,
// and one that overlaps another of its kind, which also ends the session,
// as Engine.IO does.
func (s *session) claim(w http.ResponseWriter, busy *bool, overlap string) bool {
	s.mu.Lock()
	switch {
	case s.ws != nil:
		s.mu.Unlock()
		fail(w, http.StatusBadRequest, errBadRequest, "")
		return false
	case *busy:
		s.mu.Unlock()
		fail(w, http.StatusBadRequest, errBadRequest, overlap)
		s.close(closeParse)
		return false
	}
	*busy = true
	s.mu.Unlock()
	return true
}

// release ends what claim marked.
func (s *session) release(busy *bool) {
	s.mu.Lock()
	*busy = false
	s.mu.Unlock()
}

// post serves a long-polling POST: the client's packets.
func (s *session) post(w http.ResponseWriter, r *http.Request) {
	if !s.claim(w, &s.postBusy, "overlapping posts") {
		return
	}
	defer s.release(&s.postBusy)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(s.srv.cfg.Limits.MaxFrameBytes)))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		http.Error(w, "payload too large", http.StatusRequestEntityTooLarge)
		s.close(closeTooLarge)
		return
	case err != nil:
		s.close(closeGone)
		return
	}
	packets, err := decodePayload(body)
	if err != nil {
		fail(w, http.StatusBadRequest, errBadRequest, "")
		s.close(closeParse)
		return
	}
	for _, p := range packets {
		if !s.onPacket(p, false) {
			break
		}
	}
	w.Header().Set("Content-Type", "text/html")
	_, _ = io.WriteString(w, "ok")
}

// onPacket handles one client packet. It reports false once the session
// is closing.
func (s *session) onPacket(p eioPacket, overWebSocket bool) bool {
	switch p.typ {
	case eioMessage:
		s.onMessage(p)
	case eioPong:
		s.pong()
	case eioClose:
		s.close(closeClient)
	case eioNoop:
	default: // open, ping (but probes), upgrade outside an upgrade
		s.srv.log.Debug("unexpected engine.io packet", "type", string(p.typ), "websocket", overWebSocket)
		s.close(closeParse)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.closed
}

// upgrade takes a polling session to WebSocket: the client probes ("2probe",
// answered "3probe"), the pending poll is released with a noop, and the
// client's "5" switches the session over.
func (s *session) upgrade(w http.ResponseWriter, r *http.Request) {
	if !s.holdUpgrade() {
		fail(w, http.StatusBadRequest, errBadRequest, "")
		return
	}
	conn, rd, err := s.srv.upgrade(w, r)
	if err != nil {
		s.releaseUpgrade()
		return
	}
	go s.serveUpgrade(conn, rd)
}

// holdUpgrade reports whether the session may be upgraded (it is polling,
// and no other upgrade holds it), and then holds it for this upgrade and
// counts the goroutine that will serve it in srv.wg: the caller runs
// serveUpgrade, or calls releaseUpgrade.
func (s *session) holdUpgrade() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ws != nil || s.upgrading || s.closed {
		return false
	}
	s.upgrading = true
	s.srv.wg.Add(1) // under s.mu: see close
	return true
}

// releaseUpgrade ends what holdUpgrade began.
func (s *session) releaseUpgrade() {
	s.mu.Lock()
	s.upgrading = false
	s.mu.Unlock()
	s.srv.wg.Done()
}

// serveUpgrade runs the upgrade handshake on conn and, when it succeeds,
// serves the session on it, reading through rd (nil: a tunnel). A
// goroutine of the session's, counted in srv.wg by holdUpgrade. With rd
// the handshake runs on a worker, so that this goroutine's stack stays
// shallow for the session's life (see runWebSocket).
func (s *session) serveUpgrade(conn wsConn, rd *wsread.Reader) {
	defer s.srv.wg.Done()
	var ok bool
	if rd != nil {
		done := make(chan bool, 1)
		s.srv.workers.Run(func() { done <- s.probe(conn) })
		ok = <-done
	} else {
		ok = s.probe(conn)
	}
	s.mu.Lock()
	s.upgrading = false
	s.mu.Unlock()
	if !ok {
		_ = conn.Close()
		return
	}
	s.runWebSocket(conn, rd)
}

// probe runs the upgrade handshake on conn; it reports whether the session
// now uses conn.
func (s *session) probe(conn wsConn) bool {
	conn.SetReadLimit(int64(s.srv.cfg.Limits.MaxFrameBytes))
	_ = conn.SetReadDeadline(time.Now().Add(s.srv.cfg.HTTP.HandshakeTimeout))
	typ, msg, err := conn.ReadMessage()
	if err != nil || typ != websocket.TextMessage || string(msg) != "2probe" {
		return false
	}
	if conn.SetWriteDeadline(deadline()) != nil || conn.WriteMessage(websocket.TextMessage, []byte("3probe")) != nil {
		return false
	}
	s.mu.Lock()
	if s.closed || s.ws != nil {
		s.mu.Unlock()
		return false
	}
	s.probing = true
	s.mu.Unlock()
	s.signal() // the pending poll returns a noop
	for {
		typ, msg, err = conn.ReadMessage()
		if err != nil || typ != websocket.TextMessage {
			break
		}
		switch {
		case len(msg) == 1 && msg[0] == eioUpgrade:
			// Before a writer may run: the last one sets the close grace.
			_ = conn.SetReadDeadline(time.Time{})
			s.mu.Lock()
			ok, start := !s.closed, false
			if ok {
				s.ws, s.probing = conn, false
				// A writer takes what the polls left queued (the queue
				// may not report start for it again) and gives up the
				// take side.
				start = s.writerLocked()
			}
			s.mu.Unlock()
			if start {
				go s.writeLoop(conn)
			}
			return ok
		case len(msg) == 1 && msg[0] == eioNoop:
			continue
		}
		break
	}
	s.mu.Lock()
	s.probing = false
	s.mu.Unlock()
	return false
}

// attachWebSocket serves a WebSocket-only session on conn, read through
// rd, unless the session was closed already (the daemon is shutting down):
// then conn gets the close frame only.
func (s *session) attachWebSocket(conn *websocket.Conn, rd *wsread.Reader) {
	s.mu.Lock()
	closed, code := s.closed, s.why.code
	start := false
	if !closed {
		s.ws = conn
		s.srv.wg.Add(1)          // under s.mu: see close
		start = s.writerLocked() // for the open packet, queued already
	}
	s.mu.Unlock()
	if closed {
		if code != 0 {
			_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), deadline())
		}
		_ = conn.Close()
		return
	}
	if start {
		go s.writeLoop(conn)
	}
	go func() {
		defer s.srv.wg.Done()
		s.runWebSocket(conn, rd)
	}()
}

// runWebSocket reads the client's packets until the connection ends; it
// owns conn. Writers (writeLoop) come and go beside it, on demand. With rd
// (a WebSocket of this node's, not a tunnel) the packets are read and
// handled on rd's workers, and this goroutine, which spends the session's
// life waiting, keeps the initial 2 KiB stack (package wsread).
func (s *session) runWebSocket(conn wsConn, rd *wsread.Reader) {
	conn.SetReadLimit(int64(s.srv.cfg.Limits.MaxFrameBytes))
	var readErr error // why reading ended; nil: the session is closing
	read := func() bool {
		typ, msg, err := conn.ReadMessage()
		if err != nil {
			if errors.Is(err, websocket.ErrReadLimit) {
				s.close(closeTooLarge)
			} else {
				s.close(closeGone)
			}
			readErr = err
			return false
		}
		p := eioPacket{typ: eioMessage, data: msg, binary: true}
		if typ == websocket.TextMessage {
			if p, err = decodeEIO(msg); err != nil {
				s.close(closeParse)
				return false
			}
		}
		return s.onPacket(p, true)
	}
	if rd == nil {
		for read() {
		}
	} else if err := rd.Run(read); err != nil {
		s.close(closeGone)
		readErr = err
	}
	// The session is closed: its last writer, which writes the close
	// frame, was counted when it closed (close, writerLocked).
	s.writers.Wait()
	wsclose.Linger(conn, readErr, closeGrace)
	_ = conn.Close()
}

// unitsWriter is a wsConn that writes all the units a take returned at
// once: a tunnel (relay.Conn), where each write costs a NATS round trip.
// Units are what relay.Conn.WriteAll takes: text messages or batches.
type unitsWriter interface {
	WriteAll(units [][]byte) error
}

// upgrade upgrades a request to a session's WebSocket, whose writes
// unitWriter coalesces, read through the Reader it returns.
func (s *Server) upgrade(w http.ResponseWriter, r *http.Request) (*websocket.Conn, *wsread.Reader, error) {
	return wsread.Upgrade(&s.up, w, r, nil, s.workers)
}

// unitWriter returns what writes the units a take returns to conn: a
// tunnel's WriteAll, or, to a WebSocket the server upgraded, every packet
// as a WebSocket message of its own, all in as few write calls as
// package wscoalesce makes them.
func unitWriter(conn wsConn) func(units [][]byte) error {
	if uw, ok := conn.(unitsWriter); ok {
		return uw.WriteAll
	}
	w := wscoalesce.NewWriter(conn.(*websocket.Conn), writeWait)
	return func(units [][]byte) error {
		for _, u := range units {
			if err := eachPacket(u, w.Write); err != nil {
				return err
			}
		}
		return w.Flush()
	}
}

// writeLoop is a writer: it writes queued units until the queue is empty,
// and ends; once the session is closed, the last writer writes the close
// frame after what is queued. A goroutine of the session's, started as
// writerLocked decided and counted there.
func (s *session) writeLoop(conn wsConn) {
	defer s.srv.wg.Done()
	defer s.writers.Done()
	write := unitWriter(conn)
	for {
		units, closed, code := s.takeWrite()
		if len(units) > 0 {
			if err := write(units); err != nil {
				if errors.Is(err, websocket.ErrCloseSent) {
					// gorilla sent a close frame itself (1009 for an
					// oversized message): the reader ends by itself and
					// lingers before it closes the socket, so the client
					// gets the frame. Here and below, writing stays set:
					// no writer follows one whose write failed.
					return
				}
				s.close(closeGone)
				_ = conn.Close()
				return
			}
			continue
		}
		switch {
		case !closed:
			return // idle: the push that finds the queue idle starts the next writer
		case code == 0:
			_ = conn.Close()
			return
		}
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), deadline())
		_ = conn.SetReadDeadline(time.Now().Add(closeGrace))
		return
	}
}
