package socketio

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// Binary attachments. Socket.IO sends a binary value as a placeholder in
// the packet's JSON ({"_placeholder":true,"num":N}) followed by the bytes
// as separate Engine.IO packets. routerd's data is JSON, where a binary
// value is {"$binary":"<standard base64>"} (SPEC §7).

// binaryKey is the one key of a binary value in routerd's data.
const binaryKey = "$binary"

// reconstruct replaces the placeholders in data by the attachments they
// name, written {"$binary":"<base64>"}.
func reconstruct(data json.RawMessage, atts [][]byte) (json.RawMessage, error) {
	v, err := decodeJSON(data)
	if err != nil {
		return nil, err
	}
	used := 0
	var walkErr error
	v = walk(v, func(m map[string]any) (any, bool) {
		ph, _ := m["_placeholder"].(bool)
		num, isNum := m["num"].(json.Number)
		if !ph || !isNum || len(m) != 2 {
			return nil, false
		}
		n, err := num.Int64()
		if err != nil || n < 0 || n >= int64(len(atts)) {
			walkErr = fmt.Errorf("socket.io: %w: placeholder %s names no attachment", errPacket, num)
			return nil, false
		}
		used++
		return map[string]any{binaryKey: base64.StdEncoding.EncodeToString(atts[n])}, true
	})
	if walkErr != nil {
		return nil, walkErr
	}
	if used == 0 {
		return nil, fmt.Errorf("socket.io: %w: binary packet without placeholders", errPacket)
	}
	return encodeJSON(v), nil
}

// deconstruct replaces every {"$binary":"<base64>"} value in data by a
// placeholder and returns the attachments in order; data without one comes
// back as it is, with no attachments.
func deconstruct(data json.RawMessage) (json.RawMessage, [][]byte) {
	if !bytes.Contains(data, []byte(`"$binary"`)) {
		return data, nil
	}
	v, err := decodeJSON(data)
	if err != nil {
		return data, nil
	}
	var atts [][]byte
	v = walk(v, func(m map[string]any) (any, bool) {
		s, ok := m[binaryKey].(string)
		if !ok || len(m) != 1 || len(atts) >= maxAttachments {
			return nil, false
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, false
		}
		atts = append(atts, b)
		return map[string]any{"_placeholder": true, "num": len(atts) - 1}, true
	})
	if len(atts) == 0 {
		return data, nil
	}
	return encodeJSON(v), atts
}

// walk rebuilds v, replacing every object for which f reports true by what
// f returns (objects f replaces are not walked into).
func walk(v any, f func(map[string]any) (any, bool)) any {
	switch t := v.(type) {
	case map[string]any:
		if r, ok := f(t); ok {
			return r
		}
		for k, e := range t {
			t[k] = walk(e, f)
		}
	case []any:
		for i, e := range t {
			t[i] = walk(e, f)
		}
	}
	return v
}

func decodeJSON(data []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("socket.io: %w: %v", errPacket, err)
	}
	return v, nil
}

// encodeJSON encodes a value decoded by decodeJSON, which cannot fail.
func encodeJSON(v any) json.RawMessage {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		panic(fmt.Sprintf("socketio: encode decoded JSON: %v", err))
	}
	return bytes.TrimSuffix(b.Bytes(), []byte{'\n'})
}
