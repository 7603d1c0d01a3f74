package socketio

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
	"sync/atomic"

	"github.com/routerd/routerd/contract"
	"github.com/routerd/routerd/internal/relay"
	"github.com/routerd/routerd/router"
)

// A unit is what a session's send queue holds: what one Socket.IO packet
// (or one Engine.IO control packet) becomes on the wire. Usually it is one
// Engine.IO text packet as it is, starting with its type digit. A Socket.IO
// packet with binary attachments is several Engine.IO packets, a WebSocket
// message each, kept as one relay batch (relay.AppendBatch), which a
// tunnel carries as it is.

// multiUnit builds the unit of a text packet followed by its attachments.
func multiUnit(text []byte, atts [][]byte) []byte {
	out := relay.AppendBatch(nil, relay.Message{Data: text})
	for _, a := range atts {
		out = relay.AppendBatch(out, relay.Message{Binary: true, Data: a})
	}
	return out
}

// eachPacket calls f for every Engine.IO packet of a unit, in order, and
// stops at f's first error.
func eachPacket(unit []byte, f func(binary bool, p []byte) error) error {
	return relay.EachMessage(unit, func(m relay.Message) error { return f(m.Binary, m.Data) })
}

// appendPolling appends a unit's packets to a long-polling response body,
// separated by 0x1e, binary ones as "b" + base64.
func appendPolling(body, unit []byte) []byte {
	_ = eachPacket(unit, func(bin bool, p []byte) error {
		if len(body) > 0 {
			body = append(body, recordSep)
		}
		if bin {
			body = append(body, 'b')
			body = base64.StdEncoding.AppendEncode(body, p)
		} else {
			body = append(body, p...)
		}
		return nil
	})
	return body
}

// codec encodes router events as Socket.IO EVENT packets for one Socket.IO
// namespace. nsp "" names the namespace after the event's routerd namespace
// ("/" + name), which serves every namespace not listed in
// socketio.namespaces. offsets is nil for namespaces without connection
// state recovery.
type codec struct {
	nsp     string
	offsets *offsets
}

// offsets numbers the EVENT packets this node sends to recovering
// sockets: {tag}-{n}, n counting from 1 in base 36, unique across nodes
// and never a number (a history event's offset is its seq).
type offsets struct {
	prefix string // the node's tag and "-"
	n      atomic.Uint64
}

// appendNext appends a new offset to b.
func (o *offsets) appendNext(b []byte) []byte {
	return strconv.AppendUint(append(b, o.prefix...), o.n.Add(1), 36)
}

// EncodeEvent implements router.Codec: emit(event, data), plus, where the
// namespace recovers (Socket.IO's connection state recovery), the packet's
// offset as a last string argument: the event's seq for a room event of a
// namespace with history, a new offset for any other. An event a backend
// asks an ack for carries the ack id as the packet's id, which the
// client's ACK answers, and no offset (Socket.IO keeps no such packet for
// a resume).
func (c *codec) EncodeEvent(e *router.Event) []byte {
	nsp := c.nsp
	if nsp == "" {
		nsp = "/" + e.NS
	}
	name, _ := json.Marshal(e.Name)
	args := make([]byte, 0, len(name)+len(e.Data)+24)
	args = append(args, '[')
	args = append(args, name...)
	args = append(args, ',')
	args = append(args, e.Data...)
	if c.offsets != nil && e.Ack == 0 {
		args = append(args, ',', '"')
		if e.Seq > 0 {
			args = strconv.AppendUint(args, e.Seq, 10)
		} else {
			args = c.offsets.appendNext(args)
		}
		args = append(args, '"')
	}
	args = append(args, ']')
	id := int64(noID)
	if e.Ack != 0 {
		id = int64(e.Ack)
	}
	return dataUnit(sioEvent, nsp, id, args)
}

// dataUnit encodes an EVENT or ACK packet whose arguments are args, as a
// binary packet with attachments where args hold {"$binary":..} values.
func dataUnit(typ int, nsp string, id int64, args json.RawMessage) []byte {
	args, atts := deconstruct(args)
	if len(atts) == 0 {
		return appendSIO([]byte{eioMessage}, typ, 0, nsp, id, args)
	}
	typ += sioBinaryEvent - sioEvent // EVENT → BINARY_EVENT, ACK → BINARY_ACK
	return multiUnit(appendSIO([]byte{eioMessage}, typ, len(atts), nsp, id, args), atts)
}

// ackUnit encodes the ack of packet id with one argument.
func ackUnit(nsp string, id int64, arg json.RawMessage) []byte {
	args := make([]byte, 0, len(arg)+2)
	args = append(append(append(args, '['), arg...), ']')
	return dataUnit(sioAck, nsp, id, args)
}

// errorArg is the ack argument of a refusal: {"error":{"code","message"}}.
func errorArg(e *router.Error) json.RawMessage {
	b, _ := json.Marshal(map[string]any{"error": map[string]string{"code": string(e.Code), "message": e.Message}})
	return b
}

// okArg is the ack argument of a routing action that succeeded.
var okArg = json.RawMessage(`{"ok":true}`)

// connectUnit encodes the CONNECT reply: {"sid"} and, where the namespace
// keeps history, {"pid"}.
func connectUnit(nsp, sid, pid string) []byte {
	v := map[string]string{"sid": sid}
	if pid != "" {
		v["pid"] = pid
	}
	b, _ := json.Marshal(v)
	return appendSIO([]byte{eioMessage}, sioConnect, 0, nsp, noID, b)
}

// connectErrorUnit encodes CONNECT_ERROR {"message","data":{"code"}}.
func connectErrorUnit(nsp string, e *router.Error) []byte {
	b, _ := json.Marshal(map[string]any{"message": e.Message, "data": map[string]string{"code": string(e.Code)}})
	return appendSIO([]byte{eioMessage}, sioConnectError, 0, nsp, noID, b)
}

// disconnectUnit encodes DISCONNECT for nsp.
func disconnectUnit(nsp string) []byte {
	return appendSIO([]byte{eioMessage}, sioDisconnect, 0, nsp, noID, nil)
}

// argsData maps the arguments of an emit to routerd data (docs/socketio.md): none is
// null, one is the data, several travel as a JSON array.
func argsData(args []json.RawMessage) json.RawMessage {
	switch len(args) {
	case 0:
		return json.RawMessage("null")
	case 1:
		return contract.Payload(args[0])
	}
	out := []byte{'['}
	for i, a := range args {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, a...)
	}
	return contract.Payload(append(out, ']'))
}
