package main

import (
	"encoding/json"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/contract"
)

// A client asks the assistant directly with a server-bound emit, which every
// namespace allows: routerd's direct policy governs emits from one socket to
// another (to), and the bot is no socket. The answer streams to the asker's
// socket subject, which a backend may always publish to; cfg.Direct mirrors
// the namespace's direct policy (README, "Direct questions").

// askRequest is the data of a client's "ask" emit.
type askRequest struct {
	Text *string `json:"text"`
	Name string  `json:"name"` // how to call the asker when it has no nickname
}

// askReply is the ack of an admitted direct question: the id of its answer.
type askReply struct {
	OK bool   `json:"ok"`
	ID string `json:"id"`
}

// assistantInfo answers the server-bound "assistant" request: what the
// assistant offers, so that a page can show it.
type assistantInfo struct {
	Name   string   `json:"name"`
	Model  string   `json:"model"`
	Direct bool     `json:"direct"`
	Rooms  []string `json:"rooms"`
}

// directLog is one direct exchange, question and answer, published by the
// instance that answered it so that every instance has the conversation's
// context for the next question, whichever takes it.
type directLog struct {
	From  string `json:"from"` // the instance that answered (it logged the exchange already)
	SID   string `json:"sid"`
	Lines []line `json:"lines"`
}

// onAsk takes a direct question: {"text": ..} → ack {"ok":true,"id":..},
// then the answer's events on the asker's socket. Refusals are error
// replies (rate_limited, forbidden where direct questions are off,
// bad_frame, too_large), or a refused message when the emit had no id.
func (a *assistant) onAsk(m *nats.Msg) {
	sid := m.Header.Get(contract.HeaderSid)
	if sid == "" {
		a.b.refuse(m, contract.CodeBadFrame, "ask needs a Router-Sid header (it is a client request)")
		return
	}
	if !a.cfg.Direct {
		a.b.refuse(m, contract.CodeForbidden, "direct questions are off")
		return
	}
	var req askRequest
	if err := json.Unmarshal(m.Data, &req); err != nil || req.Text == nil || strings.TrimSpace(*req.Text) == "" {
		a.b.refuse(m, contract.CodeBadFrame, `ask data must be {"text": "..."}`)
		return
	}
	if len(*req.Text) > maxQuestionBytes {
		a.b.refuse(m, contract.CodeTooLarge, "question too long")
		return
	}
	q := question{via: viaDirect, sid: sid, user: m.Header.Get(contract.HeaderUser), name: a.who(sid, req.Name), text: *req.Text}
	ans, ref := a.admit(q)
	if ref != nil {
		if m.Reply != "" {
			a.b.refuse(m, ref.code, ref.text)
		} else {
			a.toSockets([]string{sid}, chatEvent, finalLine{Name: a.b.cfg.Name, Text: ref.text, Status: statusRefused})
		}
		return
	}
	a.b.reply(m, nil, mustJSON(askReply{OK: true, ID: ans.id}))
	go a.run(ans)
}

// onInfo answers the "assistant" request.
func (a *assistant) onInfo(m *nats.Msg) {
	rooms := a.cfg.Rooms
	if rooms == nil {
		rooms = []string{}
	}
	a.b.reply(m, nil, mustJSON(assistantInfo{Name: a.b.cfg.Name, Model: a.cfg.Model, Direct: a.cfg.Direct, Rooms: rooms}))
}

// onDirectLog adds another instance's direct exchange to the
// conversation's transcript.
func (a *assistant) onDirectLog(m *nats.Msg) {
	var d directLog
	if err := json.Unmarshal(m.Data, &d); err != nil || d.SID == "" {
		a.log.Warn("ignoring malformed direct exchange", "err", err)
		return
	}
	if d.From != a.b.id {
		a.logExchange(d)
	}
}

// logExchange adds a direct exchange to the conversation's transcript.
func (a *assistant) logExchange(d directLog) {
	for _, l := range d.Lines {
		a.lines.add("dm:"+d.SID, l, a.b.cfg.Clock())
	}
}
