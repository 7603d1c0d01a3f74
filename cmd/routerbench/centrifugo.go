package main

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// centrifugo is Centrifugo's bidirectional client protocol (Centrifugo 5
// and 6) in its JSON form on /connection/websocket, as served with
// bench/centrifugo/config.yaml. routerbench's namespace and room are the
// channel "ns:room" (Centrifugo's namespace boundary is ":").
//
// Every WebSocket message holds one or more JSON objects separated by
// newlines, each a command (client to server) or a reply (server to
// client):
//
//	{"id":1,"connect":{}}                                 connect, anonymously
//	{"id":1,"connect":{"client":"…","ping":25,"pong":true,…}}
//	{"id":2,"subscribe":{"channel":"chat:bench-0"}}       subscribe
//	{"id":2,"subscribe":{}}
//	{"id":3,"publish":{"channel":"chat:bench-0","data":{…}}}
//	{"id":3,"publish":{}}
//	{"push":{"channel":"chat:bench-0","pub":{"data":{…},…}}}   a publication
//	{"id":2,"error":{"code":103,"message":"permission denied"}}
//	{}                                                    ping, answered {}
//
// A publication reaches every subscriber of the channel, its publisher
// included: a run against Centrifugo always counts as routerbench's -self
// (options.resolve sets it). Every publish carries id 3: Centrifugo needs
// an id on a command with a reply but does not check that ids differ, and
// routerbench reads no publish reply but an error.
type centrifugo struct{}

// Centrifugo's frames as routerbench writes and recognises them.
var (
	cfPing        = []byte(`{}`) // the server's ping, and the client's pong
	cfPush        = []byte(`{"push":`)
	cfReply       = []byte(`{"id":`)
	cfErrorField  = []byte(`"error":`)
	cfDisconnect  = []byte(`"disconnect":`)
	cfUnsubscribe = []byte(`"unsubscribe":`)
)

func (centrifugo) subprotocols() []string { return nil } // no subprotocol: JSON

// cfChannel is the Centrifugo channel of room in namespace ns.
func cfChannel(ns, room string) string {
	if ns == "" {
		return room
	}
	return ns + ":" + room
}

// cfError is a command's error reply, or a disconnect push.
type cfError struct {
	Code    uint32 `json:"code"`
	Message string `json:"message"`
	Reason  string `json:"reason"`
}

func (e *cfError) String() string {
	if e.Message == "" {
		return fmt.Sprintf("%d %s", e.Code, e.Reason)
	}
	return fmt.Sprintf("%d %s", e.Code, e.Message)
}

// cfFrame is the part of a server frame routerbench reads.
type cfFrame struct {
	ID        uint32          `json:"id"`
	Error     *cfError        `json:"error"`
	Connect   json.RawMessage `json:"connect"`
	Subscribe json.RawMessage `json:"subscribe"`
	Push      *struct {
		Channel     string          `json:"channel"`
		Disconnect  *cfError        `json:"disconnect"`
		Unsubscribe json.RawMessage `json:"unsubscribe"`
	} `json:"push"`
}

func (centrifugo) attach(c *conn, ns, room string) error {
	steps := []struct {
		cmd    string
		result func(*cfFrame) json.RawMessage
	}{
		{`{"id":1,"connect":{}}`, func(f *cfFrame) json.RawMessage { return f.Connect }},
		{fmt.Sprintf(`{"id":2,"subscribe":{"channel":%s}}`, jsonString(cfChannel(ns, room))), func(f *cfFrame) json.RawMessage { return f.Subscribe }},
	}
	for i, s := range steps {
		if err := c.write([]byte(s.cmd)); err != nil {
			return err
		}
		f, err := cfAwait(c, uint32(i+1))
		if err != nil {
			return err
		}
		if f.Error != nil {
			return fmt.Errorf("%s: error %s", s.cmd, f.Error)
		}
		if s.result(f) == nil {
			return fmt.Errorf("%s: a reply without its result", s.cmd)
		}
	}
	return nil
}

// cfAwait reads frames, answering pings, until the reply to command id, or
// a disconnect push (an error). What follows the reply in its message is
// dropped, as v1Await does: routerbench publishes once every connection
// is attached.
func cfAwait(c *conn, id uint32) (*cfFrame, error) {
	for {
		msg, err := c.readMessage()
		if err != nil {
			return nil, err
		}
		for line := range bytes.SplitSeq(msg, newline) {
			if bytes.Equal(line, cfPing) {
				if err := c.write(cfPing); err != nil {
					return nil, err
				}
				continue
			}
			var f cfFrame
			if json.Unmarshal(line, &f) != nil {
				continue
			}
			if f.Push != nil && f.Push.Disconnect != nil {
				return nil, fmt.Errorf("disconnected: %s", f.Push.Disconnect)
			}
			if f.ID == id {
				return &f, nil
			}
		}
	}
}

func (centrifugo) emitFrame(ns, room string, _ bool) (prefix, suffix []byte) {
	return fmt.Appendf(nil, `{"id":3,"publish":{"channel":%s,"data":`, jsonString(cfChannel(ns, room))), []byte(`}}`)
}

// scan reads the stamps of publications, answers a ping, and decodes only
// error replies and disconnect or unsubscribe pushes; the replies to
// publish ({"id":3,"publish":{}}) are skipped by their prefix.
func (centrifugo) scan(msg []byte, in *inbound) {
	in.reset()
	for line := range bytes.SplitSeq(msg, newline) {
		switch {
		case bytes.HasPrefix(line, cfPush):
			if st, ok := parsePayload(line); ok {
				in.stamps = append(in.stamps, st)
			} else if bytes.Contains(line, cfDisconnect) || bytes.Contains(line, cfUnsubscribe) {
				in.errors = append(in.errors, cfLabel(line))
			}
		case bytes.HasPrefix(line, cfReply):
			if bytes.Contains(line, cfErrorField) {
				in.errors = append(in.errors, cfLabel(line))
			}
		case bytes.Equal(line, cfPing):
			in.reply = cfPing
		}
	}
}

// cfLabel names an error reply or a server-side detach for the report.
func cfLabel(line []byte) string {
	var f cfFrame
	switch {
	case json.Unmarshal(line, &f) != nil:
		return "unparsable"
	case f.Error != nil:
		return fmt.Sprintf("error %s", f.Error)
	case f.Push != nil && f.Push.Disconnect != nil:
		return fmt.Sprintf("disconnected:%s", f.Push.Disconnect)
	case f.Push != nil && f.Push.Unsubscribe != nil:
		return "unsubscribed:" + f.Push.Channel
	}
	return "unknown"
}
