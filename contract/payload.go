package contract

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

var jsonNull = json.RawMessage("null")

// Payload turns a NATS payload into event data, as routerd does with what
// backends publish and reply: valid JSON is kept (compacted, so that frames
// hold no raw newline), an empty payload is null, anything else
// (whitespace alone too) becomes a JSON string. JSON text must be UTF-8
// (RFC 8259), and frames go out as WebSocket text, so a payload that is not
// valid UTF-8 is not JSON: it becomes a string with U+FFFD for the bad
// bytes.
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
