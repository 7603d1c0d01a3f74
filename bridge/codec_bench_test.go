package bridge

import (
	"encoding/json"
	"testing"

	"github.com/routerd/routerd/router"
)

func BenchmarkEncodeEvent(b *testing.B) {
	ev := &router.Event{NS: "chat", Room: "lobby", Name: "message", From: "AAAAAAAAAAAAAAAAAAAAAA", Data: json.RawMessage(`{"name":"bench","text":"hello, room"}`)}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = codec{}.EncodeEvent(ev)
	}
}

func BenchmarkDecodeFrame(b *testing.B) {
	msg := []byte(`{"type":"emit","ns":"chat","room":"lobby","event":"message","data":{"name":"bench","text":"hello, room"}}`)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := decodeFrame(msg); err != nil {
			b.Fatal(err)
		}
	}
}
