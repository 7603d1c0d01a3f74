package main

import (
	"context"
	"strings"
	"time"
)

// Events of a streamed answer (README, "The assistant"). answer_start and
// answer_delta go to each reader's socket (P.{ns}.socket.{sid}.{event}),
// never to the room subject, so that a room's history keeps chat lines, not
// fragments; the final message goes to the room (or, for a direct question,
// to the asker's socket) as an ordinary chat line.
const (
	eventStart = "answer_start"
	eventDelta = "answer_delta"
)

// Statuses of the final message of an answer, and of a refusal.
const (
	statusDone      = "done"
	statusError     = "error"
	statusCancelled = "cancelled"
	statusRefused   = "refused"
)

// maxAnswerBytes bounds an answer's text: past it the model is stopped and
// the answer ends there (a final message must fit routerd's frames).
const maxAnswerBytes = 32 << 10

// answerStart is the data of answer_start: an answer begins. A socket that
// joins the room while the answer grows gets it too, with the text so far
// and the number of deltas that text holds.
type answerStart struct {
	ID    string `json:"id"`
	Name  string `json:"name"`           // who answers: the bot's name
	Room  string `json:"room,omitempty"` // absent for a direct answer
	Asker string `json:"asker"`          // sid of the socket that asked
	Text  string `json:"text"`
	N     int    `json:"n"`
}

// answerDelta is the data of answer_delta: the text that follows the
// answer so far. N counts an answer's deltas from 1; a reader appends them
// in order.
type answerDelta struct {
	ID   string `json:"id"`
	Room string `json:"room,omitempty"`
	N    int    `json:"n"`
	Text string `json:"text"`
}

// finalLine is the data of the message event that ends an answer (Answer
// set), or refuses a question (Status refused, Room set when it was asked in
// a room): a chat line {"name","text"} with more fields, so that clients
// that know nothing of answers show it like any other line.
type finalLine struct {
	Name   string `json:"name"`
	Text   string `json:"text"`
	Answer string `json:"answer,omitempty"`
	Room   string `json:"room,omitempty"`
	Status string `json:"status"`
}

// streamed is what came of streaming one answer.
type streamed struct {
	text       string
	usage      usage
	err        error
	pieces     int
	firstPiece time.Duration // from the question; 0: no text came
	truncated  bool          // stopped at maxAnswerBytes
}

// stream asks the model and streams its answer to the audience:
// answer_start to every reader at once, then at most one answer_delta per
// cfg.DeltaInterval with whatever text came meanwhile (answer_start with
// the text so far for readers who joined). It waits for one of cfg.Concurrency
// slots first. The final message is not its job: the caller sends it.
func (a *assistant) stream(ctx context.Context, ans *answer, turns []turn) streamed {
	var r streamed
	var text strings.Builder
	sent, deltas := 0, 0
	flush := func() {
		started, fresh := ans.aud.take()
		all := text.String()
		if len(all) > sent && len(started) > 0 {
			deltas++
			a.m.deltas.Inc()
			a.toSockets(started, eventDelta, answerDelta{ID: ans.id, Room: ans.q.room, N: deltas, Text: all[sent:]})
		}
		sent = len(all)
		a.toSockets(fresh, eventStart, answerStart{ID: ans.id, Name: a.b.cfg.Name, Room: ans.q.room, Asker: ans.q.sid, Text: all, N: deltas})
	}
	flush() // the typing indicator shows before the model starts

	select {
	case a.slots <- struct{}{}:
		defer func() { <-a.slots }()
	case <-ctx.Done():
		r.err = ctx.Err()
		return r
	}
	mctx, stopModel := context.WithCancel(ctx)
	defer stopModel()
	pieces := make(chan string) // unbuffered: every piece is taken before the result
	result := make(chan streamed, 1)
	go func() {
		u, err := a.model.Stream(mctx, turns, func(p string) {
			select {
			case pieces <- p:
			case <-mctx.Done():
			}
		})
		result <- streamed{usage: u, err: err}
	}()
	tick := time.NewTicker(a.cfg.DeltaInterval)
	defer tick.Stop()
	for {
		select {
		case p := <-pieces:
			if r.truncated {
				continue
			}
			if r.pieces == 0 {
				r.firstPiece = time.Since(ans.asked)
			}
			r.pieces++
			text.WriteString(p)
			if text.Len() > maxAnswerBytes {
				r.truncated = true
				stopModel()
			}
		case <-tick.C:
			flush()
		case res := <-result:
			r.text, r.usage, r.err = text.String(), res.usage, res.err
			if r.truncated && ctx.Err() == nil {
				r.err = nil
			}
			return r
		}
	}
}

// toSockets publishes event with data to each socket.
func (a *assistant) toSockets(sids []string, event string, data any) {
	if len(sids) == 0 {
		return
	}
	payload := mustJSON(data)
	for _, sid := range sids {
		if err := a.b.nc.Publish(a.b.subj.Socket(a.b.cfg.NS, sid, event), payload); err != nil {
			a.log.Error("publish to socket", "event", event, "sid", sid, "err", err)
		}
	}
}
