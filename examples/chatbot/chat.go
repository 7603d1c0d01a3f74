package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/contract"
)

// chatLine is the data of a chat message event: {"name": .., "text": ..}.
type chatLine struct {
	Name string `json:"name"`
	Text string `json:"text"`
}

// roomOf returns the unescaped room of a chat line: the Router-Room header
// routerd sets on client emits, else the subject's room token unescaped
// (a backend's publish carries no headers).
func (s subjects) roomOf(m *nats.Msg) (string, error) {
	if room := m.Header.Get(contract.HeaderRoom); room != "" {
		return room, nil
	}
	tok, ok := strings.CutPrefix(m.Subject, s.roomPrefix)
	if ok {
		tok, ok = strings.CutSuffix(tok, "."+chatEvent)
	}
	if !ok || tok == "" || strings.Contains(tok, ".") {
		return "", fmt.Errorf("subject %q is not a chat line", m.Subject)
	}
	room, err := contract.Unescape(tok)
	if err != nil {
		return "", fmt.Errorf("room token %q: %w", tok, err)
	}
	return room, nil
}

// onChatLine logs every chat line this instance receives and answers the
// commands of clients. Lines without a Router-Sid header come from backends
// (this bot included) and are never answered, so bots cannot loop.
func (b *Bot) onChatLine(m *nats.Msg) {
	room, err := b.subj.roomOf(m)
	if err != nil {
		b.log.Warn("ignoring chat line", "err", err)
		return
	}
	var line chatLine
	if err := json.Unmarshal(m.Data, &line); err != nil {
		b.log.Debug("chat line that is not {name, text}", "room", room, "data", string(m.Data))
	}
	sid := m.Header.Get(contract.HeaderSid)
	if sid == "" {
		b.log.Debug("backend chat line", "room", room, "name", line.Name, "text", line.Text)
		b.stats.ignored.Add(1)
		return
	}
	b.stats.lines.Add(1)
	b.log.Info("chat message", "room", room, "sid", sid, "name", line.Name, "text", line.Text)
	if answer, ok := b.command(room, line.Text); ok {
		b.say(room, answer)
		b.stats.answers.Add(1)
		return
	}
	if b.asst != nil {
		b.asst.onLine(room, m, line)
	}
}

// say publishes a chat line from the bot to room.
func (b *Bot) say(room, text string) {
	subject := b.subj.Room(b.cfg.NS, room, chatEvent)
	if err := b.nc.Publish(subject, mustJSON(chatLine{Name: b.cfg.Name, Text: text})); err != nil {
		b.log.Error("answer in room", "room", room, "err", err)
	}
}
