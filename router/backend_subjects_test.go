package router_test

// Tests of docs/backends.md, the NATS subjects that make up the backend contract:
// what the router publishes for clients (subjects, escaping, headers,
// payloads), what backends publish to reach clients, server-bound work
// queues, presence and lifecycle notices, and per-publisher ordering. Every
// test starts a whole node (internal/routertest: embedded NATS, router,
// WebSocket bridge) and talks to it through real WebSocket and NATS clients.

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/internal/routertest"
)

// nsWith returns the default namespace policy after edit changed it.
func nsWith(edit func(*config.Namespace)) config.Namespace {
	p := config.DefaultNamespace()
	if edit != nil {
		edit(&p)
	}
	return p
}

// msgJSON decodes a NATS message body into a map.
func msgJSON(t *testing.T, m *nats.Msg) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(m.Data, &v); err != nil {
		t.Fatalf("%s: body %q is not a JSON object: %v", m.Subject, m.Data, err)
	}
	return v
}

// wantHeaders fails unless m carries exactly the given values for the
// Router-* headers named in want; an empty value means the header must be
// absent.
func wantHeaders(t *testing.T, m *nats.Msg, want map[string]string) {
	t.Helper()
	for k, v := range want {
		got, ok := m.Header[k]
		switch {
		case v == "" && ok:
			t.Errorf("%s: header %s = %q, want it absent", m.Subject, k, got)
		case v != "" && (len(got) != 1 || got[0] != v):
			t.Errorf("%s: header %s = %q, want %q", m.Subject, k, got, v)
		}
	}
}

// noField fails when frame f has field k.
func noField(t *testing.T, f routertest.Frame, k string) {
	t.Helper()
	if _, ok := f[k]; ok {
		t.Errorf("frame %v: field %q present, want it absent", f, k)
	}
}

// ofNS matches event frames named event in namespace ns.
func ofNS(event, ns string) func(routertest.Frame) bool {
	return func(f routertest.Frame) bool { return routertest.IsEvent(event)(f) && f.Str("ns") == ns }
}

func TestRoomEmitSubjectHeadersPayload(t *testing.T) {
	t.Parallel()
	n := routertest.StartWith(t, nil)
	nc := n.Backend()
	obs := routertest.Subscribe(t, nc, "router.chat.room.>")
	a, b := n.Joined("chat", "lobby"), n.Joined("chat", "lobby")

	// data written with white space is compacted before it is published.
	a.C.Send(`{"type":"emit","id":1,"ns":"chat","room":"lobby","event":"message","data":{ "text" : "hi there",` + "\n" + ` "n": [1, 2] }}`)
	if r := a.C.Next(routertest.IsReply(1)); r.Type() != "ack" {
		t.Fatalf("emit: %v", r)
	}
	m := obs.WaitN(t, 1)[0]
	if m.Subject != "router.chat.room.lobby.message" {
		t.Errorf("subject = %q", m.Subject)
	}
	if got, want := string(m.Data), `{"text":"hi there","n":[1,2]}`; got != want {
		t.Errorf("payload = %s, want %s", got, want)
	}
	wantHeaders(t, m, map[string]string{
		"Router-Ns": "chat", "Router-Sid": a.SID, "Router-Node": "t1", "Router-Room": "lobby",
		"Router-Event": "message", "Router-Exclude": a.SID, "Router-User": "",
	})
	f := b.C.Next(routertest.IsEvent("message"))
	if f.Str("ns") != "chat" || f.Str("room") != "lobby" || f.Str("from") != a.SID {
		t.Errorf("event at member: %v", f)
	}
	routertest.EqualJSON(t, "data", f.JSON("data"), `{"text":"hi there","n":[1,2]}`)
	a.C.None(routertest.IsEvent("message")) // the sender is excluded

	// self: true publishes without Router-Exclude and reaches the sender too.
	a.C.MustAck(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "echo", "self": true})
	m = obs.WaitN(t, 2)[1]
	if m.Subject != "router.chat.room.lobby.echo" {
		t.Errorf("subject = %q", m.Subject)
	}
	if string(m.Data) != "null" {
		t.Errorf("payload of an emit without data = %q, want null", m.Data)
	}
	wantHeaders(t, m, map[string]string{"Router-Sid": a.SID, "Router-Event": "echo", "Router-Exclude": ""})
	for _, c := range []*routertest.Client{a.C, b.C} {
		f := c.Next(routertest.IsEvent("echo"))
		if f.Str("from") != a.SID || f.JSON("data") != "null" {
			t.Errorf("echo: %v", f)
		}
	}
}

func TestDirectEmitSubject(t *testing.T) {
	t.Parallel()
	n := routertest.StartWith(t, nil)
	obs := routertest.Subscribe(t, n.Backend(), "router.chat.socket.>")
	a, b := n.Joined("chat"), n.Joined("chat", "lobby")
	a.C.MustAck(map[string]any{"type": "emit", "ns": "chat", "to": b.SID, "event": "psst", "data": []int{1}})
	m := obs.WaitN(t, 1)[0]
	if want := "router.chat.socket." + b.SID + ".psst"; m.Subject != want {
		t.Errorf("subject = %q, want %q", m.Subject, want)
	}
	wantHeaders(t, m, map[string]string{"Router-Ns": "chat", "Router-Sid": a.SID, "Router-Node": "t1", "Router-Event": "psst", "Router-Room": ""})
	f := b.C.Next(routertest.IsEvent("psst"))
	if f.Str("from") != a.SID || f.JSON("data") != "[1]" {
		t.Errorf("direct event: %v", f)
	}
	noField(t, f, "room")
}

// escapeCases are names and the subject tokens docs/backends.md maps them to.
var escapeCases = []struct{ name, token string }{
	{"lobby", "lobby"},
	{"x_y-Z9", "x_y-Z9"},
	{"a.b c", "a%2Eb%20c"},
	{"100%", "100%25"},
	{"%41", "%2541"},
	{"*", "%2A"},
	{">", "%3E"},
	{"a.*.>", "a%2E%2A%2E%3E"},
	{"a/b:c~", "a%2Fb%3Ac%7E"},
	{"héllo", "h%C3%A9llo"},
	{"日本", "%E6%97%A5%E6%9C%AC"},
	{"party 🎉", "party%20%F0%9F%8E%89"},
}

func TestSubjectEscaping(t *testing.T) {
	t.Parallel()
	n := routertest.StartWith(t, nil)
	for i, tc := range escapeCases {
		t.Run(tc.token, func(t *testing.T) {
			t.Parallel()
			nc := n.Backend()
			subject := "router.chat.room." + tc.token + "." + tc.token
			obs := routertest.Subscribe(t, nc, subject) // the exact subject, no wildcard
			a, b := n.Joined("chat", tc.name), n.Joined("chat", tc.name)

			// client → backend: the emit is published on the escaped subject
			// and the headers carry the names as they are.
			a.C.MustAck(map[string]any{"type": "emit", "ns": "chat", "room": tc.name, "event": tc.name, "data": i})
			m := obs.WaitN(t, 1)[0]
			if m.Subject != subject {
				t.Errorf("subject = %q, want %q", m.Subject, subject)
			}
			wantHeaders(t, m, map[string]string{"Router-Room": tc.name, "Router-Event": tc.name})
			f := b.C.Next(routertest.IsEvent(tc.name))
			if f.Str("room") != tc.name || f.Num("data") != float64(i) {
				t.Errorf("member got %v", f)
			}

			// backend → clients: a publish on the escaped subject reaches the
			// room with the unescaped names.
			routertest.Publish(t, nc, subject, []byte(`{"back":true}`), nil)
			for _, c := range []*routertest.Client{a.C, b.C} {
				f := c.Next(func(f routertest.Frame) bool {
					return routertest.IsEvent(tc.name)(f) && f.JSON("data") == `{"back":true}`
				})
				if f.Str("room") != tc.name || f.Str("ns") != "chat" {
					t.Errorf("backend event: %v", f)
				}
				noField(t, f, "from")
			}
		})
	}
}

// TestWildcardRoomNames checks that rooms named like NATS wildcards are
// rooms like any other: they get their own events and nobody else's.
func TestWildcardRoomNames(t *testing.T) {
	t.Parallel()
	n := routertest.StartWith(t, nil)
	nc := n.Backend()
	star, gt, plain := n.Joined("chat", "*"), n.Joined("chat", ">"), n.Joined("chat", "plain")
	both := n.Joined("chat", "*", ">", "plain")

	routertest.Publish(t, nc, "router.chat.room.plain.ev", []byte(`"to plain"`), nil)
	if f := plain.C.Next(routertest.IsEvent("ev")); f.Str("room") != "plain" {
		t.Errorf("plain: %v", f)
	}
	both.C.Next(routertest.IsEvent("ev"))
	star.C.None(routertest.IsEvent("ev"))
	gt.C.None(routertest.IsEvent("ev"))

	routertest.Publish(t, nc, "router.chat.room.%2A.ev", []byte(`"to star"`), nil)
	if f := star.C.Next(routertest.IsEvent("ev")); f.Str("room") != "*" || f.JSON("data") != `"to star"` {
		t.Errorf("star: %v", f)
	}
	if f := both.C.Next(routertest.IsEvent("ev")); f.Str("room") != "*" {
		t.Errorf("both: %v", f)
	}
	gt.C.None(routertest.IsEvent("ev"))
	plain.C.None(routertest.IsEvent("ev"))
}

// TestOtherSpellingsMissTheRoom checks that a room is reached only through
// its one token: lower-case hex or a raw dot is another subject.
func TestOtherSpellingsMissTheRoom(t *testing.T) {
	t.Parallel()
	n := routertest.StartWith(t, nil)
	nc := n.Backend()
	a := n.Joined("chat", "a.b c")
	routertest.Publish(t, nc, "router.chat.room.a%2eb%20c.ev", nil, nil)
	routertest.Publish(t, nc, "router.chat.room.a.b%20c.ev", nil, nil)
	routertest.Publish(t, nc, "router.chat.room.a%2Eb%20c.marker", nil, nil)
	a.C.Next(routertest.IsEvent("marker"))
	a.C.None(routertest.IsEvent("ev"))
}

func TestCustomPrefix(t *testing.T) {
	t.Parallel()
	n := routertest.StartWith(t, func(c *config.Config) { c.NATS.Prefix = "acme.rt" })
	nc := n.Backend()
	all := routertest.Subscribe(t, nc, ">")
	a, b := n.Joined("chat", "lobby"), n.Joined("chat", "lobby")

	a.C.MustAck(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "hi", "data": 1})
	b.C.Next(routertest.IsEvent("hi"))
	routertest.Eventually(t, "emit on the prefixed subject", func() error {
		for _, m := range all.Msgs() {
			if m.Subject == "acme.rt.chat.room.lobby.hi" {
				return nil
			}
		}
		return fmt.Errorf("not seen")
	})

	routertest.Publish(t, nc, "acme.rt.chat.room.lobby.news", []byte(`{"v":2}`), nil)
	for _, c := range []*routertest.Client{a.C, b.C} {
		if f := c.Next(routertest.IsEvent("news")); f.JSON("data") != `{"v":2}` || f.Str("room") != "lobby" {
			t.Errorf("news: %v", f)
		}
	}
	routertest.Publish(t, nc, "acme.rt.chat.socket."+a.SID+".dm", []byte(`3`), nil)
	a.C.Next(routertest.IsEvent("dm"))
	routertest.Publish(t, nc, "acme.rt.chat.broadcast.all", nil, nil)
	a.C.Next(routertest.IsEvent("all"))
	b.C.Next(routertest.IsEvent("all"))

	rep := routertest.CtlCall(t, nc, "acme.rt.chat.ctl.rooms", `{}`)
	routertest.EqualJSON(t, "rooms reply", routertest.MustJSON(t, rep), `{"ok":true,"rooms":[{"room":"lobby","members":2}]}`)

	// The old prefix is not routerd's any more: a publish there reaches no one.
	routertest.Publish(t, nc, "router.chat.room.lobby.old", nil, nil)
	routertest.Publish(t, nc, "acme.rt.chat.room.lobby.marker", nil, nil)
	a.C.Next(routertest.IsEvent("marker"))
	a.C.None(routertest.IsEvent("old"))

	// Everything routerd itself published is under the prefix, and its
	// node-to-node traffic (here: the rooms request asked of every node)
	// under $routerd.{prefix}, outside it.
	internal := 0
	for _, m := range all.Msgs() {
		switch {
		case strings.HasPrefix(m.Subject, "$routerd.acme.rt."):
			internal++
		case strings.HasPrefix(m.Subject, "acme.rt.$"):
			t.Errorf("node-to-node message on %q inside the prefix", m.Subject)
		case !strings.HasPrefix(m.Subject, "acme.rt.") && !strings.HasPrefix(m.Subject, "_INBOX.") &&
			m.Subject != "router.chat.room.lobby.old":
			t.Errorf("message on %q outside the prefix", m.Subject)
		}
	}
	if internal == 0 {
		t.Error("no node-to-node message under $routerd.acme.rt")
	}
}

func TestBackendRoomPublish(t *testing.T) {
	t.Parallel()
	n := routertest.StartWith(t, nil)
	nc := n.Backend()
	a, b, c := n.Joined("chat", "lobby"), n.Joined("chat", "lobby"), n.Joined("chat", "lobby")
	out := n.Joined("chat", "elsewhere")

	routertest.Publish(t, nc, "router.chat.room.lobby.news", []byte(`{"headline":"x"}`), nil)
	for _, m := range []routertest.Member{a, b, c} {
		f := m.C.Next(routertest.IsEvent("news"))
		if f.Str("ns") != "chat" || f.Str("room") != "lobby" {
			t.Errorf("news: %v", f)
		}
		routertest.EqualJSON(t, "data", f.JSON("data"), `{"headline":"x"}`)
		noField(t, f, "from")
	}
	out.C.None(routertest.IsEvent("news"))

	// Router-Exclude skips that one socket (any header case).
	routertest.Publish(t, nc, "router.chat.room.lobby.update", []byte(`1`), nats.Header{"Router-Exclude": {b.SID}})
	a.C.Next(routertest.IsEvent("update"))
	c.C.Next(routertest.IsEvent("update"))
	b.C.None(routertest.IsEvent("update"))
	routertest.Publish(t, nc, "router.chat.room.lobby.update2", []byte(`2`), nats.Header{"router-exclude": {a.SID}})
	b.C.Next(routertest.IsEvent("update2"))
	c.C.Next(routertest.IsEvent("update2"))
	a.C.None(routertest.IsEvent("update2"))
}

func TestBackendSocketPublish(t *testing.T) {
	t.Parallel()
	n := routertest.StartWith(t, nil)
	nc := n.Backend()
	a, b := n.Joined("chat", "lobby"), n.Joined("chat", "lobby")

	routertest.Publish(t, nc, "router.chat.socket."+a.SID+".private", []byte(`{"for":"a"}`), nil)
	f := a.C.Next(routertest.IsEvent("private"))
	if f.Str("ns") != "chat" {
		t.Errorf("private: %v", f)
	}
	routertest.EqualJSON(t, "data", f.JSON("data"), `{"for":"a"}`)
	noField(t, f, "room")
	noField(t, f, "from")
	b.C.None(routertest.IsEvent("private"))
}

func TestBackendBroadcast(t *testing.T) {
	t.Parallel()
	n := routertest.StartWith(t, func(c *config.Config) { c.Namespaces["other"] = config.DefaultNamespace() })
	nc := n.Backend()
	inRoom, noRoom := n.Joined("chat", "lobby"), n.Joined("chat")
	otherRoom := n.Joined("chat", "x")

	// A connection attached to both namespaces gets the chat broadcast once,
	// for its chat socket only; a socket only in other gets nothing.
	multi := n.Dial()
	multi.Connect("chat")
	multi.Connect("other")
	multi.Join("other", "lobby")
	onlyOther := n.Joined("other", "lobby")

	routertest.Publish(t, nc, "router.chat.broadcast.alert", []byte(`"all hands"`), nil)
	for _, m := range []routertest.Member{inRoom, noRoom, otherRoom} {
		f := m.C.Next(routertest.IsEvent("alert"))
		if f.Str("ns") != "chat" || f.JSON("data") != `"all hands"` {
			t.Errorf("alert: %v", f)
		}
		noField(t, f, "room")
		noField(t, f, "from")
	}
	multi.Next(ofNS("alert", "chat"))
	multi.None(routertest.IsEvent("alert"))
	onlyOther.C.None(routertest.IsEvent("alert"))

	// Router-Exclude works on broadcasts too (extension, docs/backends.md).
	routertest.Publish(t, nc, "router.chat.broadcast.alert2", nil, nats.Header{"Router-Exclude": {noRoom.SID}})
	inRoom.C.Next(routertest.IsEvent("alert2"))
	otherRoom.C.Next(routertest.IsEvent("alert2"))
	multi.Next(ofNS("alert2", "chat"))
	noRoom.C.None(routertest.IsEvent("alert2"))
}

func TestBackendPayloadMapping(t *testing.T) {
	t.Parallel()
	n := routertest.StartWith(t, nil)
	nc := n.Backend()
	a := n.Joined("chat", "lobby")
	cases := []struct {
		name    string
		payload string
		data    string // the data as JSON, compared as a value
		raw     string // when set, the data exactly as it must appear in the frame
	}{
		{"object", `{"b":1,"a":[true,null,"x"],"c":{"d":1.5}}`, `{"a":[true,null,"x"],"b":1,"c":{"d":1.5}}`, ""},
		{"number", `42`, `42`, `42`},
		{"string", `"str"`, `"str"`, `"str"`},
		{"array", `[1,"two",{}]`, `[1,"two",{}]`, ""},
		{"false", `false`, `false`, `false`},
		{"null", `null`, `null`, `null`},
		{"pretty", "{\n  \"a\": 1,\n\t\"b\": \"two words\"\r\n}\n", `{"a":1,"b":"two words"}`, `{"a":1,"b":"two words"}`},
		{"empty", ``, `null`, `null`},
		{"text", `hello`, `"hello"`, `"hello"`},
		{"text with spaces", "hello world\n", `"hello world\n"`, ""},
		{"broken json", `{"a":`, `"{\"a\":"`, ""},
		{"quote", `say "hi"`, `"say \"hi\""`, ""},
		// Not UTF-8, so not JSON (RFC 8259 §8.1): a JSON string, with the
		// bad bytes replaced, since a text frame must be valid UTF-8.
		{"bad utf-8 in json", "\"a\xffb\"", `"\"a\ufffdb\""`, ""},
		{"bad utf-8 in pretty json", "{\"a\": \"\xff\"}", `"{\"a\": \"\ufffd\"}"`, ""},
		{"bad utf-8", "\xfe\xff", `"\ufffd\ufffd"`, ""},
	}
	for i, tc := range cases {
		event := fmt.Sprintf("p%d", i)
		routertest.Publish(t, nc, "router.chat.room.lobby."+event, []byte(tc.payload), nil)
		f := a.C.Next(routertest.IsEvent(event))
		if _, ok := f["data"]; !ok {
			t.Errorf("%s: no data field in %v", tc.name, f)
			continue
		}
		routertest.EqualJSON(t, tc.name, f.JSON("data"), tc.data)
		if tc.raw != "" && !rawHas(a.C, `"event":"`+event+`"`, `"data":`+tc.raw) {
			t.Errorf("%s: no frame with data exactly %s in %q", tc.name, tc.raw, a.C.Raw())
		}
	}
	for _, m := range a.C.Raw() {
		if !utf8.ValidString(m) {
			t.Errorf("message %q is not valid UTF-8", m)
		}
		for _, line := range strings.Split(m, "\n") {
			if !json.Valid([]byte(line)) {
				t.Errorf("frame %q is not one JSON value per line", line)
			}
		}
	}
}

// rawHas reports whether some frame received by c, as received, contains
// every one of parts.
func rawHas(c *routertest.Client, parts ...string) bool {
	for _, m := range c.Raw() {
	lines:
		for _, line := range strings.Split(m, "\n") {
			for _, p := range parts {
				if !strings.Contains(line, p) {
					continue lines
				}
			}
			return true
		}
	}
	return false
}

func TestServerBoundQueueGroup(t *testing.T) {
	t.Parallel()
	n := routertest.StartWith(t, nil)
	a := n.Joined("chat")
	const total = 60

	// Each backend's queue subscription and its marker subscription share one
	// channel, so the marker arriving means every earlier message to that
	// backend has arrived.
	type backend struct {
		ch   chan *nats.Msg
		work []*nats.Msg
	}
	backends := make([]*backend, 2)
	for i := range backends {
		nc := n.Backend()
		b := &backend{ch: make(chan *nats.Msg, 4*total)}
		if _, err := nc.ChanQueueSubscribe("router.chat.server.work", "workers", b.ch); err != nil {
			t.Fatal(err)
		}
		if _, err := nc.ChanSubscribe("router.chat.server.done", b.ch); err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		backends[i] = b
	}
	for i := range total {
		a.C.Send(map[string]any{"type": "emit", "ns": "chat", "event": "work", "data": map[string]int{"n": i}})
	}
	a.C.Send(map[string]any{"type": "emit", "ns": "chat", "event": "done"})
	seen := map[float64]int{}
	for i, b := range backends {
	loop:
		for {
			select {
			case m := <-b.ch:
				if m.Subject == "router.chat.server.done" {
					break loop
				}
				b.work = append(b.work, m)
			case <-time.After(routertest.Wait):
				t.Fatalf("backend %d: no done marker", i)
			}
		}
		if len(b.work) == 0 {
			t.Errorf("backend %d got no share of %d messages", i, total)
		}
		for _, m := range b.work {
			wantHeaders(t, m, map[string]string{"Router-Ns": "chat", "Router-Sid": a.SID, "Router-Node": "t1", "Router-Event": "work", "Router-Room": ""})
			seen[msgJSON(t, m)["n"].(float64)]++
		}
	}
	if len(seen) != total {
		t.Errorf("%d distinct messages arrived, want %d", len(seen), total)
	}
	for k, v := range seen {
		if v != 1 {
			t.Errorf("message %v arrived %d times", k, v)
		}
	}
}

func TestServerBoundRequestReply(t *testing.T) {
	t.Parallel()
	n := routertest.StartWith(t, nil)
	nc := n.Backend()
	a := n.Joined("chat")
	sub, err := nc.QueueSubscribe("router.chat.server.>", "api", func(m *nats.Msg) {
		switch m.Subject {
		case "router.chat.server.echo":
			_ = m.Respond(m.Data)
		case "router.chat.server.whoami":
			_ = m.Respond([]byte(`{"sid":"` + m.Header.Get("Router-Sid") + `"}`))
		case "router.chat.server.fail":
			_ = m.RespondMsg(&nats.Msg{Data: []byte("no such thing"), Header: nats.Header{"Router-Error": {"not_member"}}})
		case "router.chat.server.text":
			_ = m.Respond([]byte("plain words"))
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	r := a.C.MustAck(map[string]any{"type": "emit", "ns": "chat", "event": "echo", "data": map[string]any{"q": []int{1, 2}}})
	routertest.EqualJSON(t, "echo", r.JSON("data"), `{"q":[1,2]}`)
	r = a.C.MustAck(map[string]any{"type": "emit", "ns": "chat", "event": "whoami"})
	routertest.EqualJSON(t, "whoami", r.JSON("data"), `{"sid":"`+a.SID+`"}`)
	r = a.C.MustAck(map[string]any{"type": "emit", "ns": "chat", "event": "text"})
	routertest.EqualJSON(t, "text", r.JSON("data"), `"plain words"`)
	r = a.C.Req(map[string]any{"type": "emit", "ns": "chat", "event": "fail"})
	if r.Type() != "error" || r.Str("code") != "not_member" || r.Str("message") != "no such thing" {
		t.Errorf("Router-Error reply: %v", r)
	}
}

func TestPresenceAndLifecycleSubjects(t *testing.T) {
	t.Parallel()
	n := routertest.StartWith(t, func(c *config.Config) { c.Namespaces["quiet"] = config.DefaultNamespace() })
	nc := n.Backend()
	pres := routertest.Subscribe(t, nc, "router.*.presence.>")
	life := routertest.Subscribe(t, nc, "router.*.lifecycle.*")

	check := func(m *nats.Msg, subject string, want map[string]any) {
		t.Helper()
		if m.Subject != subject {
			t.Errorf("subject = %q, want %q", m.Subject, subject)
		}
		got := msgJSON(t, m)
		if strings.HasSuffix(subject, ".lifecycle.connect") {
			// The handshake (TestLifecycleHandshake) is on connect notices only.
			if hs, _ := got["handshake"].(map[string]any); hs["url"] != "/ws" {
				t.Errorf("%s: handshake %v, want the upgrade request's", subject, got["handshake"])
			}
			delete(got, "handshake")
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %v, want %v", m.Subject, got, want)
		}
	}

	// connect, join, leave, client disconnect
	a := n.Dial()
	sa := a.Connect("chat")
	check(life.WaitN(t, 1)[0], "router.chat.lifecycle.connect", map[string]any{"sid": sa, "node": "t1"})
	a.Join("chat", "lobby room")
	check(pres.WaitN(t, 1)[0], "router.chat.presence.lobby%20room", map[string]any{"action": "join", "sid": sa, "node": "t1"})
	a.MustAck(map[string]any{"type": "leave", "ns": "chat", "room": "lobby room"})
	check(pres.WaitN(t, 2)[1], "router.chat.presence.lobby%20room", map[string]any{"action": "leave", "sid": sa, "node": "t1"})
	a.MustAck(map[string]any{"type": "leave", "ns": "chat", "room": "lobby room"}) // not a member: no notice
	a.Join("chat", "r.1")
	check(pres.WaitN(t, 3)[2], "router.chat.presence.r%2E1", map[string]any{"action": "join", "sid": sa, "node": "t1"})
	a.MustAck(map[string]any{"type": "disconnect", "ns": "chat"})
	check(pres.WaitN(t, 4)[3], "router.chat.presence.r%2E1", map[string]any{"action": "leave", "sid": sa, "node": "t1"})
	check(life.WaitN(t, 2)[1], "router.chat.lifecycle.disconnect", map[string]any{"sid": sa, "node": "t1"})

	// Presence notices are published whatever presence_events says (it only
	// decides the $join/$leave frames), and closing the WebSocket counts as
	// leaving every room and disconnecting every socket.
	sq := a.Connect("quiet")
	check(life.WaitN(t, 3)[2], "router.quiet.lifecycle.connect", map[string]any{"sid": sq, "node": "t1"})
	a.Join("quiet", "q")
	check(pres.WaitN(t, 5)[4], "router.quiet.presence.q", map[string]any{"action": "join", "sid": sq, "node": "t1"})
	if err := a.WS.Close(); err != nil {
		t.Fatal(err)
	}
	check(pres.WaitN(t, 6)[5], "router.quiet.presence.q", map[string]any{"action": "leave", "sid": sq, "node": "t1"})
	check(life.WaitN(t, 4)[3], "router.quiet.lifecycle.disconnect", map[string]any{"sid": sq, "node": "t1"})
	wantHeaders(t, life.Msgs()[3], map[string]string{"Router-Ns": "quiet", "Router-Sid": sq, "Router-Node": "t1"})

	// A close frame from the client does the same.
	b := n.Dial()
	sb := b.Connect("chat")
	b.Join("chat", "lobby")
	pres.WaitN(t, 7)
	bye := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye")
	if err := b.WS.WriteControl(websocket.CloseMessage, bye, time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	check(pres.WaitN(t, 8)[7], "router.chat.presence.lobby", map[string]any{"action": "leave", "sid": sb, "node": "t1"})
	routertest.Eventually(t, "lifecycle disconnect after a close frame", func() error {
		for _, m := range life.Msgs() {
			if m.Subject == "router.chat.lifecycle.disconnect" && msgJSON(t, m)["sid"] == sb {
				return nil
			}
		}
		return fmt.Errorf("not seen")
	})
}

func TestOrderBackendToRoom(t *testing.T) {
	t.Parallel()
	n := routertest.StartWith(t, nil)
	nc := n.Backend()
	a, b := n.Joined("chat", "lobby"), n.Joined("chat", "lobby")
	const total = 200
	for i := range total {
		if err := nc.Publish("router.chat.room.lobby.tick", []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, m := range []routertest.Member{a, b} {
		for i := range total {
			if f := m.C.Next(routertest.IsEvent("tick")); f.Num("data") != float64(i) {
				t.Fatalf("event %d has data %v: out of order", i, f.JSON("data"))
			}
		}
	}
}

func TestOrderClientToRoom(t *testing.T) {
	t.Parallel()
	n := routertest.StartWith(t, func(c *config.Config) { c.Limits.Rate.PerSecond = 0 })
	obs := routertest.Subscribe(t, n.Backend(), "router.chat.room.lobby.tick")
	a, b := n.Joined("chat", "lobby"), n.Joined("chat", "lobby")
	const total = 200
	for i := range total {
		a.C.Send(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "tick", "data": i})
	}
	for i := range total {
		if f := b.C.Next(routertest.IsEvent("tick")); f.Num("data") != float64(i) || f.Str("from") != a.SID {
			t.Fatalf("event %d is %v: out of order", i, f)
		}
	}
	for i, m := range obs.WaitN(t, total) {
		if string(m.Data) != fmt.Sprint(i) {
			t.Fatalf("backend: message %d has data %s: out of order", i, m.Data)
		}
	}
}

// jwtSecret signs the test tokens of namespace secure (auth: jwt).
const jwtSecret = "subjects-test-secret"

// withSecure adds namespace secure (auth: jwt, presence_events) to c.
func withSecure(c *config.Config) {
	c.Auth.JWT.Secret = jwtSecret
	c.Namespaces["secure"] = nsWith(func(p *config.Namespace) {
		p.Auth = config.AuthJWT
		p.PresenceEvents = true
	})
}

// userSocket dials and connects to namespace secure as user (an HS256
// token with sub = user).
func userSocket(t *testing.T, n *routertest.Node, user string) routertest.Member {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": user,
		"exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString([]byte(jwtSecret))
	if err != nil {
		t.Fatal(err)
	}
	c := n.Dial()
	r := c.MustAck(map[string]any{"type": "connect", "ns": "secure", "auth": map[string]any{"token": tok}})
	if r.Type() != "connected" || r.Str("sid") == "" {
		t.Fatalf("connect as %s: %v", user, r)
	}
	return routertest.Member{C: c, SID: r.Str("sid")}
}

func TestUserSubject(t *testing.T) {
	t.Parallel()
	n := routertest.StartWith(t, withSecure)
	nc := n.Backend()
	life := routertest.Subscribe(t, nc, "router.secure.lifecycle.connect")
	alice1, alice2 := userSocket(t, n, "alice"), userSocket(t, n, "alice")
	bob := userSocket(t, n, "bob")
	carol := userSocket(t, n, "carol@example.com")
	anon := n.Joined("chat")

	// Every socket of the user, and no one else.
	routertest.Publish(t, nc, "router.secure.user.alice.note", []byte(`{"to":"alice"}`), nil)
	for _, m := range []routertest.Member{alice1, alice2} {
		f := m.C.Next(routertest.IsEvent("note"))
		if f.Str("ns") != "secure" {
			t.Errorf("note: %v", f)
		}
		routertest.EqualJSON(t, "data", f.JSON("data"), `{"to":"alice"}`)
		noField(t, f, "room")
		noField(t, f, "from")
	}
	bob.C.None(routertest.IsEvent("note"))
	carol.C.None(routertest.IsEvent("note"))
	anon.C.None(routertest.IsEvent("note"))

	// Router-Exclude works on user publishes too (extension, docs/backends.md).
	routertest.Publish(t, nc, "router.secure.user.alice.other_tab", nil, nats.Header{"Router-Exclude": {alice1.SID}})
	alice2.C.Next(routertest.IsEvent("other_tab"))
	alice1.C.None(routertest.IsEvent("other_tab"))

	// User names are escaped like any name.
	routertest.Publish(t, nc, "router.secure.user.carol%40example%2Ecom.note", []byte(`"hi carol"`), nil)
	if f := carol.C.Next(routertest.IsEvent("note")); f.JSON("data") != `"hi carol"` {
		t.Errorf("carol: %v", f)
	}
	alice1.C.None(routertest.IsEvent("note"))

	// Once one of alice's sockets is gone, the other still gets her events.
	alice1.C.MustAck(map[string]any{"type": "disconnect", "ns": "secure"})
	routertest.Publish(t, nc, "router.secure.user.alice.again", nil, nil)
	alice2.C.Next(routertest.IsEvent("again"))
	alice1.C.None(routertest.IsEvent("again"))

	// Router-User on what routerd publishes for an authenticated socket, and
	// "user" in its notices, presence lists and $join frames.
	for _, m := range life.WaitN(t, 4) {
		v := msgJSON(t, m)
		if v["user"] == nil || v["sid"] == nil || v["node"] != "t1" || v["handshake"] == nil || len(v) != 4 {
			t.Errorf("lifecycle notice %v: want sid, user, node and handshake", v)
		}
	}
	obs := routertest.Subscribe(t, nc, "router.secure.room.>")
	pres := routertest.Subscribe(t, nc, "router.secure.presence.lobby")
	bob.C.Join("secure", "lobby")
	alice2.C.Join("secure", "lobby")
	f := bob.C.Next(routertest.IsEvent("$join"))
	routertest.EqualJSON(t, "$join data", f.JSON("data"), `{"sid":"`+alice2.SID+`","user":"alice"}`)
	routertest.EqualJSON(t, "presence notice", string(pres.WaitN(t, 2)[1].Data), `{"action":"join","sid":"`+alice2.SID+`","user":"alice","node":"t1"}`)
	r := bob.C.MustAck(map[string]any{"type": "presence", "ns": "secure", "room": "lobby"})
	routertest.EqualJSON(t, "presence", routertest.MustJSON(t, sortedMembers(t, r["data"])),
		routertest.MustJSON(t, sortedMembers(t, routertest.JSONValue(t, `{"members":[{"sid":"`+alice2.SID+`","user":"alice"},{"sid":"`+bob.SID+`","user":"bob"}]}`))))
	alice2.C.MustAck(map[string]any{"type": "emit", "ns": "secure", "room": "lobby", "event": "hello"})
	m := obs.WaitN(t, 1)[0]
	wantHeaders(t, m, map[string]string{"Router-User": "alice", "Router-Sid": alice2.SID, "Router-Ns": "secure", "Router-Room": "lobby", "Router-Event": "hello"})
	bob.C.Next(routertest.IsEventFrom("hello", alice2.SID))
}

// sortedMembers returns {"members": [...]} with the members sorted by sid.
func sortedMembers(t *testing.T, v any) any {
	t.Helper()
	obj, _ := v.(map[string]any)
	list, ok := obj["members"].([]any)
	if !ok {
		t.Fatalf("%v has no members list", v)
	}
	sort.Slice(list, func(i, j int) bool {
		a, _ := list[i].(map[string]any)
		b, _ := list[j].(map[string]any)
		return fmt.Sprint(a["sid"]) < fmt.Sprint(b["sid"])
	})
	return obj
}
