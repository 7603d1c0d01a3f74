package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/routerd/routerd/contract"
)

// Why an answer's context ends (context.Cause).
var (
	errTimeout    = errors.New("the answer took too long")
	errNobodyLeft = errors.New("nobody is left to read the answer")
	errStopping   = errors.New("the bot is stopping")
	errEmpty      = errors.New("the model gave no answer")
)

// maxQuestionBytes bounds a direct question (the chat page sends at most
// 4000 characters).
const maxQuestionBytes = 16 << 10

// assistant answers questions in the chat with a language model, streaming
// each answer as it is generated (stream.go). A question is a client's line
// that mentions the bot (@bot), any client line in one of cfg.Rooms, or a
// direct question (the server-bound "ask" request). Questions reach it in
// the bot's queue group, so however many instances run, one answers each.
//
// Its goroutines: nats.go's, one per subscription (questions, presence and
// disconnect notices, transcripts), and one per answer under way.
type assistant struct {
	b       *Bot
	cfg     LLMConfig
	log     *slog.Logger
	model   model
	hist    history
	m       *metrics
	subj    assistantSubjects
	mention *regexp.Regexp
	rooms   map[string]bool
	limits  *limiter
	lines   *transcripts
	slots   chan struct{}        // one per answer being generated
	work    []*nats.Subscription // queue group: ask and assistant requests

	base    context.Context         // parent of every answer's context
	stopAll context.CancelCauseFunc // cancels every answer (errStopping)

	mu       sync.Mutex
	inflight map[string]*answer // by id; guarded by mu
	closed   bool               // no new answers; guarded by mu
	wg       sync.WaitGroup     // answers under way
}

// assistantSubjects are the subjects the assistant uses beyond the bot's.
type assistantSubjects struct {
	ask            string // P.{ns}.server.ask: direct questions (queue group)
	info           string // P.{ns}.server.assistant: what the assistant offers (queue group)
	presence       string // P.{ns}.presence.*: who comes and goes (every instance)
	presencePrefix string // "P.{ns}.presence."
	dm             string // {group}.P.{ns}.assistant.dm: direct exchanges, to every instance
}

// question is one question the assistant took.
type question struct {
	via  string // viaMention, viaRoom or viaDirect
	room string // "" for a direct question
	sid  string // the asker's socket
	user string // the asker's authenticated user, if any
	name string // how the asker is called
	text string
}

// refusal is a question turned away, with the error code a direct asker
// gets and the text everybody gets.
type refusal struct {
	code contract.Code
	text string
}

// newAssistant returns the assistant of bot b, asking m.
func newAssistant(b *Bot, m model) (*assistant, error) {
	cfg := b.cfg.LLM
	js, err := jetstream.New(b.nc)
	if err != nil {
		return nil, fmt.Errorf("chatbot: jetstream: %w", err)
	}
	p, ns := b.cfg.Prefix, b.cfg.NS
	a := &assistant{
		b:     b,
		cfg:   cfg,
		log:   b.log.With("part", "assistant"),
		model: m,
		hist:  history{js: js, stream: b.subj.HistoryStream(ns), botName: b.cfg.Name, timeout: b.cfg.RequestTimeout},
		m:     b.metrics,
		subj: assistantSubjects{
			ask:            b.subj.Server(ns, "ask"),
			info:           b.subj.Server(ns, "assistant"),
			presence:       p + "." + ns + ".presence.*",
			presencePrefix: p + "." + ns + ".presence.",
			dm:             b.cfg.Group + "." + p + "." + ns + ".assistant.dm",
		},
		mention:  mentionRE(b.cfg.Name),
		rooms:    map[string]bool{},
		limits:   newLimiter(cfg.UserLimit, cfg.RoomLimit),
		lines:    newTranscripts(cfg.Context + contextSlack),
		slots:    make(chan struct{}, cfg.Concurrency),
		inflight: map[string]*answer{},
	}
	for _, r := range cfg.Rooms {
		a.rooms[r] = true
	}
	a.base, a.stopAll = context.WithCancelCause(context.Background())
	return a, nil
}

// mentionRE matches a text that mentions name: "@name" as a word of its
// own, in any case ("@bot," yes; "me@bot.example", "@bots" no).
func mentionRE(name string) *regexp.Regexp {
	return regexp.MustCompile(`(?i)(?:^|[^\p{L}\p{N}_])@` + regexp.QuoteMeta(name) + `(?:$|[^\p{L}\p{N}_-])`)
}

// contextSlack is how many lines more than cfg.Context transcripts keep:
// lines that came after a question, which its context leaves out.
const contextSlack = 16

// subscribe subscribes to what every instance follows (presence and
// disconnect notices, chat lines and direct exchanges for transcripts),
// then to the work in the queue group.
func (a *assistant) subscribe() error {
	nc := a.b.nc
	for subject, handler := range map[string]nats.MsgHandler{
		a.subj.presence:       a.onPresence,
		a.b.subj.disconnect:   a.onDisconnect,
		a.b.subj.roomMessages: a.onRoomLine,
		a.subj.dm:             a.onDirectLog,
	} {
		if _, err := nc.Subscribe(subject, handler); err != nil {
			return fmt.Errorf("chatbot: subscribe %s: %w", subject, err)
		}
	}
	for subject, handler := range map[string]nats.MsgHandler{a.subj.ask: a.onAsk, a.subj.info: a.onInfo} {
		sub, err := nc.QueueSubscribe(subject, a.b.cfg.Group, handler)
		if err != nil {
			return fmt.Errorf("chatbot: subscribe %s: %w", subject, err)
		}
		a.work = append(a.work, sub)
	}
	a.log.Info("assistant ready", "url", a.cfg.URL, "model", a.cfg.Model, "rooms", a.cfg.Rooms, "direct", a.cfg.Direct)
	return nil
}

// onLine takes a client's chat line (not a command, handled in the queue
// group) as a question when it mentions the bot or its room is one of
// cfg.Rooms. A refusal goes to the asker's socket only.
func (a *assistant) onLine(room string, m *nats.Msg, cl chatLine) {
	var via string
	switch {
	case a.mention.MatchString(cl.Text):
		via = viaMention
	case a.rooms[room]:
		via = viaRoom
	default:
		return
	}
	sid := m.Header.Get(contract.HeaderSid)
	q := question{via: via, room: room, sid: sid, user: m.Header.Get(contract.HeaderUser), name: a.who(sid, cl.Name), text: cl.Text}
	ans, ref := a.admit(q)
	if ref != nil {
		a.toSockets([]string{sid}, chatEvent, finalLine{Name: a.b.cfg.Name, Text: ref.text, Room: room, Status: statusRefused})
		return
	}
	go a.run(ans)
}

// who is how the model and the refusals call a socket: its nickname, else
// the name its line gave, else a short sid.
func (a *assistant) who(sid, given string) string {
	if nick, ok := a.b.nicks.Nick(sid); ok {
		return nick
	}
	if given = strings.TrimSpace(given); given != "" && utf8.RuneCountInString(given) <= maxNickRunes {
		return given
	}
	return "sid:" + shortSID(sid)
}

// admit counts a question and applies the rate limits; an admitted
// question is an answer under way (its presence notices are followed from
// now on), to be run.
func (a *assistant) admit(q question) (*answer, *refusal) {
	a.m.questions.WithLabelValues(q.via).Inc()
	who := "s/" + q.sid
	if q.user != "" {
		who = "u/" + q.user
	}
	if reason, wait := a.limits.allow(who, q.room, time.Now()); reason != "" {
		a.m.refused.WithLabelValues(reason).Inc()
		wait = max(wait.Round(time.Second), time.Second)
		text := fmt.Sprintf("%s, you are asking too fast: try again in %s", q.name, wait)
		if reason == reasonRoomLimit {
			text = fmt.Sprintf("too many questions in #%s: try again in %s", q.room, wait)
		}
		a.log.Info("question refused", "reason", reason, "room", q.room, "sid", q.sid)
		return nil, &refusal{code: contract.CodeRateLimited, text: text}
	}
	ctx, cancel := context.WithCancelCause(a.base)
	ans := &answer{id: answerID(), q: q, asked: time.Now(), aud: newAudience(), ctx: ctx, cancel: cancel}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		cancel(errStopping)
		a.m.refused.WithLabelValues(reasonStopping).Inc()
		return nil, &refusal{code: contract.CodeUnavailable, text: "I am restarting: ask again in a moment"}
	}
	a.inflight[ans.id] = ans
	a.wg.Add(1)
	return ans, nil
}

// answers returns the answers under way that match.
func (a *assistant) answers(match func(*answer) bool) []*answer {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []*answer
	for _, ans := range a.inflight {
		if match(ans) {
			out = append(out, ans)
		}
	}
	return out
}

// stop ends the assistant once no question can arrive any more: answers
// under way may finish within cfg.StopGrace; those still going then are
// cancelled, and their readers get what was written, marked cut short.
func (a *assistant) stop() {
	a.mu.Lock()
	a.closed = true
	n := len(a.inflight)
	a.mu.Unlock()
	done := make(chan struct{})
	go func() {
		a.wg.Wait()
		close(done)
	}()
	if n > 0 {
		a.log.Info("finishing answers under way", "answers", n, "grace", a.cfg.StopGrace)
	}
	select {
	case <-done:
	case <-time.After(a.cfg.StopGrace):
		a.log.Warn("cancelling answers still under way")
		a.stopAll(errStopping)
		<-done
	}
	a.stopAll(errStopping)
}
