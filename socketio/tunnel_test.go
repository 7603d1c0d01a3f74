package socketio

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/internal/natstest"
)

// TestTunnelBatches: what the owner has queued crosses to the edge in
// batches of at most maxBatch bytes (a larger packet alone), every packet
// once, in order, attachments as binary.
func TestTunnelBatches(t *testing.T) {
	srv := natstest.Server(t, &server.Options{})
	nc := natstest.Connect(t, srv)

	type packet struct {
		bin  bool
		data string
	}
	var mu sync.Mutex
	var got []packet
	type batch struct{ bytes, packets int }
	var batches []batch
	var others []string // types other than batch, but the end Close sends
	if _, err := nc.Subscribe("edge.t", func(m *nats.Msg) {
		mu.Lock()
		defer mu.Unlock()
		switch typ := m.Header.Get(hdrType); typ {
		case tunnelEnd:
			return
		case tunnelBatch:
		default:
			others = append(others, typ)
		}
		b := batch{bytes: len(m.Data)}
		_ = eachPacket(m.Data, func(bin bool, p []byte) error {
			got = append(got, packet{bin, string(p)})
			b.packets++
			return nil
		})
		batches = append(batches, b)
		_ = m.Respond(nil)
	}); err != nil {
		t.Fatal(err)
	}
	tc, err := newTunnelConn(natstest.Bus(t, srv).Main(), "owner.t", "edge.t")
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()

	var units [][]byte
	var want []packet
	for i := range 40 {
		text := fmt.Sprintf(`42["e",%d,"%s"]`, i, bytes.Repeat([]byte("x"), 20<<10))
		units = append(units, []byte(text))
		want = append(want, packet{false, text})
	}
	big := `42["big","` + string(bytes.Repeat([]byte("y"), maxBatch)) + `"]`
	units = append(units, []byte(big), multiUnit([]byte(`451-["f",{"_placeholder":true,"num":0}]`), [][]byte{{1, 2, 3}}))
	want = append(want, packet{false, big}, packet{false, `451-["f",{"_placeholder":true,"num":0}]`}, packet{true, "\x01\x02\x03"})
	if err := tc.WriteUnits(units); err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(others) > 0 {
		t.Errorf("messages of types %q", others)
	}
	if len(got) != len(want) {
		t.Fatalf("%d packets crossed, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("packet %d: %.40q (binary %v), want %.40q (binary %v)", i, got[i].data, got[i].bin, want[i].data, want[i].bin)
		}
	}
	// 800 KiB of small packets, then one larger than a batch, then two.
	if len(batches) < 5 || len(batches) > 6 {
		t.Errorf("%d batches (%v), want 5 or 6", len(batches), batches)
	}
	for _, b := range batches {
		// A packet's kind and length take a few bytes beyond maxBatch.
		if b.packets > 1 && b.bytes > maxBatch+16 {
			t.Errorf("a batch of %d packets in %d bytes (max %d)", b.packets, b.bytes, maxBatch)
		}
	}
}
