package bridge_test

// Tests of what the WebSocket server refuses or survives: upgrades from
// origins not allowed, and random text and binary messages.

import (
	mrand "math/rand"
	"net/http"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/internal/routertest"
)

func TestAllowedOrigins(t *testing.T) {
	t.Parallel()
	n := routertest.StartWith(t, func(cfg *config.Config) { cfg.HTTP.AllowedOrigins = []string{"https://app.example.com"} })
	dial := func(origin string) int {
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		ws, resp, err := websocket.DefaultDialer.Dial(n.WSURL(), h)
		if err == nil {
			ws.Close()
			return http.StatusSwitchingProtocols
		}
		if resp == nil {
			t.Fatalf("dial: %v", err)
		}
		return resp.StatusCode
	}
	if got := dial("https://app.example.com"); got != http.StatusSwitchingProtocols {
		t.Errorf("allowed origin: HTTP %d", got)
	}
	if got := dial("https://evil.example.com"); got != http.StatusForbidden {
		t.Errorf("other origin: HTTP %d, want 403", got)
	}
	if got := dial(""); got != http.StatusSwitchingProtocols {
		t.Errorf("no Origin (not a browser): HTTP %d", got)
	}
	if got := routertest.Metric(t, n, `routerd_connections_refused_total{reason="origin"}`); got != "1" {
		t.Errorf("refusals by origin = %q", got)
	}
}

// TestGarbage throws random text and binary messages at the daemon from
// several connections; it keeps serving them and everyone else.
func TestGarbage(t *testing.T) {
	t.Parallel()
	n := routertest.StartWith(t, func(cfg *config.Config) { cfg.Limits.Rate.PerSecond = 0 })
	watcher := n.Dial()
	watcher.Connect("chat")
	watcher.Join("chat", "lobby")
	rng := mrand.New(mrand.NewSource(1))
	pieces := []string{`{`, `}`, `"type"`, `:`, `"emit"`, `"join"`, `"ns"`, `"chat"`, `"room"`, `"lobby"`, `,`, `[`, `]`, `null`, `1e999`, `-0`, `"\u0000"`, "\n", `"id"`, `99999999999999999999`, `"data"`, `{"a":`, `"$join"`, `true`}
	for c := 0; c < 4; c++ {
		g := n.Dial()
		g.Connect("chat")
		for i := 0; i < 300; i++ {
			switch rng.Intn(3) {
			case 0:
				b := make([]byte, rng.Intn(200))
				rng.Read(b)
				if err := g.WS.WriteMessage(websocket.BinaryMessage, b); err != nil {
					t.Fatal(err)
				}
			case 1:
				b := make([]byte, rng.Intn(200))
				rng.Read(b)
				g.Send(b)
			default:
				var s []byte
				for j := rng.Intn(12); j >= 0; j-- {
					s = append(s, pieces[rng.Intn(len(pieces))]...)
				}
				g.Send(s)
			}
		}
		g.Barrier()
		g.Join("chat", "lobby")
	}
	watcher.MustAck(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "still", "self": true})
	watcher.Next(routertest.IsEvent("still"))
}
