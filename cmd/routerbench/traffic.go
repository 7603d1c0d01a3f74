package main

import (
	"context"
	"flag"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// trafficSpec is a run of the fanout and rooms scenarios: rooms rooms of
// perRoom members each; in every room the first publishers members each
// send messages messages. Publishers are members (as in a chat room, and as
// routerd's default client_publish: members requires); without self a
// message is delivered to the perRoom-1 other members, with self to all.
type trafficSpec struct {
	rooms, perRoom, publishers, messages int
	rate                                 float64 // messages/s across all publishers; 0 is unpaced
	size                                 int     // bytes of each message's data
	self                                 bool
	wait                                 time.Duration // for missing deliveries after the last send
}

// trafficFigures are the results of a fanout or rooms run.
type trafficFigures struct {
	Sent             int64   `json:"sent"`                 // messages published
	SendError        string  `json:"send_error,omitempty"` // why a publisher stopped early
	Expected         int64   `json:"expected"`             // deliveries due: sent × receivers per message
	Received         int64   `json:"received"`             // benchmark events that arrived
	Lost             int64   `json:"lost"`                 // expected − received, when positive
	OutOfOrder       int64   `json:"out_of_order"`         // deliveries not newer than the previous one from the same publisher (duplicates too)
	TimedOut         bool    `json:"timed_out"`
	SendSeconds      float64 `json:"send_seconds"`          // first send to last send
	Seconds          float64 `json:"seconds"`               // first send to last delivery
	SentPerSecond    float64 `json:"sent_per_second"`       // sent / send_seconds
	DeliveriesPerSec float64 `json:"deliveries_per_second"` // received / seconds
	Latency          latency `json:"latency"`               // publish to delivery
}

func (t *trafficFigures) rows(row rowFunc) {
	row("messages sent", "%d in %.2fs (%.0f/s)", t.Sent, t.SendSeconds, t.SentPerSecond)
	if t.SendError != "" {
		row("send error", "%s", t.SendError)
	}
	timedOut := ""
	if t.TimedOut {
		timedOut = " (timed out)"
	}
	row("deliveries", "%d of %d expected, %d lost%s, %d out of order", t.Received, t.Expected, t.Lost, timedOut, t.OutOfOrder)
	row("deliveries/s", "%.0f (over %.2fs, first send to last delivery)", t.DeliveriesPerSec, t.Seconds)
	t.Latency.rows(row, "latency")
}

func fanoutFlags(fs *flag.FlagSet) runFunc {
	s := trafficSpec{rooms: 1}
	fs.IntVar(&s.perRoom, "members", 1000, "connections in the room, publishers included")
	fs.IntVar(&s.publishers, "publishers", 10, "members that publish")
	trafficFlags(fs, &s, 1000)
	return func(ctx context.Context, o *options) (*report, error) { return runTraffic(ctx, o, s) }
}

func roomsFlags(fs *flag.FlagSet) runFunc {
	s := trafficSpec{}
	fs.IntVar(&s.rooms, "rooms", 100, "rooms")
	fs.IntVar(&s.perRoom, "per-room", 10, "connections per room, publishers included")
	fs.IntVar(&s.publishers, "publishers", 1, "members of each room that publish")
	trafficFlags(fs, &s, 1000)
	return func(ctx context.Context, o *options) (*report, error) { return runTraffic(ctx, o, s) }
}

func trafficFlags(fs *flag.FlagSet, s *trafficSpec, messages int) {
	fs.IntVar(&s.messages, "messages", messages, "messages each publisher sends")
	fs.Float64Var(&s.rate, "rate", 0, "messages per second across all publishers; 0 sends as fast as the server takes them")
	fs.IntVar(&s.size, "size", 64, fmt.Sprintf("bytes of each message's data, a JSON object with the send time and a sequence number (at least %d)", minPayload))
	fs.BoolVar(&s.self, "self", false, "publishers receive their own messages too (v1 emit self; Socket.IO io.to(room))")
	fs.DurationVar(&s.wait, "timeout", 30*time.Second, "how long to wait for missing deliveries after the last send")
}

// runTraffic sets up the rooms, has every publisher send its messages and
// waits until every delivery is in or s.wait passed after the last send.
func runTraffic(ctx context.Context, o *options, s trafficSpec) (*report, error) {
	if err := positive(map[string]int{"rooms": s.rooms, "members/per-room": s.perRoom, "publishers": s.publishers, "messages": s.messages}); err != nil {
		return nil, err
	}
	if s.publishers > s.perRoom {
		return nil, fmt.Errorf("-publishers %d: more than the %d members of a room", s.publishers, s.perRoom)
	}
	if s.rate < 0 {
		return nil, fmt.Errorf("-rate must not be negative")
	}
	receivers := s.perRoom - 1
	if s.self {
		receivers = s.perRoom
	}
	pubs := s.rooms * s.publishers
	expected := int64(pubs) * int64(s.messages) * int64(receivers)
	t := newTally(expected)
	if expected == 0 {
		close(t.all)
	}

	rep := &report{}
	setup := time.Now()
	url := func(i int) string { // the first publishers of each room publish
		if i%s.perRoom < s.publishers {
			return o.publishURL
		}
		return o.url
	}
	conns, _, err := dialAll(ctx, o, s.rooms*s.perRoom, url, func(i int) string { return o.roomName(i / s.perRoom) }, t)
	if err != nil {
		return nil, err
	}
	rep.SetupSeconds = time.Since(setup).Seconds()
	o.logf("%d connections in %d rooms ready in %.2fs; %d publishers sending %d messages each", len(conns), s.rooms, rep.SetupSeconds, pubs, s.messages)

	ms, err := startMeasurement(ctx, o, false)
	if err != nil {
		closeAll(conns)
		return nil, err
	}
	t0 := time.Now()
	sent, sendErr := s.publish(ctx, o, conns, t0)
	lastSend := time.Now()
	f := &trafficFigures{Sent: sent, Expected: sent * int64(receivers)}
	if sendErr != nil {
		f.SendError = sendErr.Error()
		o.logf("%v", sendErr)
	}
	select {
	case <-t.all:
	case <-time.After(s.wait):
		f.TimedOut = true
	case <-ctx.Done():
	}
	err = ms.stop(ctx, rep)
	closeAll(conns)
	if err != nil {
		return nil, err
	}

	var h histogram
	var last time.Time
	for _, c := range conns {
		f.Received += c.events
		f.OutOfOrder += c.disordered
		h.merge(&c.hist)
		if c.last.After(last) {
			last = c.last
		}
	}
	rep.collect(conns)
	f.Lost = max(f.Expected-f.Received, 0)
	f.SendSeconds = lastSend.Sub(t0).Seconds()
	f.SentPerSecond = float64(f.Sent) / f.SendSeconds
	if f.Received > 0 {
		f.Seconds = last.Sub(t0).Seconds()
		f.DeliveriesPerSec = float64(f.Received) / f.Seconds
	}
	f.Latency = h.summary()
	rep.Traffic = f
	return rep, nil
}

// publish has every publisher send its messages, starting at t0, and
// returns how many were sent and the first error a publisher met.
func (s trafficSpec) publish(ctx context.Context, o *options, conns []*conn, t0 time.Time) (int64, error) {
	pubs := s.rooms * s.publishers
	var every time.Duration // between two messages of one publisher
	if s.rate > 0 {
		every = time.Duration(float64(pubs) / s.rate * float64(time.Second))
	}
	var (
		sent    atomic.Int64
		wg      sync.WaitGroup
		errOnce sync.Once
		sendErr error
	)
	for r := range s.rooms {
		for j := range s.publishers {
			n := r*s.publishers + j // publishers start evenly spread over one interval
			p := &publisher{c: conns[r*s.perRoom+j], id: uint32(n), every: every, first: t0.Add(every * time.Duration(n) / time.Duration(pubs))}
			p.prefix, p.suffix = o.proto.emitFrame(o.ns, o.roomName(r), s.self)
			wg.Go(func() {
				k, err := p.run(ctx, s.messages, s.size)
				sent.Add(int64(k))
				if err != nil {
					errOnce.Do(func() { sendErr = fmt.Errorf("publisher %d: %w", n+1, err) })
				}
			})
		}
	}
	wg.Wait()
	return sent.Load(), sendErr
}

// publisher sends one member's messages.
type publisher struct {
	c              *conn
	id             uint32        // publisher number, in the payload
	prefix, suffix []byte        // the emit message around its data
	first          time.Time     // when the first message is due (paced)
	every          time.Duration // between two messages; 0 sends unpaced
}

// run sends n messages and returns how many it sent. Unpaced, a message is
// stamped when it is written. Paced, it is stamped with the time it was due
// and written then, or at once when the publisher is late: a server that
// holds a publisher up shows in the latency instead of slowing the
// schedule down (no coordinated omission).
func (p *publisher) run(ctx context.Context, n, size int) (int, error) {
	buf := make([]byte, 0, len(p.prefix)+len(p.suffix)+max(size, minPayload))
	for k := range n {
		if ctx.Err() != nil {
			return k, ctx.Err()
		}
		sent := time.Now()
		if p.every > 0 {
			sent = p.first.Add(time.Duration(k) * p.every)
			if d := time.Until(sent); d > 0 {
				time.Sleep(d)
			}
		}
		buf = append(buf[:0], p.prefix...)
		buf = appendPayload(buf, stamp{sent: sent.UnixNano(), pub: p.id, seq: uint32(k + 1)}, size)
		buf = append(buf, p.suffix...)
		if err := p.c.write(buf); err != nil {
			return k, err
		}
	}
	return n, nil
}
