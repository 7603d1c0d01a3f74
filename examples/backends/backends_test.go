package backends_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/internal/routertest"
)

// The Go backend (go/main.go), built and run as a process beside a node
// with router.yaml, does what README.md says, for real WebSocket clients.
func TestGoBackend(t *testing.T) {
	t.Parallel()
	bin := routertest.Build(t, "./go", "backend")
	n := startNode(t)
	checkBackend(t, n, "go", startBackend(t, n, "", bin))
}

// The Node backend (node/backend.mjs), under Node with the official NATS
// client, does the same.
func TestNodeBackend(t *testing.T) {
	t.Parallel()
	needNATSClient(t)
	n := startNode(t)
	checkBackend(t, n, "node", startBackend(t, n, "node", "node", "backend.mjs"))
}

// checkBackend drives the backend p, answering as "from", through n.
func checkBackend(t *testing.T, n *routertest.Node, from string, p *routertest.Process) {
	routertest.Eventually(t, "the backend ready", func() error {
		if !strings.Contains(p.Logs.String(), "backend ready") {
			return fmt.Errorf("not ready; output:\n%s", p.Logs.String())
		}
		return nil
	})

	// A socket that connects is logged, with its handshake, and welcomed by
	// the name in its URL.
	ann := dial(t, n, "?name=ann")
	annSid := ann.Connect("chat")
	wantData(t, "welcome", ann.Next(routertest.IsEvent("welcome")), fmt.Sprintf(`{"text":"welcome, ann","from":%q}`, from))
	routertest.Eventually(t, "the connect logged", func() error {
		if logs := p.Logs.String(); !strings.Contains(logs, annSid) || !strings.Contains(logs, "/ws?name=ann") {
			return fmt.Errorf("no connect of %s in the output:\n%s", annSid, logs)
		}
		return nil
	})
	bob := dial(t, n, "")
	bobSid := bob.Connect("chat")
	wantData(t, "welcome", bob.Next(routertest.IsEvent("welcome")), fmt.Sprintf(`{"text":"welcome, stranger","from":%q}`, from))

	// ping, and upper: its Router-Error reply is an error frame.
	wantData(t, "ping", ann.MustAck(emit("ping", nil)), fmt.Sprintf(`{"pong":true,"from":%q}`, from))
	wantData(t, "upper", ann.MustAck(emit("upper", "hi")), `"HI"`)
	if r := ann.Req(emit("upper", 7)); r.Type() != "error" || r.Str("code") != "bad_frame" || r.Str("message") != "upper wants a string" {
		t.Errorf("upper 7: %v, want error bad_frame", r)
	}

	// who: a ctl.presence request (a room whose name is escaped in subjects).
	const room = "tea room"
	ann.Join("chat", room)
	bob.Join("chat", room)
	carol := dial(t, n, "")
	carolSid := routertest.ConnectJoin(t, carol, "chat", room)
	who := ann.MustAck(emit("who", map[string]string{"room": room}))
	var members []struct{ SID string }
	if err := json.Unmarshal([]byte(who.JSON("data")), &members); err != nil {
		t.Fatalf("who: %v: %v", who, err)
	}
	var sids []string
	for _, m := range members {
		sids = append(sids, m.SID)
	}
	if slices.Sort(sids); !slices.Equal(sids, sorted(annSid, bobSid, carolSid)) {
		t.Errorf("who = %s, want the sids %v", who.JSON("data"), sorted(annSid, bobSid, carolSid))
	}
	if r := ann.Req(emit("who", "lobby")); r.Str("code") != "bad_frame" {
		t.Errorf("who without a room: %v, want bad_frame", r)
	}

	// poll: every member gets the question with an ack id; ann and bob
	// answer, carol leaves instead (routerd replies not_connected for her),
	// and the room gets the result.
	wantData(t, "poll", ann.MustAck(emit("poll", map[string]string{"room": room, "question": "tabs or spaces?"})), `{"asked":3}`)
	for c, answer := range map[*routertest.Client]string{ann: "tabs", bob: "spaces", carol: ""} {
		q := c.Next(routertest.IsEvent("poll"))
		wantData(t, "question", q, `{"question":"tabs or spaces?"}`)
		if q.Num("ack") < 1 {
			t.Fatalf("poll event without an ack id: %v", q)
		}
		if answer == "" {
			c.MustAck(map[string]any{"type": "disconnect", "ns": "chat"})
			continue
		}
		c.MustAck(map[string]any{"type": "reply", "ns": "chat", "ack": q.Num("ack"), "data": answer})
	}
	want := fmt.Sprintf(`{"question":"tabs or spaces?","answers":{%q:"tabs",%q:"spaces"},"errors":{%q:"not_connected"}}`, annSid, bobSid, carolSid)
	for _, c := range []*routertest.Client{ann, bob} {
		r := c.Next(routertest.IsEvent("poll_result"))
		if r.Str("room") != room {
			t.Errorf("poll_result in room %q, want %q", r.Str("room"), room)
		}
		wantData(t, "poll_result", r, want)
	}

	// auth: backend, on namespace private.
	dan := dial(t, n, "")
	if r := dan.Req(map[string]any{"type": "connect", "ns": "private", "auth": map[string]string{"token": "nope"}}); r.Str("code") != "unauthorized" || r.Str("message") != "unknown token" {
		t.Errorf("connect with a bad token: %v, want unauthorized: unknown token", r)
	}
	r := dan.MustAck(map[string]any{"type": "connect", "ns": "private", "auth": map[string]string{"token": "ann-secret"}})
	if r.Type() != "connected" {
		t.Fatalf("connect with ann's token: %v", r)
	}
	dan.Join("private", "lobby")
	rep := routertest.CtlCall(t, n.Backend(), "router.private.ctl.presence", `{"room":"lobby"}`)
	routertest.EqualJSON(t, "private lobby", routertest.MustJSON(t, rep["members"]), fmt.Sprintf(`[{"sid":%q,"user":"ann"}]`, r.Str("sid")))
	dan.Join("private", "ann-notes")
	if code := dan.ErrorCode(map[string]any{"type": "join", "ns": "private", "room": "bob-notes"}); code != "forbidden" {
		t.Errorf("join bob-notes as ann: %s, want forbidden", code)
	}

	// SIGTERM: it drains and exits 0; nobody serves ping any more.
	p.Stop(t, syscall.SIGTERM, 10*time.Second)
	if logs := p.Logs.String(); !strings.Contains(logs, "backend stopping") {
		t.Errorf("output lacks %q:\n%s", "backend stopping", logs)
	}
	if r := ann.Req(emit("ping", nil)); r.Str("code") != "no_responders" {
		t.Errorf("ping after the backend exited: %v, want no_responders", r)
	}
}

// startNode runs router.yaml (namespaces chat and private) on free ports.
func startNode(t *testing.T) *routertest.Node {
	t.Helper()
	fs := config.NewFlagSet("routerd")
	if err := fs.Parse([]string{"-c", "router.yaml", "--http.listen", "127.0.0.1:0", "--nats.listen", "127.0.0.1:0",
		"--log.level", "warn", "--nats.jetstream.store_dir", t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(fs, nil)
	if err != nil {
		t.Fatalf("router.yaml: %v", err)
	}
	return routertest.Start(t, cfg)
}

// dial opens a WebSocket client with query (e.g. "?name=ann") in its URL.
func dial(t *testing.T, n *routertest.Node, query string) *routertest.Client {
	t.Helper()
	c := routertest.DialURL(t, n.WSURL()+query, nil)
	c.Next(routertest.IsType("hello"))
	return c
}

// emit is a server-bound emit in chat (with data unless nil).
func emit(event string, data any) map[string]any {
	f := map[string]any{"type": "emit", "ns": "chat", "event": event}
	if data != nil {
		f["data"] = data
	}
	return f
}

// wantData fails unless frame f's data is the JSON value want.
func wantData(t *testing.T, what string, f routertest.Frame, want string) {
	t.Helper()
	if !f.Has("data") {
		t.Errorf("%s: no data in %v, want %s", what, f, want)
		return
	}
	routertest.EqualJSON(t, what, f.JSON("data"), want)
}

func sorted(s ...string) []string { slices.Sort(s); return s }

// startBackend runs name with args in dir, its NATS_URL set to n's NATS; it
// is killed if it still runs when the test ends.
func startBackend(t *testing.T, n *routertest.Node, dir, name string, args ...string) *routertest.Process {
	t.Helper()
	return routertest.StartProcess(t, dir, []string{"NATS_URL=" + n.NATSURL()}, name, args...)
}

var npmOnce sync.Once

// needNATSClient installs node/'s npm packages (@nats-io/transport-node)
// when they are missing, as socketio's tests do theirs, and skips the test
// where Node is not installed.
func needNATSClient(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed: the Node backend's test needs Node 20")
	}
	installed := filepath.Join("node", "node_modules", "@nats-io", "transport-node")
	npmOnce.Do(func() {
		if _, err := os.Stat(installed); err == nil {
			return
		}
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--silent")
		cmd.Dir = "node"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Logf("npm ci in examples/backends/node: %v\n%s", err, out)
		}
	})
	if _, err := os.Stat(installed); err != nil {
		t.Fatalf("@nats-io/transport-node is not installed: run npm ci in examples/backends/node (%v)", err)
	}
}
