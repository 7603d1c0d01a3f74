package socketio_test

import (
	"testing"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/internal/routertest"
)

// TestChatExample runs examples/socketio-chat/router.yaml (on random ports)
// and does what its page does, with socket.io-client: chat messages to
// everyone, typing to the others, rooms, and /nick without a backend (its
// timeout).
func TestChatExample(t *testing.T) {
	fs := config.NewFlagSet("routerd")
	if err := fs.Parse([]string{"-c", "../examples/socketio-chat/router.yaml",
		"--http.listen", "127.0.0.1:0", "--nats.listen", "127.0.0.1:0", "--log.level", "warn",
		"--http.static_dir", "../examples/socketio-chat"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(fs, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := routertest.Start(t, cfg)
	d := startDriver(t)
	d.connect("ann", n.HTTPURL(), nil)
	d.connect("bob", n.HTTPURL(), nil)

	// The namespace keeps history, so it recovers: every event carries its
	// offset as a last argument.
	d.emit("ann", "chat message", map[string]any{"name": "ann", "text": "hi"})
	for _, who := range []string{"ann", "bob"} {
		if m := d.event(who, "chat message"); len(m.Args) != 2 || string(m.Args[0]) != `{"name":"ann","text":"hi"}` {
			t.Fatalf("%s got %s", who, argsJSON(m))
		}
	}
	d.emit("bob", "typing", "bob")
	if m := d.event("ann", "typing"); len(m.Args) != 2 || string(m.Args[0]) != `"bob"` {
		t.Fatalf("ann got %s", argsJSON(m))
	}
	if got := d.emitAck("bob", "join", "dev"); got != `{"ok":true}` {
		t.Fatalf("join %s", got)
	}
	d.emit("ann", "room message", "dev", map[string]any{"name": "ann", "text": "psst", "room": "dev"})
	m := d.event("bob", "room message")
	if len(m.Args) != 2 || string(m.Args[0]) != `{"name":"ann","room":"dev","text":"psst"}` {
		t.Fatalf("bob got %s", argsJSON(m))
	}
	// No backend serves nick: no ack, as on a Socket.IO server, so the
	// page's timeout(3000) fires (here a shorter one).
	if msg := d.emitAckError("ann", "nick", 300, map[string]any{"name": "ann"}); msg != "operation has timed out" {
		t.Fatalf("nick without a backend: %s", msg)
	}
}
