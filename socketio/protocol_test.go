package socketio_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/internal/routertest"
)

// httpDo makes one request and returns the status and body.
func httpDo(t *testing.T, method, url, body string, h http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestHTTPErrors: Engine.IO's documented errors, with its JSON bodies.
func TestHTTPErrors(t *testing.T) {
	cfg := sioConfig(t)
	cfg.HTTP.AllowedOrigins = []string{"https://app.example"}
	n := routertest.Start(t, cfg)
	tests := []struct {
		name, method, query string
		h                   http.Header
		status              int
		body                string
	}{
		{"EIO 3", "GET", "EIO=3&transport=polling", nil, 400, `{"code":5,"message":"Unsupported protocol version"}`},
		{"no EIO", "GET", "transport=polling", nil, 400, `{"code":5,"message":"Unsupported protocol version"}`},
		{"unknown transport", "GET", "EIO=4&transport=flash", nil, 400, `{"code":0,"message":"Transport unknown"}`},
		{"unknown sid", "GET", "EIO=4&transport=polling&sid=nope", nil, 400, `{"code":1,"message":"Session ID unknown"}`},
		{"POST handshake", "POST", "EIO=4&transport=polling", nil, 400, `{"code":2,"message":"Bad handshake method"}`},
		{"websocket without upgrade", "GET", "EIO=4&transport=websocket", nil, 400, `{"code":3,"message":"Bad request"}`},
		{"origin", "GET", "EIO=4&transport=polling", http.Header{"Origin": {"https://evil.example"}}, 403, `{"code":4,"message":"Forbidden"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := n.HTTPURL() + "/socket.io/?" + tt.query
			status, body := httpDo(t, tt.method, url, "", tt.h)
			if status != tt.status || body != tt.body {
				t.Fatalf("got %d %s, want %d %s", status, body, tt.status, tt.body)
			}
		})
	}
	// An allowed origin polls, with CORS headers for the page.
	req, _ := http.NewRequest("GET", eioURL(n, "transport=polling"), nil)
	req.Header.Set("Origin", "https://app.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Fatalf("allowed origin: %d %v", resp.StatusCode, resp.Header)
	}
	// A WebSocket from another origin is refused before the upgrade.
	_, wresp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(eioURL(n, "transport=websocket"), "http"), http.Header{"Origin": {"https://evil.example"}})
	if err == nil || wresp == nil || wresp.StatusCode != 403 {
		t.Fatalf("websocket from another origin: %v %v", err, wresp)
	}
}

// pollSession is a raw long-polling client.
type pollSession struct {
	t   *testing.T
	url string // with sid
	sid string
}

// handshakePolling opens a polling session and checks the open packet.
func handshakePolling(t *testing.T, n *routertest.Node) *pollSession {
	t.Helper()
	status, body := httpDo(t, "GET", eioURL(n, "transport=polling"), "", nil)
	if status != 200 || !strings.HasPrefix(body, "0{") {
		t.Fatalf("handshake: %d %q", status, body)
	}
	var open struct {
		SID          string   `json:"sid"`
		Upgrades     []string `json:"upgrades"`
		PingInterval int      `json:"pingInterval"`
		PingTimeout  int      `json:"pingTimeout"`
		MaxPayload   int      `json:"maxPayload"`
	}
	if err := json.Unmarshal([]byte(body[1:]), &open); err != nil {
		t.Fatal(err)
	}
	hc := n.Cfg.HTTP
	if open.SID == "" || fmt.Sprint(open.Upgrades) != "[websocket]" || open.PingInterval != int(hc.PingInterval.Milliseconds()) ||
		open.PingTimeout != int(hc.PongTimeout.Milliseconds()) || open.MaxPayload != n.Cfg.Limits.MaxFrameBytes {
		t.Fatalf("open packet %s", body)
	}
	return &pollSession{t: t, url: eioURL(n, "transport=polling&sid="+open.SID), sid: open.SID}
}

func (p *pollSession) post(payload string) {
	p.t.Helper()
	if status, body := httpDo(p.t, "POST", p.url, payload, nil); status != 200 || body != "ok" {
		p.t.Fatalf("post %q: %d %s", payload, status, body)
	}
}

func (p *pollSession) get() string {
	p.t.Helper()
	status, body := httpDo(p.t, "GET", p.url, "", nil)
	if status != 200 {
		p.t.Fatalf("poll: %d %s", status, body)
	}
	return body
}

// TestPollingAndUpgrade: the long-polling exchange and the probe/upgrade
// sequence, packet by packet.
func TestPollingAndUpgrade(t *testing.T) {
	cfg := sioConfig(t)
	n := routertest.Start(t, cfg)
	p := handshakePolling(t, n)
	p.post("40")
	if body := p.get(); !strings.HasPrefix(body, `40{"sid":"`) {
		t.Fatalf("connect reply %q", body)
	}
	p.post("421[\"join\",\"r\"]\x1e422[\"shout\",\"r\",\"x\"]")
	got := ""
	for strings.Count(got, "\x1e") < 2 {
		if got != "" {
			got += "\x1e"
		}
		got += p.get()
	}
	for _, want := range []string{`431[{"ok":true}]`, `42["shout","x"]`, `432[{"ok":true}]`} {
		if !strings.Contains(got, want) {
			t.Fatalf("polled %q, want %q in it", got, want)
		}
	}

	// Upgrade: a poll is pending while the client probes.
	pending := make(chan string, 1)
	go func() {
		_, body := httpDo(t, "GET", p.url, "", nil)
		pending <- body
	}()
	wsURL := "ws" + strings.TrimPrefix(p.url, "http")
	wsURL = strings.Replace(wsURL, "transport=polling", "transport=websocket", 1)
	ws, _, err := websocket.DefaultDialer.Dial(wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	_ = ws.WriteMessage(websocket.TextMessage, []byte("2probe"))
	if _, m, err := ws.ReadMessage(); err != nil || string(m) != "3probe" {
		t.Fatalf("probe answer %q %v", m, err)
	}
	select {
	case body := <-pending:
		if body != "6" {
			t.Fatalf("pending poll got %q, want the noop", body)
		}
	case <-time.After(routertest.Wait):
		t.Fatal("the pending poll was not released")
	}
	_ = ws.WriteMessage(websocket.TextMessage, []byte("5"))
	_ = ws.WriteMessage(websocket.TextMessage, []byte(`423["shout","r","over ws"]`))
	want := map[string]bool{`42["shout","over ws"]`: true, `433[{"ok":true}]`: true}
	for len(want) > 0 {
		_ = ws.SetReadDeadline(time.Now().Add(routertest.Wait))
		_, m, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("read after upgrade: %v (still waiting for %v)", err, want)
		}
		delete(want, string(m))
	}
	// Polling is over for this session.
	if status, body := httpDo(t, "GET", p.url, "", nil); status != 400 || body != `{"code":3,"message":"Bad request"}` {
		t.Fatalf("poll after upgrade: %d %s", status, body)
	}
	// A second upgrade is refused.
	if _, resp, err := websocket.DefaultDialer.Dial(wsURL, nil); err == nil || resp == nil || resp.StatusCode != 400 {
		t.Fatalf("second upgrade: %v", err)
	}
	// The client closes: the session ends.
	_ = ws.WriteMessage(websocket.TextMessage, []byte("1"))
	routertest.Eventually(t, "session gone", func() error {
		if status, _ := httpDo(t, "GET", p.url, "", nil); status != 400 {
			return fmt.Errorf("status %d", status)
		}
		return nil
	})
}

// TestHeartbeat: the server pings every ping_interval; a session that does
// not answer within pong_timeout is closed, one that answers lives on. The
// pong timeout is wide, so that a loaded machine answers well within it.
func TestHeartbeat(t *testing.T) {
	cfg := sioConfig(t)
	cfg.HTTP.PingInterval = 100 * time.Millisecond
	cfg.HTTP.PongTimeout = 2 * time.Second
	n := routertest.Start(t, cfg)

	alive := dialEIO(t, n) // answers pings
	if alive.open["pingInterval"] != 100.0 || alive.open["pingTimeout"] != 2000.0 {
		t.Fatalf("open %v", alive.open)
	}
	// A polling session that does not answer its ping misses the pong
	// deadline.
	p := handshakePolling(t, n)
	if body := p.get(); body != "2" {
		t.Fatalf("polled %q, want a ping", body)
	}
	routertest.EventuallyWithin(t, "silent session closed", routertest.Wait+cfg.HTTP.PongTimeout, func() error {
		if status, body := httpDo(t, "GET", p.url, "", nil); status != 400 || !strings.Contains(body, `"code":1`) {
			return fmt.Errorf("poll: %d %s", status, body)
		}
		return nil
	})
	// The answering session got a ping after each pong, and still works
	// after more than pong_timeout.
	routertest.Eventually(t, "pings answered", func() error {
		if got := alive.pings.Load(); got < 3 {
			return fmt.Errorf("%d pings", got)
		}
		return nil
	})
	alive.send("40")
	alive.expectPrefix(`40{"sid":"`)
	routertest.Eventually(t, "ping_timeout close counted", func() error {
		if got := scrape(t, n, `routerd_closes_total{reason="ping_timeout"}`); got != `routerd_closes_total{reason="ping_timeout"} 1` {
			return fmt.Errorf("got %q", got)
		}
		return nil
	})
}

// scrape returns the /metrics line starting with prefix, or "".
func scrape(t *testing.T, n *routertest.Node, prefix string) string {
	t.Helper()
	_, body := httpDo(t, "GET", n.HTTPURL()+"/metrics", "", nil)
	for line := range strings.SplitSeq(body, "\n") {
		if strings.HasPrefix(line, prefix) {
			return line
		}
	}
	return ""
}

// TestLimits: max_frame_bytes (1009 / 413), the rate limit (rate_limited
// acks, then close 1008), max_connections (503), and a slow consumer's
// session closed without affecting the others.
func TestLimits(t *testing.T) {
	cfg := sioConfig(t)
	cfg.Limits.MaxFrameBytes = 1024
	cfg.Limits.Rate.PerSecond = 1
	cfg.Limits.Rate.Burst = 2
	cfg.Limits.SendQueue = 8
	cfg.Limits.MaxConnections = 4
	n := routertest.Start(t, cfg)

	big := dialEIO(t, n)
	big.send("42[\"x\",\"" + strings.Repeat("a", 1100) + "\"]")
	if code := big.closedWith(); code != websocket.CloseMessageTooBig {
		t.Fatalf("too large: close %d", code)
	}
	p := handshakePolling(t, n)
	if status, _ := httpDo(t, "POST", p.url, "4"+strings.Repeat("a", 1100), nil); status != http.StatusRequestEntityTooLarge {
		t.Fatalf("large post: %d", status)
	}

	flood := dialEIO(t, n)
	flood.send("40")
	flood.expectPrefix(`40{"sid":"`) // the first packet of the burst
	flood.send(`421["join","r"]`)
	flood.send(`422["join","r"]`)
	flood.expect(`431[{"ok":true}]`)
	flood.expect(`432[{"error":{"code":"rate_limited","message":"more than 1 packets per second"}}]`)
	for i := 3; i < 10; i++ {
		flood.send(fmt.Sprintf(`42%d["join","r"]`, i))
	}
	if code := flood.closedWith(); code != websocket.ClosePolicyViolation {
		t.Fatalf("flood: close %d", code)
	}

	// Slow consumer: a polling session that stops polling while events
	// keep coming is closed once send_queue is full; the others go on.
	slow := handshakePolling(t, n)
	slow.post("40")
	ok := dialEIO(t, n)
	ok.send("40")
	ok.expectPrefix(`40{"sid":"`)
	be := n.Backend()
	for i := range 10 { // one at a time: the reading session never holds more than one
		if err := be.Publish("router.chat.broadcast.tick", fmt.Appendf(nil, "%d", i)); err != nil {
			t.Fatal(err)
		}
		ok.expect(fmt.Sprintf(`42["tick",%d]`, i))
	}
	routertest.Eventually(t, "slow consumer closed", func() error {
		if scrape(t, n, `routerd_closes_total{reason="slow_consumer"}`) == "" {
			return fmt.Errorf("not counted")
		}
		return nil
	})
	if status, body := httpDo(t, "GET", slow.url, "", nil); status != 400 || !strings.Contains(body, `"code":1`) {
		t.Fatalf("slow session still there: %d %s", status, body)
	}

	// max_connections: sessions count; one more is refused with 503.
	for range 3 {
		handshakePolling(t, n)
	}
	routertest.Eventually(t, "503 at max_connections", func() error {
		status, body := httpDo(t, "GET", eioURL(n, "transport=polling"), "", nil)
		if status != http.StatusServiceUnavailable {
			return fmt.Errorf("got %d %s", status, body)
		}
		return nil
	})
}

// TestCloseCodeReachesBusyClient: a client still sending when its session
// is closed gets the close code, and its connection is not reset: the
// server reads on, discarding, until the client answers the close. Also
// through a tunnel (the edge reads on for the owner).
func TestCloseCodeReachesBusyClient(t *testing.T) {
	nodes := routertest.StartCluster(t, 2, func(_ int, cfg *config.Config) {
		cfg.SocketIO = sioConfig(t).SocketIO
		cfg.Limits.MaxFrameBytes = 4096
	})
	local := "ws" + strings.TrimPrefix(eioURL(nodes[0], "transport=websocket"), "http")
	tunnelled := func() string {
		p := handshakePolling(t, nodes[0])
		return "ws" + strings.TrimPrefix(eioURL(nodes[1], "transport=websocket&sid="+p.sid), "http")
	}
	for name, tc := range map[string]struct {
		url     func() string
		upgrade bool   // probe and switch first
		first   string // sent before the stream of small packets
		code    int
	}{
		"rate limit":            {url: func() string { return local }, code: websocket.ClosePolicyViolation},
		"too large":             {url: func() string { return local }, first: `42["x","` + strings.Repeat("a", 5000) + `"]`, code: websocket.CloseMessageTooBig},
		"tunnelled, rate limit": {url: tunnelled, upgrade: true, code: websocket.ClosePolicyViolation},
		"tunnelled, too large":  {url: tunnelled, upgrade: true, first: `42["x","` + strings.Repeat("a", 5000) + `"]`, code: websocket.CloseMessageTooBig},
	} {
		t.Run(name, func(t *testing.T) {
			ws := routertest.DialWebSocket(t, tc.url(), nil)
			if tc.upgrade {
				switchToWebSocket(t, ws)
			} else {
				_ = ws.WriteMessage(websocket.TextMessage, []byte("40"))
			}
			routertest.ExpectCloseWhileSending(t, ws, tc.first, func(int) string { return `42["join","r"]` }, tc.code)
			// Both sides let go within the close grace, not after the time
			// a request to the other side may take (ping_interval +
			// pong_timeout, 45 s here).
			for i, side := range []string{"owner", "edge"} {
				metric := fmt.Sprintf(`routerd_socketio_tunnels{side=%q}`, side)
				routertest.Eventually(t, metric+" back to 0", func() error {
					if got := scrape(t, nodes[i], metric); got != "" && got != metric+" 0" {
						return errors.New(got)
					}
					return nil
				})
			}
		})
	}
}

// switchToWebSocket runs the upgrade handshake on ws, a WebSocket opened
// with a polling session's sid, and connects namespace "/" over it.
func switchToWebSocket(t *testing.T, ws *websocket.Conn) {
	t.Helper()
	_ = ws.WriteMessage(websocket.TextMessage, []byte("2probe"))
	if _, m, err := ws.ReadMessage(); err != nil || string(m) != "3probe" {
		t.Fatalf("probe: %q %v", m, err)
	}
	_ = ws.WriteMessage(websocket.TextMessage, []byte("5"))
	_ = ws.WriteMessage(websocket.TextMessage, []byte("40"))
	if _, m, err := ws.ReadMessage(); err != nil || !strings.HasPrefix(string(m), `40{"sid":"`) {
		t.Fatalf("connect after the upgrade: %q %v", m, err)
	}
}

// TestGarbage: what Socket.IO's own decoder refuses closes that session
// only, as Socket.IO does; the daemon and the other sessions go on.
func TestGarbage(t *testing.T) {
	n := routertest.Start(t, sioConfig(t))
	other := dialEIO(t, n)
	other.send("40")
	other.expectPrefix(`40{"sid":"`)
	// Junk before the data, whether or not a namespace is connected.
	for _, junk := range []string{"x", "9", "4", "49", `45-["a"]`, "0", "5", `40"x"`, `42/a` + "\xff" + `,["x"]`} {
		c := dialEIO(t, n)
		c.send(junk)
		if code := c.closedWith(); code != websocket.CloseProtocolError {
			t.Fatalf("%q: close %d", junk, code)
		}
	}
	c := dialEIO(t, n)
	c.sendBinary([]byte{1, 2, 3}) // an attachment nobody announced
	if code := c.closedWith(); code != websocket.CloseProtocolError {
		t.Fatalf("stray attachment: close %d", code)
	}
	// Bad data, and binary packets Socket.IO refuses or routerd takes for
	// malformed, in a connected namespace.
	for _, junk := range [][]string{
		{`42{}`}, {`42[1`}, {`42["x"]` + "\xff"},
		{`451-["x",{"_placeholder":true,"num":3}]`, "\x01"},                                       // names no attachment
		{`452-["x",{"_placeholder":true,"num":0},{"_placeholder":true,"num":0}]`, "\x01", "\x02"}, // one named twice
		{`452-["x",{"_placeholder":true,"num":0}]`, "\x01", "\x02"},                               // one never named
		{`451-["x",{"_placeholder":true,"num":0,"x":1}]`, "\x01"},                                 // not exactly a placeholder
		{`451-["x",{"_placeholder":true,"num":"0"}]`, "\x01"},
		{`451-["x",{"_placeholder":true,"num":0}]`, `42["x"]`}, // a packet instead of its attachment
	} {
		c := dialEIO(t, n)
		c.send("40")
		c.expectPrefix(`40{"sid":"`)
		c.send(junk[0])
		for _, m := range junk[1:] {
			if strings.HasPrefix(m, "4") {
				c.send(m)
			} else {
				c.sendBinary([]byte(m))
			}
		}
		if code := c.closedWith(); code != websocket.CloseProtocolError {
			t.Fatalf("%q: close %d", junk, code)
		}
	}
	p := handshakePolling(t, n)
	if status, _ := httpDo(t, "POST", p.url, "bxx!", nil); status != 400 {
		t.Fatalf("bad payload: %d", status)
	}
	// Decodable but wrong: refused with an ack, the session stays.
	other.send(`421[5]`)
	other.expect(`431[{"error":{"code":"bad_frame","message":"the event name must be a string"}}]`)
	other.send(`42/nope,2["x"]`)
	other.expect(`43/nope,2[{"error":{"code":"not_connected","message":"not connected to namespace \"/nope\""}}]`)
	other.send(`422["chat message","still here"]`)
	other.expectAll(`42["chat message","still here"]`, `432[{"ok":true}]`)
	routertest.Eventually(t, "every close counted", func() error {
		if got := scrape(t, n, `routerd_closes_total{reason="parse_error"}`); got != `routerd_closes_total{reason="parse_error"} 20` {
			return fmt.Errorf("got %q", got)
		}
		return nil
	})
}

// TestShutdown: a WebSocket session gets close 1001; a pending poll is
// answered with the close packet at once, so that the HTTP server's
// shutdown does not wait for it.
func TestShutdown(t *testing.T) {
	n := routertest.Start(t, sioConfig(t)) // ping_interval 25s: a poll held that long would show
	ws := dialEIO(t, n)
	p := handshakePolling(t, n)
	pending := make(chan string, 1)
	go func() {
		resp, err := http.Get(p.url)
		if err != nil {
			pending <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		pending <- string(b)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := n.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("shutdown took %s", d)
	}
	if code := ws.closedWith(); code != websocket.CloseGoingAway {
		t.Fatalf("websocket: close %d", code)
	}
	// The poll gets the close packet when the server held it already;
	// when it came too late it gets "Session ID unknown" or finds the port
	// closed. Either way the client learns the session ended.
	body := <-pending
	if body != "1" && !strings.Contains(body, `"code":1`) && !strings.Contains(body, "refused") {
		t.Fatalf("pending poll got %q", body)
	}
}

// TestPath: socketio.path is where the endpoint lives (the client asks for
// path + "/"); with socketio.enabled false nothing is mounted.
func TestPath(t *testing.T) {
	cfg := sioConfig(t)
	cfg.SocketIO.Path = "/rt"
	n := routertest.Start(t, cfg)
	if status, body := httpDo(t, "GET", n.HTTPURL()+"/rt/?EIO=4&transport=polling", "", nil); status != 200 || !strings.HasPrefix(body, "0{") {
		t.Fatalf("custom path: %d %s", status, body)
	}
	d := startDriver(t)
	d.connect("a", n.HTTPURL(), map[string]any{"path": "/rt"})

	off := routertest.Start(t, routertest.Config(t))
	if status, _ := httpDo(t, "GET", eioURL(off, "transport=polling"), "", nil); status != http.StatusNotFound {
		t.Fatalf("disabled: %d", status)
	}
}

// TestServeClient: the socket.io-client bundles are served under the
// endpoint's path, like a Socket.IO server's serveClient.
func TestServeClient(t *testing.T) {
	n := routertest.Start(t, sioConfig(t))
	for _, name := range []string{"socket.io.js", "socket.io.min.js", "socket.io.esm.min.js"} {
		status, body := httpDo(t, "GET", n.HTTPURL()+"/socket.io/"+name, "", nil)
		if status != http.StatusOK || !strings.HasPrefix(body, "/*!\n * Socket.IO v4.8.1") {
			t.Errorf("%s: %d %.40q", name, status, body)
		}
	}
	if status, _ := httpDo(t, "GET", n.HTTPURL()+"/socket.io/other.js", "", nil); status != http.StatusNotFound {
		t.Errorf("other.js: %d", status)
	}
	if status, body := httpDo(t, "GET", eioURL(n, "transport=polling"), "", nil); status != http.StatusOK || !strings.HasPrefix(body, "0{") {
		t.Errorf("Engine.IO beside the bundles: %d %s", status, body)
	}
}

// TestConnectTimeout: a session that connects no namespace within
// socketio.connect_timeout is closed; one that did stays.
func TestConnectTimeout(t *testing.T) {
	cfg := sioConfig(t)
	cfg.SocketIO.ConnectTimeout = 300 * time.Millisecond
	cfg.HTTP.PingInterval = time.Second
	n := routertest.Start(t, cfg)
	idle := handshakePolling(t, n)
	busy := handshakePolling(t, n)
	busy.post("40")
	if body := busy.get(); !strings.HasPrefix(body, `40{"sid":"`) {
		t.Fatalf("connect reply %q", body)
	}
	if body := idle.get(); body != "1" {
		t.Fatalf("idle session polled %q, want the close packet", body)
	}
	// The busy session outlives the timeout: its next poll is a ping (1s).
	if body := busy.get(); body != "2" {
		t.Fatalf("connected session polled %q, want a ping", body)
	}
}

// TestMaxConnectionsAcrossTransports: limits.max_connections counts native
// WebSockets and Socket.IO sessions together.
func TestMaxConnectionsAcrossTransports(t *testing.T) {
	cfg := sioConfig(t)
	cfg.Limits.MaxConnections = 2
	n := routertest.Start(t, cfg)
	native := n.Dial()
	handshakePolling(t, n)
	if status, body := httpDo(t, "GET", eioURL(n, "transport=polling"), "", nil); status != http.StatusServiceUnavailable {
		t.Fatalf("a third connection (Socket.IO): %d %s", status, body)
	}
	if _, resp, err := websocket.DefaultDialer.Dial(n.WSURL(), nil); err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a third connection (native): %v", err)
	}
	_ = native.WS.Close()
	routertest.Eventually(t, "room for one more once the native client left", func() error {
		if status, body := httpDo(t, "GET", eioURL(n, "transport=polling"), "", nil); status != http.StatusOK {
			return fmt.Errorf("%d %s", status, body)
		}
		return nil
	})
}

// TestTunnelEdgeShutdown: when the node a tunnelled WebSocket came in
// through shuts down, a client still sending gets 1001 (going away), as on
// a local WebSocket, and its session ends on the node that held it.
func TestTunnelEdgeShutdown(t *testing.T) {
	nodes := routertest.StartCluster(t, 2, func(_ int, cfg *config.Config) {
		cfg.SocketIO = sioConfig(t).SocketIO
	})
	p := handshakePolling(t, nodes[0])
	ws := routertest.DialWebSocket(t, "ws"+strings.TrimPrefix(eioURL(nodes[1], "transport=websocket&sid="+p.sid), "http"), nil)
	switchToWebSocket(t, ws)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		nodes[1].Stop()
	}()
	routertest.ExpectCloseWhileSending(t, ws, "", func(int) string { return "6" }, websocket.CloseGoingAway)
	<-stopped
	routertest.Eventually(t, "the session ended on its node", func() error {
		if status, body := httpDo(t, "GET", p.url, "", nil); status != http.StatusBadRequest {
			return fmt.Errorf("poll: %d %s", status, body)
		}
		return nil
	})
}

// TestOneUpgradeAtATime: while one WebSocket upgrade of a session is in
// its handshake, another is refused, so two connections never serve one
// session.
func TestOneUpgradeAtATime(t *testing.T) {
	n := routertest.Start(t, sioConfig(t))
	p := handshakePolling(t, n)
	wsURL := "ws" + strings.TrimPrefix(strings.Replace(p.url, "transport=polling", "transport=websocket", 1), "http")
	first := routertest.DialWebSocket(t, wsURL, nil)
	if _, resp, err := websocket.DefaultDialer.Dial(wsURL, nil); err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("second upgrade during the first's handshake: %v", err)
	}
	switchToWebSocket(t, first) // the first goes on as usual
	// An upgrade whose handshake failed lets the next one in.
	q := handshakePolling(t, n)
	qURL := "ws" + strings.TrimPrefix(strings.Replace(q.url, "transport=polling", "transport=websocket", 1), "http")
	bad := routertest.DialWebSocket(t, qURL, nil)
	_ = bad.WriteMessage(websocket.TextMessage, []byte("not a probe"))
	routertest.Eventually(t, "a new upgrade after a failed one", func() error {
		ws, resp, err := websocket.DefaultDialer.Dial(qURL, nil)
		if err != nil {
			return fmt.Errorf("%v (%v)", err, resp)
		}
		return ws.Close()
	})
}

// TestMaxConnectionsTunnels: a tunnelled WebSocket counts among the
// connections of the node it came in through.
func TestMaxConnectionsTunnels(t *testing.T) {
	nodes := routertest.StartCluster(t, 2, func(_ int, cfg *config.Config) {
		cfg.SocketIO = sioConfig(t).SocketIO
		cfg.Limits.MaxConnections = 1
	})
	p := handshakePolling(t, nodes[0])
	url := "ws" + strings.TrimPrefix(eioURL(nodes[1], "transport=websocket&sid="+p.sid), "http")
	native := nodes[1].Dial() // the edge's one connection
	if _, resp, err := websocket.DefaultDialer.Dial(url, nil); err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("upgrade through a full node: %v", err)
	}
	_ = native.WS.Close()
	routertest.Eventually(t, "upgrade once the edge has room", func() error {
		ws, resp, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			return fmt.Errorf("%v (%v)", err, resp)
		}
		return ws.Close()
	})
}
