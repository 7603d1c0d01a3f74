package socketio_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/internal/routertest"
)

// Hostile input from the security review, against a real node: what a
// binary packet may cost the node is bounded before any work is done on it.

// amplification is the attack: a BINARY_EVENT (with ack id 1) whose data
// names its one attachment of size bytes n times.
func amplification(n, size int) (text string, att []byte) {
	var b strings.Builder
	b.WriteString(`451-1["file"`)
	for range n {
		b.WriteString(`,{"_placeholder":true,"num":0}`)
	}
	b.WriteString("]")
	return b.String(), bytes.Repeat([]byte{0xab}, size)
}

// sessionGone waits until the polling session p is unknown to the node.
func sessionGone(t *testing.T, p *pollSession) {
	t.Helper()
	routertest.Eventually(t, "session "+p.sid+" gone", func() error {
		if status, body := httpDo(t, "GET", p.url, "", nil); status != http.StatusBadRequest || !strings.Contains(body, `"code":1`) {
			return fmt.Errorf("poll: %d %q", status, body)
		}
		return nil
	})
}

// TestPlaceholderAmplification: 1400 placeholders naming one 22 KB
// attachment fit a 64 KB frame, and would rebuild to 40 MB; the packet is
// malformed (an attachment named twice), so the session is closed as for
// any packet Socket.IO's decoder refuses (1002 on WebSocket), over either
// transport, and nothing reaches a backend.
func TestPlaceholderAmplification(t *testing.T) {
	n := routertest.Start(t, sioConfig(t)) // max_frame_bytes 65536
	seen := routertest.Subscribe(t, n.Backend(), "router.chat.server.>")

	ws := dialEIO(t, n)
	ws.send("40")
	ws.expectPrefix(`40{"sid":"`)
	text, att := amplification(1400, 22<<10)
	if len(text)+len(att)+2 > n.Cfg.Limits.MaxFrameBytes {
		t.Fatalf("the attack (%d bytes) does not fit max_frame_bytes", len(text)+len(att))
	}
	ws.send(text)
	ws.sendBinary(att)
	if code := ws.closedWith(); code != websocket.CloseProtocolError {
		t.Fatalf("websocket: close %d, want %d", code, websocket.CloseProtocolError)
	}

	// Polling sends the attachment as base64: a smaller one fits a POST.
	p := handshakePolling(t, n)
	p.post("40")
	if body := p.get(); !strings.HasPrefix(body, `40{"sid":"`) {
		t.Fatalf("connect reply %q", body)
	}
	text, att = amplification(1400, 15<<10)
	body := text + "\x1eb" + base64.StdEncoding.EncodeToString(att)
	if len(body) > n.Cfg.Limits.MaxFrameBytes {
		t.Fatalf("the polling attack (%d bytes) does not fit max_frame_bytes", len(body))
	}
	httpDo(t, "POST", p.url, body, nil)
	sessionGone(t, p)
	routertest.Eventually(t, "both closes counted", func() error {
		if got := scrape(t, n, `routerd_closes_total{reason="parse_error"}`); got != `routerd_closes_total{reason="parse_error"} 2` {
			return fmt.Errorf("got %q", got)
		}
		return nil
	})

	// A packet sent afterwards reaches the backend, and it is the only one.
	after := dialEIO(t, n)
	after.send("40")
	after.expectPrefix(`40{"sid":"`)
	after.send(`42["file","after"]`)
	if m := seen.WaitN(t, 1); len(m) != 1 || string(m[0].Data) != `"after"` {
		t.Fatalf("the backend got %d messages, the first %.80q", len(m), m[0].Data)
	}
}

// TestRebuiltTooLarge: a binary event whose data, with its attachments
// in base64, would exceed max_frame_bytes is refused with too_large before
// it is built (an error ack with a callback, dropped without), although
// its text and attachments fit; the session stays.
func TestRebuiltTooLarge(t *testing.T) {
	cfg := sioConfig(t)
	cfg.Limits.MaxFrameBytes = 1024
	n := routertest.Start(t, cfg)
	c := dialEIO(t, n)
	c.send("40")
	c.expectPrefix(`40{"sid":"`)
	big := bytes.Repeat([]byte{1}, 800) // 1068 bytes in base64
	c.send(`451-5["chat message","big",{"_placeholder":true,"num":0}]`)
	c.sendBinary(big)
	c.expect(`435[{"error":{"code":"too_large","message":"the data with its attachments in base64 is 1105 bytes, over max_frame_bytes (1024)"}}]`)
	c.send(`451-["chat message","big",{"_placeholder":true,"num":0}]`)
	c.sendBinary(big)
	// What fits goes through, after the refused ones: none of them went out.
	c.send(`451-6["chat message","small",{"_placeholder":true,"num":0}]`)
	c.sendBinary([]byte{1, 2, 3})
	c.expectAll(`451-["chat message",["small",{"_placeholder":true,"num":0}]]`, `436[{"ok":true}]`)
	if c.in.Has(func(m string) bool { return strings.Contains(m, "big") }) {
		t.Fatalf("a refused packet went out: %q", c.in.Pending())
	}
}

// TestRateLimitBeforeDecoding: every packet is charged to limits.rate from
// its header alone; over it, its data is not decoded (a malformed one gets
// rate_limited, not a close for the malformation), a binary packet's
// attachments are dropped unread, and an ACK gets no answer, until the
// client that keeps going is closed for it (1008).
func TestRateLimitBeforeDecoding(t *testing.T) {
	cfg := sioConfig(t)
	cfg.Limits.Rate.PerSecond = 0.001 // no token comes back during the test
	cfg.Limits.Rate.Burst = 3
	n := routertest.Start(t, cfg)
	c := dialEIO(t, n)
	c.send("40") // 1
	c.expectPrefix(`40{"sid":"`)
	c.send(`452-9["chat message",{"_placeholder":true,"num":1},{"_placeholder":true,"num":0}]`) // 2: a binary packet is one
	c.sendBinary([]byte{1})
	c.sendBinary([]byte{2})
	c.expectAll(`452-["chat message",[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]]`, `439[{"ok":true}]`)
	c.send(`428["chat message","third"]`) // 3
	c.expectAll(`42["chat message","third"]`, `438[{"ok":true}]`)

	rateLimited := `[{"error":{"code":"rate_limited","message":"more than 0.001 packets per second"}}]`
	c.send(`451-1["x",{"_placeholder":true,"num":7}]`) // names no attachment
	c.sendBinary([]byte{1})
	c.expect(`431` + rateLimited)
	c.send(`422[1`) // not JSON
	c.expect(`432` + rateLimited)
	c.send(`437[]`) // an ACK
	c.send(`42["x"]`)
	if code := c.closedWith(); code != websocket.ClosePolicyViolation {
		t.Fatalf("close %d, want %d", code, websocket.ClosePolicyViolation)
	}
	if len(c.in.Pending()) != 0 {
		t.Fatalf("unexpected messages %q", c.in.Pending())
	}
}

// TestNotConnectedNoDecoding: a packet for a namespace the session is not
// connected to gets its not_connected ack from its header alone: neither
// its data nor its attachments are decoded (malformed ones included), and
// the session stays.
func TestNotConnectedNoDecoding(t *testing.T) {
	n := routertest.Start(t, sioConfig(t))
	c := dialEIO(t, n)
	c.send("40")
	c.expectPrefix(`40{"sid":"`)
	notConnected := `[{"error":{"code":"not_connected","message":"not connected to namespace \"/nope\""}}]`
	c.send(`451-/nope,5["x",{"_placeholder":true,"num":7}]`) // names no attachment
	c.sendBinary([]byte{1})
	c.expect(`43/nope,5` + notConnected)
	text, att := amplification(1400, 22<<10)
	c.send(strings.Replace(text, `451-1`, `451-/nope,6`, 1))
	c.sendBinary(att)
	c.expect(`43/nope,6` + notConnected)
	c.send(`42/nope,7[1`) // not JSON
	c.expect(`43/nope,7` + notConnected)
	c.send(`43/nope,8[1`) // an ACK: nothing to answer
	c.send(`428["chat message","still here"]`)
	c.expectAll(`42["chat message","still here"]`, `438[{"ok":true}]`)
	if len(c.in.Pending()) != 0 {
		t.Fatalf("unexpected messages %q", c.in.Pending())
	}
}

// TestBinaryLimitsWithClient: with socket.io-client, Buffers whose packet
// fits max_frame_bytes but whose data with the Buffers in base64 does not
// get too_large in the emit's callback and reach no one; smaller ones, the
// same bytes twice included, arrive intact, over either transport.
// (Polling sends attachments in base64, so there the POST is over
// max_frame_bytes first: 413, as for any POST.)
func TestBinaryLimitsWithClient(t *testing.T) {
	cfg := sioConfig(t)
	cfg.Limits.MaxFrameBytes = 4096
	n := routertest.Start(t, cfg)
	d := startDriver(t)
	d.connect("poll", n.HTTPURL(), map[string]any{"transports": []string{"polling"}})
	d.connect("ws", n.HTTPURL(), wsOnly)
	d.emitAck("poll", "join", "files")
	d.emitAck("ws", "join", "files")
	bin := func(size int) map[string]any {
		return map[string]any{"$bytes": base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, size))}
	}
	// 2 × 1600 bytes fit 4096; 2 × 2136 in base64 do not.
	if got := d.emitAck("ws", "message", "files", "big", bin(1600), bin(1600)); !strings.Contains(got, `"code":"too_large"`) {
		t.Fatalf("ack %s, want too_large", got)
	}
	small := bin(100)
	for from, to := range map[string]string{"ws": "poll", "poll": "ws"} {
		if got := d.emitAck(from, "message", "files", "small", small, small); got != `{"ok":true}` {
			t.Fatalf("%s: ack %s", from, got)
		}
		want, _ := json.Marshal([]any{"small", small, small})
		if got := argsJSON(d.event(to, "message")); got != `[`+string(want)+`]` {
			t.Fatalf("%s got %s, want [%s]", to, got, want)
		}
	}
}

// TestNamespacesPerSession: a Socket.IO session's namespaces count
// together against limits.max_namespaces_per_connection, as a native
// connection's do; one more gets CONNECT_ERROR limit_exceeded and the
// session stays.
func TestNamespacesPerSession(t *testing.T) {
	cfg := sioConfig(t)
	cfg.Limits.MaxNamespacesPerConnection = 2
	cfg.Namespaces["ns-*"] = config.DefaultNamespace()
	n := routertest.Start(t, cfg)
	c := dialEIO(t, n)
	c.send("40")
	c.expectPrefix(`40{"sid":"`)
	c.send("40/ns-1,")
	c.expectPrefix(`40/ns-1,{"sid":"`)
	c.send("40/ns-2,")
	c.expectPrefix(`44/ns-2,{"data":{"code":"limit_exceeded"},"message":"a connection may attach at most 2 namespaces`)
	c.send(`428["chat message","still here"]`)
	c.expectAll(`42["chat message","still here"]`, `438[{"ok":true}]`)
}
