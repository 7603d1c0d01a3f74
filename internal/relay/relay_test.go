package relay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/internal/natstest"
)

const (
	ownerTag = "ownerTAG"
	edgeTag  = "edgeTAG1"
	waitFor  = 10 * time.Second // bound on what a test waits for
)

// start builds and starts a relay tagged tag on its own connection to srv,
// closed when the test ends.
func start(t *testing.T, srv *server.Server, tag string, handler http.Handler, accept func(http.ResponseWriter, *TunnelRequest)) *Relay {
	t.Helper()
	rl := New(Options{
		Conn:         natstest.Bus(t, srv).Main(),
		Prefix:       "router",
		Tag:          tag,
		Path:         "/eio/",
		Handler:      handler,
		Accept:       accept,
		Upgrader:     &websocket.Upgrader{},
		MaxBytes:     1024,
		AnswerWithin: waitFor,
		OpenWithin:   waitFor,
	})
	if err := rl.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		rl.Close()
		rl.Wait()
	})
	return rl
}

// edgeServer serves every request through edge: to the node its query's
// "to" names (forwarded, or tunnelled for an upgrade), the relay's errors
// as statuses. Each Forward or Tunnel's result goes to results.
func edgeServer(ctx context.Context, t *testing.T, edge *Relay, results chan<- error) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		var err error
		if websocket.IsWebSocketUpgrade(r) {
			err = edge.Tunnel(ctx, w, r, q.Get("to"), q.Get("sid"))
		} else {
			err = edge.Forward(w, r, q.Get("to"))
		}
		if results != nil {
			results <- err
		}
		switch {
		case err == nil:
		case errors.Is(err, ErrNoNode):
			http.Error(w, err.Error(), http.StatusNotFound)
		case errors.Is(err, ErrBadBody):
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
		case errors.Is(err, ErrNoAnswer):
			http.Error(w, err.Error(), http.StatusGatewayTimeout)
		default:
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func refuseTunnels(w http.ResponseWriter, _ *TunnelRequest) { w.WriteHeader(http.StatusBadRequest) }

// receive returns the next value of ch, failing the test after waitFor.
func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitFor):
		t.Fatalf("no %s within %v", what, waitFor)
		panic("unreachable")
	}
}

// echo answers a forwarded request with what it saw of it.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("X-Seen", fmt.Sprintf("%s %s?%s from=%t client=%s", r.Method, r.URL.Path, r.URL.RawQuery,
		strings.HasPrefix(r.RemoteAddr, "127.0.0.1:"), r.Header.Get("X-Client")))
	w.WriteHeader(http.StatusCreated)
	_, _ = fmt.Fprintf(w, "got %s", body)
})

// TestForward: a request for another node's session is served there, with
// its method, query, headers, remote address and body, and its answer
// (status, headers, body) is the client's; a tag no node has, and a body
// over MaxBytes, are the edge's to answer.
func TestForward(t *testing.T) {
	srv := natstest.Server(t, &server.Options{})
	start(t, srv, ownerTag, echo, refuseTunnels)
	web := edgeServer(context.Background(), t, start(t, srv, edgeTag, echo, refuseTunnels), nil)

	post := func(to, body string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, web.URL+"/any/path?to="+to+"&sid=x", strings.NewReader(body))
		req.Header.Set("X-Client", "c1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := post(ownerTag, "hello")
	if resp.StatusCode != http.StatusCreated || body != "got hello" {
		t.Fatalf("forwarded: %d %q", resp.StatusCode, body)
	}
	if seen, want := resp.Header.Get("X-Seen"), "POST /eio/?to="+ownerTag+"&sid=x from=true client=c1"; seen != want {
		t.Fatalf("the owner saw %q, want %q", seen, want)
	}
	if resp.Header.Get("Eio-Status") != "" {
		t.Fatalf("the relay's own header reached the client: %v", resp.Header)
	}
	if resp, body := post("nobody12", "hello"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("to a tag no node has: %d %q", resp.StatusCode, body)
	}
	if resp, body := post(ownerTag, strings.Repeat("x", 1025)); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("a body over MaxBytes: %d %q", resp.StatusCode, body)
	}
}

// TestForwardWire: a node answers a forwarded request as every routerd
// version sends it: on $routerd.P.eio.{tag}, with the Eio-* headers.
func TestForwardWire(t *testing.T) {
	srv := natstest.Server(t, &server.Options{})
	start(t, srv, ownerTag, echo, refuseTunnels)
	nc := natstest.Connect(t, srv)
	m := nats.NewMsg("$routerd.router.eio." + ownerTag)
	m.Header.Set("Eio-Method", "GET")
	m.Header.Set("Eio-Query", "EIO=4&sid=s")
	m.Header.Set("Eio-Remote", "127.0.0.1:9")
	m.Header.Set("Eio-Request", "r1")
	m.Header.Set("X-Client", "old")
	reply, err := nc.RequestMsg(m, waitFor)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := reply.Header.Get("X-Seen"), "GET /eio/?EIO=4&sid=s from=true client=old"; got != want {
		t.Fatalf("the owner saw %q, want %q", got, want)
	}
	if reply.Header.Get("Eio-Status") != "201" || string(reply.Data) != "got " {
		t.Fatalf("answer %v %q", reply.Header, reply.Data)
	}
}

// TestForwardCancel: when the client of a forwarded request goes away,
// the request is cancelled on the owner, as a local one would be.
func TestForwardCancel(t *testing.T) {
	srv := natstest.Server(t, &server.Options{})
	waiting, cancelled := make(chan struct{}), make(chan struct{})
	start(t, srv, ownerTag, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		close(waiting)
		<-r.Context().Done()
		close(cancelled)
	}), refuseTunnels)
	results := make(chan error, 1)
	web := edgeServer(context.Background(), t, start(t, srv, edgeTag, echo, refuseTunnels), results)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, web.URL+"/?to="+ownerTag, nil)
	got := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = resp.Body.Close()
		}
		got <- err
	}()
	receive(t, waiting, "forwarded request")
	cancel()
	if err := receive(t, got, "client's end"); !errors.Is(err, context.Canceled) {
		t.Fatalf("client: %v", err)
	}
	receive(t, cancelled, "cancellation on the owner")
	if err := receive(t, results, "Forward's return"); !errors.Is(err, ErrNoAnswer) {
		t.Fatalf("Forward: %v", err)
	}
}

// TestStartClosed: a relay whose connection is unusable does not start,
// and says why; a closed relay serves no more.
func TestStartClosed(t *testing.T) {
	srv := natstest.Server(t, &server.Options{})
	b := natstest.Bus(t, srv)
	b.Close()
	rl := New(Options{Conn: b.Main(), Prefix: "router", Tag: ownerTag, OpenWithin: waitFor})
	if err := rl.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "relay: subscribe $routerd.router.eio."+ownerTag) {
		t.Fatalf("Start on a closed connection: %v", err)
	}

	owner := start(t, srv, ownerTag, echo, refuseTunnels)
	web := edgeServer(context.Background(), t, start(t, srv, edgeTag, echo, refuseTunnels), nil)
	owner.Close()
	resp, err := http.Get(web.URL + "/?to=" + ownerTag)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("a request for a closed relay: %d", resp.StatusCode)
	}
	if err := owner.Start(context.Background()); err == nil {
		t.Fatal("Start after Close")
	}
}

// ownerEnd is how the owner's side of a tunnel ended.
type ownerEnd struct {
	err error // what ended reading
}

// accept takes the tunnel tr, or answers 500 and returns nil.
func accept(w http.ResponseWriter, tr *TunnelRequest) *Conn {
	conn, err := tr.Accept()
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		return nil
	}
	return conn
}

// echoTunnels takes tunnels of session "s1" and serves each: text "x"
// comes back as "echo x", binary as it is, "batch" as a text message then
// a batch of two; "bye" gets a close frame; the owner's Conn is closed
// once reading ends, which ends goes to ends.
func echoTunnels(ends chan<- ownerEnd) func(http.ResponseWriter, *TunnelRequest) {
	return func(w http.ResponseWriter, tr *TunnelRequest) {
		if tr.Session != "s1" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, "unknown session")
			return
		}
		conn := accept(w, tr)
		if conn == nil {
			return
		}
		go func() {
			defer conn.Close()
			for {
				typ, msg, err := conn.ReadMessage()
				switch {
				case err != nil:
					ends <- ownerEnd{err}
					return
				case typ == websocket.BinaryMessage:
					err = conn.WriteMessage(websocket.BinaryMessage, msg)
				case string(msg) == "batch":
					err = conn.WriteAll([][]byte{
						[]byte("one"),
						AppendBatch(AppendBatch(nil, Message{Data: []byte("two")}), Message{Binary: true, Data: []byte{9}}),
					})
				case string(msg) == "bye":
					err = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"), time.Now().Add(waitFor))
				default:
					err = conn.WriteMessage(websocket.TextMessage, append([]byte("echo "), msg...))
				}
				if err != nil {
					ends <- ownerEnd{err}
					return
				}
			}
		}()
	}
}

// TestTunnel: a WebSocket for another node's session is relayed both ways,
// text, binary and batches, until the client closes it, the owner closes
// it, or the edge's node shuts down; the owner refuses what it would refuse
// locally, and a tag no node has is the edge's to answer.
func TestTunnel(t *testing.T) {
	srv := natstest.Server(t, &server.Options{})
	ends := make(chan ownerEnd, 1)
	start(t, srv, ownerTag, echo, echoTunnels(ends))
	life, shutdown := context.WithCancel(context.Background())
	defer shutdown()
	results := make(chan error, 1)
	web := edgeServer(life, t, start(t, srv, edgeTag, echo, refuseTunnels), results)
	url := "ws" + strings.TrimPrefix(web.URL, "http") + "/?to=" + ownerTag + "&sid="

	dial := func() *websocket.Conn {
		t.Helper()
		ws, resp, err := websocket.DefaultDialer.Dial(url+"s1", nil)
		if err != nil {
			t.Fatalf("dial: %v (%v)", err, resp)
		}
		t.Cleanup(func() { _ = ws.Close() })
		return ws
	}
	send := func(ws *websocket.Conn, typ int, data string) {
		t.Helper()
		if err := ws.WriteMessage(typ, []byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(ws *websocket.Conn, typ int, data string) {
		t.Helper()
		_ = ws.SetReadDeadline(time.Now().Add(waitFor))
		gotType, got, err := ws.ReadMessage()
		if err != nil || gotType != typ || string(got) != data {
			t.Fatalf("read %d %q %v, want %d %q", gotType, got, err, typ, data)
		}
	}
	closed := func(ws *websocket.Conn, code int, text string) {
		t.Helper()
		_ = ws.SetReadDeadline(time.Now().Add(waitFor))
		for {
			_, _, err := ws.ReadMessage()
			var ce *websocket.CloseError
			if errors.As(err, &ce) && ce.Code == code && ce.Text == text {
				return
			}
			if err != nil {
				t.Fatalf("read %v, want close %d %q", err, code, text)
			}
		}
	}

	t.Run("both ways, client closes", func(t *testing.T) {
		ws := dial()
		send(ws, websocket.TextMessage, "hello")
		expect(ws, websocket.TextMessage, "echo hello")
		send(ws, websocket.BinaryMessage, "\x01\x02")
		expect(ws, websocket.BinaryMessage, "\x01\x02")
		send(ws, websocket.TextMessage, "batch")
		expect(ws, websocket.TextMessage, "one")
		expect(ws, websocket.TextMessage, "two")
		expect(ws, websocket.BinaryMessage, "\x09")
		if err := ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "done"), time.Now().Add(waitFor)); err != nil {
			t.Fatal(err)
		}
		end := receive(t, ends, "the owner's end")
		var ce *websocket.CloseError
		if !errors.As(end.err, &ce) || ce.Code != websocket.CloseNormalClosure || ce.Text != "done" {
			t.Fatalf("the owner read %v, want the client's close", end.err)
		}
		if err := receive(t, results, "Tunnel's return"); err != nil {
			t.Fatalf("Tunnel: %v", err)
		}
	})
	t.Run("owner closes", func(t *testing.T) {
		ws := dial()
		send(ws, websocket.TextMessage, "bye")
		closed(ws, websocket.CloseNormalClosure, "bye")
		receive(t, ends, "the owner's end")
		if err := receive(t, results, "Tunnel's return"); err != nil {
			t.Fatalf("Tunnel: %v", err)
		}
	})
	t.Run("refused", func(t *testing.T) {
		_, resp, err := websocket.DefaultDialer.Dial(url+"s2", nil)
		if err == nil || resp == nil {
			t.Fatalf("dial an unknown session: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		if got, want := fmt.Sprintf("%d %s", resp.StatusCode, body), "400 unknown session"; got != want {
			t.Fatalf("dial an unknown session: %s, want the owner's %s", got, want)
		}
		if err := receive(t, results, "Tunnel's return"); err != nil {
			t.Fatalf("Tunnel: %v", err)
		}
		_, resp, err = websocket.DefaultDialer.Dial(strings.Replace(url, ownerTag, "nobody12", 1)+"s1", nil)
		if err == nil || resp == nil || resp.StatusCode != http.StatusNotFound {
			t.Fatalf("dial a tag no node has: %v %v", err, resp)
		}
		if err := receive(t, results, "Tunnel's return"); !errors.Is(err, ErrNoNode) {
			t.Fatalf("Tunnel: %v", err)
		}
	})
	t.Run("edge shuts down", func(t *testing.T) {
		ws := dial()
		send(ws, websocket.TextMessage, "hello")
		expect(ws, websocket.TextMessage, "echo hello")
		shutdown()
		closed(ws, websocket.CloseGoingAway, "shutting down")
		receive(t, ends, "the owner's end")
		if err := receive(t, results, "Tunnel's return"); err != nil {
			t.Fatalf("Tunnel: %v", err)
		}
	})
}

// TestTunnelBatches: what the owner writes at once crosses to the edge in
// batches of at most maxBatch bytes (a larger message alone), every
// message once, in order, binary ones as binary.
func TestTunnelBatches(t *testing.T) {
	srv := natstest.Server(t, &server.Options{})
	nc := natstest.Connect(t, srv)

	var mu sync.Mutex
	var got []Message
	type batch struct{ bytes, msgs int }
	var batches []batch
	var others []string // types other than batch, but the end Close sends
	if _, err := nc.Subscribe("edge.t", func(m *nats.Msg) {
		mu.Lock()
		defer mu.Unlock()
		switch typ := m.Header.Get(hdrType); typ {
		case tunnelEnd:
			return
		case tunnelBatch:
		default:
			others = append(others, typ)
		}
		b := batch{bytes: len(m.Data)}
		_ = EachMessage(m.Data, func(msg Message) error {
			got = append(got, Message{msg.Binary, bytes.Clone(msg.Data)})
			b.msgs++
			return nil
		})
		batches = append(batches, b)
		_ = m.Respond(nil)
	}); err != nil {
		t.Fatal(err)
	}
	c, err := newConn(natstest.Bus(t, srv).Main(), "owner.t", "edge.t", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	var msgs [][]byte
	var want []Message
	for i := range 40 {
		text := fmt.Sprintf(`42["e",%d,"%s"]`, i, bytes.Repeat([]byte("x"), 20<<10))
		msgs = append(msgs, []byte(text))
		want = append(want, Message{Data: []byte(text)})
	}
	big := `42["big","` + strings.Repeat("y", maxBatch) + `"]`
	att := AppendBatch(AppendBatch(nil, Message{Data: []byte(`451-["f",{"_placeholder":true,"num":0}]`)}), Message{Binary: true, Data: []byte{1, 2, 3}})
	msgs = append(msgs, []byte(big), att)
	want = append(want, Message{Data: []byte(big)}, Message{Data: []byte(`451-["f",{"_placeholder":true,"num":0}]`)}, Message{Binary: true, Data: []byte{1, 2, 3}})
	if err := c.WriteAll(msgs); err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(others) > 0 {
		t.Errorf("messages of types %q", others)
	}
	if len(got) != len(want) {
		t.Fatalf("%d messages crossed, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Binary != want[i].Binary || !bytes.Equal(got[i].Data, want[i].Data) {
			t.Fatalf("message %d: %.40q (binary %v), want %.40q (binary %v)", i, got[i].Data, got[i].Binary, want[i].Data, want[i].Binary)
		}
	}
	// 800 KiB of small messages, then one larger than a batch, then two.
	if len(batches) < 5 || len(batches) > 6 {
		t.Errorf("%d batches (%v), want 5 or 6", len(batches), batches)
	}
	for _, b := range batches {
		// A message's kind and length take a few bytes beyond maxBatch.
		if b.msgs > 1 && b.bytes > maxBatch+16 {
			t.Errorf("a batch of %d messages in %d bytes (max %d)", b.msgs, b.bytes, maxBatch)
		}
	}
}

// TestTunnelCloseSent: once the edge's gorilla sent 1009 for an oversized
// message, the owner's next write fails with websocket.ErrCloseSent, as it
// would on a WebSocket of its own, and the owner ending the tunnel at once
// leaves the client its close frame, not a reset.
func TestTunnelCloseSent(t *testing.T) {
	srv := natstest.Server(t, &server.Options{})
	written := make(chan error, 1)
	start(t, srv, ownerTag, echo, func(w http.ResponseWriter, tr *TunnelRequest) {
		conn := accept(w, tr)
		if conn == nil {
			return
		}
		go func() {
			defer conn.Close()
			if _, _, err := conn.ReadMessage(); !errors.Is(err, websocket.ErrReadLimit) {
				written <- fmt.Errorf("read %w, want %w", err, websocket.ErrReadLimit)
				return
			}
			written <- conn.WriteAll([][]byte{[]byte("late")})
		}()
	})
	web := edgeServer(context.Background(), t, start(t, srv, edgeTag, echo, refuseTunnels), nil)
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(web.URL, "http")+"/?to="+ownerTag+"&sid=s1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if err := ws.WriteMessage(websocket.TextMessage, bytes.Repeat([]byte{'x'}, 1025)); err != nil {
		t.Fatal(err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(waitFor))
	_, msg, err := ws.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseMessageTooBig {
		t.Fatalf("read %q %v, want close %d", msg, err, websocket.CloseMessageTooBig)
	}
	if err := receive(t, written, "the owner's write"); !errors.Is(err, websocket.ErrCloseSent) {
		t.Fatalf("the owner's write after 1009: %v, want %v", err, websocket.ErrCloseSent)
	}
}
