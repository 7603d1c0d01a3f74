package bridge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/routerd/routerd/contract"
	"github.com/routerd/routerd/router"
)

// clientFrame is one decoded client frame (docs/protocol.md). Pointer fields are nil
// when absent.
type clientFrame struct {
	Type   string          `json:"type"`
	ID     json.RawMessage `json:"id"`
	NS     *string         `json:"ns"`
	Room   *string         `json:"room"`
	Event  *string         `json:"event"`
	Data   json.RawMessage `json:"data"`
	To     *string         `json:"to"`
	Self   *bool           `json:"self"`
	Since  *uint64         `json:"since"`
	Auth   json.RawMessage `json:"auth"`
	Limit  *int            `json:"limit"`
	Before *uint64         `json:"before"`
	Ack    *uint64         `json:"ack"`

	id uint64 // the parsed id; 0 when absent
}

// decodeFrame decodes one client frame. On error the returned frame still
// carries the id when it could be read, so the error frame can answer it.
func decodeFrame(b []byte) (*clientFrame, *router.Error) {
	b = bytes.TrimSpace(b)
	f := &clientFrame{}
	if len(b) == 0 || b[0] != '{' {
		if len(b) > 0 && json.Valid(b) {
			return f, router.Errorf(contract.CodeBadFrame, "a frame must be a JSON object")
		}
		return f, router.Errorf(contract.CodeBadFrame, "not JSON")
	}
	if !utf8.Valid(b) {
		// JSON text is UTF-8, and frames go out as WebSocket text: invalid
		// bytes forwarded in data would make browsers drop the connection.
		return f, router.Errorf(contract.CodeBadFrame, "not valid UTF-8")
	}
	err := json.Unmarshal(b, f)
	var syn *json.SyntaxError
	if errors.As(err, &syn) || (err != nil && !isTypeError(err)) {
		return f, router.Errorf(contract.CodeBadFrame, "not JSON: %v", err)
	}
	if f.ID != nil && string(f.ID) != "null" {
		id, ok := parseID(f.ID)
		if !ok {
			return f, router.Errorf(contract.CodeBadFrame, "id must be a positive integer")
		}
		f.id = id
	}
	if err != nil {
		var te *json.UnmarshalTypeError
		errors.As(err, &te)
		return f, router.Errorf(contract.CodeBadFrame, "field %q must be of type %s", te.Field, jsonType(te.Type.Kind().String()))
	}
	if f.Type == "" {
		return f, router.Errorf(contract.CodeBadFrame, "missing type")
	}
	if f.Auth != nil && string(f.Auth) != "null" && f.Auth[0] != '{' {
		return f, router.Errorf(contract.CodeBadFrame, "field \"auth\" must be an object")
	}
	if f.Data != nil {
		f.Data = contract.Payload(f.Data) // valid JSON by now: compacted
	}
	return f, nil
}

func isTypeError(err error) bool {
	var te *json.UnmarshalTypeError
	return errors.As(err, &te)
}

func jsonType(kind string) string {
	switch kind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "ptr", "int", "uint64", "int64":
		return "integer"
	}
	return kind
}

// parseID reads a positive integer id written without sign, fraction or exponent.
func parseID(raw json.RawMessage) (uint64, bool) {
	id, err := strconv.ParseUint(string(raw), 10, 64)
	return id, err == nil && id > 0 && raw[0] != '0'
}

// splitMessage returns the frames of one client message: lines separated by
// \n. A message that is one JSON value spread over several lines (pretty
// printed) is taken as one frame.
func splitMessage(msg []byte) [][]byte {
	if bytes.IndexByte(msg, '\n') < 0 {
		return [][]byte{msg}
	}
	lines := bytes.Split(msg, []byte{'\n'})
	frames := lines[:0]
	for _, l := range lines {
		if len(bytes.TrimSpace(l)) > 0 {
			frames = append(frames, l)
		}
	}
	if len(frames) > 1 && !allObjects(frames) && json.Valid(msg) {
		return [][]byte{msg}
	}
	return frames
}

// allObjects reports whether every line is a JSON object by itself.
func allObjects(lines [][]byte) bool {
	for _, l := range lines {
		if !json.Valid(l) {
			return false
		}
	}
	return true
}

// codec is the v1 JSON encoding of server frames. Event frames are built by
// hand (they are the hot path); the rare ones go through encoding/json.
type codec struct{}

// EncodeEvent implements router.Codec.
func (codec) EncodeEvent(e *router.Event) []byte {
	b := make([]byte, 0, 64+len(e.NS)+len(e.Name)+len(e.Room)+len(e.From)+len(e.Data))
	b = append(b, `{"type":"event","ns":`...)
	b = appendString(b, e.NS)
	b = append(b, `,"event":`...)
	b = appendString(b, e.Name)
	if e.Room != "" {
		b = append(b, `,"room":`...)
		b = appendString(b, e.Room)
	}
	if e.From != "" {
		b = append(b, `,"from":`...)
		b = appendString(b, e.From)
	}
	if e.Seq != 0 {
		b = append(b, `,"seq":`...)
		b = strconv.AppendUint(b, e.Seq, 10)
	}
	if e.Ack != 0 {
		b = append(b, `,"ack":`...)
		b = strconv.AppendUint(b, e.Ack, 10)
	}
	b = append(b, `,"data":`...)
	if len(e.Data) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, e.Data...)
	}
	return append(b, '}')
}

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD;
// U+2028 and U+2029 are escaped, as encoding/json does.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// Server frames other than events.
type (
	helloFrame struct {
		Type          string `json:"type"`
		Version       string `json:"version"`
		Node          string `json:"node"`
		MaxFrameBytes int    `json:"max_frame_bytes"`
	}
	connectedFrame struct {
		Type string `json:"type"`
		NS   string `json:"ns"`
		SID  string `json:"sid"`
		ID   uint64 `json:"id,omitempty"`
	}
	ackFrame struct {
		Type string          `json:"type"`
		ID   uint64          `json:"id"`
		Data json.RawMessage `json:"data,omitempty"`
	}
	errorFrame struct {
		Type    string `json:"type"`
		ID      uint64 `json:"id,omitempty"`
		NS      string `json:"ns,omitempty"`
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	disconnectedFrame struct {
		Type   string `json:"type"`
		NS     string `json:"ns"`
		Reason string `json:"reason"`
	}
)

// encode marshals a server frame; the frame types above always marshal.
func encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("bridge: encode %T: %v", v, err))
	}
	return b
}
