package socketio_test

import (
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/internal/routertest"
)

// BenchmarkFanout measures the Socket.IO delivery path: a backend
// publishes to a room of 1000 Socket.IO clients (WebSocket only, namespace
// chat as bench/routerd.yaml has it: no presence events), each of which
// reads every EVENT (one WebSocket message per packet) in this process.
// b.N is the number of messages; deliveries/s counts the clients' reads.
func BenchmarkFanout(b *testing.B) {
	const members = 1000
	const event = `42["message"`
	n := routertest.StartWith(b, func(cfg *config.Config) {
		cfg.SocketIO.Enabled = true
		cfg.SocketIO.Namespaces = map[string]string{"/": "chat"}
		cfg.SocketIO.Events = map[string]string{"join": config.ActionJoin}
		cfg.Limits.Rate.PerSecond = 0
		cfg.Limits.SendQueue = 1 << 16
		cfg.Limits.MaxConnections = 2 * members
		chat := cfg.Namespaces["chat"]
		chat.PresenceEvents = false
		cfg.Namespaces["chat"] = chat
	})
	var delivered atomic.Int64
	var readers sync.WaitGroup
	conns := make([]*websocket.Conn, members)
	for i := range conns {
		ws := routertest.DialWebSocket(b, "ws://"+n.HTTPAddr()+"/socket.io/?EIO=4&transport=websocket", nil)
		benchExpect(b, ws, "0{")
		benchSend(b, ws, "40")
		benchExpect(b, ws, "40{")
		benchSend(b, ws, `421["join","bench"]`)
		benchExpect(b, ws, "431[")
		conns[i] = ws
	}
	for _, ws := range conns {
		readers.Add(1)
		go func() {
			defer readers.Done()
			var head [len(event)]byte
			for {
				_, r, err := ws.NextReader()
				if err != nil {
					return
				}
				k, _ := io.ReadFull(r, head[:])
				switch string(head[:k]) {
				case event:
					delivered.Add(1)
				case "2":
					_ = ws.WriteMessage(websocket.TextMessage, []byte("3")) // the reader is the only writer now
				}
			}
		}()
	}
	backend := n.Backend()
	payload := []byte(`{"name":"bench","text":"hello, room"}`)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := backend.Publish("router.chat.room.bench.message", payload); err != nil {
			b.Fatalf("publish %d: %v", i, err)
		}
	}
	want := int64(b.N) * members
	for got := delivered.Load(); got < want; got = delivered.Load() {
		if b.Elapsed() > time.Minute {
			b.Fatalf("%d of %d deliveries after a minute", got, want)
		}
		time.Sleep(100 * time.Microsecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(want)/b.Elapsed().Seconds(), "deliveries/s")
	for _, ws := range conns {
		_ = ws.Close()
	}
	readers.Wait()
}
