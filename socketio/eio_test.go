package socketio_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/routerd/routerd/internal/routertest"
)

// eioConn is a raw Engine.IO WebSocket-only client for protocol tests: it
// answers pings and collects every other message.
type eioConn struct {
	t    *testing.T
	ws   *websocket.Conn
	open map[string]any

	in     *routertest.Inbox[string] // text messages not consumed yet
	pings  atomic.Int32              // pings received (and answered)
	closed atomic.Pointer[websocket.CloseError]
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
	ws := routertest.DialWebSocket(t, url, h)
	c := &eioConn{t: t, ws: ws, in: routertest.NewInbox[string]()}
	go c.read()
	first := c.next("open packet", func(m string) bool { return strings.HasPrefix(m, "0") })
	if err := json.Unmarshal([]byte(first[1:]), &c.open); err != nil {
		t.Fatalf("open packet %q: %v", first, err)
	}
	return c
}

// read collects text messages and answers pings; no test here looks at
// binary messages.
func (c *eioConn) read() {
	for {
		typ, msg, err := c.ws.ReadMessage()
		if err != nil {
			if ce, ok := err.(*websocket.CloseError); ok {
				c.closed.Store(ce)
			}
			c.in.End()
			return
		}
		switch {
		case typ == websocket.BinaryMessage:
		case string(msg) == "2":
			c.pings.Add(1)
			c.send("3")
		default:
			c.in.Add(string(msg))
		}
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
	m, ok := c.in.Next(pred, routertest.Wait)
	switch {
	case ok:
		return m
	case c.in.Ended():
		c.t.Fatalf("%s: connection ended (%v); unconsumed %q", what, c.closed.Load(), c.in.Pending())
	default:
		c.t.Fatalf("%s: nothing within %s; unconsumed %q", what, routertest.Wait, c.in.Pending())
	}
	return ""
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
	if !c.in.WaitEnd(routertest.Wait) {
		c.t.Fatalf("connection still open after %s", routertest.Wait)
	}
	if ce := c.closed.Load(); ce != nil {
		return ce.Code
	}
	return 0
}
