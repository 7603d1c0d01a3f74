package relay

import "encoding/binary"

// Message is one WebSocket data message.
type Message struct {
	Binary bool // a binary message; else text
	Data   []byte
}

// A batch is several WebSocket messages in one byte slice, as the owner of
// a tunnel sends them to the edge in one exchange: batchMark, then each
// message as a kind byte (kindText or kindBinary), its length as a uvarint
// and its bytes. A transport may keep messages that must go together (a
// packet and its binary attachments) as a batch too.
const (
	batchMark  byte = 0
	kindText   byte = 't'
	kindBinary byte = 'b'
)

// AppendBatch appends m to batch; an empty batch starts a new one.
func AppendBatch(batch []byte, m Message) []byte {
	if len(batch) == 0 {
		batch = append(batch, batchMark)
	}
	kind := kindText
	if m.Binary {
		kind = kindBinary
	}
	batch = append(batch, kind)
	batch = binary.AppendUvarint(batch, uint64(len(m.Data)))
	return append(batch, m.Data...)
}

// EachMessage calls f for every message of b, in order, and stops at f's
// first error. b is a batch (AppendBatch) or, when it does not start like
// one, a single text message; an empty b holds none. The Data f gets
// shares b's memory.
func EachMessage(b []byte, f func(Message) error) error {
	if len(b) == 0 {
		return nil
	}
	if b[0] != batchMark {
		return f(Message{Data: b})
	}
	rest := b[1:]
	for len(rest) > 0 {
		kind := rest[0]
		n, w := binary.Uvarint(rest[1:])
		start := 1 + w
		end := start + int(n)
		if w <= 0 || end > len(rest) || end < start {
			return nil // a batch cut short: the rest is lost
		}
		if err := f(Message{Binary: kind == kindBinary, Data: rest[start:end]}); err != nil {
			return err
		}
		rest = rest[end:]
	}
	return nil
}
