package socketio

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Binary attachments. Socket.IO sends a binary value as a placeholder in
// the packet's JSON ({"_placeholder":true,"num":N}) followed by the bytes
// as separate Engine.IO packets. routerd's data is JSON, where a binary
// value is {"$binary":"<standard base64>"} (docs/socketio.md). Both ways the JSON
// text is kept as it is and only those objects are replaced, so the size
// of the result is known before it is built.

// binaryKey is the one key of a binary value in routerd's data.
const binaryKey = "$binary"

// The text of a binary value around its base64.
const (
	binaryPrefix = `{"` + binaryKey + `":"`
	binarySuffix = `"}`
)

// maxJSONDepth bounds the nesting of the JSON scanObjects reads, as
// encoding/json bounds what it decodes.
const maxJSONDepth = 10000

// placeholder is where a binary packet's data names an attachment.
type placeholder struct {
	start, end int // the bytes of {"_placeholder":true,"num":N} in the data
	num        int // N, the attachment it stands for
}

// findPlaceholders returns the placeholders of data, the valid JSON of a
// binary packet with n attachments, in the order they appear. As in
// Socket.IO's decoder, an object whose "_placeholder" is true is a
// placeholder; it must be exactly {"_placeholder":true,"num":N} with N an
// attachment's index, and every attachment must be named once: an
// attachment named twice would be copied once per name, and
// socket.io-client never names one twice nor sends one it does not name.
func findPlaceholders(data []byte, n int) ([]placeholder, error) {
	var phs []placeholder
	named := make([]bool, n)
	err := scanObjects(data, func(o jsonObject) error {
		if o.placeholder != true {
			return nil
		}
		num, isNum := o.num.(json.Number)
		if o.members != 2 || !isNum {
			return fmt.Errorf("socket.io: %w: a placeholder is not {\"_placeholder\":true,\"num\":N}", errPacket)
		}
		i, err := strconv.Atoi(string(num))
		switch {
		case err != nil || i < 0 || i >= n:
			return fmt.Errorf("socket.io: %w: placeholder %s names no attachment", errPacket, num)
		case named[i]:
			return fmt.Errorf("socket.io: %w: attachment %d named twice", errPacket, i)
		}
		named[i] = true
		phs = append(phs, placeholder{start: o.start, end: o.end, num: i})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(phs) < n {
		return nil, fmt.Errorf("socket.io: %w: %d of %d attachments named", errPacket, len(phs), n)
	}
	return phs, nil
}

// rebuiltSize returns the length of what reconstruct builds from data,
// without building it.
func rebuiltSize(data []byte, phs []placeholder, atts [][]byte) int {
	size := len(data)
	for _, ph := range phs {
		size += len(binaryPrefix) + base64.StdEncoding.EncodedLen(len(atts[ph.num])) + len(binarySuffix) - (ph.end - ph.start)
	}
	return size
}

// reconstruct replaces the placeholders phs of data, as findPlaceholders
// returned them, by the attachments they name, written
// {"$binary":"<base64>"}.
func reconstruct(data []byte, phs []placeholder, atts [][]byte) json.RawMessage {
	out := make([]byte, 0, rebuiltSize(data, phs, atts))
	last := 0
	for _, ph := range phs {
		out = append(out, data[last:ph.start]...)
		out = append(out, binaryPrefix...)
		out = base64.StdEncoding.AppendEncode(out, atts[ph.num])
		out = append(out, binarySuffix...)
		last = ph.end
	}
	return append(out, data[last:]...)
}

// deconstruct replaces the first maxAttachments binary values in data
// (objects exactly {"$binary":"<standard base64>"}) by placeholders and
// returns their bytes as the attachments, in order; data without one
// comes back as it is, with no attachments.
func deconstruct(data json.RawMessage) (json.RawMessage, [][]byte) {
	if !bytes.Contains(data, []byte(`"`+binaryKey+`"`)) {
		return data, nil
	}
	var spans [][2]int
	var atts [][]byte
	err := scanObjects(data, func(o jsonObject) error {
		s, ok := o.binary.(string)
		if !ok || o.members != 1 || len(atts) >= maxAttachments {
			return nil
		}
		if b, ok := decodeBinary(s); ok {
			atts = append(atts, b)
			spans = append(spans, [2]int{o.start, o.end})
		}
		return nil
	})
	if err != nil || len(atts) == 0 {
		return data, nil
	}
	out := make([]byte, 0, len(data))
	last := 0
	for i, sp := range spans {
		out = append(out, data[last:sp[0]]...)
		out = append(out, `{"_placeholder":true,"num":`...)
		out = strconv.AppendInt(out, int64(i), 10)
		out = append(out, '}')
		last = sp[1]
	}
	return append(out, data[last:]...), atts
}

// decodeBinary decodes the base64 of a binary value. Only the one way
// reconstruct writes bytes is taken (padded, no line breaks, no stray
// bits), so a value becomes bytes and back unchanged.
func decodeBinary(s string) ([]byte, bool) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, false
	}
	b, err := strictBase64.DecodeString(s)
	return b, err == nil
}

// strictBase64 is standard base64 that refuses stray bits.
var strictBase64 = base64.StdEncoding.Strict()

// jsonObject is what scanObjects reports of an object of a JSON text:
// where it is, and the members that make it a placeholder or a binary
// value.
type jsonObject struct {
	start, end int // its bytes in the text, braces included
	members    int // how many members it has, a repeated key counted each time

	// The values of its "_placeholder", "num" and "$binary" members (the
	// last of a repeated key) as json.Decoder.Token returns them, with
	// numbers as json.Number and a json.Delim for an object or an array;
	// nil when it has no such member.
	placeholder, num, binary any
}

// scanObjects calls f for every object in data, a JSON text, once its end
// is read (so an object after those it holds), and stops at f's first
// error.
func scanObjects(data []byte, f func(jsonObject) error) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	s := objectScanner{d: d, f: f}
	tok, err := d.Token()
	if err != nil {
		return fmt.Errorf("socket.io: %w: %v", errPacket, err)
	}
	return s.value(tok, 0)
}

// objectScanner is the state of one scanObjects.
type objectScanner struct {
	d *json.Decoder
	f func(jsonObject) error
}

// value reads the rest of the value that starts with tok, at nesting
// depth depth.
func (s *objectScanner) value(tok json.Token, depth int) error {
	if tok != json.Delim('{') && tok != json.Delim('[') {
		return nil
	}
	if depth >= maxJSONDepth {
		return fmt.Errorf("socket.io: %w: JSON nested deeper than %d", errPacket, maxJSONDepth)
	}
	o := jsonObject{start: int(s.d.InputOffset()) - 1}
	for s.d.More() {
		var key json.Token
		if tok == json.Delim('{') {
			k, err := s.token()
			if err != nil {
				return err
			}
			key = k
			o.members++
		}
		v, err := s.token()
		if err != nil {
			return err
		}
		switch key {
		case "_placeholder":
			o.placeholder = v
		case "num":
			o.num = v
		case binaryKey:
			o.binary = v
		}
		if err := s.value(v, depth+1); err != nil {
			return err
		}
	}
	if _, err := s.token(); err != nil { // the closing brace or bracket
		return err
	}
	if tok == json.Delim('[') {
		return nil
	}
	o.end = int(s.d.InputOffset())
	return s.f(o)
}

// token reads the next token.
func (s *objectScanner) token() (json.Token, error) {
	tok, err := s.d.Token()
	if err != nil {
		return nil, fmt.Errorf("socket.io: %w: %v", errPacket, err)
	}
	return tok, nil
}
