package socketio_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/internal/routertest"
)

// TestTunnelTooLargeWhileWriting: a tunnelled client that sends an
// oversized message while the owner streams events to it gets the edge's
// close 1009, not a reset, though the owner's writes meet that close frame
// (the edge's write after it fails with websocket.ErrCloseSent); and the
// owner, as with a local WebSocket, leaves the session to its reader, which
// closes it as too large.
func TestTunnelTooLargeWhileWriting(t *testing.T) {
	nodes := routertest.StartCluster(t, 2, func(_ int, cfg *config.Config) {
		cfg.SocketIO = sioConfig(t).SocketIO
		cfg.Limits.MaxFrameBytes = 4096
		cfg.Limits.Rate.PerSecond = 0
	})
	owner, edge := nodes[0], nodes[1]
	backend := owner.Backend()
	const rounds = 10
	for round := range rounds {
		p := handshakePolling(t, owner)
		ws := routertest.DialWebSocket(t, "ws"+strings.TrimPrefix(eioURL(edge, "transport=websocket&sid="+p.sid), "http"), nil)
		_ = ws.SetReadDeadline(time.Now().Add(routertest.Wait))
		_ = ws.WriteMessage(websocket.TextMessage, []byte("2probe"))
		if _, m, err := ws.ReadMessage(); err != nil || string(m) != "3probe" {
			t.Fatalf("probe: %q %v", m, err)
		}
		_ = ws.WriteMessage(websocket.TextMessage, []byte("5"))
		_ = ws.WriteMessage(websocket.TextMessage, []byte("40"))
		_, m, err := ws.ReadMessage()
		sid, ok := strings.CutPrefix(string(m), `40{"sid":"`)
		if err != nil || !ok {
			t.Fatalf("connect after the upgrade: %q %v", m, err)
		}
		sid, _, _ = strings.Cut(sid, `"`)
		// Events stream to the client, at most a send queue's worth in
		// flight, until it is closed: the edge is writing when the close
		// frame goes out.
		credit := make(chan struct{}, 64)
		stop := make(chan struct{})
		streamed := make(chan error, 1)
		go func() {
			for i := 0; ; i++ {
				select {
				case credit <- struct{}{}:
				case <-stop:
					streamed <- nil
					return
				}
				if err := backend.Publish("router.chat.socket."+sid+".tick", fmt.Appendf(nil, "%d", i)); err != nil {
					streamed <- err
					return
				}
			}
		}()
		read := func() error {
			_, m, err := ws.ReadMessage()
			if err == nil && strings.HasPrefix(string(m), `42["tick",`) {
				<-credit
			}
			return err
		}
		for range 50 {
			if err := read(); err != nil {
				t.Fatalf("round %d: before the oversized message: %v", round, err)
			}
		}
		if err := ws.WriteMessage(websocket.TextMessage, []byte(`42["x","`+strings.Repeat("a", 5000)+`"]`)); err != nil {
			t.Fatal(err)
		}
		for err == nil {
			err = read()
		}
		close(stop)
		if err := <-streamed; err != nil {
			t.Fatal(err)
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.CloseMessageTooBig {
			t.Fatalf("round %d: the connection ended with %v, want close %d", round, err, websocket.CloseMessageTooBig)
		}
	}
	metric := `routerd_closes_total{reason="too_large"}`
	routertest.Eventually(t, metric, func() error {
		if got, want := scrape(t, owner, metric), fmt.Sprintf("%s %d", metric, rounds); got != want {
			return fmt.Errorf("%q, want %q", got, want)
		}
		return nil
	})
}
