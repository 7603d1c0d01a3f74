package socketio

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
)

// Engine.IO v4 packet types: the first byte of a text packet.
const (
	eioOpen    byte = '0'
	eioClose   byte = '1'
	eioPing    byte = '2'
	eioPong    byte = '3'
	eioMessage byte = '4'
	eioUpgrade byte = '5'
	eioNoop    byte = '6'
)

// recordSep separates the packets of an HTTP long-polling payload.
const recordSep = 0x1e

// errPacket is a malformed Engine.IO or Socket.IO packet.
var errPacket = errors.New("malformed packet")

// eioPacket is one Engine.IO packet. A binary packet is a message whose
// data is raw bytes (a WebSocket binary message, or "b" + base64 when
// polling).
type eioPacket struct {
	typ    byte
	data   []byte
	binary bool
}

// decodeEIO decodes one text packet: the type digit, then the data.
func decodeEIO(p []byte) (eioPacket, error) {
	if len(p) == 0 || p[0] < eioOpen || p[0] > eioNoop {
		return eioPacket{}, fmt.Errorf("engine.io: %w: unknown type", errPacket)
	}
	return eioPacket{typ: p[0], data: p[1:]}, nil
}

// decodePayload decodes an HTTP long-polling request body: packets
// separated by 0x1e, binary ones written "b" + standard base64.
func decodePayload(body []byte) ([]eioPacket, error) {
	if len(body) == 0 {
		return nil, fmt.Errorf("engine.io: %w: empty payload", errPacket)
	}
	var out []eioPacket
	for piece := range bytes.SplitSeq(body, []byte{recordSep}) {
		if len(piece) > 0 && piece[0] == 'b' {
			data, err := base64.StdEncoding.DecodeString(string(piece[1:]))
			if err != nil {
				return nil, fmt.Errorf("engine.io: %w: bad base64: %v", errPacket, err)
			}
			out = append(out, eioPacket{typ: eioMessage, data: data, binary: true})
			continue
		}
		p, err := decodeEIO(piece)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}
