package bridge

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// pair upgrades one real loopback connection the way the bridge does and
// returns the server side as a conn (gorilla reading through c.br) and the
// client side.
func pair(t *testing.T) (*conn, *websocket.Conn) {
	t.Helper()
	got := make(chan *conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hw := &hijacker{ResponseWriter: w}
		ws, err := (&websocket.Upgrader{}).Upgrade(hw, r, nil)
		if err != nil {
			t.Errorf("upgrade: %v", err)
			return
		}
		got <- &conn{ws: ws, br: hw.br}
	}))
	t.Cleanup(srv.Close)
	client, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	c := <-got
	t.Cleanup(func() { c.ws.Close() })
	if c.br == nil {
		t.Fatal("gorilla does not read through the bridge's reader")
	}
	return c, client
}

// TestSkipControl: pings and pongs are answered without gorilla (which would
// then wait for a data message); a data message is left to gorilla whole.
func TestSkipControl(t *testing.T) {
	c, client := pair(t)
	ready := newReadiness(c.ws.UnderlyingConn())
	if ready == nil {
		t.Skip("no raw socket to wait on here")
	}
	pongs := make(chan string, 1)
	client.SetPongHandler(func(p string) error { pongs <- p; return nil })
	go func() {
		for {
			if _, _, err := client.ReadMessage(); err != nil {
				return
			}
		}
	}()
	c.pongDue.Store(true)
	deadline := time.Now().Add(5 * time.Second)
	if err := client.WriteControl(websocket.PongMessage, []byte("p"), deadline); err != nil {
		t.Fatal(err)
	}
	if err := client.WriteControl(websocket.PingMessage, []byte("hello"), deadline); err != nil {
		t.Fatal(err)
	}
	for answered := false; !answered; {
		if err := ready.wait(); err != nil {
			t.Fatal(err)
		}
		if !c.skipControl() {
			t.Fatal("control frames were left to gorilla")
		}
		select {
		case p := <-pongs:
			if p != "hello" {
				t.Fatalf("pong %q, want hello", p)
			}
			answered = true
		case <-time.After(10 * time.Millisecond):
		}
	}
	if c.pongDue.Load() {
		t.Error("the client's pong did not clear the pong deadline")
	}
	if err := client.WriteMessage(websocket.TextMessage, []byte(`{"type":"x"}`)); err != nil {
		t.Fatal(err)
	}
	if err := ready.wait(); err != nil {
		t.Fatal(err)
	}
	if c.skipControl() {
		t.Fatal("a data message was taken for control frames")
	}
	if typ, msg, err := c.ws.ReadMessage(); err != nil || typ != websocket.TextMessage || string(msg) != `{"type":"x"}` {
		t.Fatalf("gorilla read %d %q %v", typ, msg, err)
	}
}
