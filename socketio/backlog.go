package socketio

import (
	"bytes"
	"errors"

	"github.com/routerd/routerd/internal/relay"
)

// backlog is what a recovering socket keeps for a resume: the EVENT
// packets (units) delivered to it that the client has not confirmed, in
// the order they were sent, each with its offset, within the bounds of
// socketio.recovery. A live socket's client confirms what it got with
// each pong (its pong answers a ping queued after them); a parked
// socket's packets wait for the client to come back.
//
// Entries are numbered from 0 in the order they are added; entries[0] is
// number first. head is the offset of the last entry removed (confirmed,
// or dropped past the bounds), nil before any: a client whose last offset
// is head got every entry before the kept ones, and one whose last offset
// is neither head nor a kept entry's cannot be resumed. Offsets are kept
// as the bytes of their units (no copy: one delivery's unit is shared by
// all its sockets).
type backlog struct {
	entries  []keptPacket
	first    uint64 // the number of entries[0]
	bytes    int    // the units' bytes
	head     []byte
	maxCount int
	maxBytes int
}

// keptPacket is one packet of a backlog.
type keptPacket struct {
	offset []byte // within unit, or a copy
	unit   []byte
}

func newBacklog(maxCount, maxBytes int) *backlog {
	return &backlog{maxCount: maxCount, maxBytes: maxBytes}
}

// next is the number the next entry gets.
func (b *backlog) next() uint64 { return b.first + uint64(len(b.entries)) }

// add keeps a packet, dropping the oldest while the bounds are passed (a
// unit over max_buffer_bytes on its own is dropped too).
func (b *backlog) add(offset, unit []byte) {
	b.entries = append(b.entries, keptPacket{offset: offset, unit: unit})
	b.bytes += len(unit)
	for len(b.entries) > 0 && (len(b.entries) > b.maxCount || b.bytes > b.maxBytes) {
		b.drop()
	}
}

// drop removes the oldest entry.
func (b *backlog) drop() {
	e := b.entries[0]
	b.entries[0] = keptPacket{}
	b.entries = b.entries[1:]
	b.first++
	b.bytes -= len(e.unit)
	b.head = e.offset
	if len(b.entries) == 0 {
		b.entries = nil // let the backing array go
	}
}

// trim removes the entries numbered below upTo: the client has them.
func (b *backlog) trim(upTo uint64) {
	for b.first < upTo && len(b.entries) > 0 {
		b.drop()
	}
}

// after returns the number of the first entry a client whose last packet
// had offset should get again, and whether it can be resumed at all.
func (b *backlog) after(offset string) (uint64, bool) {
	if offset == "" {
		return 0, false
	}
	for i := len(b.entries) - 1; i >= 0; i-- {
		if string(b.entries[i].offset) == offset {
			return b.first + uint64(i) + 1, true
		}
	}
	return b.first, b.head != nil && string(b.head) == offset
}

// packets returns the entries from number i on, oldest first, as a
// resume hands them to another node.
func (b *backlog) packets(i uint64) []relay.Packet {
	var out []relay.Packet
	for _, e := range b.from(i, len(b.entries)) {
		out = append(out, relay.Packet{Offset: string(e.offset), Unit: e.unit})
	}
	return out
}

// from returns up to n entries from number i on (i at least first), oldest
// first.
func (b *backlog) from(i uint64, n int) []keptPacket {
	start := int(i - b.first)
	if start >= len(b.entries) {
		return nil
	}
	return b.entries[start:min(len(b.entries), start+n)]
}

// unitOffset returns the offset of an EVENT unit (EncodeEvent's), within
// it: its last argument, a string of [A-Za-z0-9_-]; nil when it has none
// (an event asking for an ack, or a namespace without recovery). For a
// binary unit it is in its first message, the packet's text. It allocates
// nothing: it runs for every delivery to a recovering socket.
func unitOffset(unit []byte) []byte {
	text := unit
	if len(unit) > 0 && unit[0] != eioMessage {
		text = nil
		_ = relay.EachMessage(unit, func(m relay.Message) error {
			text = m.Data
			return errFirst
		})
	}
	// 4 2|5 [attachments-] [/nsp,] [ack id] [...]
	if len(text) < 3 || text[0] != eioMessage || (text[1] != '0'+sioEvent && text[1] != '0'+sioBinaryEvent) {
		return nil
	}
	i := 2
	if text[1] == '0'+sioBinaryEvent {
		dash := bytes.IndexByte(text[i:], '-')
		if dash < 0 {
			return nil
		}
		i += dash + 1
	}
	if i < len(text) && text[i] == '/' {
		comma := bytes.IndexByte(text[i:], ',')
		if comma < 0 {
			return nil
		}
		i += comma + 1
	}
	data := text[i:] // an ack id first: not a '['
	if len(data) < 4 || data[0] != '[' || data[len(data)-1] != ']' || data[len(data)-2] != '"' {
		return nil
	}
	body := data[:len(data)-2]
	q := bytes.LastIndexByte(body, '"')
	if q < 1 || body[q-1] != ',' || !validToken(body[q+1:]) {
		return nil
	}
	return body[q+1:]
}

// errFirst stops relay.EachMessage after the first message.
var errFirst = errors.New("first message only")

// validToken reports whether b can be a pid or an offset this server
// made: 1 to 64 bytes of [A-Za-z0-9_-].
func validToken[T ~string | ~[]byte](b T) bool {
	if len(b) == 0 || len(b) > 64 {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
