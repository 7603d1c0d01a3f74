package socketio_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/routerd/routerd/internal/routertest"
)

// driverTimeout bounds one node process (one test).
const driverTimeout = 60 * time.Second

var npmOnce sync.Once

// needClient installs testdata's npm packages (socket.io-client) when they
// are missing, and skips the test where Node is not installed.
func needClient(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed: the socket.io-client tests need Node 20")
	}
	npmOnce.Do(func() {
		if _, err := os.Stat(filepath.Join("testdata", "node_modules", "socket.io-client")); err == nil {
			return
		}
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--silent")
		cmd.Dir = "testdata"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Logf("npm ci in socketio/testdata: %v\n%s", err, out)
		}
	})
	if _, err := os.Stat(filepath.Join("testdata", "node_modules", "socket.io-client")); err != nil {
		t.Fatalf("socket.io-client is not installed: run npm ci in socketio/testdata (%v)", err)
	}
}

// msg is one line from the driver: a reply (with id) or an event.
type msg struct {
	ID        int               `json:"id"`
	OK        bool              `json:"ok"`
	Error     *driverError      `json:"error"`
	SID       string            `json:"sid"`
	Recovered bool              `json:"recovered"`
	Ack       []json.RawMessage `json:"ack"`
	Acks      []json.RawMessage `json:"acks"`  // op burst
	AskID     int               `json:"askId"` // an event the server asked an ack for
	Transport string            `json:"transport"`
	Socket    string            `json:"socket"`
	Event     string            `json:"event"`
	Args      []json.RawMessage `json:"args"`
	Reason    string            `json:"reason"`
}

type driverError struct {
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// driver runs socketio/testdata/driver.mjs: the official socket.io-client
// under Node, driven by JSON commands.
type driver struct {
	t     *testing.T
	stdin io.WriteCloser

	in *routertest.Inbox[msg] // lines not consumed yet

	mu     sync.Mutex
	nextID int
}

func startDriver(t *testing.T) *driver {
	t.Helper()
	needClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), driverTimeout)
	cmd := exec.CommandContext(ctx, "node", "driver.mjs")
	cmd.Dir = "testdata"
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node: %v", err)
	}
	d := &driver{t: t, stdin: stdin, in: routertest.NewInbox[msg]()}
	go d.read(stdout)
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Wait()
		cancel()
	})
	return d
}

func (d *driver) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m msg
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			m = msg{Event: "__unparseable", Reason: sc.Text()}
		}
		d.in.Add(m)
	}
	d.in.End()
}

// next waits for the first unconsumed line matching pred and removes it.
func (d *driver) next(what string, pred func(msg) bool) msg {
	d.t.Helper()
	m, ok := d.in.Next(pred, routertest.Wait)
	switch {
	case ok:
		return m
	case d.in.Ended():
		d.t.Fatalf("%s: the driver ended; unconsumed: %v", what, d.in.Pending())
	default:
		d.t.Fatalf("%s: nothing within %s; unconsumed: %v", what, routertest.Wait, d.in.Pending())
	}
	return msg{}
}

// has reports whether an unconsumed line matches pred.
func (d *driver) has(pred func(msg) bool) bool { return d.in.Has(pred) }

// do sends a command and returns its reply.
func (d *driver) do(cmd map[string]any) msg {
	d.t.Helper()
	d.mu.Lock()
	d.nextID++
	id := d.nextID
	d.mu.Unlock()
	cmd["id"] = id
	b, _ := json.Marshal(cmd)
	if _, err := d.stdin.Write(append(b, '\n')); err != nil {
		d.t.Fatalf("write to driver: %v", err)
	}
	return d.next(fmt.Sprintf("reply to %s", b), func(m msg) bool { return m.ID == id })
}

// connect opens socket name to url (base URL + Socket.IO namespace) with
// socket.io-client options, and returns its sid; it fails the test when
// the connect is refused.
func (d *driver) connect(name, url string, opts map[string]any) string {
	d.t.Helper()
	r := d.connectReply(name, url, opts)
	if r.Error != nil || r.SID == "" {
		d.t.Fatalf("connect %s to %s: %+v", name, url, r.Error)
	}
	return r.SID
}

func (d *driver) connectReply(name, url string, opts map[string]any) msg {
	d.t.Helper()
	if opts == nil {
		opts = map[string]any{}
	}
	return d.do(map[string]any{"op": "connect", "name": name, "url": url, "opts": opts})
}

// emit sends event with args and no ack.
func (d *driver) emit(name, event string, args ...any) {
	d.t.Helper()
	if args == nil {
		args = []any{}
	}
	if r := d.do(map[string]any{"op": "emit", "name": name, "event": event, "args": args}); !r.OK {
		d.t.Fatalf("emit %s: %+v", event, r.Error)
	}
}

// emitAck sends event with args and returns the ack's one argument as
// JSON.
func (d *driver) emitAck(name, event string, args ...any) string {
	d.t.Helper()
	if args == nil {
		args = []any{}
	}
	r := d.do(map[string]any{"op": "emit", "name": name, "event": event, "args": args, "ack": true})
	if !r.OK || len(r.Ack) != 1 {
		d.t.Fatalf("emit %s with ack: %+v %s", event, r.Error, r.Ack)
	}
	return string(r.Ack[0])
}

// emitAckError sends event with args, waits up to timeout ms for its ack,
// and returns the error message the client's emitWithAck rejected with; it
// fails the test when an ack came.
func (d *driver) emitAckError(name, event string, timeout int, args ...any) string {
	d.t.Helper()
	if args == nil {
		args = []any{}
	}
	r := d.do(map[string]any{"op": "emit", "name": name, "event": event, "args": args, "ack": true, "timeout": timeout})
	if r.Error == nil {
		d.t.Fatalf("emit %s: acked with %s, want no ack", event, r.Ack)
	}
	return r.Error.Message
}

// event waits for the next event called event on socket name.
func (d *driver) event(name, event string) msg {
	d.t.Helper()
	return d.next(fmt.Sprintf("event %q on %s", event, name), func(m msg) bool {
		return m.ID == 0 && m.Socket == name && m.Event == event
	})
}

// argsJSON returns an event's arguments as one JSON array.
func argsJSON(m msg) string {
	b, _ := json.Marshal(m.Args)
	return string(b)
}
