// Package routertest starts real routerd nodes for tests (embedded NATS on
// random ports, the real HTTP and WebSocket server) and gives tests a
// WebSocket client with a frame inbox, NATS backends, control requests,
// /readyz and /metrics readings, an external nats-server and a polling
// helper. The tests of router, bridge and socketio use it to test their
// package through a whole node; the whole-node black-box tests are daemon's
// node_*_test.go. Nothing here is a mock.
package routertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/daemon"
)

// Wait is how long helpers wait for something that should happen.
const Wait = 5 * time.Second

// Config returns a valid config for a node on random ports with namespace
// chat ({direct: true, presence_events: true}); tests change it as they
// need before Start.
func Config(t testing.TB) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.Node.Name = "t1"
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.NATS.Listen = "127.0.0.1:0"
	cfg.Log.Level = "warn"
	chat := config.DefaultNamespace()
	chat.Direct = true
	chat.PresenceEvents = true
	cfg.Namespaces = map[string]config.Namespace{"chat": chat}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test config invalid: %v", err)
	}
	return cfg
}

// Node is a running routerd node.
type Node struct {
	*daemon.Daemon
	t   testing.TB
	Cfg config.Config
}

// Start starts a node with cfg and stops it when the test ends.
func Start(t testing.TB, cfg config.Config) *Node {
	t.Helper()
	return start(t, cfg, nil)
}

// StartWith starts a node with the default test Config (namespace chat with
// direct and presence_events on) after edit (unless nil) changed it.
func StartWith(t testing.TB, edit func(*config.Config)) *Node {
	t.Helper()
	cfg := Config(t)
	if edit != nil {
		edit(&cfg)
	}
	return Start(t, cfg)
}

// StartLogged is Start with the node's logs, at cfg.Log.Level, in the
// buffer it returns.
func StartLogged(t testing.TB, cfg config.Config) (*Node, *SyncBuffer) {
	t.Helper()
	logs := &SyncBuffer{}
	return start(t, cfg, daemon.NewLogger(cfg.Log, logs)), logs
}

func start(t testing.TB, cfg config.Config, log *slog.Logger) *Node {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config invalid: %v", err)
	}
	d := daemon.New(cfg, log)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := d.Start(ctx); err != nil {
		t.Fatalf("start routerd: %v", err)
	}
	n := &Node{Daemon: d, t: t, Cfg: cfg}
	t.Cleanup(func() { n.Stop() })
	return n
}

// Stop shuts the node down gracefully (again is a no-op).
func (n *Node) Stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := n.Shutdown(ctx); err != nil {
		n.t.Errorf("shutdown: %v", err)
	}
}

// StartCluster starts n nodes whose embedded servers form one NATS cluster
// (the others route to the first), with node names t1..tn, and waits until
// every node sees all the others. mutate may change each node's config.
func StartCluster(t testing.TB, n int, mutate func(i int, cfg *config.Config)) []*Node {
	t.Helper()
	nodes := make([]*Node, 0, n)
	for i := 0; i < n; i++ {
		cfg := Config(t)
		cfg.Node.Name = fmt.Sprintf("t%d", i+1)
		cfg.NATS.Cluster.Name = "routertest"
		cfg.NATS.Cluster.Listen = "127.0.0.1:0"
		if i > 0 {
			cfg.NATS.Cluster.Routes = []string{nodes[0].ClusterURL()}
		}
		if mutate != nil {
			mutate(i, &cfg)
		}
		nodes = append(nodes, Start(t, cfg))
	}
	for _, node := range nodes {
		Eventually(t, "cluster formed", func() error {
			if got := node.Nodes(); got != n {
				return fmt.Errorf("%s sees %d nodes, want %d", node.Cfg.Node.Name, got, n)
			}
			return nil
		})
	}
	return nodes
}

// WSURL is the node's WebSocket URL.
func (n *Node) WSURL() string { return "ws://" + n.HTTPAddr() + n.Cfg.HTTP.WSPath }

// HTTPURL is the node's base HTTP URL.
func (n *Node) HTTPURL() string { return "http://" + n.HTTPAddr() }

// Backend connects a NATS client to the node and closes it when the test ends.
func (n *Node) Backend(opts ...nats.Option) *nats.Conn {
	n.t.Helper()
	nc, err := nats.Connect(n.NATSURL(), opts...)
	if err != nil {
		n.t.Fatalf("backend connect: %v", err)
	}
	n.t.Cleanup(nc.Close)
	return nc
}

// Frame is a decoded server frame.
type Frame map[string]any

// Type returns the frame's type.
func (f Frame) Type() string { s, _ := f["type"].(string); return s }

// Str returns a string field.
func (f Frame) Str(k string) string { s, _ := f[k].(string); return s }

// Num returns a numeric field (0 when absent).
func (f Frame) Num(k string) float64 { v, _ := f[k].(float64); return v }

// JSON returns field k re-encoded as JSON, for comparisons.
func (f Frame) JSON(k string) string {
	v, ok := f[k]
	if !ok {
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// Client is a WebSocket client of the v1 protocol that collects every frame
// it receives.
type Client struct {
	t  testing.TB
	WS *websocket.Conn

	in *Inbox[Frame] // frames not consumed yet

	mu     sync.Mutex
	raw    []string              // every message as received
	closed *websocket.CloseError // set before in ends
	nextID int
}

// Dial opens a client to the node and reads its hello frame.
func (n *Node) Dial() *Client {
	n.t.Helper()
	c := DialURL(n.t, n.WSURL(), nil)
	if h := c.Next(IsType("hello")); h.Str("version") != "1" {
		n.t.Fatalf("hello: %v", h)
	}
	return c
}

// DialURL opens a client to url with extra request headers.
func DialURL(t testing.TB, url string, h http.Header) *Client {
	t.Helper()
	ws := DialWebSocket(t, url, h)
	c := &Client{t: t, WS: ws, in: NewInbox[Frame]()}
	go c.read()
	return c
}

// DialWebSocket opens a WebSocket to url with extra request headers, closed
// when the test ends; a refused upgrade fails the test with its HTTP status.
func DialWebSocket(t testing.TB, url string, h http.Header) *websocket.Conn {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial(url, h)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (HTTP %d)", url, err, status)
	}
	t.Cleanup(func() { _ = ws.Close() })
	return ws
}

func (c *Client) read() {
	for {
		_, msg, err := c.WS.ReadMessage()
		if err != nil {
			if ce, ok := err.(*websocket.CloseError); ok {
				c.mu.Lock()
				c.closed = ce
				c.mu.Unlock()
			}
			c.in.End()
			return
		}
		c.mu.Lock()
		c.raw = append(c.raw, string(msg))
		c.mu.Unlock()
		var frames []Frame
		for _, line := range strings.Split(string(msg), "\n") {
			var f Frame
			if err := json.Unmarshal([]byte(line), &f); err != nil {
				f = Frame{"type": "__unparseable", "raw": line}
			}
			frames = append(frames, f)
		}
		c.in.Add(frames...)
	}
}

// IsType matches frames of type t.
func IsType(t string) func(Frame) bool { return func(f Frame) bool { return f.Type() == t } }

// IsEvent matches event frames named name.
func IsEvent(name string) func(Frame) bool {
	return func(f Frame) bool { return f.Type() == "event" && f.Str("event") == name }
}

// IsReply matches the reply (ack, error or connected) to id.
func IsReply(id int) func(Frame) bool {
	return func(f Frame) bool {
		t := f.Type()
		return (t == "ack" || t == "error" || t == "connected") && f.Num("id") == float64(id)
	}
}

// Send writes one text message.
func (c *Client) Send(v any) {
	c.t.Helper()
	var b []byte
	switch v := v.(type) {
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			c.t.Fatalf("marshal: %v", err)
		}
	}
	if err := c.WS.WriteMessage(websocket.TextMessage, b); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// Next waits for the first unconsumed frame matching pred and removes it.
func (c *Client) Next(pred func(Frame) bool) Frame {
	c.t.Helper()
	return c.NextWithin(pred, Wait)
}

// NextWithin is Next with its own deadline.
func (c *Client) NextWithin(pred func(Frame) bool, d time.Duration) Frame {
	c.t.Helper()
	f, ok := c.in.Next(pred, d)
	if !ok {
		c.t.Fatalf("no matching frame within %s; unconsumed: %v; closed: %v", d, c.in.Pending(), c.closeError())
	}
	return f
}

func (c *Client) closeError() *websocket.CloseError {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// Barrier makes a round trip on the connection (a frame of an unknown type
// with an id, answered by an error): every frame the server queued for this
// client before the barrier has arrived when it returns.
func (c *Client) Barrier() {
	c.t.Helper()
	if r := c.Req(map[string]any{"type": "$barrier"}); r.Str("code") != "unknown_type" {
		c.t.Fatalf("barrier: %v", r)
	}
}

// None asserts that no frame matching pred has arrived by the time a
// Barrier completes. Use it once the event in question has reached some
// other socket of the same fan-out, so that it would be queued here too.
func (c *Client) None(pred func(Frame) bool) {
	c.t.Helper()
	c.Barrier()
	for _, f := range c.in.Pending() {
		if pred(f) {
			c.t.Fatalf("unexpected frame %v", f)
		}
	}
}

// Has reports whether an unconsumed frame matching pred has arrived.
func (c *Client) Has(pred func(Frame) bool) bool { return c.in.Has(pred) }

// Drop removes every unconsumed frame matching pred.
func (c *Client) Drop(pred func(Frame) bool) { c.in.Drop(pred) }

// Req sends frame v with a fresh id and returns its reply.
func (c *Client) Req(v map[string]any) Frame {
	c.t.Helper()
	return c.ReqWithin(v, Wait)
}

// ReqWithin is Req waiting up to d for the reply, for requests the server
// may take long to answer (an election in progress).
func (c *Client) ReqWithin(v map[string]any, d time.Duration) Frame {
	c.t.Helper()
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	c.mu.Unlock()
	v["id"] = id
	c.Send(v)
	return c.NextWithin(IsReply(id), d)
}

// MustAck sends v and fails unless the reply is an ack (or connected).
func (c *Client) MustAck(v map[string]any) Frame {
	c.t.Helper()
	r := c.Req(v)
	if r.Type() == "error" {
		c.t.Fatalf("%v: error %s: %s", v, r.Str("code"), r.Str("message"))
	}
	return r
}

// Connect attaches to ns and returns the sid.
func (c *Client) Connect(ns string) string {
	c.t.Helper()
	r := c.MustAck(map[string]any{"type": "connect", "ns": ns})
	if r.Type() != "connected" || r.Str("sid") == "" {
		c.t.Fatalf("connect %s: %v", ns, r)
	}
	return r.Str("sid")
}

// Join joins room in ns.
func (c *Client) Join(ns, room string) Frame {
	c.t.Helper()
	return c.MustAck(map[string]any{"type": "join", "ns": ns, "room": room})
}

// ErrorCode sends v and returns the code of the error reply, failing on an ack.
func (c *Client) ErrorCode(v map[string]any) string {
	c.t.Helper()
	r := c.Req(v)
	if r.Type() != "error" {
		c.t.Fatalf("%v: want an error, got %v", v, r)
	}
	return r.Str("code")
}

// Closed waits for the connection to end and returns the close error (nil
// when it ended without a close frame).
func (c *Client) Closed() *websocket.CloseError {
	c.t.Helper()
	if !c.in.WaitEnd(Wait) {
		c.t.Fatalf("connection still open after %s", Wait)
	}
	return c.closeError()
}

// Raw returns every message received so far, as received.
func (c *Client) Raw() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.raw...)
}

// Eventually polls cond every 10ms until it returns nil or Wait passes.
func Eventually(t testing.TB, what string, cond func() error) {
	t.Helper()
	EventuallyWithin(t, what, Wait, cond)
}

// EventuallyWithin is Eventually with its own deadline d, for conditions
// that wait on elections or failure detection.
func EventuallyWithin(t testing.TB, what string, d time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Collect subscribes a backend to subject and gathers what arrives.
type Collect struct {
	mu   sync.Mutex
	msgs []*nats.Msg
}

// Subscribe starts collecting subject on nc (confirmed by the server).
func Subscribe(t testing.TB, nc *nats.Conn, subject string) *Collect {
	t.Helper()
	c := &Collect{}
	sub, err := nc.Subscribe(subject, func(m *nats.Msg) {
		c.mu.Lock()
		c.msgs = append(c.msgs, m)
		c.mu.Unlock()
	})
	if err != nil {
		t.Fatalf("subscribe %s: %v", subject, err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := nc.Flush(); err != nil {
		t.Fatalf("flush: %v", err)
	}
	return c
}

// Msgs returns what arrived so far.
func (c *Collect) Msgs() []*nats.Msg {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*nats.Msg(nil), c.msgs...)
}

// WaitN waits until at least n messages arrived and returns them.
func (c *Collect) WaitN(t testing.TB, n int) []*nats.Msg {
	t.Helper()
	Eventually(t, fmt.Sprintf("%d NATS messages", n), func() error {
		if got := len(c.Msgs()); got < n {
			return fmt.Errorf("got %d", got)
		}
		return nil
	})
	return c.Msgs()
}

// ExpectCloseWhileSending writes first (unless empty) and then frame(1),
// frame(2), ... on ws, from another goroutine, while reading ws until it
// ends, as a client busy sending would be; the test fails unless the
// connection ends with close code and the sending with websocket.ErrCloseSent
// (the client answered the close; the server did not reset the connection).
func ExpectCloseWhileSending(t testing.TB, ws *websocket.Conn, first string, frame func(i int) string, code int) {
	t.Helper()
	written := make(chan error, 1)
	go func() {
		var err error
		if first != "" {
			err = ws.WriteMessage(websocket.TextMessage, []byte(first))
		}
		for i := 1; err == nil; i++ {
			err = ws.WriteMessage(websocket.TextMessage, []byte(frame(i)))
		}
		written <- err
	}()
	var err error
	for err == nil {
		_, _, err = ws.ReadMessage()
	}
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != code {
		t.Fatalf("the connection ended with %v, want close %d", err, code)
	}
	if err := <-written; !errors.Is(err, websocket.ErrCloseSent) {
		t.Fatalf("sending ended with %v, want %v", err, websocket.ErrCloseSent)
	}
}

// AllowAuth answers every auth request on subject (e.g. "router.*.auth")
// with {"allow":true} through nc, and passes each request's headers on
// the returned channel (which holds n; a request beyond it waits).
func AllowAuth(t testing.TB, nc *nats.Conn, subject string, n int) <-chan nats.Header {
	t.Helper()
	seen := make(chan nats.Header, n)
	if _, err := nc.Subscribe(subject, func(m *nats.Msg) {
		seen <- m.Header
		_ = m.Respond([]byte(`{"allow":true}`))
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return seen
}
