package router

import "encoding/json"

// Event is one event on its way to local sockets. It is built once per NATS
// message and shared, read-only, by every recipient.
type Event struct {
	NS   string
	Room string // set for room broadcasts (and $join/$leave)
	Name string
	From string // sender sid; empty when a backend sent it
	Seq  uint64 // room sequence where history is on; 0 otherwise
	Ack  uint64 // the ack id a backend's request asks of the one socket this copy is for; 0 when none (see clientacks.go)
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
