package router

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// Event is one event on its way to local sockets. It is built once per NATS
// message and shared, read-only, by every recipient.
type Event struct {
	NS   string
	Room string // set for room broadcasts (and $join/$leave)
	Name string
	From string // sender sid; empty when a backend sent it
	Seq  uint64 // room sequence where history is on; 0 otherwise
	Data json.RawMessage
}

// Codec encodes events into the frames of one transport. A transport uses
// one Codec value for all its connections, so that a message fanned out to
// many sockets is encoded once per transport, not once per recipient.
type Codec interface {
	EncodeEvent(e *Event) []byte
}

// frameCache keeps the encodings of one event during one fan-out.
type frameCache struct {
	ev    *Event
	codec [2]Codec
	frame [2][]byte
	n     int
}

// get returns the event encoded by codec, encoding it at most once per codec
// (two codecs are cached; a rare third is encoded each time).
func (fc *frameCache) get(c Codec) []byte {
	for i := 0; i < fc.n; i++ {
		if fc.codec[i] == c {
			return fc.frame[i]
		}
	}
	f := c.EncodeEvent(fc.ev)
	if fc.n < len(fc.codec) {
		fc.codec[fc.n], fc.frame[fc.n] = c, f
		fc.n++
	}
	return f
}

var jsonNull = json.RawMessage("null")

// Payload turns a NATS payload into event data (SPEC §3): valid JSON is kept
// (compacted, so that frames hold no raw newline), an empty payload is null,
// anything else (whitespace alone too) becomes a JSON string. JSON text must be UTF-8 (RFC 8259),
// and frames go out as WebSocket text, so a payload that is not valid UTF-8
// is not JSON: it becomes a string with U+FFFD for the bad bytes.
func Payload(p []byte) json.RawMessage {
	if len(p) == 0 {
		return jsonNull
	}
	if utf8.Valid(p) {
		if !bytes.ContainsAny(p, " \t\r\n") {
			if json.Valid(p) {
				return p
			}
		} else {
			var b bytes.Buffer
			if json.Compact(&b, p) == nil {
				return b.Bytes()
			}
		}
	}
	s, _ := json.Marshal(string(p))
	return s
}
