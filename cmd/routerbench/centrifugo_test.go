package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestCentrifugoScan(t *testing.T) {
	msg := strings.Join([]string{
		`{"push":{"channel":"chat:r","pub":{"data":{"t":100,"q":1,"p":"xx"},"info":{"user":"","client":"c1"}}}}`,
		`{"id":3,"publish":{}}`,
		`{"push":{"channel":"chat:r","pub":{"data":{"other":1}}}}`,
		`{}`,
		`{"id":3,"error":{"code":109,"message":"token expired"}}`,
		`{"push":{"channel":"chat:r","pub":{"data":{"t":200,"q":4294967298}}}}`,
		`{"push":{"channel":"chat:r","unsubscribe":{"code":2000,"reason":"server unsubscribe"}}}`,
		`{"push":{"disconnect":{"code":3008,"reason":"slow"}}}`,
	}, "\n")
	var in inbound
	in.errors = []string{"stale"}
	centrifugo{}.scan([]byte(msg), &in)
	if !slices.Equal(in.stamps, []stamp{{100, 0, 1}, {200, 1, 2}}) {
		t.Errorf("stamps = %v", in.stamps)
	}
	if want := []string{"error 109 token expired", "unsubscribed:chat:r", "disconnected:3008 slow"}; !slices.Equal(in.errors, want) {
		t.Errorf("errors = %q, want %q", in.errors, want)
	}
	if string(in.reply) != "{}" {
		t.Errorf("reply = %q, want {} (the pong)", in.reply)
	}
	centrifugo{}.scan([]byte(`{"id":3,"publish":{}}`), &in)
	if len(in.stamps)+len(in.errors) != 0 || in.reply != nil {
		t.Errorf("after a publish reply: %+v", in)
	}
}

func TestCentrifugoEmitFrame(t *testing.T) {
	for ns, channel := range map[string]string{"chat": "chat:a \"quoted\" room", "": `a "quoted" room`} {
		prefix, suffix := centrifugo{}.emitFrame(ns, `a "quoted" room`, false)
		msg := string(prefix) + `{"t":1}` + string(suffix)
		var f struct {
			ID      uint32 `json:"id"`
			Publish struct {
				Channel string          `json:"channel"`
				Data    json.RawMessage `json:"data"`
			} `json:"publish"`
		}
		if err := json.Unmarshal([]byte(msg), &f); err != nil {
			t.Fatalf("%s: %v", msg, err)
		}
		if f.ID == 0 || f.Publish.Channel != channel || string(f.Publish.Data) != `{"t":1}` {
			t.Errorf("ns %q: %s", ns, msg)
		}
	}
}

// TestCentrifugoSession attaches to a scripted server that batches its
// replies with pings and pushes, as Centrifugo does, then reads
// publications until the server closes as Centrifugo closes a slow client.
func TestCentrifugoSession(t *testing.T) {
	now := time.Now().UnixNano()
	pub := func(seq uint32) string {
		return fmt.Sprintf(`{"push":{"channel":"chat:r","pub":{"data":%s}}}`, appendPayload(nil, stamp{now, 0, seq}, 64))
	}
	url := fakeServer(t, func(ws *websocket.Conn) error {
		if err := expect(ws, `{"id":1,"connect":{}}`); err != nil {
			return err
		}
		if err := say(ws, "{}\n"+`{"id":1,"connect":{"client":"c1","version":"6.9.1","ping":25,"pong":true}}`); err != nil {
			return err
		}
		if err := expect(ws, `{}`); err != nil { // the pong, before subscribing
			return err
		}
		if err := expect(ws, `{"id":2,"subscribe":{"channel":"chat:r"}}`); err != nil {
			return err
		}
		if err := say(ws, `{"id":2,"subscribe":{}}`); err != nil {
			return err
		}
		if err := say(ws, pub(1)); err != nil {
			return err
		}
		if err := say(ws, pub(2)+"\n{}\n"+pub(3)+"\n"+`{"id":3,"publish":{}}`); err != nil {
			return err
		}
		if err := expect(ws, `{}`); err != nil {
			return err
		}
		return ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(3008, `{"reason":"slow","reconnect":true}`))
	})
	o := testOptions(t, "-proto", "centrifugo", "-url", url)
	c, err := dial(context.Background(), o, o.url, "r")
	if err != nil {
		t.Fatal(err)
	}
	tl := newTally(3)
	go c.readLoop(tl)
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the reader did not end")
	}
	if c.events != 3 || c.disordered != 0 || len(c.errors) != 0 || c.ended != "close 3008" {
		t.Errorf("events %d, out of order %d, errors %v, ended %q; want 3, 0, none, close 3008", c.events, c.disordered, c.errors, c.ended)
	}
}

func TestCentrifugoAttachRefused(t *testing.T) {
	url := fakeServer(t, func(ws *websocket.Conn) error {
		_, _, _ = ws.ReadMessage()
		_ = say(ws, `{"id":1,"connect":{"client":"c1"}}`)
		_, _, _ = ws.ReadMessage()
		_ = say(ws, `{"id":2,"error":{"code":102,"message":"unknown channel"}}`)
		_, _, _ = ws.ReadMessage() // until the client closes
		return nil
	})
	_, err := dial(context.Background(), testOptions(t, "-proto", "centrifugo", "-url", url, "-ns", "nope"), url, "r")
	if err == nil || !strings.Contains(err.Error(), "102 unknown channel") || !strings.Contains(err.Error(), `"nope:r"`) {
		t.Errorf("dial: %v, want error 102 on channel nope:r", err)
	}
}

func TestCentrifugoFlags(t *testing.T) {
	var out, errs bytes.Buffer
	if code := run([]string{"fanout", "-proto", "centrifugo", "-self=false"}, &out, &errs); code != 2 || !strings.Contains(errs.String(), "-self=false") {
		t.Errorf("-self=false: exit %d, %s", code, errs.String())
	}
	if code := run([]string{"connect", "-proto", "centrifugo", "-pipeline"}, &out, &errs); code != 2 {
		t.Errorf("-pipeline: exit %d, want 2", code)
	}
}

// centrifugoBinary is a Centrifugo to test against: $CENTRIFUGO, else
// centrifugo on $PATH or in $GOPATH/bin (where bench/run.sh installs it);
// "" when there is none (as in CI).
func centrifugoBinary() string {
	if p := os.Getenv("CENTRIFUGO"); p != "" {
		return p
	}
	if p, err := exec.LookPath("centrifugo"); err == nil {
		return p
	}
	gopath, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		return ""
	}
	p := filepath.Join(strings.TrimSpace(string(gopath)), "bin", "centrifugo")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// startCentrifugo runs Centrifugo with bench/centrifugo/config.yaml on a
// free port and returns its WebSocket URL; it skips the test when no
// Centrifugo is installed.
func startCentrifugo(t *testing.T) string {
	t.Helper()
	bin := centrifugoBinary()
	if bin == "" {
		t.Skip("no centrifugo (set CENTRIFUGO, or go install github.com/centrifugal/centrifugo/v6@v6.9.1)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	cmd := exec.Command(bin, "-c", "../../bench/centrifugo/config.yaml", "--http_server.port", port)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("centrifugo:\n%s", logs.String())
		}
	})
	base := "http://127.0.0.1:" + port
	for deadline := time.Now().Add(20 * time.Second); ; {
		resp, err := http.Get(base + "/metrics")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("centrifugo not up at %s: %v\n%s", base, err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return "ws://127.0.0.1:" + port + "/connection/websocket"
}

// TestAgainstCentrifugo runs fanout (from the command line, as bench/run.sh
// does), paced rooms, connect and idle against a real Centrifugo.
func TestAgainstCentrifugo(t *testing.T) {
	url := startCentrifugo(t)
	var out, errs bytes.Buffer
	if code := run([]string{"fanout", "-proto", "centrifugo", "-url", url, "-members", "20", "-publishers", "2", "-messages", "30", "-json"}, &out, &errs); code != 0 {
		t.Fatalf("fanout: exit %d: %s", code, errs.String())
	}
	var rep report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("%s: %v", out.String(), err)
	}
	// Publishers receive their own messages: 2 × 30 × 20.
	if f := rep.Traffic; rep.Params["self"] != "true" || f.Expected != 1200 || f.Received != 1200 || f.OutOfOrder != 0 || f.TimedOut {
		t.Errorf("fanout: self %s, %+v", rep.Params["self"], f)
	}
	if len(rep.Errors) > 0 || len(rep.Ended) > 0 || rep.Server == nil || rep.Server.After["process_resident_memory_bytes"] <= 0 {
		t.Errorf("fanout: errors %v, ended %v, server %+v", rep.Errors, rep.Ended, rep.Server)
	}

	o := testOptions(t, "-proto", "centrifugo", "-url", url, "-concurrency", "8")
	spec := trafficSpec{rooms: 5, perRoom: 4, publishers: 1, messages: 20, rate: 500, size: 80, self: true, wait: 10 * time.Second}
	r, err := runTraffic(context.Background(), o, spec)
	if err != nil {
		t.Fatal(err)
	}
	if f := r.Traffic; f.Expected != 5*20*4 || f.Received != f.Expected || f.OutOfOrder != 0 {
		t.Errorf("rooms: %+v", f)
	}
	if r, err := runConnect(context.Background(), o, 40, 4); err != nil || r.Connect.Latency.Count != 40 {
		t.Fatalf("connect: %v %+v", err, r)
	}
	r, err = runIdle(context.Background(), o, 40, 4, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Idle.PerConnection["process_resident_memory_bytes"]; !ok {
		t.Errorf("idle: %+v", r.Idle)
	}
}
