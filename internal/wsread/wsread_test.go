package wsread

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

const wait = 5 * time.Second // bound on what a test waits for

// pair upgrades one real loopback connection with Upgrade and returns the
// server side and its Reader, and the client side.
func pair(t *testing.T) (*websocket.Conn, *Reader, *websocket.Conn) {
	t.Helper()
	type server struct {
		ws *websocket.Conn
		rd *Reader
	}
	got := make(chan server, 1)
	workers := NewWorkers()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, rd, err := Upgrade(&websocket.Upgrader{}, w, r, nil, workers)
		if err != nil {
			t.Errorf("upgrade: %v", err)
			return
		}
		got <- server{ws, rd}
	}))
	t.Cleanup(srv.Close)
	client, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	s := <-got
	t.Cleanup(func() { s.ws.Close() })
	if s.rd.br == nil {
		t.Fatal("gorilla does not read through the Reader's buffer")
	}
	if s.rd.ready == nil {
		t.Skip("no raw socket to wait on here")
	}
	return s.ws, s.rd, client
}

// readAll reads the client's side until it fails, so that its pong
// handler runs.
func readAll(client *websocket.Conn) {
	go func() {
		for {
			if _, _, err := client.ReadMessage(); err != nil {
				return
			}
		}
	}()
}

// TestSkipControl: pings and pongs go to the WebSocket's handlers without
// gorilla (which would then wait for a data message); a data message is
// left to gorilla whole.
func TestSkipControl(t *testing.T) {
	ws, rd, client := pair(t)
	pongs, clientPongs := make(chan string, 1), make(chan string, 1)
	ws.SetPongHandler(func(p string) error { pongs <- p; return nil })
	client.SetPongHandler(func(p string) error { clientPongs <- p; return nil })
	readAll(client)
	deadline := time.Now().Add(wait)
	if err := client.WriteControl(websocket.PongMessage, []byte("p"), deadline); err != nil {
		t.Fatal(err)
	}
	if err := client.WriteControl(websocket.PingMessage, []byte("hello"), deadline); err != nil {
		t.Fatal(err)
	}
	for answered := false; !answered; {
		if err := rd.ready.wait(); err != nil {
			t.Fatal(err)
		}
		if !rd.skipControl() {
			t.Fatal("control frames were left to gorilla")
		}
		select {
		case p := <-clientPongs:
			if p != "hello" {
				t.Fatalf("pong %q, want hello", p)
			}
			answered = true
		case <-time.After(10 * time.Millisecond):
		}
	}
	select {
	case p := <-pongs:
		if p != "p" {
			t.Errorf("the server's pong handler got %q, want p", p)
		}
	default:
		t.Error("the client's pong did not reach the pong handler")
	}
	if err := client.WriteMessage(websocket.TextMessage, []byte(`{"type":"x"}`)); err != nil {
		t.Fatal(err)
	}
	if err := rd.ready.wait(); err != nil {
		t.Fatal(err)
	}
	if rd.skipControl() {
		t.Fatal("a data message was taken for control frames")
	}
	if typ, msg, err := ws.ReadMessage(); err != nil || typ != websocket.TextMessage || string(msg) != `{"type":"x"}` {
		t.Fatalf("gorilla read %d %q %v", typ, msg, err)
	}
}

// TestRun: Run hands every message to read in order, on a worker, answers
// the pings sent between them, ends when read reports false, and returns
// the error that ended a wait (the read deadline).
func TestRun(t *testing.T) {
	ws, rd, client := pair(t)
	const messages = 200
	clientPongs := make(chan string, messages)
	client.SetPongHandler(func(p string) error { clientPongs <- p; return nil })
	readAll(client)
	go func() {
		for i := range messages {
			deadline := time.Now().Add(wait)
			if client.WriteControl(websocket.PingMessage, fmt.Appendf(nil, "%d", i), deadline) != nil ||
				client.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, "%d", i)) != nil {
				return
			}
		}
	}()
	var next atomic.Int64
	err := rd.Run(func() bool {
		_, msg, err := ws.ReadMessage()
		if err != nil {
			t.Errorf("read: %v", err)
			return false
		}
		if want := fmt.Sprint(next.Load()); string(msg) != want {
			t.Errorf("message %q, want %s", msg, want)
			return false
		}
		return next.Add(1) < messages
	})
	if err != nil || next.Load() != messages {
		t.Fatalf("Run: %v after %d messages", err, next.Load())
	}
	for i := range messages {
		select {
		case p := <-clientPongs:
			if p != fmt.Sprint(i) {
				t.Fatalf("pong %q, want %d", p, i)
			}
		case <-time.After(wait):
			t.Fatalf("%d pongs of %d", i, messages)
		}
	}

	_ = ws.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	err = rd.Run(func() bool { t.Error("read called with nothing sent"); return false })
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Run after the read deadline: %v, want %v", err, os.ErrDeadlineExceeded)
	}
}
