package routertest

import (
	"encoding/json"
	"strings"
	"testing"
)

// Member is one socket as the room's events reach it: its client and sid.
type Member struct {
	C   *Client
	SID string
}

// Joined dials a client, connects it to ns and joins it to rooms.
func (n *Node) Joined(ns string, rooms ...string) Member {
	c := n.Dial()
	sid := c.Connect(ns)
	for _, r := range rooms {
		c.Join(ns, r)
	}
	return Member{c, sid}
}

// ConnectJoin connects c to ns, joins room and returns the sid.
func ConnectJoin(t testing.TB, c *Client, ns, room string) string {
	t.Helper()
	sid := c.Connect(ns)
	c.Join(ns, room)
	return sid
}

// Has reports whether the frame has field k at all.
func (f Frame) Has(k string) bool {
	_, ok := f[k]
	return ok
}

// IsEventFrom matches event frames named name sent by sid.
func IsEventFrom(name, sid string) func(Frame) bool {
	return func(f Frame) bool {
		return f.Type() == "event" && f.Str("event") == name && f.Str("from") == sid
	}
}

// IsPresence matches $join / $leave frames about sid in room.
func IsPresence(event, room, sid string) func(Frame) bool {
	return func(f Frame) bool {
		if f.Type() != "event" || f.Str("event") != event || f.Str("room") != room {
			return false
		}
		d, _ := f["data"].(map[string]any)
		return d != nil && d["sid"] == sid
	}
}

// IsErrorNoID matches error frames that carry no id.
func IsErrorNoID(f Frame) bool {
	return f.Type() == "error" && !f.Has("id")
}

// CheckCompact fails unless every line of every message c received so far
// is one JSON object with a type: the server sends compact frames separated
// by newlines, never a raw newline inside a frame.
func CheckCompact(t testing.TB, c *Client) {
	t.Helper()
	for _, msg := range c.Raw() {
		for _, line := range strings.Split(msg, "\n") {
			var f map[string]any
			if err := json.Unmarshal([]byte(line), &f); err != nil {
				t.Fatalf("server line is not a JSON object (%v): %q in message %q", err, line, msg)
			}
			if _, ok := f["type"].(string); !ok {
				t.Fatalf("server frame without type: %q", line)
			}
		}
	}
}
