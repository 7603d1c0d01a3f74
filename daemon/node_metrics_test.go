package daemon_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/routerd/routerd/internal/routertest"
)

func TestMetrics(t *testing.T) {
	t.Parallel()
	n := routertest.StartWith(t, nil)
	a, b := n.Dial(), n.Dial()
	a.Connect("chat")
	b.Connect("chat")
	a.Join("chat", "lobby")
	b.Join("chat", "lobby")
	a.Send(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "m", "data": 1})
	b.Next(routertest.IsEvent("m"))
	a.ErrorCode(map[string]any{"type": "nope"})
	want := []string{
		`routerd_connections 2`,
		`routerd_sockets{namespace="chat"} 2`,
		`routerd_rooms 1`,
		`routerd_nats_connected 1`,
		`routerd_frames_in_total{type="emit"} 1`,
		`routerd_frames_in_total{type="unknown"} 1`,
		`routerd_frames_out_total{type="connected"} 2`,
		`routerd_frames_out_total{type="event"} `,
		`routerd_errors_total{code="unknown_type"} 1`,
		`routerd_deliveries_total `,
		`routerd_fanout_seconds_count `,
		`routerd_ack_roundtrip_seconds_bucket`,
	}
	routertest.Eventually(t, "metrics", func() error {
		resp, err := http.Get(n.HTTPURL() + "/metrics")
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, w := range want {
			if !strings.Contains(string(body), "\n"+w) {
				return fmt.Errorf("no %q in /metrics", w)
			}
		}
		return nil
	})
}
