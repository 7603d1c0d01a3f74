package bus

import (
	"context"
	"strconv"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
)

// Requests whose replies are awaited aside.
//
// nats.go's RequestMsgWithContext publishes and waits in one call, so a
// caller that must not wait (a transport reading a client's frames in
// order) would have to publish from another goroutine, and its requests
// could overtake each other and the plain messages sent after them. Conn
// splits the two: Request publishes at once, on the caller's goroutine,
// with the reply subject set to a token under the Conn's own inbox, and
// Pending.Wait awaits the one reply. One wildcard subscription per Conn
// (made at the first request, and made again by a redial as every Sub is)
// receives every reply and hands it to its waiter by token.

// Status headers the NATS server sets on the message it sends to a
// request's reply subject when nothing subscribes to its subject; nats.go
// recognises no responders the same way (a 503 status and no data).
const (
	statusHeader       = "Status"
	statusNoResponders = "503"
)

// replyMux routes the replies of a Conn's requests to their waiters.
type replyMux struct {
	mu      sync.Mutex
	prefix  string                    // "<inbox>.": a reply subject is prefix + token; "" until the first request
	sub     *Sub                      // prefix + "*"; nil until the first request
	next    uint64                    // the last token issued
	waiting map[string]chan *nats.Msg // by token; the one who deletes a token's channel sends on or closes it
}

// Pending is one request published by Request whose reply has not been
// awaited yet.
type Pending struct {
	c     *Conn
	token string
	ch    chan *nats.Msg // receives the reply; closed when the connection was given up
}

// Request publishes m as a request, before it returns, with its reply
// subject set to a fresh token of the Conn's reply inbox (m.Reply is
// overwritten), and returns the Pending that awaits the reply. Messages
// published on the Conn before and after it reach the server in that
// order. Every Pending must be awaited with Wait, which releases its token.
func (c *Conn) Request(m *nats.Msg) (*Pending, error) {
	mux := &c.replies
	mux.mu.Lock()
	if mux.sub == nil {
		prefix := c.NC().NewInbox() + "."
		sub, err := c.Subscribe(prefix+"*", mux.deliver)
		if err != nil {
			mux.mu.Unlock()
			return nil, err
		}
		mux.prefix, mux.sub, mux.waiting = prefix, sub, make(map[string]chan *nats.Msg)
	}
	mux.next++
	p := &Pending{c: c, token: strconv.FormatUint(mux.next, 36), ch: make(chan *nats.Msg, 1)}
	mux.waiting[p.token] = p.ch
	m.Reply = mux.prefix + p.token
	mux.mu.Unlock()
	if err := c.NC().PublishMsg(m); err != nil {
		mux.take(p.token)
		return nil, err
	}
	return p, nil
}

// Wait waits for the reply until ctx ends. It returns nats.ErrNoResponders
// when the server reports that nothing subscribes to the request's
// subject, nats.ErrConnectionClosed when nats.go gave the connection up
// meanwhile, and ctx's error when ctx ends first. A reply arriving after
// Wait returned is dropped.
func (p *Pending) Wait(ctx context.Context) (*nats.Msg, error) {
	select {
	case m, ok := <-p.ch:
		switch {
		case !ok:
			return nil, nats.ErrConnectionClosed
		case len(m.Data) == 0 && m.Header.Get(statusHeader) == statusNoResponders:
			return nil, nats.ErrNoResponders
		}
		return m, nil
	case <-ctx.Done():
		if p.c.replies.take(p.token) == nil {
			// Delivered (or aborted) as ctx ended: the reply is here.
			return p.Wait(context.Background())
		}
		return nil, ctx.Err()
	}
}

// take removes a token's channel and returns it, or nil when it was taken
// already.
func (mux *replyMux) take(token string) chan *nats.Msg {
	mux.mu.Lock()
	defer mux.mu.Unlock()
	ch := mux.waiting[token]
	delete(mux.waiting, token)
	return ch
}

// deliver is the reply subscription's handler: it hands a reply to its
// waiter. A second reply to one request, or a reply to a request that is
// no longer awaited, is dropped.
func (mux *replyMux) deliver(m *nats.Msg) {
	mux.mu.Lock()
	token, ok := strings.CutPrefix(m.Subject, mux.prefix)
	ch := mux.waiting[token]
	if ok {
		delete(mux.waiting, token)
	}
	mux.mu.Unlock()
	if ok && ch != nil {
		ch <- m // buffered for this one message
	}
}

// abort fails every request awaited: nats.go gave the connection they were
// published on up, so no reply will come.
func (mux *replyMux) abort() {
	mux.mu.Lock()
	defer mux.mu.Unlock()
	for token, ch := range mux.waiting {
		delete(mux.waiting, token)
		close(ch)
	}
}
