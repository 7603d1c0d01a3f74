package socketio_test

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/routerd/routerd/internal/routertest"
)

// eioConn is a raw Engine.IO WebSocket-only client for protocol tests: it
// answers pings and collects every other message.
type eioConn struct {
	t    *testing.T
	ws   *websocket.Conn
	open map[string]any

	mu     sync.Mutex
	msgs   []string
	binary [][]byte
	closed *websocket.CloseError
	done   bool
	wake   chan struct{}
	wmu    sync.Mutex
}

func eioURL(n *routertest.Node, query string) string {
	return n.HTTPURL() + "/socket.io/?EIO=4&" + query
}

// dialEIO opens a WebSocket-only session and reads the open packet.
func dialEIO(t *testing.T, n *routertest.Node) *eioConn {
	t.Helper()
	return dialEIOHeader(t, n, nil)
}

func dialEIOHeader(t *testing.T, n *routertest.Node, h http.Header) *eioConn {
	t.Helper()
	url := "ws" + strings.TrimPrefix(eioURL(n, "transport=websocket"), "http")
	ws, resp, err := websocket.DefaultDialer.Dial(url, h)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (HTTP %d)", url, err, status)
	}
	c := &eioConn{t: t, ws: ws, wake: make(chan struct{}, 1)}
	t.Cleanup(func() { _ = ws.Close() })
	go c.read()
	first := c.next("open packet", func(m string) bool { return strings.HasPrefix(m, "0") })
	if err := json.Unmarshal([]byte(first[1:]), &c.open); err != nil {
		t.Fatalf("open packet %q: %v", first, err)
	}
	return c
}

func (c *eioConn) read() {
	for {
		typ, msg, err := c.ws.ReadMessage()
		c.mu.Lock()
		if err != nil {
			if ce, ok := err.(*websocket.CloseError); ok {
				c.closed = ce
			}
			c.done = true
			c.mu.Unlock()
			c.signal()
			return
		}
		switch {
		case typ == websocket.BinaryMessage:
			c.binary = append(c.binary, msg)
		case string(msg) == "2":
			c.mu.Unlock()
			c.send("3")
			continue
		default:
			c.msgs = append(c.msgs, string(msg))
		}
		c.mu.Unlock()
		c.signal()
	}
}

func (c *eioConn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *eioConn) send(m string) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.WriteMessage(websocket.TextMessage, []byte(m))
}

func (c *eioConn) sendBinary(b []byte) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.WriteMessage(websocket.BinaryMessage, b)
}

func (c *eioConn) next(what string, pred func(string) bool) string {
	c.t.Helper()
	deadline := time.After(routertest.Wait)
	for {
		c.mu.Lock()
		for i, m := range c.msgs {
			if pred(m) {
				c.msgs = slices.Delete(c.msgs, i, i+1)
				c.mu.Unlock()
				return m
			}
		}
		done, pending := c.done, slices.Clone(c.msgs)
		c.mu.Unlock()
		if done {
			c.t.Fatalf("%s: connection ended (%v); unconsumed %q", what, c.closed, pending)
		}
		select {
		case <-c.wake:
		case <-deadline:
			c.t.Fatalf("%s: nothing within %s; unconsumed %q", what, routertest.Wait, pending)
		}
	}
}

// expect waits for the message m.
func (c *eioConn) expect(m string) {
	c.t.Helper()
	c.next("message "+m, func(got string) bool { return got == m })
}

// expectAll waits for every message of ms, in any order.
func (c *eioConn) expectAll(ms ...string) {
	c.t.Helper()
	for _, m := range ms {
		c.expect(m)
	}
}

// expectPrefix waits for a message starting with prefix and returns the
// rest up to the next double quote (a sid after `{"sid":"`).
func (c *eioConn) expectPrefix(prefix string) string {
	c.t.Helper()
	m := c.next("message "+prefix+"...", func(got string) bool { return strings.HasPrefix(got, prefix) })
	rest := m[len(prefix):]
	if i := strings.IndexByte(rest, '"'); i >= 0 {
		return rest[:i]
	}
	return rest
}

// closedWith waits for the connection to end and returns its close code
// (0 without a close frame).
func (c *eioConn) closedWith() int {
	c.t.Helper()
	routertest.Eventually(c.t, "connection closed", func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		if !c.done {
			return io.ErrNoProgress
		}
		return nil
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed == nil {
		return 0
	}
	return c.closed.Code
}
