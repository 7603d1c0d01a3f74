package main

import (
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/contract"
)

// line is one chat line as context for the model.
type line struct {
	SID  string `json:"sid,omitempty"` // the client's socket; "" for a backend's line
	Name string `json:"name"`
	Text string `json:"text"`
	Bot  bool   `json:"bot,omitempty"` // the assistant's own words
}

// turn is the line as the model reads it: the assistant's own lines as its
// turns, everybody else's as "name: text".
func (l line) turn() turn {
	if l.Bot {
		return turn{role: roleAssistant, text: l.Text}
	}
	return turn{role: roleUser, text: l.Name + ": " + l.Text}
}

// parseLine reads a chat line as routerd delivers or stores it: data
// {"name","text"}, Router-Sid set on a client's line. A line without text
// is no context.
func parseLine(h nats.Header, data []byte, botName string) (line, bool) {
	var cl chatLine
	if err := json.Unmarshal(data, &cl); err != nil || strings.TrimSpace(cl.Text) == "" {
		return line{}, false
	}
	l := line{SID: h.Get(contract.HeaderSid), Name: cl.Name, Text: cl.Text}
	l.Bot = l.SID == "" && cl.Name == botName
	if l.Name == "" {
		l.Name = "someone"
		if l.SID != "" {
			l.Name = "sid:" + shortSID(l.SID)
		}
	}
	return l, true
}

// before returns the lines that precede the question q: lines up to its
// last occurrence when it is there (it may have been stored or seen before
// the question was handled, with later lines behind it), else all of them;
// at most n, the newest.
func before(lines []line, q line, n int) []line {
	for i := len(lines) - 1; i >= 0; i-- {
		if l := lines[i]; !l.Bot && l.SID == q.SID && l.Text == q.Text {
			lines = lines[:i]
			break
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines
}

// maxTranscripts bounds the rooms and direct conversations a transcripts
// keeps; past it the least recently used goes.
const maxTranscripts = 1000

// transcripts keeps the last lines the bot saw of every room ("room:x",
// the context where the namespace keeps no history) and of every direct
// conversation ("dm:sid"). Bounded: size lines per key, maxTranscripts keys.
type transcripts struct {
	size  int
	mu    sync.Mutex
	rings map[string]*ring // guarded by mu
}

type ring struct {
	lines []line
	used  time.Time
}

// newTranscripts returns empty transcripts of size lines each.
func newTranscripts(size int) *transcripts {
	return &transcripts{size: size, rings: map[string]*ring{}}
}

// add appends a line to key's transcript.
func (t *transcripts) add(key string, l line, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r, ok := t.rings[key]
	if !ok {
		if len(t.rings) >= maxTranscripts {
			t.evict()
		}
		r = &ring{}
		t.rings[key] = r
	}
	r.used = now
	r.lines = append(r.lines, l)
	if len(r.lines) > 2*t.size { // trim now and then, not at every line
		r.lines = append([]line(nil), r.lines[len(r.lines)-t.size:]...)
	}
}

// recent returns a copy of key's last lines, oldest first.
func (t *transcripts) recent(key string) []line {
	t.mu.Lock()
	defer t.mu.Unlock()
	r, ok := t.rings[key]
	if !ok {
		return nil
	}
	lines := r.lines
	if len(lines) > t.size {
		lines = lines[len(lines)-t.size:]
	}
	return append([]line(nil), lines...)
}

// drop forgets key's transcript.
func (t *transcripts) drop(key string) {
	t.mu.Lock()
	delete(t.rings, key)
	t.mu.Unlock()
}

// evict drops the least recently used transcript; mu is held.
func (t *transcripts) evict() {
	var oldest string
	var at time.Time
	for k, r := range t.rings {
		if oldest == "" || r.used.Before(at) {
			oldest, at = k, r.used
		}
	}
	delete(t.rings, oldest)
}
