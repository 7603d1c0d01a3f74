package main

import (
	"bytes"
	"fmt"
	"strings"
)

// socketIO is Socket.IO 4 (protocol 5) over Engine.IO 4 on a plain
// WebSocket (ws://host/socket.io/?EIO=4&transport=websocket), as served by
// bench/socketio/server.js: a client emits "join" with a room and an
// acknowledgement, and "message" with a room, the data and a self flag,
// which the server relays to the room as "message" with the data.
//
// Engine.IO sends one packet per WebSocket message: "0{...}" opens, "2" is
// the server's ping (answered "3"), "4" carries a Socket.IO packet: type
// digit, then "/ns," outside the main namespace, then an ack id, then JSON.
type socketIO struct{}

// sioPong answers the server's ping.
var sioPong = []byte("3")

func (socketIO) subprotocols() []string { return nil }

// sioNamespace is the "/ns," part of a packet for namespace ns ("" or "/"
// is the main namespace, written without it).
func sioNamespace(ns string) string {
	ns = strings.TrimPrefix(ns, "/")
	if ns == "" {
		return ""
	}
	return "/" + ns + ","
}

func (socketIO) attach(c *conn, ns, room string) error {
	nsp := sioNamespace(ns)
	msg, err := c.readMessage()
	if err != nil {
		return err
	}
	if len(msg) == 0 || msg[0] != '0' {
		return fmt.Errorf("engine.io: want an open packet, got %.80q", msg)
	}
	if err := c.write([]byte("40" + nsp)); err != nil {
		return err
	}
	if err := sioAwait(c, "40"+nsp, "44"+nsp); err != nil {
		return fmt.Errorf("connect to %q: %w", ns, err)
	}
	if err := c.write(fmt.Appendf(nil, `42%s1["join",%s]`, nsp, jsonString(room))); err != nil {
		return err
	}
	if err := sioAwait(c, "43"+nsp+"1[", ""); err != nil {
		return fmt.Errorf("join %q: %w", room, err)
	}
	return nil
}

// sioAwait reads packets, answering pings, until one starts with ok (nil)
// or with fail (an error); fail "" fails on nothing.
func sioAwait(c *conn, ok, fail string) error {
	for {
		msg, err := c.readMessage()
		if err != nil {
			return err
		}
		switch {
		case bytes.HasPrefix(msg, []byte(ok)):
			return nil
		case fail != "" && bytes.HasPrefix(msg, []byte(fail)):
			return fmt.Errorf("refused: %s", msg[len(fail):])
		case string(msg) == "2":
			if err := c.write(sioPong); err != nil {
				return err
			}
		}
	}
}

func (socketIO) emitFrame(ns, room string, self bool) (prefix, suffix []byte) {
	prefix = fmt.Appendf(nil, `42%s["message",%s,`, sioNamespace(ns), jsonString(room))
	if self {
		return prefix, []byte(`,true]`)
	}
	return prefix, []byte(`]`)
}

func (socketIO) scan(msg []byte, in *inbound) {
	in.reset()
	switch {
	case bytes.HasPrefix(msg, []byte("42")):
		if st, ok := parsePayload(msg); ok {
			in.stamps = append(in.stamps, st)
		}
	case string(msg) == "2":
		in.reply = sioPong
	case bytes.HasPrefix(msg, []byte("41")):
		in.errors = append(in.errors, "disconnected")
	case bytes.HasPrefix(msg, []byte("1")):
		in.errors = append(in.errors, "engine.io close")
	}
}
