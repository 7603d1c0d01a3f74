package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/packages/ssestream"

	"github.com/routerd/routerd/contract"
)

// A mention is @name as a word of its own, in any case; not a mail address
// or a longer name.
func TestMention(t *testing.T) {
	mention := mentionRE("bot")
	for text, want := range map[string]bool{
		"@bot hi": true, "hi @bot": true, "hey @Bot, what now?": true, "(@bot)": true, "@bot\nsecond line": true, "ask @bot.": true,
		"me@bot.example": false, "@bots": false, "@bot_x": false, "@bot-2": false, "bot": false, "@ bot": false, "": false,
	} {
		if got := mention.MatchString(text); got != want {
			t.Errorf("%q: mention %v, want %v", text, got, want)
		}
	}
}

// Limits read N/duration or off; the config refuses what cannot work and
// fills in defaults.
func TestLLMConfig(t *testing.T) {
	for s, want := range map[string]Limit{"5/1m": {5, time.Minute}, "1/250ms": {1, 250 * time.Millisecond}, "off": {N: -1}, "0": {N: -1}} {
		if got, err := parseLimit(s); err != nil || got != want {
			t.Errorf("parseLimit(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, bad := range []string{"", "5", "5/", "x/1m", "-1/1m", "5/0s", "5/-1s"} {
		if _, err := parseLimit(bad); err == nil {
			t.Errorf("parseLimit(%q): want an error", bad)
		}
	}
	c, err := LLMConfig{URL: "http://127.0.0.1:11434/v1", Model: "m", Rooms: []string{" a ", "", "b"}}.withDefaults()
	if err != nil || c.System != defaultSystemPrompt || c.Context != 20 || c.Timeout != time.Minute || c.Concurrency != 4 ||
		c.DeltaInterval != 50*time.Millisecond || c.UserLimit != (Limit{5, time.Minute}) || !slices.Equal(c.Rooms, []string{"a", "b"}) {
		t.Fatalf("defaults %+v, %v", c, err)
	}
	for _, bad := range []LLMConfig{
		{Model: "m"}, {URL: "http://h/v1"}, {URL: "ftp://h/v1", Model: "m"}, {URL: "http:///v1", Model: "m"},
		{URL: "http://u:p@h/v1", Model: "m"}, {URL: "http://h/v1", Model: "m", UserLimit: Limit{N: 1}},
		{URL: "http://h/v1", Model: "m", Context: 501}, {URL: "http://h/v1", Model: "m", Retries: -1},
	} {
		if _, err := bad.withDefaults(); err == nil {
			t.Errorf("%+v: want an error", bad)
		}
	}
	if err := run([]string{"-llm-url", "http://h/v1", "-llm-system", "x", "-llm-system-file", "/nonexistent"}); err == nil {
		t.Error("-llm-system with -llm-system-file: want an error")
	}
}

// A Secret never shows its value: not through fmt, slog or JSON.
func TestSecret(t *testing.T) {
	c := LLMConfig{URL: "http://h/v1", Model: "m", APIKey: Secret(testKey)}
	var logs strings.Builder
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "llm", c, "key", c.APIKey)
	js, _ := json.Marshal(c)
	for _, out := range []string{fmt.Sprintf("%v %+v %#v %s %q %x", c, c, c, c.APIKey, c.APIKey, c.APIKey), logs.String(), string(js)} {
		if strings.Contains(out, testKey) || !strings.Contains(out, redacted) {
			t.Errorf("shows the key or no redaction: %s", out)
		}
	}
	if c.APIKey.reveal() != testKey {
		t.Error("reveal")
	}
}

// The context of a question is the lines before it, at most n.
func TestBefore(t *testing.T) {
	l := func(sid, text string) line { return line{SID: sid, Name: sid, Text: text} }
	q := l("a", "q?")
	lines := []line{l("b", "1"), l("a", "q?"), l("b", "2"), l("a", "q?"), l("c", "after")}
	if got := before(lines, q, 10); !slices.Equal(got, lines[:3]) {
		t.Errorf("cut at the last occurrence: %v", got)
	}
	if got := before(lines[:1], q, 10); !slices.Equal(got, lines[:1]) {
		t.Errorf("question absent: %v", got)
	}
	if got := before(lines, l("z", "none"), 2); !slices.Equal(got, lines[3:]) {
		t.Errorf("newest n: %v", got)
	}
	if got := before([]line{{Name: "bot", Text: "q?", Bot: true}}, line{Text: "q?"}, 5); len(got) != 1 {
		t.Errorf("the bot's own line is never the question: %v", got)
	}
}

// An audience applies the notices that crossed its member list, in order,
// and says when it empties; an untracked one never does.
func TestAudience(t *testing.T) {
	join := contract.PresenceNotice{Action: contract.PresenceJoin, SID: "c"}
	leave := func(sid string) contract.PresenceNotice {
		return contract.PresenceNotice{Action: contract.PresenceLeave, SID: sid}
	}
	a := newAudience()
	a.notice(leave("a"))
	a.notice(join)
	if a.set([]string{"a", "b"}, true) {
		t.Fatal("empty with b and c in")
	}
	if started, fresh := a.take(); len(started) != 0 || !slices.Equal(sorted(fresh), []string{"b", "c"}) {
		t.Fatalf("take: %v %v", started, fresh)
	}
	a.notice(contract.PresenceNotice{Action: contract.PresenceJoin, SID: "d"})
	if started, fresh := a.take(); !slices.Equal(sorted(started), []string{"b", "c"}) || !slices.Equal(fresh, []string{"d"}) {
		t.Fatalf("take after a join: %v %v", started, fresh)
	}
	if a.notice(leave("b")) || a.notice(leave("c")) || a.notice(leave("x")) || !a.gone("d") {
		t.Fatal("want empty exactly when the last member leaves")
	}
	if u := newAudience(); u.set(nil, false) || u.notice(leave("a")) {
		t.Fatal("an untracked audience never empties")
	}
	if newAudience().set(nil, true) != true {
		t.Fatal("an empty room is empty")
	}
}

func sorted(s []string) []string { slices.Sort(s); return s }

// A question takes from both buckets or from neither.
func TestLimiter(t *testing.T) {
	l := newLimiter(Limit{N: 2, Per: time.Minute}, Limit{N: 3, Per: time.Minute})
	now := time.Now()
	for i, want := range []string{"", "", reasonUserLimit} {
		if got, _ := l.allow("u/a", "r", now); got != want {
			t.Fatalf("a's question %d: %q, want %q", i, got, want)
		}
	}
	if got, _ := l.allow("u/b", "r", now); got != "" {
		t.Fatalf("b's question: %q", got)
	}
	got, wait := l.allow("u/c", "r", now)
	if got != reasonRoomLimit || wait <= 0 || wait > 20*time.Second {
		t.Fatalf("c's question: %q after %s", got, wait)
	}
	if got, _ := l.allow("u/c", "other", now); got != "" {
		t.Fatalf("c elsewhere (its refused question took nothing): %q", got)
	}
	if got, _ := l.allow("u/a", "", now.Add(30*time.Second)); got != "" {
		t.Fatalf("a after the refill: %q", got)
	}
	if got, _ := newLimiter(Limit{N: -1}, Limit{N: -1}).allow("u/a", "r", now); got != "" {
		t.Fatalf("no limits: %q", got)
	}
}

// Failures are told by kind, without the server's text.
func TestFailure(t *testing.T) {
	for err, want := range map[error]string{
		errTimeout:                           "timeout: the model did not finish within 1m0s",
		errEmpty:                             "empty: the model gave no answer",
		&openai.Error{StatusCode: 500}:       "api: the model answered with an error (HTTP 500)",
		&openai.Error{StatusCode: 429}:       "api: the model is busy (HTTP 429)",
		&ssestream.StreamError{Message: "x"}: "stream: the model failed while answering",
		&url.Error{Op: "Post", URL: "http://h", Err: errors.New("refused")}: "connection: the model could not be reached",
		errBrokenOff: "stream: the model's answer broke off",
	} {
		if kind, reason := failure(err, time.Minute); kind+": "+reason != want {
			t.Errorf("%v: %s: %s, want %s", err, kind, reason, want)
		}
	}
}
