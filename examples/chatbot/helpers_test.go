package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/routerd/routerd/internal/routertest"
)

// record is one log record a recorder kept, its attributes flattened.
type record struct {
	Level slog.Level
	Msg   string
	Attrs map[string]string
}

// recorder is a slog.Handler that keeps every record, so tests can check
// what the bot logged.
type recorder struct {
	attrs []slog.Attr
	log   *recordLog
}

type recordLog struct {
	mu   sync.Mutex
	recs []record // guarded by mu
}

func newRecorder() *recorder { return &recorder{log: &recordLog{}} }

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	out := record{Level: rec.Level, Msg: rec.Message, Attrs: map[string]string{}}
	for _, a := range r.attrs {
		out.Attrs[a.Key] = a.Value.String()
	}
	rec.Attrs(func(a slog.Attr) bool {
		out.Attrs[a.Key] = a.Value.String()
		return true
	})
	r.log.mu.Lock()
	r.log.recs = append(r.log.recs, out)
	r.log.mu.Unlock()
	return nil
}

func (r *recorder) WithAttrs(as []slog.Attr) slog.Handler {
	return &recorder{attrs: append(append([]slog.Attr(nil), r.attrs...), as...), log: r.log}
}

func (r *recorder) WithGroup(string) slog.Handler { return r } // the bot uses no groups

// find returns the records with message msg whose attributes include want.
func (r *recorder) find(msg string, want map[string]string) []record {
	r.log.mu.Lock()
	defer r.log.mu.Unlock()
	var out []record
next:
	for _, rec := range r.log.recs {
		if rec.Msg != msg {
			continue
		}
		for k, v := range want {
			if rec.Attrs[k] != v {
				continue next
			}
		}
		out = append(out, rec)
	}
	return out
}

// testBot is a bot running for one test, with its log.
type testBot struct {
	*Bot
	log *recorder
}

// startBot starts a bot against node (when not nil) and stops it, waiting
// for the drain, when the test ends. configure may change the config first.
func startBot(t *testing.T, node *routertest.Node, configure func(*Config)) *testBot {
	t.Helper()
	return startBotCtx(t, node, context.Background(), configure)
}

// startBotCtx is startBot for a bot that also stops when ctx ends.
func startBotCtx(t *testing.T, node *routertest.Node, ctx context.Context, configure func(*Config)) *testBot {
	t.Helper()
	rec := newRecorder()
	cfg := Config{Log: slog.New(rec)}
	if node != nil {
		cfg.NATSURL, cfg.Prefix = node.NATSURL(), node.Cfg.NATS.Prefix
	}
	if configure != nil {
		configure(&cfg)
	}
	ctx, cancel := context.WithCancel(ctx)
	b, err := Start(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatalf("start bot: %v", err)
	}
	tb := &testBot{Bot: b, log: rec}
	t.Cleanup(func() { tb.stop(t, cancel) })
	return tb
}

// stop cancels the bot's context and waits until it has shut down.
func (b *testBot) stop(t *testing.T, cancel context.CancelFunc) {
	t.Helper()
	cancel()
	select {
	case <-b.Done():
	case <-time.After(routertest.Wait):
		t.Errorf("bot %s did not stop within %s", b.id, routertest.Wait)
	}
}

// chatClient is a client connected to namespace chat and joined to room.
type chatClient struct {
	*routertest.Client
	sid, room string
}

func joinChat(node *routertest.Node, room string) *chatClient {
	c := node.Dial()
	sid := c.Connect("chat")
	c.Join("chat", room)
	return &chatClient{Client: c, sid: sid, room: room}
}

// say emits a chat line to the client's room (others get it; the sender
// does not).
func (c *chatClient) say(name, text string) {
	c.MustAck(map[string]any{"type": "emit", "ns": "chat", "room": c.room, "event": "message",
		"data": map[string]string{"name": name, "text": text}})
}

// nick sends a nick request and returns its reply frame.
func (c *chatClient) nick(name string) routertest.Frame {
	return c.Req(map[string]any{"type": "emit", "ns": "chat", "event": "nick", "data": map[string]string{"name": name}})
}

// botLine waits for the next chat line from the bot (a message event with
// no sender sid and name "bot") and returns its text.
func (c *chatClient) botLine(t *testing.T) string {
	t.Helper()
	var line chatLine
	f := c.Next(func(f routertest.Frame) bool {
		if f.Type() != "event" || f.Str("event") != "message" || f.Str("from") != "" {
			return false
		}
		line = chatLine{}
		return json.Unmarshal([]byte(f.JSON("data")), &line) == nil && line.Name == "bot"
	})
	if f.Str("room") != c.room {
		t.Fatalf("bot answered in room %q, want %q: %v", f.Str("room"), c.room, f)
	}
	return line.Text
}

// wantAck checks that f acks a nick request with name.
func wantAck(t *testing.T, f routertest.Frame, name string) {
	t.Helper()
	if f.Type() != "ack" || f.JSON("data") != fmt.Sprintf(`{"name":%q,"ok":true}`, name) {
		t.Fatalf("nick %q: want ack {ok, name}, got %v", name, f)
	}
}

// wantError checks that f is an error frame with code and message.
func wantError(t *testing.T, f routertest.Frame, code, message string) {
	t.Helper()
	if f.Type() != "error" || f.Str("code") != code || f.Str("message") != message {
		t.Fatalf("want error %s %q, got %v", code, message, f)
	}
}

// botLines collects, on a separate NATS connection, the chat lines the bot
// publishes to room (lines without a Router-Sid).
func botLines(t *testing.T, node *routertest.Node, room string) func() []string {
	t.Helper()
	col := routertest.Subscribe(t, node.Backend(), "router.chat.room."+room+".message")
	return func() []string {
		var out []string
		for _, m := range col.Msgs() {
			if m.Header.Get("Router-Sid") != "" {
				continue
			}
			var line chatLine
			_ = json.Unmarshal(m.Data, &line)
			out = append(out, line.Text)
		}
		return out
	}
}
