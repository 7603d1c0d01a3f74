package socketio_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/internal/routertest"
)

// BenchmarkTunnel measures, over a WebSocket served by the session's own
// node and over one tunnelled through another node, one acknowledged
// Socket.IO event (a join, whose ack is the reply: the round trip a client
// sees), and the events a backend broadcasts (per event, a hundred in
// flight).
func BenchmarkTunnel(b *testing.B) {
	nodes := routertest.StartCluster(b, 2, func(_ int, cfg *config.Config) {
		cfg.SocketIO.Enabled = true
		cfg.SocketIO.Namespaces = map[string]string{"/": "chat"}
		cfg.SocketIO.Events = map[string]string{"join": config.ActionJoin}
		cfg.Limits.Rate.PerSecond = 0
	})
	owner, edge := nodes[0], nodes[1]
	wsURL := func(n *routertest.Node, query string) string {
		return "ws://" + n.HTTPAddr() + "/socket.io/?EIO=4&" + query
	}
	local := func() *websocket.Conn {
		ws := routertest.DialWebSocket(b, wsURL(owner, "transport=websocket"), nil)
		benchExpect(b, ws, "0{")
		return ws
	}
	tunnelled := func() *websocket.Conn {
		resp, err := http.Get("http://" + owner.HTTPAddr() + "/socket.io/?EIO=4&transport=polling")
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		var open struct{ SID string }
		if err := json.Unmarshal(body[1:], &open); err != nil {
			b.Fatalf("handshake %q: %v", body, err)
		}
		ws := routertest.DialWebSocket(b, wsURL(edge, "transport=websocket&sid="+open.SID), nil)
		benchSend(b, ws, "2probe")
		benchExpect(b, ws, "3probe")
		benchSend(b, ws, "5")
		return ws
	}
	backend := owner.Backend()
	for name, dial := range map[string]func() *websocket.Conn{"local": local, "tunnelled": tunnelled} {
		b.Run(name+"/ack", func(b *testing.B) {
			ws := dial()
			benchSend(b, ws, "40")
			benchExpect(b, ws, "40{")
			b.ResetTimer()
			for i := range b.N {
				benchSend(b, ws, fmt.Sprintf(`42%d["join","r"]`, i))
				benchExpect(b, ws, fmt.Sprintf("43%d[", i))
			}
		})
		// Events a backend broadcasts, 100 at a time, to one client.
		b.Run(name+"/events", func(b *testing.B) {
			ws := dial()
			benchSend(b, ws, "40")
			benchExpect(b, ws, "40{")
			b.ResetTimer()
			for sent := 0; sent < b.N; {
				n := min(100, b.N-sent)
				for range n {
					if err := backend.Publish("router.chat.broadcast.tick", []byte("1")); err != nil {
						b.Fatal(err)
					}
				}
				for range n {
					benchExpect(b, ws, `42["tick"`)
				}
				sent += n
			}
		})
	}
}

func benchSend(b *testing.B, ws *websocket.Conn, m string) {
	if err := ws.WriteMessage(websocket.TextMessage, []byte(m)); err != nil {
		b.Fatal(err)
	}
}

// benchExpect reads until a message that starts with prefix, answering
// pings.
func benchExpect(b *testing.B, ws *websocket.Conn, prefix string) {
	for {
		_, m, err := ws.ReadMessage()
		if err != nil {
			b.Fatalf("waiting for %q: %v", prefix, err)
		}
		switch {
		case strings.HasPrefix(string(m), prefix):
			return
		case string(m) == "2":
			benchSend(b, ws, "3")
		}
	}
}
