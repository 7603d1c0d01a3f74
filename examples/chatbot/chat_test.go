package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/internal/routertest"
)

// A client's chat line reaches the bot, which logs it with the unescaped
// room; the bot's counters say it handled a client line.
func TestChatLineIsLogged(t *testing.T) {
	node := routertest.Start(t, routertest.Config(t))
	bot := startBot(t, node, nil)
	room := "a.b c/ü"
	alice := joinChat(node, room)
	alice.say("alice", "hello, bot")

	routertest.Eventually(t, "bot logs the chat line", func() error {
		recs := bot.log.find("chat message", map[string]string{"room": room, "sid": alice.sid, "name": "alice", "text": "hello, bot"})
		if len(recs) != 1 {
			return fmt.Errorf("%d matching records", len(recs))
		}
		if s := bot.Stats(); s.Lines != 1 || s.Answers != 0 || s.Ignored != 0 {
			return fmt.Errorf("stats %+v, want one client line, no answer", s)
		}
		return nil
	})
}

// roomOf takes the Router-Room header, else unescapes the subject's token.
func TestRoomOf(t *testing.T) {
	s := newSubjects(Config{Prefix: "acme.router", NS: "chat", Group: "chatbot"})
	for _, tc := range []struct {
		subject, header, want string
		bad                   bool
	}{
		{subject: "acme.router.chat.room.lobby.message", want: "lobby"},
		{subject: "acme.router.chat.room.a%2Eb%20c.message", want: "a.b c"},
		{subject: "acme.router.chat.room.x.message", header: "a.b c", want: "a.b c"},
		{subject: "acme.router.chat.room.a%2eb.message", bad: true}, // lower-case hex is not Escape's
		{subject: "acme.router.chat.room.a.b.message", bad: true},
		{subject: "acme.router.chat.room.lobby.typing", bad: true},
		{subject: "other.chat.room.lobby.message", bad: true},
	} {
		m := &nats.Msg{Subject: tc.subject, Header: nats.Header{}}
		if tc.header != "" {
			m.Header.Set("Router-Room", tc.header)
		}
		got, err := s.roomOf(m)
		if tc.bad {
			if err == nil {
				t.Errorf("%s: want an error, got %q", tc.subject, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s (header %q): got %q, %v; want %q", tc.subject, tc.header, got, err, tc.want)
		}
	}
}

// /help, /time and unknown commands are answered in the room, to everyone
// in it, the asker included, whatever the room's name.
func TestCommands(t *testing.T) {
	node := routertest.Start(t, routertest.Config(t))
	now := time.Date(2025, 11, 25, 21, 53, 0, 0, time.UTC)
	startBot(t, node, func(c *Config) { c.Clock = func() time.Time { return now } })
	room := "lobby 1.ü" // answers go to the escaped subject of this room
	alice := joinChat(node, room)
	bob := joinChat(node, room)

	for _, tc := range []struct{ text, want string }{
		{"/help", helpText},
		{"  /TIME  ", "it is Tue, 25 Nov 2025 21:53:00 UTC"},
		{"/nope x", "unknown command /nope; try /help"},
	} {
		alice.say("alice", tc.text)
		for _, c := range []*chatClient{alice, bob} {
			if got := c.botLine(t); got != tc.want {
				t.Errorf("%q: bot said %q, want %q", tc.text, got, tc.want)
			}
		}
	}
	if !strings.Contains(helpText, "/who") || !strings.Contains(helpText, "/time") || !strings.Contains(helpText, "/help") {
		t.Errorf("help does not list every command: %q", helpText)
	}
}

// /who lists the room's members: by nickname where the bot gave one, else
// by a short sid.
func TestWho(t *testing.T) {
	node := routertest.Start(t, routertest.Config(t))
	startBot(t, node, nil)
	alice := joinChat(node, "lobby")
	bob := joinChat(node, "lobby")
	other := joinChat(node, "elsewhere")
	wantAck(t, alice.nick("alice"), "alice")
	wantAck(t, other.nick("carol"), "carol")

	bob.say("bob", "/who")
	want := []string{"alice", "sid:" + shortSID(bob.sid)}
	slices.Sort(want)
	if got, w := bob.botLine(t), "2 in lobby: "+strings.Join(want, ", "); got != w {
		t.Fatalf("/who: got %q, want %q", got, w)
	}
}

// The bot answers clients only: a line without a Router-Sid (a backend's,
// the bot's own) is seen and ignored, so bots never loop.
func TestBackendLinesAreNotAnswered(t *testing.T) {
	node := routertest.Start(t, routertest.Config(t))
	bot := startBot(t, node, nil)
	lines := botLines(t, node, "lobby")
	alice := joinChat(node, "lobby")

	backend := node.Backend()
	if err := backend.Publish("router.chat.room.lobby.message", []byte(`{"name":"other-bot","text":"/help"}`)); err != nil {
		t.Fatal(err)
	}
	routertest.Eventually(t, "bot sees the backend line", func() error {
		if n := bot.Stats().Ignored; n != 1 {
			return fmt.Errorf("ignored %d", n)
		}
		return nil
	})
	alice.say("alice", "/time")
	alice.botLine(t)
	// The bot's own answer comes back to it as a backend line; once it has
	// been ignored, every line the bot published is in.
	routertest.Eventually(t, "bot sees its own answer", func() error {
		if n := bot.Stats().Ignored; n != 2 {
			return fmt.Errorf("ignored %d", n)
		}
		return nil
	})
	routertest.Eventually(t, "the observer has the bot's answer", func() error {
		if got := lines(); len(got) != 2 { // other-bot's /help and the /time answer
			return fmt.Errorf("lines %q", got)
		}
		return nil
	})
	if got := lines(); !strings.HasPrefix(got[1], "it is ") {
		t.Fatalf("bot lines %q: want only the /time answer", got)
	}
	if s := bot.Stats(); s.Answers != 1 || s.Lines != 1 {
		t.Fatalf("stats %+v: want one client line, one answer", s)
	}
}
