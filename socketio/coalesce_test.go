package socketio

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

// TestWriteUnits: packets a writer holds in the coalescer reach a gorilla
// client as the WebSocket messages gorilla itself would write, in order,
// for every length encoding and across writes of maxHeld.
func TestWriteUnits(t *testing.T) {
	type message struct {
		typ  int
		data []byte
	}
	var want []message
	var units [][]byte
	text := func(n int) {
		p := append([]byte{eioMessage}, bytes.Repeat([]byte{'x'}, n)...)
		units = append(units, p)
		want = append(want, message{websocket.TextMessage, p})
	}
	for _, n := range []int{0, 1, 124, 125, 126, 0xfffe, 0xffff, 0x10000, 70000} {
		text(n)
	}
	att := []byte{0, 1, 2, 0xff}
	units = append(units, multiUnit([]byte(`451-["file",{"_placeholder":true,"num":0}]`), [][]byte{att}))
	want = append(want,
		message{websocket.TextMessage, []byte(`451-["file",{"_placeholder":true,"num":0}]`)},
		message{websocket.BinaryMessage, att})
	for range 3 * maxHeld / 100 {
		text(100)
	}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var up websocket.Upgrader
		ws, err := up.Upgrade(coalescing{w}, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		defer ws.Close()
		if err := writeUnits(ws, ws.NetConn().(*coalescer), units); err != nil {
			t.Error(err)
		}
		_, _, _ = ws.ReadMessage() // until the client is done
	}))
	defer srv.Close()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	for i, m := range want {
		typ, data, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if typ != m.typ || !bytes.Equal(data, m.data) {
			t.Fatalf("message %d: type %d, %d bytes %.20q; want type %d, %d bytes %.20q", i, typ, len(data), data, m.typ, len(m.data), m.data)
		}
	}
}
