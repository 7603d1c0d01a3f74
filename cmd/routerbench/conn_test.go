package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// fakeServer serves one WebSocket connection with script.
func fakeServer(t *testing.T, script func(ws *websocket.Conn) error) string {
	t.Helper()
	up := websocket.Upgrader{}
	done := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			done <- err
			return
		}
		defer ws.Close()
		done <- script(ws)
	}))
	t.Cleanup(func() {
		defer srv.Close()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("server: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("the server's script did not finish")
		}
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// expect reads one message and checks it.
func expect(ws *websocket.Conn, want string) error {
	_, msg, err := ws.ReadMessage()
	if err != nil {
		return err
	}
	if string(msg) != want {
		return fmt.Errorf("got %s, want %s", msg, want)
	}
	return nil
}

func say(ws *websocket.Conn, msg string) error {
	return ws.WriteMessage(websocket.TextMessage, []byte(msg))
}

func testOptions(t *testing.T, args ...string) *options {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	o := commonFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	if err := o.resolve(fs); err != nil {
		t.Fatal(err)
	}
	return o
}

// TestV1LargeBatch reads a message far larger than a read buffer, so that
// frames straddle reads, and one whose last frame has no newline.
func TestV1LargeBatch(t *testing.T) {
	const events = 3000
	url := fakeServer(t, func(ws *websocket.Conn) error {
		if err := say(ws, `{"type":"hello","version":"1","node":"n1","max_frame_bytes":65536}`); err != nil {
			return err
		}
		if err := expect(ws, `{"type":"connect","ns":"chat","id":1}`); err != nil {
			return err
		}
		if err := say(ws, `{"type":"connected","ns":"chat","sid":"s1","id":1}`); err != nil {
			return err
		}
		if err := expect(ws, `{"type":"join","ns":"chat","room":"r","id":2}`); err != nil {
			return err
		}
		if err := say(ws, `{"type":"ack","id":2}`); err != nil {
			return err
		}
		var b strings.Builder
		now := time.Now().UnixNano()
		for i := range events {
			if i > 0 {
				b.WriteByte('\n')
			}
			fmt.Fprintf(&b, `{"type":"event","ns":"chat","event":"bench","room":"r","from":"s2","data":%s}`, appendPayload(nil, stamp{now, uint32(i % 2), uint32(i/2 + 1)}, 100))
		}
		// A duplicate of publisher 0's last message.
		fmt.Fprintf(&b, "\n"+`{"type":"event","ns":"chat","event":"bench","data":%s}`, appendPayload(nil, stamp{now, 0, events / 2}, 100))
		if err := say(ws, b.String()); err != nil {
			return err
		}
		if err := say(ws, `{"type":"error","code":"rate_limited","message":"slow down"}`); err != nil {
			return err
		}
		return ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseTryAgainLater, "slow consumer"))
	})
	o := testOptions(t, "-url", url)
	c, err := dial(context.Background(), o, o.url, "r")
	if err != nil {
		t.Fatal(err)
	}
	tl := newTally(events + 1)
	c.readLoop(tl) // returns when the server closes
	if c.events != events+1 || tl.received.Load() != events+1 || c.hist.n != events+1 || c.disordered != 1 {
		t.Errorf("events %d, tally %d, latencies %d, out of order %d; want %d, %[4]d, %[4]d and 1", c.events, tl.received.Load(), c.hist.n, c.disordered, events+1)
	}
	select {
	case <-tl.all:
	default:
		t.Error("tally not complete")
	}
	if c.errors["rate_limited"] != 1 || c.ended != "close 1013" {
		t.Errorf("errors %v, ended %q", c.errors, c.ended)
	}
}

func TestV1AttachRefused(t *testing.T) {
	url := fakeServer(t, func(ws *websocket.Conn) error {
		_ = say(ws, `{"type":"hello","version":"1"}`)
		_, _, _ = ws.ReadMessage()
		_ = say(ws, `{"type":"error","id":1,"ns":"nope","code":"unknown_namespace","message":"no namespace nope"}`)
		_, _, _ = ws.ReadMessage() // until the client closes
		return nil
	})
	_, err := dial(context.Background(), testOptions(t, "-url", url, "-ns", "nope"), url, "r")
	if err == nil || !strings.Contains(err.Error(), "unknown_namespace") {
		t.Errorf("dial: %v, want unknown_namespace", err)
	}
}

func TestSocketIOSession(t *testing.T) {
	url := fakeServer(t, func(ws *websocket.Conn) error {
		steps := []struct{ send, want string }{
			{`0{"sid":"e1","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`, `40/chat,`},
			{`40/chat,{"sid":"s1"}`, `42/chat,1["join","r"]`},
			{`2`, `3`}, // a ping while joining
			{`43/chat,1[]`, ""},
			{`2`, `3`},
			{fmt.Sprintf(`42/chat,["message",%s]`, appendPayload(nil, stamp{time.Now().UnixNano(), 0, 1}, 64)), ""},
		}
		for _, s := range steps {
			if err := say(ws, s.send); err != nil {
				return err
			}
			if s.want != "" {
				if err := expect(ws, s.want); err != nil {
					return err
				}
			}
		}
		return say(ws, `41/chat,`)
	})
	c, err := dial(context.Background(), testOptions(t, "-proto", "socketio", "-url", url), url, "r")
	if err != nil {
		t.Fatal(err)
	}
	go c.readLoop(newTally(1))
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the reader did not end")
	}
	if c.events != 1 || c.errors["disconnected"] != 1 {
		t.Errorf("events %d, errors %v", c.events, c.errors)
	}
}
