// Package bus keeps routerd's NATS connections: one per NATS account
// routerd works in (its own, and one per tenant account on the embedded
// server), each of which outlives the nats.Conn under it.
//
// nats.go reconnects by itself after a network failure, but it gives up
// for good on some errors the server sends (a control line over the
// server's max_control_line, an authorization error seen twice). A Conn
// then dials a new nats.Conn and makes every live subscription again on
// it, so routerd becomes ready again without a restart.
//
// Lifecycle: Dial → (Subscribe, publish on NC, Request) → Drain or Close.
package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrClosed is returned by Subscribe on a Conn that was closed or drained.
var ErrClosed = errors.New("bus: connection closed")

// redialWait bounds the pause between two failed dials of a new nats.Conn.
const redialWait = 2 * time.Second

// DialFunc opens a new nats.Conn with the options given (which the Conn
// adds to the caller's own: its closed handler).
type DialFunc func(opts ...nats.Option) (*nats.Conn, error)

// Conn is one account's connection. Its methods are safe for concurrent use.
type Conn struct {
	account string
	domain  string // JetStream domain; "" for the server's own
	dial    DialFunc
	log     *slog.Logger
	onDial  func(*Conn) // after a new nats.Conn replaced a closed one

	cur     atomic.Pointer[link]
	replies replyMux // the replies of Request

	mu     sync.Mutex
	subs   map[*Sub]struct{} // live subscriptions; guarded by mu
	closed bool              // Close or Drain was called; guarded by mu
	redial sync.WaitGroup    // a redial under way
}

// link is one nats.Conn and the JetStream context on it.
type link struct {
	nc *nats.Conn
	js jetstream.JetStream
}

// Options configure Dial.
type Options struct {
	// Account names the NATS account, for logs ("" for routerd's own).
	Account string
	// JetStreamDomain, when set, is the domain of the JetStream the Conn's
	// JetStream context and APIPrefix address: another system's, reached
	// over a leafnode connection, or the server's own by its domain.
	JetStreamDomain string
	// Dial opens the nats.Conn; it is called again whenever nats.go gives
	// a connection up.
	Dial DialFunc
	// Logger receives the redial logs; nil discards them.
	Logger *slog.Logger
	// OnRedial, when set, is called after a new nats.Conn replaced one
	// that nats.go had given up, with every subscription made again.
	OnRedial func(*Conn)
}

// Dial opens the first nats.Conn of a Conn.
func Dial(o Options) (*Conn, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Conn{account: o.Account, domain: o.JetStreamDomain, dial: o.Dial, log: log, onDial: o.OnRedial, subs: make(map[*Sub]struct{})}
	l, err := c.open()
	if err != nil {
		return nil, err
	}
	c.cur.Store(l)
	return c, nil
}

// open dials a nats.Conn whose closing, unless asked for, starts a redial.
func (c *Conn) open() (*link, error) {
	nc, err := c.dial(nats.ClosedHandler(c.lost))
	if err != nil {
		return nil, err
	}
	// With a domain the context is made with the domain's API prefix, not
	// with jetstream.NewWithDomain: the same requests, but jetstreamext's
	// batch gets build their subjects right from the prefix only.
	var js jetstream.JetStream
	if c.domain == "" {
		js, err = jetstream.New(nc)
	} else {
		js, err = jetstream.NewWithAPIPrefix(nc, c.APIPrefix())
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("bus: jetstream: %w", err)
	}
	return &link{nc: nc, js: js}, nil
}

// APIPrefix is the prefix of the JetStream API subjects of the Conn's
// JetStream, with its final dot: $JS.API., or $JS.{domain}.API. with a
// domain.
func (c *Conn) APIPrefix() string {
	if c.domain == "" {
		return jetstream.DefaultAPIPrefix
	}
	return "$JS." + c.domain + ".API."
}

// Account returns the account name given to Dial.
func (c *Conn) Account() string { return c.account }

// NC returns the current nats.Conn: publish and request on it, never keep
// it (it is replaced after nats.go gives it up).
func (c *Conn) NC() *nats.Conn { return c.cur.Load().nc }

// JetStream returns the JetStream context of the current nats.Conn.
func (c *Conn) JetStream() jetstream.JetStream { return c.cur.Load().js }

// Connected reports whether the current nats.Conn is connected.
func (c *Conn) Connected() bool { return c.NC().IsConnected() }

// lost is the closed handler of every nats.Conn: unless the Conn is being
// closed, nats.go gave the connection up, and a new one is dialled.
func (c *Conn) lost(nc *nats.Conn) {
	if c.cur.Load().nc == nc {
		c.replies.abort() // no reply comes on a closed nats.Conn
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.cur.Load().nc != nc {
		return
	}
	c.log.Error("NATS connection closed for good by the client library; dialling a new one", "account", c.account, "err", nc.LastError())
	c.redial.Add(1)
	go c.redialLoop()
}

// redialLoop dials until it succeeds or the Conn is closed, then makes
// every live subscription again on the new nats.Conn.
func (c *Conn) redialLoop() {
	defer c.redial.Done()
	wait := 100 * time.Millisecond
	for {
		l, err := c.open()
		if err == nil {
			if c.swap(l) {
				c.log.Info("NATS connection dialled again, subscriptions restored", "account", c.account)
				if c.onDial != nil {
					c.onDial(c)
				}
			}
			return
		}
		c.log.Warn("dial NATS", "account", c.account, "err", err)
		time.Sleep(wait)
		wait = min(2*wait, redialWait)
		c.mu.Lock()
		closed := c.closed
		c.mu.Unlock()
		if closed {
			return
		}
	}
}

// swap makes l the current link and subscribes every live Sub on it. It
// reports false (and closes l) when the Conn was closed meanwhile.
func (c *Conn) swap(l *link) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		l.nc.Close()
		return false
	}
	c.cur.Store(l)
	for s := range c.subs {
		if err := s.subscribe(l.nc); err != nil {
			c.log.Error("subscribe again after redial", "account", c.account, "subject", s.subject, "err", err)
		}
	}
	return true
}

// Flush waits until the server has processed everything sent so far.
func (c *Conn) Flush(ctx context.Context) error { return c.NC().FlushWithContext(ctx) }

// Drain drains the current nats.Conn (everything published reaches the
// server) and waits for it to close, or for ctx.
func (c *Conn) Drain(ctx context.Context) error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.redial.Wait()
	nc := c.NC()
	if nc.IsClosed() {
		return nil
	}
	closed := make(chan struct{})
	nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	if err := nc.Drain(); err != nil {
		nc.Close()
		if errors.Is(err, nats.ErrConnectionReconnecting) {
			return nil // unreachable: nothing to drain
		}
		return fmt.Errorf("bus: drain: %w", err)
	}
	select {
	case <-closed:
		return nil
	case <-ctx.Done():
		nc.Close()
		return fmt.Errorf("bus: drain: %w", ctx.Err())
	}
}

// Close closes the connection for good, without draining.
func (c *Conn) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.redial.Wait()
	c.NC().Close()
}

// Sub is a subscription that a redial makes again on the new nats.Conn.
type Sub struct {
	c       *Conn
	subject string
	queue   string
	ch      chan *nats.Msg  // channel subscriptions
	handler nats.MsgHandler // callback subscriptions

	cur atomic.Pointer[nats.Subscription]
}

// Subscribe delivers the messages on subject to handler, on a goroutine of
// the subscription's own (nats.go's async subscription).
func (c *Conn) Subscribe(subject string, handler nats.MsgHandler) (*Sub, error) {
	return c.add(&Sub{c: c, subject: subject, handler: handler})
}

// QueueSubscribe is Subscribe in queue group queue.
func (c *Conn) QueueSubscribe(subject, queue string, handler nats.MsgHandler) (*Sub, error) {
	return c.add(&Sub{c: c, subject: subject, queue: queue, handler: handler})
}

// ChanSubscribe delivers the messages on subject to ch, which the caller
// owns and never sees closed.
func (c *Conn) ChanSubscribe(subject string, ch chan *nats.Msg) (*Sub, error) {
	return c.add(&Sub{c: c, subject: subject, ch: ch})
}

func (c *Conn) add(s *Sub) (*Sub, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if err := s.subscribe(c.NC()); err != nil {
		return nil, err
	}
	c.subs[s] = struct{}{}
	return s, nil
}

// subscribe makes the subscription on nc. The Conn's mu must be held.
func (s *Sub) subscribe(nc *nats.Conn) error {
	var (
		sub *nats.Subscription
		err error
	)
	switch {
	case s.ch != nil:
		sub, err = nc.ChanSubscribe(s.subject, s.ch)
	case s.queue != "":
		sub, err = nc.QueueSubscribe(s.subject, s.queue, s.handler)
	default:
		sub, err = nc.Subscribe(s.subject, s.handler)
	}
	if err != nil {
		return err
	}
	s.cur.Store(sub)
	return nil
}

// Subject returns the subject subscribed to.
func (s *Sub) Subject() string { return s.subject }

// Owns reports whether m was delivered by this subscription's current
// nats subscription (not by one a redial or an Unsubscribe replaced).
func (s *Sub) Owns(m *nats.Msg) bool { return s != nil && m.Sub != nil && m.Sub == s.cur.Load() }

// Unsubscribe ends the subscription.
func (s *Sub) Unsubscribe() error {
	s.c.mu.Lock()
	delete(s.c.subs, s)
	sub := s.cur.Load()
	s.c.mu.Unlock()
	if err := sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) && !errors.Is(err, nats.ErrBadSubscription) {
		return err
	}
	return nil
}
