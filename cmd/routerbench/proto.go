package main

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// protocol is one wire protocol routerbench speaks: routerd's v1 JSON
// frames, or Socket.IO 4 over an Engine.IO WebSocket for the comparison.
type protocol interface {
	// subprotocols are offered in the WebSocket handshake.
	subprotocols() []string
	// attach runs the handshake of a freshly dialled connection: it waits
	// for the server's greeting, attaches to namespace ns and joins room,
	// each step waiting for its reply.
	attach(c *conn, ns, room string) error
	// emitFrame returns what goes before and after the data (JSON) in the
	// message that publishes it to room.
	emitFrame(ns, room string, self bool) (prefix, suffix []byte)
	// scan reads whole frames into in (which it resets first): readLoop
	// passes a run of complete lines of a message, so it must not assume
	// it sees a message from its start (Socket.IO messages have one line).
	scan(msg []byte, in *inbound)
}

// inbound is what scanned frames held, in the parts routerbench needs.
type inbound struct {
	stamps []stamp  // of the benchmark events, in order
	errors []string // error codes and server-side detaches, as labels
	reply  []byte   // to write back (an answer to a protocol-level ping), if not empty
}

// reset empties in, keeping its slices' storage.
func (in *inbound) reset() {
	in.stamps = in.stamps[:0]
	in.errors = in.errors[:0]
	in.reply = nil
}

// v1 is routerd's WebSocket protocol (docs/protocol.md).
type v1 struct {
	pipeline bool // attach sends connect and join at once
}

func (v1) subprotocols() []string { return []string{"routerd.v1"} }

// v1Reply is the part of a non-event server frame routerbench reads.
type v1Reply struct {
	Type    string `json:"type"`
	ID      uint64 `json:"id"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Reason  string `json:"reason"`
}

func (p v1) attach(c *conn, ns, room string) error {
	steps := []struct {
		frame string
		want  string
	}{
		{fmt.Sprintf(`{"type":"connect","ns":%s,"id":1}`, jsonString(ns)), "connected"},
		{fmt.Sprintf(`{"type":"join","ns":%s,"room":%s,"id":2}`, jsonString(ns), jsonString(room)), "ack"},
	}
	if p.pipeline {
		// One message with both frames (docs/protocol.md allows several per
		// message); the replies may come in one message too.
		if err := c.write([]byte(steps[0].frame + "\n" + steps[1].frame)); err != nil {
			return err
		}
		replies := map[uint64]*v1Reply{}
		_, err := v1Await(c, func(f *v1Reply) bool {
			if f.ID != 0 && f.Type != "" {
				replies[f.ID] = f
			}
			return len(replies) == len(steps)
		})
		if err != nil {
			return err
		}
		for i, s := range steps {
			if f := replies[uint64(i+1)]; f.Type != s.want {
				return fmt.Errorf("%s: %s %s: %s", s.frame, f.Type, f.Code, f.Message)
			}
		}
		return nil
	}
	if _, err := v1Await(c, func(f *v1Reply) bool { return f.Type == "hello" }); err != nil {
		return err
	}
	for i, s := range steps {
		if err := c.write([]byte(s.frame)); err != nil {
			return err
		}
		id := uint64(i + 1)
		f, err := v1Await(c, func(f *v1Reply) bool { return f.ID == id && f.Type != "" })
		if err != nil {
			return err
		}
		if f.Type != s.want {
			return fmt.Errorf("%s: %s %s: %s", s.frame, f.Type, f.Code, f.Message)
		}
	}
	return nil
}

// v1Await reads frames until one matches.
func v1Await(c *conn, match func(*v1Reply) bool) (*v1Reply, error) {
	for {
		msg, err := c.readMessage()
		if err != nil {
			return nil, err
		}
		for line := range bytes.SplitSeq(msg, newline) {
			var f v1Reply
			if json.Unmarshal(line, &f) == nil && match(&f) {
				return &f, nil
			}
		}
	}
}

func (v1) emitFrame(ns, room string, self bool) (prefix, suffix []byte) {
	prefix = fmt.Appendf(nil, `{"type":"emit","ns":%s,"room":%s,"event":"bench","data":`, jsonString(ns), jsonString(room))
	if self {
		return prefix, []byte(`,"self":true}`)
	}
	return prefix, []byte(`}`)
}

var (
	v1Event        = []byte(`{"type":"event",`)
	v1Error        = []byte(`{"type":"error",`)
	v1Disconnected = []byte(`{"type":"disconnected",`)
)

// newline separates the frames of one WebSocket message.
var newline = []byte{'\n'}

// scan looks at each frame's type (every server frame starts with it) and
// decodes nothing but the timestamp of events and the rare error frames.
func (v1) scan(msg []byte, in *inbound) {
	in.reset()
	for line := range bytes.SplitSeq(msg, newline) {
		switch {
		case bytes.HasPrefix(line, v1Event):
			if st, ok := parsePayload(line); ok {
				in.stamps = append(in.stamps, st)
			}
		case bytes.HasPrefix(line, v1Error), bytes.HasPrefix(line, v1Disconnected):
			var f v1Reply
			if json.Unmarshal(line, &f) != nil {
				in.errors = append(in.errors, "unparsable")
			} else if f.Type == "error" {
				in.errors = append(in.errors, f.Code)
			} else {
				in.errors = append(in.errors, "disconnected:"+f.Reason)
			}
		}
	}
}

// jsonString is s as a JSON string.
func jsonString(s string) []byte {
	b, _ := json.Marshal(s) // a string always marshals
	return b
}
