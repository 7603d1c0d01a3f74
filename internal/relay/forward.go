package relay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
)

// Forwarded requests.
//
// The edge (the node a request came in to) sends it to the owner on
// $routerd.P.eio.{tag}: its HTTP headers as they are, Eio-Method,
// Eio-Query, Eio-Remote (the client's address) and Eio-Request (an id),
// with the body as data. The owner serves it into its Handler and answers
// with the response's headers, Eio-Status and the body. When the client
// goes away first, the edge publishes the id on $routerd.P.eio.{tag}.cancel
// and the owner cancels the request's context, as net/http would have.

// Headers of a forwarded request and its answer, besides the HTTP headers
// they carry; every header the relay adds starts with hdrOwn.
const (
	hdrOwn     = "Eio-"
	hdrMethod  = "Eio-Method"
	hdrQuery   = "Eio-Query"
	hdrRemote  = "Eio-Remote"
	hdrRequest = "Eio-Request"
	hdrStatus  = "Eio-Status"
)

// Forward sends r to the node tagged tag, which serves it as if it had
// come in itself, and writes its answer to w. It waits at most
// Options.AnswerWithin, or until the client goes away (then the owner
// cancels the request too). On an error (ErrBadBody, ErrNoNode,
// ErrNoAnswer) nothing was written.
func (rl *Relay) Forward(w http.ResponseWriter, r *http.Request, tag string) error {
	body, err := readBody(w, r, rl.o.MaxBytes)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadBody, err)
	}
	id := newID()
	m := nats.NewMsg(rl.names.Forward(tag))
	m.Data = body
	for k, v := range r.Header {
		m.Header[k] = v
	}
	m.Header.Set(hdrMethod, r.Method)
	m.Header.Set(hdrQuery, r.URL.RawQuery)
	m.Header.Set(hdrRemote, r.RemoteAddr)
	m.Header.Set(hdrRequest, id)
	ctx, cancel := context.WithTimeout(r.Context(), rl.o.AnswerWithin)
	defer cancel()
	reply, err := rl.o.Conn.NC().RequestMsgWithContext(ctx, m)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return fmt.Errorf("forward to node %s: %w", tag, ErrNoNode)
	case err != nil:
		if r.Context().Err() != nil { // the client went away: so does the request
			_ = rl.o.Conn.NC().Publish(rl.names.Cancel(tag), []byte(id))
		}
		return fmt.Errorf("forward to node %s: %w: %w", tag, ErrNoAnswer, err)
	}
	writeReply(w, reply)
	return nil
}

// readBody reads a request's body, up to limit bytes.
func readBody(w http.ResponseWriter, r *http.Request, limit int) ([]byte, error) {
	var b bytes.Buffer
	_, err := b.ReadFrom(http.MaxBytesReader(w, r.Body, int64(limit)))
	return b.Bytes(), err
}

// writeReply answers a request with the answer of the node that served it.
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

// serveForwarded serves a request another node forwarded, on a goroutine
// of its own (a long poll waits), and answers it.
func (rl *Relay) serveForwarded(m *nats.Msg) {
	rl.mu.Lock()
	if rl.closed {
		rl.mu.Unlock()
		return
	}
	rl.wg.Add(1)
	rl.mu.Unlock()
	go func() {
		defer rl.wg.Done()
		id := m.Header.Get(hdrRequest)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		rl.mu.Lock()
		rl.inflight[id] = cancel
		rl.mu.Unlock()
		defer func() {
			rl.mu.Lock()
			delete(rl.inflight, id)
			rl.mu.Unlock()
		}()
		req, err := http.NewRequestWithContext(ctx, m.Header.Get(hdrMethod), rl.o.Path+"?"+m.Header.Get(hdrQuery), bytes.NewReader(m.Data))
		if err != nil {
			return
		}
		for k, v := range m.Header {
			if !strings.HasPrefix(k, hdrOwn) {
				req.Header[k] = v
			}
		}
		req.RemoteAddr = m.Header.Get(hdrRemote)
		rec := &recorder{header: make(http.Header)}
		rl.o.Handler.ServeHTTP(rec, req)
		respondRecorded(m, rec)
	}()
}

// cancelForwarded cancels the forwarded request whose id m carries.
func (rl *Relay) cancelForwarded(m *nats.Msg) {
	rl.mu.Lock()
	cancel := rl.inflight[string(m.Data)]
	rl.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// respondRecorded answers a request another node relayed with the response
// rec holds.
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

// recorder is the http.ResponseWriter a relayed request is served into.
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
