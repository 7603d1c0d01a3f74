package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"time"
)

// answer is one answer under way.
type answer struct {
	id     string
	q      question
	asked  time.Time
	aud    *audience
	ctx    context.Context
	cancel context.CancelCauseFunc
}

// run generates one answer and ends it: its readers, the prompt, the
// stream, the final message.
func (a *assistant) run(ans *answer) {
	defer a.end(ans)
	a.m.inFlight.Inc()
	defer a.m.inFlight.Dec()
	ctx, cancel := context.WithTimeoutCause(ans.ctx, a.cfg.Timeout, errTimeout)
	defer cancel()
	a.listen(ans)
	r := a.stream(ctx, ans, a.prompt(ctx, ans.q))
	a.conclude(ctx, ans, r)
}

// listen finds who reads the answer: the room's members (ctl presence) or
// the asker. An answer whose room is empty already is cancelled; one whose
// members cannot be listed is not streamed, only concluded.
func (a *assistant) listen(ans *answer) {
	sids := []string{ans.q.sid}
	track := true
	if ans.q.room != "" {
		members, err := a.b.presence(ans.q.room)
		if err != nil {
			a.log.Warn("room members unknown: the answer is not streamed", "room", ans.q.room, "err", err)
			track = false
		}
		sids = sids[:0]
		for _, m := range members {
			sids = append(sids, m.SID)
		}
	}
	if ans.aud.set(sids, track) {
		ans.cancel(errNobodyLeft)
	}
}

// conclude sends the answer's final message (unless nobody is left to
// read it), counts and logs how it ended.
func (a *assistant) conclude(ctx context.Context, ans *answer, r streamed) {
	err := r.err
	if err != nil && ctx.Err() != nil {
		err = context.Cause(ctx)
	}
	if err == nil && strings.TrimSpace(r.text) == "" {
		err = errEmpty
	}
	outcome, status, text := outcomeDone, statusDone, r.text
	switch {
	case err == nil:
		if r.truncated {
			text += " […]"
		}
	case errors.Is(err, errNobodyLeft):
		outcome, status = outcomeCancelled, ""
	case errors.Is(err, errStopping):
		outcome, status = outcomeCancelled, statusCancelled
		text = withNote(r.text, "cut short: I am stopping", "sorry, I am stopping: ask again in a moment")
	default:
		kind, reason := failure(err, a.cfg.Timeout)
		a.m.errors.WithLabelValues(kind).Inc()
		outcome, status = outcomeError, statusError
		text = withNote(r.text, "the answer stopped: "+reason, "sorry, I could not answer: "+reason)
		a.log.Warn("model failed", "id", ans.id, "kind", kind, "err", err)
	}
	took := time.Since(ans.asked)
	a.m.answers.WithLabelValues(outcome).Inc()
	a.m.latency.Observe(took.Seconds())
	if r.firstPiece > 0 {
		a.m.firstToken.Observe(r.firstPiece.Seconds())
	}
	completion := int64(r.pieces)
	if r.usage.reported {
		completion = r.usage.completion
		a.m.tokens.WithLabelValues("prompt").Add(float64(r.usage.prompt))
	}
	a.m.tokens.WithLabelValues("completion").Add(float64(completion))
	if status != "" {
		a.final(ans, finalLine{Name: a.b.cfg.Name, Text: text, Answer: ans.id, Status: status})
	}
	a.log.Info("answer ended", "id", ans.id, "via", ans.q.via, "room", ans.q.room, "sid", ans.q.sid,
		"outcome", outcome, "seconds", took.Seconds(), "pieces", r.pieces, "completion_tokens", completion)
}

// withNote is the partial text with a note after it, or alone when there
// is no text.
func withNote(text, note, alone string) string {
	if strings.TrimSpace(text) == "" {
		return alone
	}
	return text + "\n\n(" + note + ")"
}

// final publishes the message that ends an answer: in its room, or to the
// asker of a direct question. A direct exchange that went well joins the
// conversation's transcript: here first, before the asker can ask again,
// then at the other instances.
func (a *assistant) final(ans *answer, f finalLine) {
	ns := a.b.cfg.NS
	if ans.q.room != "" {
		if err := a.b.nc.Publish(a.b.subj.Room(ns, ans.q.room, chatEvent), mustJSON(f)); err != nil {
			a.log.Error("publish answer", "room", ans.q.room, "err", err)
		}
		return
	}
	if f.Status == statusDone {
		exchange := directLog{From: a.b.id, SID: ans.q.sid, Lines: []line{
			{SID: ans.q.sid, Name: ans.q.name, Text: ans.q.text},
			{Name: a.b.cfg.Name, Text: f.Text, Bot: true},
		}}
		a.logExchange(exchange)
		if err := a.b.nc.Publish(a.subj.dm, mustJSON(exchange)); err != nil {
			a.log.Error("publish direct exchange", "err", err)
		}
	}
	a.toSockets([]string{ans.q.sid}, chatEvent, f)
}

// end forgets an answer that has ended.
func (a *assistant) end(ans *answer) {
	ans.cancel(nil)
	a.mu.Lock()
	delete(a.inflight, ans.id)
	a.mu.Unlock()
	a.wg.Done()
}

// answerID returns a new random answer id.
func answerID() string {
	var r [8]byte
	_, _ = rand.Read(r[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(r[:])
}
