package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// A history client (hclient) is one member of a history room for the chaos
// and soak scenarios: it keeps its membership across lost connections,
// reconnecting (to another node when its own is gone) and rejoining with
// since = the last seq it saw, and records every event it receives by seq,
// so that what it lost and what it got twice can be counted afterwards.
// A publishing client also emits numbered events with an id and records
// the seq of every emit the server acked.

// histEvent is the part of a server frame an hclient reads.
type histEvent struct {
	Type string          `json:"type"`
	ID   uint64          `json:"id"`
	Sid  string          `json:"sid"`
	Seq  uint64          `json:"seq"`
	Code string          `json:"code"`
	Data json.RawMessage `json:"data"`
}

// histPayload is the data of a benchmark event, and of an emit's ack.
type histPayload struct {
	T   int64  `json:"t"`   // send time, unix ns
	P   int    `json:"p"`   // publisher id
	N   int    `json:"n"`   // the publisher's event number
	Seq uint64 `json:"seq"` // in an emit's ack
}

// origin is how a received event came: on which connection (dials-1) and
// whether live (after the join's ack) or replayed before it.
type origin struct {
	conn int
	live bool
}

// join is what a connection's join asked and was told.
type join struct {
	since     uint64 // 0: no since (the first join)
	acked     bool
	recovered bool // the ack's {"recovered"}: false when events may be missing
}

// joinAck is the data of a join's ack.
type joinAck struct {
	Recovered *bool `json:"recovered"`
}

// ackedEvent is an emit the server acked with its seq.
type ackedEvent struct {
	seq uint64
	pub int
}

// Ids of the frames an hclient sends; emits count from emitIDs.
const (
	connectID = 1
	joinID    = 2
	emitIDs   = 3
)

// hclient is one member of a history room.
type hclient struct {
	id    int // publisher id in the events it sends
	ns    string
	room  string
	pick  func(prev int) int // the node to (re)connect to, given the last one (-1 at first)
	urls  []string
	onLat func(time.Duration) // live events' publish-to-delivery latency; may be nil

	mu         sync.Mutex
	ws         *websocket.Conn
	node       int
	sid        string
	joined     bool
	received   []uint64 // seqs, ascending
	origin     []origin // how each of received came, index for index
	joins      []join   // the join of each connection, by dials-1
	dups       int
	disorder   int
	nextID     uint64
	pending    map[uint64]struct{} // ids of emits not acked yet
	acked      []ackedEvent
	sent       int           // emits written
	dials      int           // connections made (1 + reconnects)
	joinedCh   chan struct{} // closed at the first join
	everJoined bool

	wmu sync.Mutex // serialises writes
}

func newHClient(id int, ns, room string, urls []string, pick func(int) int) *hclient {
	return &hclient{id: id, ns: ns, room: room, urls: urls, pick: pick, node: -1, pending: map[uint64]struct{}{}, joinedCh: make(chan struct{})}
}

// run keeps the client connected and joined until ctx ends.
func (c *hclient) run(ctx context.Context) {
	for ctx.Err() == nil {
		c.mu.Lock()
		node := c.pick(c.node)
		c.node = node
		c.mu.Unlock()
		if err := c.session(ctx, c.urls[node]); err != nil && ctx.Err() == nil {
			select {
			case <-ctx.Done():
			case <-time.After(time.Duration(50+rand.IntN(200)) * time.Millisecond):
			}
		}
	}
}

// session is one connection: dial, connect, join (with since after the
// first), then read until it ends.
func (c *hclient) session(ctx context.Context, url string) error {
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, Subprotocols: []string{"routerd.v1"}, WriteBufferPool: writeBuffers}
	ws, _, err := d.DialContext(dctx, url, nil)
	cancel()
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { _ = ws.Close() })
	defer stop()
	defer ws.Close()
	c.mu.Lock()
	c.ws, c.sid, c.dials = ws, "", c.dials+1
	c.joins = append(c.joins, join{})
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.ws, c.joined, c.sid = nil, false, ""
		clear(c.pending) // unacked: may be lost, not counted
		c.mu.Unlock()
	}()
	if err := c.send(ws, fmt.Appendf(nil, `{"type":"connect","ns":%s,"id":%d}`, jsonString(c.ns), connectID)); err != nil {
		return err
	}
	_ = ws.SetReadDeadline(time.Now().Add(setupTimeout)) // until the join's ack, after its replay
	for {
		_, msg, err := ws.ReadMessage()
		if err != nil {
			return err
		}
		for line := range bytes.SplitSeq(msg, newline) {
			if err := c.frame(ws, line); err != nil {
				return err
			}
		}
	}
}

// frame handles one server frame.
func (c *hclient) frame(ws *websocket.Conn, line []byte) error {
	var f histEvent
	if json.Unmarshal(line, &f) != nil {
		return nil
	}
	switch f.Type {
	case "connected":
		c.mu.Lock()
		c.sid = f.Sid
		join := fmt.Appendf(nil, `{"type":"join","ns":%s,"room":%s,"id":%d`, jsonString(c.ns), jsonString(c.room), joinID)
		if n := len(c.received); n > 0 {
			join = fmt.Appendf(join, `,"since":%d`, c.received[n-1])
			c.joins[c.dials-1].since = c.received[n-1]
		}
		c.mu.Unlock()
		return c.send(ws, append(join, '}'))
	case "event":
		c.event(&f)
	case "ack":
		c.mu.Lock()
		defer c.mu.Unlock()
		if f.ID == joinID {
			_ = ws.SetReadDeadline(time.Time{})
			if !c.everJoined {
				c.everJoined = true
				close(c.joinedCh)
			}
			c.joined = true
			var a joinAck
			j := &c.joins[c.dials-1]
			j.acked = true
			j.recovered = json.Unmarshal(f.Data, &a) != nil || a.Recovered == nil || *a.Recovered
			return nil
		}
		if _, ok := c.pending[f.ID]; ok {
			delete(c.pending, f.ID)
			var p histPayload
			if json.Unmarshal(f.Data, &p) == nil && p.Seq > 0 {
				c.acked = append(c.acked, ackedEvent{seq: p.Seq, pub: c.id})
			}
		}
	case "error":
		if f.ID == connectID || f.ID == joinID {
			return fmt.Errorf("attach: %s", f.Code)
		}
		c.mu.Lock()
		delete(c.pending, f.ID)
		c.mu.Unlock()
	}
	return nil
}

// event records a room event.
func (c *hclient) event(f *histEvent) {
	if f.Seq == 0 {
		return
	}
	c.mu.Lock()
	live := c.joined
	o := origin{conn: c.dials - 1, live: live}
	n := len(c.received)
	switch {
	case n == 0 || f.Seq > c.received[n-1]:
		c.received = append(c.received, f.Seq)
		c.origin = append(c.origin, o)
	default:
		if i, found := slices.BinarySearch(c.received, f.Seq); found {
			c.dups++
		} else {
			c.disorder++
			c.received = slices.Insert(c.received, i, f.Seq)
			c.origin = slices.Insert(c.origin, i, o)
		}
	}
	c.mu.Unlock()
	if live && c.onLat != nil {
		var p histPayload
		if json.Unmarshal(f.Data, &p) == nil && p.T > 0 {
			c.onLat(time.Duration(time.Now().UnixNano() - p.T))
		}
	}
}

// send writes one frame.
func (c *hclient) send(ws *websocket.Conn, frame []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = ws.SetWriteDeadline(time.Now().Add(writeTimeout))
	return ws.WriteMessage(websocket.TextMessage, frame)
}

// emit publishes event number n to the room with an id, when joined; it
// reports whether it was written.
func (c *hclient) emit(n int) bool {
	c.mu.Lock()
	ws := c.ws
	if ws == nil || !c.joined {
		c.mu.Unlock()
		return false
	}
	id := c.nextID + emitIDs
	c.nextID++
	c.pending[id] = struct{}{}
	c.sent++
	c.mu.Unlock()
	data, _ := json.Marshal(histPayload{T: time.Now().UnixNano(), P: c.id, N: n})
	frame := fmt.Appendf(nil, `{"type":"emit","ns":%s,"room":%s,"event":"bench","data":%s,"id":%d}`, jsonString(c.ns), jsonString(c.room), data, id)
	return c.send(ws, frame) == nil
}

// publishSteady starts a goroutine in wg per publisher, each emitting its
// numbered events every interval until ctx ends; the publishers together
// give a room rate deliveries per second to its other members (perRoom -
// 1 of them). With spread, their first ticks spread over one interval;
// otherwise all tick together.
func publishSteady(ctx context.Context, wg *sync.WaitGroup, pubs []*hclient, rate, perRoom int, spread bool) {
	msgRate := float64(rate) / float64(perRoom-1)
	interval := time.Duration(float64(time.Second) * float64(len(pubs)) / msgRate)
	for k, p := range pubs {
		wg.Go(func() {
			if spread {
				select {
				case <-ctx.Done():
					return
				case <-time.After(interval * time.Duration(k) / time.Duration(len(pubs))):
				}
			}
			t := time.NewTicker(interval)
			defer t.Stop()
			for n := 1; ; n++ {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					p.emit(n)
				}
			}
		})
	}
}

// drop closes the current connection (the client reconnects by itself).
func (c *hclient) drop() {
	c.mu.Lock()
	ws := c.ws
	c.mu.Unlock()
	if ws != nil {
		_ = ws.Close()
	}
}

// state is the client's sid when it is joined, else "".
func (c *hclient) state() (node int, sid string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.joined {
		return c.node, ""
	}
	return c.node, c.sid
}

// histCheck is what the members of history rooms lost and got twice.
type histCheck struct {
	Members      int        `json:"members"`
	Acked        int        `json:"acked"`    // emits acked with a seq
	Unacked      int        `json:"unacked"`  // emits written without an ack (their connection ended first)
	Expected     int64      `json:"expected"` // deliveries of acked events due to members
	Received     int64      `json:"received"`
	Lost         int64      `json:"lost"`
	LostBy       lossCauses `json:"lost_by"`
	Duplicated   int64      `json:"duplicated"`
	OutOfOrder   int64      `json:"out_of_order"`
	Reconnects   int        `json:"reconnects"`
	UnjoinedEnds int        `json:"unjoined_at_end"` // members not joined when the run ended (set by the scenario)
}

func (h *histCheck) rows(row rowFunc) {
	row("history emits", "acked %d, written but not acked %d (not counted)", h.Acked, h.Unacked)
	row("history deliveries", "expected %d, received %d, lost %d, duplicated %d, out of order %d", h.Expected, h.Received, h.Lost, h.Duplicated, h.OutOfOrder)
	if h.Lost > 0 {
		l := h.LostBy
		row("lost, by where", "while joined %d, not recovered %d, in a recovered rejoin %d, at the end %d", l.Live, l.NotRecovered, l.Replay, l.End)
	}
	row("members", "%d, reconnects %d, not joined at the end %d", h.Members, h.Reconnects, h.UnjoinedEnds)
}

// drainHistory waits until every member is joined and caught up with its
// room (60 s at most, then a second for stragglers), notes who is not
// joined, stops the clients (stop, then wg) and checks their history.
func drainHistory(clients []*hclient, stop func(), wg *sync.WaitGroup) *histCheck {
	drain := time.Now()
	for time.Since(drain) < 60*time.Second && !caughtUp(clients) {
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(time.Second)
	unjoined := 0
	for _, cl := range clients {
		if _, sid := cl.state(); sid == "" {
			unjoined++
		}
	}
	stop()
	wg.Wait()
	h := checkHistory(clients)
	h.UnjoinedEnds = unjoined
	return h
}

// checkHistory counts, for every client, the acked events of its room it
// should have received (those after the first event it received, not its
// own) against what it did receive. Clients must have stopped.
func checkHistory(clients []*hclient) *histCheck {
	h := &histCheck{Members: len(clients)}
	acked := map[string][]ackedEvent{}
	for _, c := range clients {
		acked[c.room] = append(acked[c.room], c.acked...)
		h.Acked += len(c.acked)
		h.Unacked += c.sent - len(c.acked)
	}
	for _, evs := range acked {
		slices.SortFunc(evs, func(a, b ackedEvent) int { return cmp.Compare(a.seq, b.seq) })
	}
	for _, c := range clients {
		h.Reconnects += max(c.dials-1, 0)
		h.Duplicated += int64(c.dups)
		h.OutOfOrder += int64(c.disorder)
		if len(c.received) == 0 {
			continue
		}
		first := c.received[0]
		for _, e := range acked[c.room] {
			if e.seq <= first || e.pub == c.id {
				continue
			}
			h.Expected++
			if i, ok := slices.BinarySearch(c.received, e.seq); ok {
				h.Received++
			} else {
				h.Lost++
				h.LostBy.count(c, i)
			}
		}
	}
	return h
}

// lossCauses sorts lost deliveries by where the member lost them.
type lossCauses struct {
	// Live: between two events received on one connection after its join:
	// the node did not deliver it to a joined member (a NATS slow consumer,
	// a dropped republish).
	Live int64 `json:"live"`
	// NotRecovered: across a reconnect whose rejoin was answered
	// recovered: false (retention dropped events after since).
	NotRecovered int64 `json:"not_recovered"`
	// Replay: across a reconnect whose rejoin said recovered: true, or
	// during its replay: a replay that left something out.
	Replay int64 `json:"replay"`
	// End: after the last event the member received.
	End int64 `json:"end"`
}

// count sorts one lost delivery: c did not receive the event that belongs
// at index i of c.received (i > 0: it is after c's first event).
func (l *lossCauses) count(c *hclient, i int) {
	if i >= len(c.received) {
		l.End++
		return
	}
	prev, next := c.origin[i-1], c.origin[i]
	switch {
	case prev.conn == next.conn && prev.live && next.live:
		l.Live++
	case next.conn < len(c.joins) && c.joins[next.conn].acked && !c.joins[next.conn].recovered:
		l.NotRecovered++
	default:
		l.Replay++
	}
}

// caughtUp reports whether every client is joined and has received the
// newest acked event of its room (not its own).
func caughtUp(clients []*hclient) bool {
	newest := map[string]uint64{}
	for _, c := range clients {
		c.mu.Lock()
		for _, e := range c.acked {
			newest[c.room] = max(newest[c.room], e.seq)
		}
		c.mu.Unlock()
	}
	for _, c := range clients {
		c.mu.Lock()
		ok := c.joined && (len(c.received) > 0 && c.received[len(c.received)-1] >= newest[c.room] || c.ownNewest(newest[c.room]))
		c.mu.Unlock()
		if !ok {
			return false
		}
	}
	return true
}

// ownNewest reports whether seq is the client's own event (it is not
// delivered to its publisher). c.mu is held.
func (c *hclient) ownNewest(seq uint64) bool {
	for _, e := range c.acked {
		if e.seq == seq {
			return true
		}
	}
	return false
}
