package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// Bot is one running chatbot instance. Its lifecycle: Start connects to NATS,
// joins the other instances' nickname state and subscribes; the bot then
// serves until the context given to Start ends, when it drains (finishes
// what it has received, flushes what it publishes) and closes; Done is
// closed once it has.
//
// Three goroutines work for a bot: nats.go's for chat lines (one at a time,
// so a slow /who delays the next line, never loses it), the state loop for
// everything that reads or changes nicknames (nick requests, claims,
// disconnects, snapshots; one at a time, in the order NATS delivered them),
// and one that waits for the context and shuts the bot down.
type Bot struct {
	cfg  Config
	log  *slog.Logger
	subj subjects
	id   string // this instance, in logs and snapshot requests
	nc   *nats.Conn

	nicks    *Registry
	inbox    chan *nats.Msg // state loop input; bound: cfg.Inbox, then NATS drops (slow consumer)
	resync   chan struct{}  // asks the state loop for a snapshot; bound 1, requests coalesce
	synced   atomic.Bool    // answers peers' snapshot requests once true
	deferred atomic.Bool    // NATS was not reachable at Start: sync on first connect

	nickSub *nats.Subscription // queue group: nick requests, into inbox
	syncSub *nats.Subscription // peers' snapshot requests, into inbox; nil while this instance syncs; owned by the state loop once it runs

	asst       *assistant     // nil without an LLM
	metrics    *metrics       // the assistant's counters
	metricsSrv *metricsServer // nil without cfg.MetricsAddr

	stats stats
	done  chan struct{} // closed when the bot has shut down
}

// stats counts what the bot did; tests read it.
type stats struct {
	lines, ignored, answers, nicks atomic.Int64
}

// Stats is a snapshot of a bot's counters.
type Stats struct {
	Lines   int64 // chat lines from clients handled by this instance
	Ignored int64 // chat lines without a Router-Sid (backends, bots) seen and not answered
	Answers int64 // commands answered
	Nicks   int64 // nick requests handled
}

// Stats returns the bot's counters.
func (b *Bot) Stats() Stats {
	return Stats{
		Lines:   b.stats.lines.Load(),
		Ignored: b.stats.ignored.Load(),
		Answers: b.stats.answers.Load(),
		Nicks:   b.stats.nicks.Load(),
	}
}

// Done is closed when the bot has shut down.
func (b *Bot) Done() <-chan struct{} { return b.done }

// MetricsAddr is the address metrics are served on ("" without
// cfg.MetricsAddr): the actual port when cfg.MetricsAddr asked for port 0.
func (b *Bot) MetricsAddr() string {
	if b.metricsSrv == nil {
		return ""
	}
	return b.metricsSrv.addr.String()
}

// Start connects to NATS and starts a bot that runs until ctx ends. If NATS
// is not reachable yet, Start returns a bot that keeps trying; it never gives
// up reconnecting.
func Start(ctx context.Context, cfg Config) (*Bot, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("chatbot config: %w", err)
	}
	b := &Bot{
		cfg:     cfg,
		subj:    newSubjects(cfg),
		id:      instanceID(),
		nicks:   NewRegistry(cfg.TombstoneTTL),
		inbox:   make(chan *nats.Msg, cfg.Inbox),
		resync:  make(chan struct{}, 1),
		metrics: newMetrics(),
		done:    make(chan struct{}),
	}
	b.log = cfg.Log.With("instance", b.id, "ns", cfg.NS)
	closed := make(chan struct{})
	b.nc, err = nats.Connect(cfg.NATSURL, b.natsOptions(closed)...)
	if err != nil {
		return nil, fmt.Errorf("chatbot: connect to %s: %w", cfg.NATSURL, err)
	}
	if cfg.LLM.enabled() {
		if b.asst, err = newAssistant(b, newOpenAIModel(cfg.LLM)); err != nil {
			b.nc.Close()
			return nil, err
		}
	}
	roomSub, err := b.subscribe()
	if err == nil && cfg.MetricsAddr != "" {
		b.metricsSrv, err = serveMetrics(cfg.MetricsAddr, b.metrics.reg, b.log)
	}
	if err != nil {
		b.nc.Close()
		return nil, err
	}
	loopCtx, stopLoop := context.WithCancel(context.Background())
	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		b.stateLoop(loopCtx)
	}()
	go func() {
		<-ctx.Done()
		b.shutdown(roomSub, stopLoop, loopDone, closed)
	}()
	return b, nil
}

// natsOptions are the bot's connection options: reconnect forever, log
// connection changes, resynchronize nicknames after every (re)connect.
func (b *Bot) natsOptions(closed chan struct{}) []nats.Option {
	return []nats.Option{
		nats.Name("chatbot " + b.id),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(b.cfg.ReconnectWait),
		nats.DrainTimeout(b.cfg.DrainTimeout),
		nats.ConnectHandler(func(nc *nats.Conn) {
			b.log.Info("connected to NATS", "url", nc.ConnectedUrlRedacted())
			if b.deferred.Load() { // NATS was not up when the bot started
				b.askResync()
			}
		}),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if nc.IsClosed() {
				return // our own shutdown
			}
			b.log.Warn("disconnected from NATS, reconnecting", "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			b.log.Info("reconnected to NATS", "url", nc.ConnectedUrlRedacted())
			b.askResync()
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			b.log.Error("NATS error", "subject", subject, "err", err)
		}),
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }),
	}
}

// subscribe sets up every subscription: first the shared nickname state
// (claims and disconnects), then a snapshot from a peer, and only then
// snapshot requests and the work (nick requests, chat lines) in the queue
// group, so an instance that starts next to others knows the names they gave
// out before it gives out any.
func (b *Bot) subscribe() (*nats.Subscription, error) {
	for _, subject := range []string{b.subj.claims, b.subj.disconnect} {
		if _, err := b.nc.ChanSubscribe(subject, b.inbox); err != nil {
			return nil, fmt.Errorf("chatbot: subscribe %s: %w", subject, err)
		}
	}
	if b.nc.IsConnected() {
		if err := b.nc.FlushTimeout(b.cfg.RequestTimeout); err != nil {
			return nil, fmt.Errorf("chatbot: confirm state subscriptions: %w", err)
		}
		b.syncNicks()
	} else {
		b.log.Warn("NATS not reachable yet, retrying", "url", b.cfg.NATSURL)
		b.deferred.Store(true)
		if b.nc.IsConnected() { // connected in between: the ConnectHandler may have missed deferred
			b.askResync()
		}
	}
	if err := b.answerSync(); err != nil {
		return nil, err
	}
	var err error
	if b.nickSub, err = b.nc.ChanQueueSubscribe(b.subj.nick, b.cfg.Group, b.inbox); err != nil {
		return nil, fmt.Errorf("chatbot: subscribe %s: %w", b.subj.nick, err)
	}
	roomSub, err := b.nc.QueueSubscribe(b.subj.roomMessages, b.cfg.Group, b.onChatLine)
	if err != nil {
		return nil, fmt.Errorf("chatbot: subscribe %s: %w", b.subj.roomMessages, err)
	}
	if b.asst != nil {
		if err := b.asst.subscribe(); err != nil {
			return nil, err
		}
	}
	if b.nc.IsConnected() {
		if err := b.nc.FlushTimeout(b.cfg.RequestTimeout); err != nil {
			return nil, fmt.Errorf("chatbot: confirm subscriptions: %w", err)
		}
	}
	b.log.Info("chatbot ready", "group", b.cfg.Group, "chat", b.subj.roomMessages, "nick", b.subj.nick)
	return roomSub, nil
}

// shutdown stops the bot gracefully: it leaves the queue group for nick
// requests, handles the chat lines and questions already received, lets
// the assistant finish (or cancel) its answers, answers the nick requests
// received, then drains the connection (every publish flushed) and waits
// for it to close, within cfg.DrainTimeout.
func (b *Bot) shutdown(roomSub *nats.Subscription, stopLoop context.CancelFunc, loopDone <-chan struct{}, closed <-chan struct{}) {
	defer close(b.done)
	b.log.Info("chatbot stopping")
	if err := b.nickSub.Unsubscribe(); err != nil {
		b.log.Warn("leave nick queue group", "err", err)
	}
	work := []*nats.Subscription{roomSub}
	if b.asst != nil {
		work = append(work, b.asst.work...)
	}
	b.drainWork(work)
	if b.nc.IsConnected() {
		// After this round trip no more nick requests are on their way to us.
		if err := b.nc.FlushTimeout(b.cfg.RequestTimeout); err != nil {
			b.log.Warn("flush before drain", "err", err)
		}
	}
	if b.asst != nil {
		b.asst.stop()
	}
	stopLoop()
	<-loopDone
	if err := b.nc.Drain(); err != nil {
		if errors.Is(err, nats.ErrConnectionReconnecting) {
			b.log.Info("NATS unreachable; closing without drain")
		} else {
			b.log.Warn("drain NATS connection", "err", err)
		}
		b.nc.Close()
	}
	select {
	case <-closed:
		b.log.Info("chatbot stopped")
	case <-time.After(b.cfg.DrainTimeout + time.Second):
		b.log.Warn("NATS connection did not drain in time; closed it")
		b.nc.Close()
	}
	if b.metricsSrv != nil {
		b.metricsSrv.close()
	}
}

// drainWork drains the queue-group subscriptions that bring work (chat
// lines, questions) and waits, within cfg.DrainTimeout, until the handlers
// of what they had received have returned: no question arrives after it.
// Cut off from NATS, it unsubscribes instead (a drain would wait for NATS).
func (b *Bot) drainWork(subs []*nats.Subscription) {
	if !b.nc.IsConnected() {
		for _, sub := range subs {
			_ = sub.Unsubscribe()
		}
		return
	}
	deadline := time.After(b.cfg.DrainTimeout)
	var waits []<-chan nats.SubStatus
	for _, sub := range subs {
		closedCh := sub.StatusChanged(nats.SubscriptionClosed)
		if err := sub.Drain(); err != nil {
			b.log.Warn("drain", "subject", sub.Subject, "err", err)
			continue
		}
		waits = append(waits, closedCh)
	}
	for _, w := range waits {
		select {
		case <-w:
		case <-deadline:
			b.log.Warn("work subscriptions did not drain in time")
			return
		}
	}
}

// instanceID returns a short random id for one bot instance.
func instanceID() string {
	var r [4]byte
	_, _ = rand.Read(r[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(r[:])
}
