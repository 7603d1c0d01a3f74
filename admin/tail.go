package admin

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"golang.org/x/time/rate"

	"github.com/routerd/routerd/contract"
	"github.com/routerd/routerd/internal/bus"
)

// Bounds of a room's live tail: it shows a sample of the room's events,
// at most tailRate a second, each cut to tailData bytes, and keeps at most
// tailBuffer of them for a console that reads slowly; the others are
// counted as skipped.
const (
	tailRate   = 10
	tailBuffer = 64
	tailData   = 1024
)

// maxCountedRooms bounds the rooms whose events a console's node counts
// between two snapshots: the events of rooms past it are not counted.
const maxCountedRooms = 10000

// tailEvent is an event of a room's live tail.
type tailEvent struct {
	Time    time.Time `json:"time"`
	Event   string    `json:"event"`
	From    string    `json:"from,omitempty"` // the sending socket (Router-Sid), if any
	Data    string    `json:"data"`           // the payload as text, cut to tailData bytes
	Cut     bool      `json:"cut,omitempty"`
	Skipped int64     `json:"skipped,omitempty"` // events left out since the previous one shown
}

// tail follows the events published to one room, for one console stream.
type tail struct {
	sub     *bus.Sub
	events  chan tailEvent
	lim     *rate.Limiter
	skipped atomic.Int64
}

// startTail subscribes to the events of room in namespace ns (P.{ns}.room.{room}.*,
// on routerd's own connection, which observes every tenant's rooms).
func (c *Console) startTail(ns, room string) (*tail, error) {
	t := &tail{events: make(chan tailEvent, tailBuffer), lim: rate.NewLimiter(tailRate, tailRate)}
	subject := c.subj.Prefix() + "." + ns + "." + contract.KindRoom + "." + contract.Escape(room) + ".*"
	sub, err := c.bus.Main().Subscribe(subject, t.handle)
	if err != nil {
		return nil, err
	}
	t.sub = sub
	return t, nil
}

// handle samples one event of the room.
func (t *tail) handle(m *nats.Msg) {
	if !t.lim.Allow() {
		t.skipped.Add(1)
		return
	}
	event := m.Header.Get(contract.HeaderEvent)
	if event == "" {
		tok := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
		if e, err := contract.Unescape(tok); err == nil {
			event = e
		} else {
			event = tok
		}
	}
	e := tailEvent{Time: time.Now().UTC(), Event: event, From: m.Header.Get(contract.HeaderSid), Skipped: t.skipped.Swap(0)}
	data := m.Data
	if len(data) > tailData {
		data, e.Cut = data[:tailData], true
		for len(data) > 0 && !utf8.Valid(data) { // not in the middle of a character
			data = data[:len(data)-1]
		}
	}
	e.Data = strings.ToValidUTF8(string(data), "\uFFFD")
	select {
	case t.events <- e:
	default:
		t.skipped.Add(1 + e.Skipped)
	}
}

// stop ends the tail.
func (t *tail) stop() { _ = t.sub.Unsubscribe() }

// roomCounter counts the events published to every room of every
// namespace (P.*.room.*.*) while a console is live, for the rooms' rates.
type roomCounter struct {
	sub *bus.Sub

	mu     sync.Mutex
	counts map[string]map[string]int // by namespace, then escaped room; guarded by mu
	rooms  int                       // the rooms in counts; guarded by mu
}

// startRoomCounter subscribes to every room's events.
func (c *Console) startRoomCounter() (*roomCounter, error) {
	rc := &roomCounter{counts: map[string]map[string]int{}}
	prefix := c.subj.Prefix() + "."
	sub, err := c.bus.Main().Subscribe(prefix+"*."+contract.KindRoom+".*.*", func(m *nats.Msg) {
		rest := strings.TrimPrefix(m.Subject, prefix)
		parts := strings.Split(rest, ".")
		if len(parts) != 4 {
			return
		}
		rc.mu.Lock()
		defer rc.mu.Unlock()
		byRoom := rc.counts[parts[0]]
		if byRoom == nil {
			byRoom = map[string]int{}
			rc.counts[parts[0]] = byRoom
		}
		if _, ok := byRoom[parts[2]]; !ok {
			if rc.rooms >= maxCountedRooms {
				return
			}
			rc.rooms++
		}
		byRoom[parts[2]]++
	})
	if err != nil {
		return nil, err
	}
	rc.sub = sub
	return rc, nil
}

// take returns the rooms' events per second over the dt since the last
// take, by namespace and room name, and starts counting again.
func (rc *roomCounter) take(dt time.Duration) map[string]map[string]float64 {
	rc.mu.Lock()
	counts := rc.counts
	rc.counts, rc.rooms = map[string]map[string]int{}, 0
	rc.mu.Unlock()
	out := make(map[string]map[string]float64, len(counts))
	if dt <= 0 {
		return out
	}
	for ns, byRoom := range counts {
		m := make(map[string]float64, len(byRoom))
		for tok, n := range byRoom {
			room, err := contract.Unescape(tok)
			if err != nil {
				continue
			}
			m[room] = float64(n) / dt.Seconds()
		}
		out[ns] = m
	}
	return out
}

// stop ends the counting.
func (rc *roomCounter) stop() { _ = rc.sub.Unsubscribe() }
