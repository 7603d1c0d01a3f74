package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/internal/routertest"
)

// A line that mentions the bot is answered as the model streams: every
// member of the room gets answer_start at once, then deltas in order,
// then the final message in the room with the whole text. The model reads
// the system prompt, the room's earlier lines (here what the bot saw: the
// namespace keeps no history) and the question. Only the final message
// is published to the room subject.
func TestAssistantStreamsAnswer(t *testing.T) {
	node := routertest.Start(t, routertest.Config(t))
	pieces := []string{"NATS ", "is ", "a ", "messaging ", "system ", "<b>for</b> ", "everyone."}
	stub := newStub(t, func(stubRequest) stubReply { return stubReply{Pieces: pieces, Delay: 30 * time.Millisecond} })
	bot := startAssistant(t, node, stub, nil)
	room := routertest.Subscribe(t, node.Backend(), "router.chat.room.lobby.>")
	alice := joinChat(node, "lobby")
	bob := joinChat(node, "lobby")

	bob.say("bob", "hi all")
	routertest.Eventually(t, "the bot sees bob's line", func() error {
		if n := len(bot.asst.lines.recent("room:lobby")); n != 1 {
			return fmt.Errorf("%d lines", n)
		}
		return nil
	})
	alice.say("alice", "@bot what is NATS?")
	want := strings.Join(pieces, "")
	for _, c := range []*chatClient{alice, bob} {
		r := c.nextAnswer(t)
		if r.start.Room != "lobby" || r.start.Asker != alice.sid || r.start.Name != "bot" || r.start.Text != "" {
			t.Errorf("start %+v", r.start)
		}
		if len(r.deltas) < 2 {
			t.Errorf("%d deltas: want the answer to grow in steps", len(r.deltas))
		}
		if !strings.HasPrefix(want, r.text()) {
			t.Errorf("streamed %q is not a prefix of the answer %q", r.text(), want)
		}
		if r.final.Text != want || r.final.Status != statusDone || r.final.Name != "bot" || r.finalRoom != "lobby" {
			t.Errorf("final %+v in room %q", r.final, r.finalRoom)
		}
	}

	reqs := stub.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d model requests, want 1", len(reqs))
	}
	got := roles(reqs[0])
	if len(got) != 4 || got[0] != "system: "+defaultSystemPrompt || !strings.Contains(got[1], "#lobby") ||
		got[2] != "user: bob: hi all" || got[3] != "user: alice: @bot what is NATS?" {
		t.Errorf("prompt:\n%s", strings.Join(got, "\n"))
	}
	if r := reqs[0]; r.Model != "stub" || !r.Stream || !r.StreamOptions.IncludeUsage || r.Authorization != "" {
		t.Errorf("request %+v", r)
	}
	routertest.Eventually(t, "counters", func() error {
		if q, a, p, c := bot.counter("questions", viaMention), bot.counter("answers", outcomeDone), bot.counter("tokens", "prompt"), bot.counter("tokens", "completion"); q != 1 || a != 1 || p != 11 || c != 7 {
			return fmt.Errorf("questions %v, answers %v, tokens %v+%v", q, a, p, c)
		}
		return nil
	})
	alice.say("alice", "/time") // a barrier: the bot published everything before its answer
	alice.botLine(t)
	// bob's line, alice's question, the answer, /time and its answer.
	if msgs := room.WaitN(t, 5); len(msgs) != 5 {
		t.Errorf("%d messages on the room subject, want 5", len(msgs))
	}
	for _, m := range room.Msgs() {
		if !strings.HasSuffix(m.Subject, ".message") {
			t.Errorf("published to the room subject: %s %s", m.Subject, m.Data)
		}
	}
}

// Where the namespace keeps history, the model reads the room's lines
// from it: lines said before the bot started, its own earlier answers as
// its turns.
func TestAssistantContextFromHistory(t *testing.T) {
	cfg := routertest.Config(t)
	cfg.NATS.JetStream.Enabled = true
	cfg.NATS.JetStream.StoreDir = t.TempDir()
	chat := cfg.Namespaces["chat"]
	h := config.DefaultHistory()
	h.MaxMsgs = 100
	chat.History = &h
	cfg.Namespaces["chat"] = chat
	node := routertest.Start(t, cfg)
	alice := joinChat(node, "ops")
	bob := joinChat(node, "ops")
	alice.say("alice", "the build is red")
	bob.say("bob", "since noon")

	stub := newStub(t, func(r stubRequest) stubReply { return stubReply{Pieces: []string{"answer to ", r.last()}} })
	startAssistant(t, node, stub, func(c *Config) { c.LLM.Context = 3 })
	alice.say("alice", "@bot why?")
	first := alice.nextAnswer(t)
	bob.say("bob", "noted")
	alice.say("alice", "@bot and now?")
	alice.nextAnswer(t)

	reqs := stub.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	want := [][]string{
		{"user: alice: the build is red", "user: bob: since noon", "user: alice: @bot why?"},
		{"assistant: " + first.final.Text, "user: bob: noted", "user: alice: @bot and now?"}, // 3 lines of context
	}
	for i, r := range reqs {
		if got := roles(r)[2:]; i == 0 && !slices.Equal(got, want[0]) || i == 1 && !slices.Equal(got[1:], want[1]) {
			t.Errorf("request %d context:\n%s", i, strings.Join(got, "\n"))
		}
	}
}

// In a room of -llm-rooms every client line is a question; elsewhere only
// mentions are. Commands stay commands, and /help tells of the assistant.
func TestAssistantRooms(t *testing.T) {
	node := routertest.Start(t, routertest.Config(t))
	stub := newStub(t, nil)
	bot := startAssistant(t, node, stub, nil)
	lobby := joinChat(node, "lobby")
	asst := joinChat(node, "assistant")

	lobby.say("alice", "hello everyone, me@bot.example is my mail")
	lobby.say("alice", "/time")
	if got := lobby.botLine(t); !strings.HasPrefix(got, "it is ") {
		t.Fatalf("/time: %q", got)
	}
	asst.say("carol", "/help")
	if got := asst.botLine(t); !strings.Contains(got, "@bot <question>") {
		t.Fatalf("/help: %q", got)
	}
	asst.say("carol", "how are you?")
	if r := asst.nextAnswer(t); r.final.Status != statusDone || r.finalRoom != "assistant" {
		t.Fatalf("answer %+v", r)
	}
	if n := len(stub.requests()); n != 1 {
		t.Fatalf("%d model requests, want 1 (the line in #assistant)", n)
	}
	if q := bot.counter("questions", viaRoom); q != 1 {
		t.Fatalf("questions via room: %v", q)
	}
}

// Two instances share the questions in the queue group: each question is
// answered exactly once.
func TestAssistantTwoInstances(t *testing.T) {
	node := routertest.Start(t, routertest.Config(t))
	stub := newStub(t, func(r stubRequest) stubReply { return stubReply{Pieces: []string{"re: ", r.last()}} })
	unlimited := func(c *Config) { c.LLM.UserLimit = Limit{N: -1} }
	b1 := startAssistant(t, node, stub, unlimited)
	b2 := startAssistant(t, node, stub, unlimited)
	finals := botLines(t, node, "lobby")
	alice := joinChat(node, "lobby")

	const n = 6
	for i := range n {
		alice.say("alice", fmt.Sprintf("@bot question %d", i))
		if r := alice.nextAnswer(t); r.final.Text != fmt.Sprintf("re: alice: @bot question %d", i) {
			t.Fatalf("answer %d: %q", i, r.final.Text)
		}
	}
	alice.say("alice", "/time") // a barrier: handled after every question
	alice.botLine(t)
	if got := len(stub.requests()); got != n {
		t.Fatalf("%d model requests for %d questions", got, n)
	}
	routertest.Eventually(t, "one final message per question", func() error {
		if got := finals(); len(got) != n+1 {
			return fmt.Errorf("%d bot lines: %q", len(got), got)
		}
		return nil
	})
	if q := b1.counter("questions", viaMention) + b2.counter("questions", viaMention); q != n {
		t.Fatalf("the instances took %v questions, want %d", q, n)
	}
}

// A model that fails (HTTP 500) or takes too long ends the answer with a
// visible error in the room, counted by kind.
func TestAssistantModelErrors(t *testing.T) {
	node := routertest.Start(t, routertest.Config(t))
	stub := newStub(t, func(r stubRequest) stubReply {
		if strings.Contains(r.last(), "fail") {
			return stubReply{Status: 500}
		}
		return stubReply{Pieces: strings.SplitAfter("a slow answer that takes far too long", " "), Delay: 150 * time.Millisecond}
	})
	bot := startAssistant(t, node, stub, func(c *Config) { c.LLM.Timeout = 500 * time.Millisecond })
	alice := joinChat(node, "lobby")

	alice.say("alice", "@bot fail please")
	r := alice.nextAnswer(t)
	if r.final.Status != statusError || r.final.Text != "sorry, I could not answer: the model answered with an error (HTTP 500)" || r.finalRoom != "lobby" {
		t.Fatalf("final %+v", r.final)
	}
	alice.say("alice", "@bot be slow")
	r = alice.nextAnswer(t)
	if r.final.Status != statusError || !strings.HasPrefix(r.final.Text, "a slow") ||
		!strings.HasSuffix(r.final.Text, "\n\n(the answer stopped: the model did not finish within 500ms)") {
		t.Fatalf("final %+v", r.final)
	}
	if !strings.HasPrefix(r.final.Text, r.text()) {
		t.Fatalf("final %q does not keep the streamed %q", r.final.Text, r.text())
	}
	routertest.Eventually(t, "the slow request cancelled", func() error {
		if n := stub.cancelled(); n != 1 {
			return fmt.Errorf("%d cancelled", n)
		}
		return nil
	})
	if e, x, a := bot.counter("errors", "api"), bot.counter("errors", "timeout"), bot.counter("answers", outcomeError); e != 1 || x != 1 || a != 2 {
		t.Fatalf("errors api %v, timeout %v, answers error %v", e, x, a)
	}
}

// Questions over a user's or a room's rate are refused, visibly to the
// asker only, and never reach the model.
func TestAssistantRateLimits(t *testing.T) {
	node := routertest.Start(t, routertest.Config(t))
	stub := newStub(t, nil)
	bot := startAssistant(t, node, stub, func(c *Config) {
		c.LLM.UserLimit = Limit{N: 1, Per: time.Hour}
		c.LLM.RoomLimit = Limit{N: 2, Per: time.Hour}
	})
	alice := joinChat(node, "lobby")
	bob := joinChat(node, "lobby")
	carol := joinChat(node, "lobby")

	alice.say("alice", "@bot one")
	alice.nextAnswer(t)
	bob.nextAnswer(t)
	alice.say("alice", "@bot two")
	if r := alice.refusal(t); r.Room != "lobby" || !strings.HasPrefix(r.Text, "alice, you are asking too fast: try again in ") {
		t.Fatalf("refusal %+v", r)
	}
	bob.say("bob", "@bot three")
	bob.nextAnswer(t)
	carol.nextAnswer(t)
	carol.say("carol", "@bot four")
	if r := carol.refusal(t); !strings.HasPrefix(r.Text, "too many questions in #lobby: try again in ") {
		t.Fatalf("refusal %+v", r)
	}
	bob.None(func(f routertest.Frame) bool { return decode[finalLine](f).Status == statusRefused })
	if f := alice.ask("direct?"); f.Str("code") != "rate_limited" || !strings.Contains(f.Str("message"), "asking too fast") {
		t.Fatalf("direct question over the limit: %v", f)
	}
	if n := len(stub.requests()); n != 2 {
		t.Fatalf("%d model requests, want 2", n)
	}
	if u, r := bot.counter("refused", reasonUserLimit), bot.counter("refused", reasonRoomLimit); u != 2 || r != 1 {
		t.Fatalf("refused: user %v, room %v", u, r)
	}
}

// An answer is cancelled (the model's request too, and no final message
// is sent) when its room empties or the asker of a direct question leaves;
// it goes on while anyone is left to read it.
func TestAssistantCancelled(t *testing.T) {
	node := routertest.Start(t, routertest.Config(t))
	hold := make(chan struct{})
	stub := newStub(t, func(stubRequest) stubReply { return stubReply{Pieces: []string{"thinking", " done"}, Hold: hold} })
	bot := startAssistant(t, node, stub, nil)
	solo := botLines(t, node, "solo")
	alice := joinChat(node, "solo")
	alice.say("alice", "@bot a long one")
	alice.Next(routertest.IsEvent(eventDelta)) // the model has begun
	alice.MustAck(map[string]any{"type": "leave", "ns": "chat", "room": "solo"})
	waitCancelled(t, bot, stub, 1)

	dm := joinChat(node, "elsewhere")
	if f := dm.ask("a long one"); f.Type() != "ack" {
		t.Fatalf("ask: %v", f)
	}
	dm.Next(routertest.IsEvent(eventDelta))
	if err := dm.WS.Close(); err != nil {
		t.Fatal(err)
	}
	waitCancelled(t, bot, stub, 2)

	carol := joinChat(node, "duo")
	dave := joinChat(node, "duo")
	carol.say("carol", "@bot still there?")
	dave.Next(routertest.IsEvent(eventDelta))
	carol.MustAck(map[string]any{"type": "leave", "ns": "chat", "room": "duo"})
	time.Sleep(100 * time.Millisecond) // the leave notice reaches the bot, and changes nothing
	close(hold)
	if r := dave.nextAnswer(t); r.final.Text != "thinking done" {
		t.Fatalf("answer with a reader left: %+v", r)
	}
	if got := solo(); len(got) != 0 {
		t.Fatalf("the empty room got %q", got)
	}
}

// waitCancelled waits until n answers are cancelled and their model
// requests ended.
func waitCancelled(t *testing.T, bot *testBot, stub *stubModel, n int) {
	t.Helper()
	routertest.Eventually(t, "answer cancelled", func() error {
		if c, s := bot.counter("answers", outcomeCancelled), stub.cancelled(); c != float64(n) || s != n {
			return fmt.Errorf("cancelled answers %v, model requests %d", c, s)
		}
		return nil
	})
}

// A direct question (server-bound ask) is acked with the answer's id and
// answered on the asker's socket alone; the next one has the conversation
// as context. The "assistant" request says what is offered; with direct
// questions off, ask is forbidden.
func TestAssistantDirect(t *testing.T) {
	node := routertest.Start(t, routertest.Config(t))
	stub := newStub(t, func(r stubRequest) stubReply { return stubReply{Pieces: []string{"4", ""}} })
	startAssistant(t, node, stub, nil)
	alice := joinChat(node, "lobby")
	bob := joinChat(node, "lobby")

	info := alice.Req(map[string]any{"type": "emit", "ns": "chat", "event": "assistant"})
	if got := info.JSON("data"); got != `{"direct":true,"model":"stub","name":"bot","rooms":["assistant"]}` {
		t.Fatalf("assistant info: %v", info)
	}
	f := alice.ask("what is 2+2?")
	id := decode[askReply](f).ID
	if f.Type() != "ack" || id == "" {
		t.Fatalf("ask: %v", f)
	}
	r := alice.nextAnswer(t)
	if r.start.ID != id || r.start.Room != "" || r.final.Text != "4" || r.finalRoom != "" || r.final.Status != statusDone {
		t.Fatalf("direct answer %+v", r)
	}
	bob.None(routertest.IsEvent(eventStart))

	alice.ask("and 3+3?")
	alice.nextAnswer(t)
	reqs := stub.requests()
	if got := roles(reqs[1])[2:]; !slices.Equal(got, []string{"user: asker: what is 2+2?", "assistant: 4", "user: asker: and 3+3?"}) {
		t.Fatalf("second direct question's context:\n%s", strings.Join(got, "\n"))
	}
	for data, code := range map[string]string{`"hi"`: "bad_frame", `{"text":" "}`: "bad_frame", `{"name":"x"}`: "bad_frame"} {
		if c := alice.ErrorCode(map[string]any{"type": "emit", "ns": "chat", "event": "ask", "data": rawJSON(data)}); c != code {
			t.Errorf("ask %s: %s, want %s", data, c, code)
		}
	}

	node2 := routertest.Start(t, routertest.Config(t))
	startAssistant(t, node2, stub, func(c *Config) { c.LLM.Direct = false })
	carol := joinChat(node2, "lobby")
	if f := carol.ask("hello?"); f.Str("code") != "forbidden" {
		t.Fatalf("ask with direct questions off: %v", f)
	}
}

// rawJSON is JSON text that encoding/json sends as it is.
type rawJSON string

func (r rawJSON) MarshalJSON() ([]byte, error) { return []byte(r), nil }

// Deltas are coalesced: however fast the model writes, an answer gets at
// most one delta per DeltaInterval (50ms: 20 a second).
func TestAssistantDeltasCoalesced(t *testing.T) {
	node := routertest.Start(t, routertest.Config(t))
	pieces := make([]string, 80)
	for i := range pieces {
		pieces[i] = fmt.Sprintf("w%d ", i)
	}
	stub := newStub(t, func(stubRequest) stubReply { return stubReply{Pieces: pieces, Delay: 5 * time.Millisecond} })
	bot := startAssistant(t, node, stub, nil)
	alice := joinChat(node, "lobby")
	alice.say("alice", "@bot many words")
	r := alice.nextAnswer(t)
	if r.final.Text != strings.Join(pieces, "") {
		t.Fatalf("final %q", r.final.Text)
	}
	limit := int(r.took/bot.cfg.LLM.DeltaInterval) + 2
	if len(r.deltas) < 2 || len(r.deltas) > limit {
		t.Fatalf("%d deltas for 80 pieces in %s: want 2 to %d", len(r.deltas), r.took, limit)
	}
	if c := bot.counter("tokens", "completion"); c != 80 {
		t.Fatalf("completion tokens %v", c)
	}
}

// Stopping lets an answer under way finish within StopGrace; past it the
// answer is cancelled and its readers get what was written, marked cut
// short.
func TestAssistantStop(t *testing.T) {
	node := routertest.Start(t, routertest.Config(t))
	hold := make(chan struct{})
	defer close(hold)
	stub := newStub(t, func(r stubRequest) stubReply {
		if strings.Contains(r.last(), "hold") {
			return stubReply{Pieces: []string{"partial", " rest"}, Hold: hold}
		}
		return stubReply{Pieces: []string{"slow ", "but ", "complete"}, Delay: 100 * time.Millisecond}
	})
	alice := joinChat(node, "lobby")

	for i, tc := range []struct {
		question, want, status string
		grace                  time.Duration
	}{
		{"@bot finish", "slow but complete", statusDone, 5 * time.Second},
		{"@bot hold", "partial\n\n(cut short: I am stopping)", statusCancelled, 200 * time.Millisecond},
	} {
		ctx, stop := context.WithCancel(context.Background())
		bot := startBotCtx(t, node, ctx, func(c *Config) {
			c.LLM = LLMConfig{URL: stub.URL(), Model: "stub", StopGrace: tc.grace}
		})
		alice.say("alice", tc.question)
		routertest.Eventually(t, "the model is asked", func() error {
			if n := len(stub.requests()); n != i+1 {
				return fmt.Errorf("%d requests", n)
			}
			return nil
		})
		stop()
		r := alice.nextAnswer(t)
		if r.final.Text != tc.want || r.final.Status != tc.status {
			t.Errorf("%s: final %+v", tc.question, r.final)
		}
		select {
		case <-bot.Done():
		case <-time.After(answerWait):
			t.Fatalf("%s: the bot did not stop", tc.question)
		}
	}
}
