package socketio_test

import (
	"strings"
	"testing"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/internal/routertest"
)

// TestChatExample runs examples/socketio-chat/router.yaml (on random ports)
// and does what its page does, with socket.io-client: chat messages to
// everyone, typing to the others, rooms, and /nick without a backend.
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

	d.emit("ann", "chat message", map[string]any{"name": "ann", "text": "hi"})
	for _, who := range []string{"ann", "bob"} {
		if got := argsJSON(d.event(who, "chat message")); got != `[{"name":"ann","text":"hi"}]` {
			t.Fatalf("%s got %s", who, got)
		}
	}
	d.emit("bob", "typing", "bob")
	if got := argsJSON(d.event("ann", "typing")); got != `["bob"]` {
		t.Fatalf("ann got %s", got)
	}
	if got := d.emitAck("bob", "join", "dev"); got != `{"ok":true}` {
		t.Fatalf("join %s", got)
	}
	d.emit("ann", "room message", "dev", map[string]any{"name": "ann", "text": "psst", "room": "dev"})
	// The namespace keeps history: room events carry their offset.
	m := d.event("bob", "room message")
	if len(m.Args) != 2 || string(m.Args[0]) != `{"name":"ann","room":"dev","text":"psst"}` {
		t.Fatalf("bob got %s", argsJSON(m))
	}
	if got := d.emitAck("ann", "nick", map[string]any{"name": "ann"}); !strings.Contains(got, `"code":"no_responders"`) {
		t.Fatalf("nick without a backend: %s", got)
	}
}
