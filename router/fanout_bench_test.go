package router

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/internal/natstest"
)

// countConn is a transport connection that only counts what it is sent.
type countConn struct {
	codec Codec
	n     *atomic.Int64
}

func (c countConn) Codec() Codec             { return c.codec }
func (c countConn) Send([]byte)              { c.n.Add(1) }
func (c countConn) Detached(*Socket, string) {}

// jsonCodec is a minimal event encoding for benchmarks.
type jsonCodec struct{}

func (jsonCodec) EncodeEvent(e *Event) []byte {
	b := make([]byte, 0, 48+len(e.Data))
	b = append(b, `{"type":"event","event":"`...)
	b = append(b, e.Name...)
	b = append(b, `","data":`...)
	b = append(b, e.Data...)
	return append(b, '}')
}

// startRouter runs an embedded nats-server and a router on it, with
// namespace chat.
func startRouter(tb testing.TB) (*Router, *nats.Conn) {
	tb.Helper()
	return startRouterWith(tb, &server.Options{}, map[string]config.Namespace{"chat": config.DefaultNamespace()})
}

// startRouterWith runs an embedded nats-server with opts (on a random
// local port) and a router on it with namespaces; it returns the router
// and a connection for a backend.
func startRouterWith(tb testing.TB, opts *server.Options, namespaces map[string]config.Namespace) (*Router, *nats.Conn) {
	tb.Helper()
	ns := natstest.Server(tb, opts)
	cfg := config.Default()
	cfg.Namespaces = namespaces
	r := New(Options{Bus: natstest.Bus(tb, ns), Config: &cfg})
	if err := r.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(r.Close)
	return r, natstest.Connect(tb, ns)
}

// BenchmarkFanout measures the fan-out path from a backend publish on a room
// subject to the send queues of 1000 local members: NATS delivery, one
// decode, one encode, 1000 queue pushes. allocs/op is per message, so
// allocations per delivery are allocs/op ÷ 1000.
func BenchmarkFanout(b *testing.B) {
	const members = 1000
	r, backend := startRouter(b)
	var delivered atomic.Int64
	conn := countConn{codec: jsonCodec{}, n: &delivered}
	ctx := context.Background()
	for i := 0; i < members; i++ {
		s, err := r.Connect(ctx, conn, "chat", nil, ConnInfo{})
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Join(ctx, "lobby"); err != nil {
			b.Fatal(err)
		}
	}
	subject := r.subj.Room("chat", "lobby", "message")
	payload := []byte(`{"name":"bench","text":"hello, room"}`)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := backend.Publish(subject, payload); err != nil {
			b.Fatal(err)
		}
	}
	want := int64(b.N) * members
	for delivered.Load() < want {
		time.Sleep(100 * time.Microsecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(want)/b.Elapsed().Seconds(), "deliveries/s")
}
