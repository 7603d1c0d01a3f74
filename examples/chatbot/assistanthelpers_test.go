package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/routerd/routerd/internal/routertest"
)

// answerWait bounds the wait for one answer's events in the tests.
const answerWait = 10 * time.Second

// startAssistant starts a bot with the assistant on, asking stub, in
// namespace chat of node; configure may change the config first.
func startAssistant(t *testing.T, node *routertest.Node, stub *stubModel, configure func(*Config)) *testBot {
	t.Helper()
	return startBot(t, node, func(c *Config) {
		c.LLM = LLMConfig{URL: stub.URL(), Model: "stub", Direct: true, Rooms: []string{"assistant"}, Timeout: answerWait}
		if configure != nil {
			configure(c)
		}
	})
}

// decode returns a frame's data decoded into a T (zero when it is not one).
func decode[T any](f routertest.Frame) T {
	var v T
	_ = json.Unmarshal([]byte(f.JSON("data")), &v)
	return v
}

// received is one answer as a client received it.
type received struct {
	start     answerStart
	deltas    []answerDelta
	final     finalLine
	finalRoom string // the room of the final message's frame ("" on a socket)
	took      time.Duration
}

// text is what the client showed before the final message: the start's
// text and the deltas after it.
func (r received) text() string {
	var b strings.Builder
	b.WriteString(r.start.Text)
	for _, d := range r.deltas {
		b.WriteString(d.Text)
	}
	return b.String()
}

// nextAnswer waits for the next answer_start at c, then takes that
// answer's deltas and its final message in the order they arrived; each
// delta must follow the one before it (n).
func (c *chatClient) nextAnswer(t *testing.T) received {
	t.Helper()
	var r received
	r.start = decode[answerStart](c.NextWithin(routertest.IsEvent(eventStart), answerWait))
	began := time.Now()
	ofAnswer := func(f routertest.Frame) bool {
		switch f.Str("event") {
		case eventDelta:
			return decode[answerDelta](f).ID == r.start.ID
		case chatEvent:
			return decode[finalLine](f).Answer == r.start.ID
		}
		return false
	}
	n := r.start.N
	for {
		f := c.NextWithin(func(f routertest.Frame) bool { return f.Type() == "event" && ofAnswer(f) }, answerWait)
		if f.Str("event") == chatEvent {
			r.final, r.finalRoom, r.took = decode[finalLine](f), f.Str("room"), time.Since(began)
			return r
		}
		d := decode[answerDelta](f)
		if d.N != n+1 {
			t.Fatalf("answer %s: delta %d after %d", r.start.ID, d.N, n)
		}
		n = d.N
		r.deltas = append(r.deltas, d)
	}
}

// refusal waits for a refused message at c and returns its data.
func (c *chatClient) refusal(t *testing.T) finalLine {
	t.Helper()
	f := c.NextWithin(func(f routertest.Frame) bool {
		return routertest.IsEvent(chatEvent)(f) && decode[finalLine](f).Status == statusRefused
	}, answerWait)
	if f.Str("room") != "" {
		t.Fatalf("refusal sent to the room: %v", f)
	}
	return decode[finalLine](f)
}

// ask sends a direct question and returns the reply frame.
func (c *chatClient) ask(text string) routertest.Frame {
	return c.Req(map[string]any{"type": "emit", "ns": "chat", "event": "ask", "data": map[string]string{"text": text, "name": "asker"}})
}

// counter reads one series of a bot's counter vector.
func (b *testBot) counter(name, label string) float64 {
	m := b.metrics
	switch name {
	case "questions":
		return testutil.ToFloat64(m.questions.WithLabelValues(label))
	case "refused":
		return testutil.ToFloat64(m.refused.WithLabelValues(label))
	case "answers":
		return testutil.ToFloat64(m.answers.WithLabelValues(label))
	case "errors":
		return testutil.ToFloat64(m.errors.WithLabelValues(label))
	case "tokens":
		return testutil.ToFloat64(m.tokens.WithLabelValues(label))
	}
	panic("no counter " + name)
}

// roles returns a request's messages as "role: content" lines.
func roles(r stubRequest) []string {
	out := make([]string, 0, len(r.Messages))
	for _, m := range r.Messages {
		out = append(out, m.Role+": "+m.Content)
	}
	return out
}
