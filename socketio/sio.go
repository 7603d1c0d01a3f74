package socketio

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Socket.IO v5 packet types.
const (
	sioConnect      = 0
	sioDisconnect   = 1
	sioEvent        = 2
	sioAck          = 3
	sioConnectError = 4
	sioBinaryEvent  = 5
	sioBinaryAck    = 6
)

// maxAttachments bounds the binary attachments of one packet (Socket.IO's
// decoder default).
const maxAttachments = 10

// noID marks a packet without an ack id.
const noID = -1

// sioPacket is one Socket.IO packet:
// <type>[<attachments>-][<nsp>,][<id>][<JSON data>].
type sioPacket struct {
	typ         int
	attachments int    // binary types only
	nsp         string // "/" when absent
	id          int64  // noID when absent
	data        json.RawMessage
}

// decodeSIO decodes the text part of a Socket.IO packet as Socket.IO's own
// decoder does, and checks its data against its type.
func decodeSIO(b []byte) (sioPacket, error) {
	p, err := decodeHeader(b)
	if err != nil {
		return sioPacket{}, err
	}
	if err := p.checkData(); err != nil {
		return sioPacket{}, err
	}
	return p, nil
}

// decodeHeader decodes what precedes the data of a Socket.IO packet's text
// part (its type, attachment count, namespace and ack id), and leaves its
// data in p.data unchecked: the work done on a packet before it is
// admitted is bounded by its length.
func decodeHeader(b []byte) (sioPacket, error) {
	p := sioPacket{nsp: "/", id: noID}
	bad := func(what string) (sioPacket, error) {
		return sioPacket{}, fmt.Errorf("socket.io: %w: %s", errPacket, what)
	}
	if len(b) == 0 || b[0] < '0' || b[0] > '6' {
		return bad("unknown type")
	}
	p.typ = int(b[0] - '0')
	i := 1
	if p.typ == sioBinaryEvent || p.typ == sioBinaryAck {
		end := bytes.IndexByte(b[i:], '-')
		if end < 1 || end > 2 {
			return bad("bad attachment count")
		}
		n, err := strconv.Atoi(string(b[i : i+end]))
		if err != nil || n < 1 || n > maxAttachments {
			return bad("bad attachment count")
		}
		p.attachments = n
		i += end + 1
	}
	if i < len(b) && b[i] == '/' {
		end := bytes.IndexByte(b[i:], ',')
		if end < 0 {
			end = len(b) - i
		}
		if !utf8.Valid(b[i : i+end]) {
			return bad("namespace is not UTF-8")
		}
		p.nsp = string(b[i : i+end])
		i += end
		if i < len(b) {
			i++ // the comma
		}
	}
	start := i
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	if i > start {
		id, err := strconv.ParseInt(string(b[start:i]), 10, 64)
		if err != nil || i-start > 15 {
			return bad("ack id out of range")
		}
		p.id = id
	}
	if i < len(b) {
		p.data = b[i:]
	}
	return p, nil
}

// checkData checks the data of a packet decoded by decodeHeader: UTF-8
// JSON that fits the packet's type.
func (p *sioPacket) checkData() error {
	switch {
	case p.data != nil && (!utf8.Valid(p.data) || !json.Valid(p.data)):
		return fmt.Errorf("socket.io: %w: data is not JSON", errPacket)
	case !validData(p.typ, p.data):
		return fmt.Errorf("socket.io: %w: data does not fit the packet type", errPacket)
	}
	return nil
}

// validData applies Socket.IO's payload rules: CONNECT takes an object or
// nothing, DISCONNECT nothing, CONNECT_ERROR a string or an object, events
// a non-empty array, acks an array.
func validData(typ int, data json.RawMessage) bool {
	first := byte(0)
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) > 0 {
		first = t[0]
	}
	switch typ {
	case sioConnect:
		return data == nil || first == '{'
	case sioDisconnect:
		return data == nil
	case sioConnectError:
		return first == '{' || first == '"'
	case sioEvent, sioBinaryEvent:
		var args []json.RawMessage
		return first == '[' && json.Unmarshal(data, &args) == nil && len(args) > 0
	default: // acks
		return first == '['
	}
}

// appendSIO appends the text part of a Socket.IO packet.
func appendSIO(dst []byte, typ, attachments int, nsp string, id int64, data []byte) []byte {
	dst = append(dst, byte('0'+typ))
	if typ == sioBinaryEvent || typ == sioBinaryAck {
		dst = strconv.AppendInt(dst, int64(attachments), 10)
		dst = append(dst, '-')
	}
	if nsp != "/" && nsp != "" {
		dst = append(dst, nsp...)
		dst = append(dst, ',')
	}
	if id != noID {
		dst = strconv.AppendInt(dst, id, 10)
	}
	return append(dst, data...)
}
