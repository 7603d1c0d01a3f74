package daemon_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/internal/routertest"
)

// rawRequest sends a GET for path whose request line and headers take
// exactly size bytes (an X-Pad header fills them up) and returns the
// response's status.
func rawRequest(t *testing.T, n *routertest.Node, path string, size int) int {
	t.Helper()
	head := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\nX-Pad: ", path, n.HTTPAddr())
	const end = "\r\n\r\n"
	pad := size - len(head) - len(end)
	if pad < 0 {
		t.Fatalf("a request of %d bytes is too small", size)
	}
	req := head + strings.Repeat("p", pad) + end
	conn, err := net.DialTimeout("tcp", n.HTTPAddr(), routertest.Wait)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(routertest.Wait))
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatalf("write %d bytes: %v", size, err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("request of %d bytes: %v", size, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestMaxHeaderBytes: a request whose line and headers take up to
// http.max_header_bytes is served; one byte more gets 431, on the
// WebSocket endpoint as on the others.
func TestMaxHeaderBytes(t *testing.T) {
	t.Parallel()
	for _, max := range []int{8192, 16384} {
		t.Run(fmt.Sprint(max), func(t *testing.T) {
			t.Parallel()
			n := routertest.StartWith(t, func(cfg *config.Config) { cfg.HTTP.MaxHeaderBytes = max })
			if got := rawRequest(t, n, "/healthz", max); got != http.StatusOK {
				t.Errorf("request of max_header_bytes: HTTP %d, want 200", got)
			}
			if got := rawRequest(t, n, "/healthz", max+1); got != http.StatusRequestHeaderFieldsTooLarge {
				t.Errorf("request of max_header_bytes + 1: HTTP %d, want 431", got)
			}

			// A WebSocket upgrade with headers near the cap works; over it
			// gets 431 before any upgrade.
			ws := routertest.DialWebSocket(t, n.WSURL(), http.Header{"X-Pad": {strings.Repeat("p", max-1024)}})
			_ = ws.Close()
			_, resp, err := websocket.DefaultDialer.Dial(n.WSURL(), http.Header{"X-Pad": {strings.Repeat("p", max)}})
			if err == nil || resp == nil || resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
				t.Errorf("upgrade with headers over the cap: %v (response %v), want HTTP 431", err, resp)
			}
		})
	}
}

// TestMaxHeaderBytesDefault: the default cap refuses the 1 MB of headers
// that net/http would otherwise read and keep.
func TestMaxHeaderBytesDefault(t *testing.T) {
	t.Parallel()
	n := routertest.Start(t, routertest.Config(t))
	if d := config.Default().HTTP.MaxHeaderBytes; d != 16384 {
		t.Fatalf("default http.max_header_bytes %d, want 16384", d)
	}
	_, resp, err := websocket.DefaultDialer.Dial(n.WSURL(), http.Header{"X-Pad": {strings.Repeat("p", 1000<<10)}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("upgrade with 1000 KiB of headers: %v (response %v), want HTTP 431", err, resp)
	}
	n.Dial().Connect("chat") // the node serves on
}
