package main

import (
	"context"
	"fmt"
)

// prompt is what the model reads for question q: the system prompt, where
// the conversation takes place, the lines before the question (at most
// cfg.Context), and the question.
func (a *assistant) prompt(ctx context.Context, q question) []turn {
	var situation string
	var lines []line
	if q.room == "" {
		situation = fmt.Sprintf("You are %q, in a direct conversation with %s.", a.b.cfg.Name, q.name)
		lines = a.lines.recent("dm:" + q.sid)
	} else {
		situation = fmt.Sprintf("You are %q, in the room #%s of a group chat. Each message starts with its sender's name.", a.b.cfg.Name, q.room)
		lines = a.roomLines(ctx, q.room)
	}
	asked := line{SID: q.sid, Name: q.name, Text: q.text}
	turns := []turn{{role: roleSystem, text: a.cfg.System}, {role: roleSystem, text: situation}}
	for _, l := range before(lines, asked, a.cfg.Context) {
		turns = append(turns, l.turn())
	}
	return append(turns, asked.turn())
}

// roomLines returns the room's recent chat lines: from its history where
// the namespace keeps one, else from what this instance saw.
func (a *assistant) roomLines(ctx context.Context, room string) []line {
	lines, ok, err := a.hist.recent(ctx, a.b.subj.Room(a.b.cfg.NS, room, chatEvent), a.cfg.Context+contextSlack)
	if err != nil {
		a.log.Warn("room history unreadable: using what this instance saw", "room", room, "err", err)
	}
	if ok && err == nil {
		return lines
	}
	return a.lines.recent("room:" + room)
}
