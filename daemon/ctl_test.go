package daemon_test

// Integration tests of the control requests of SPEC §3 (P.{ns}.ctl.{op}):
// server-side join and leave, kicks, cluster-wide presence and room lists,
// and the error replies to bad requests.

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/internal/routertest"
)

// mustJSON encodes v.
func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return string(b)
}

// ctlTry sends a control request and returns the decoded reply. It checks
// that the request got exactly one reply: after the reply it makes another
// control request (a rooms request) and, once that is answered, no second
// reply to the first may be waiting. routerd's ctl handler answers one
// request after the other, so on one node a duplicate reply would have
// arrived by then.
func ctlTry(nc *nats.Conn, subject, body string) (map[string]any, error) {
	inbox := nc.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return nil, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.PublishRequest(subject, inbox, []byte(body)); err != nil {
		return nil, err
	}
	m, err := sub.NextMsg(routertest.Wait)
	if err != nil {
		return nil, fmt.Errorf("%s %s: no reply: %w", subject, body, err)
	}
	var rep map[string]any
	if err := json.Unmarshal(m.Data, &rep); err != nil {
		return nil, fmt.Errorf("%s %s: reply %q is not a JSON object", subject, body, m.Data)
	}
	barrier := subject[:strings.LastIndexByte(subject, '.')] + ".rooms"
	if _, err := nc.Request(barrier, []byte(`{}`), routertest.Wait); err != nil {
		return nil, fmt.Errorf("barrier %s: %w", barrier, err)
	}
	if n, _, _ := sub.Pending(); n != 0 {
		return nil, fmt.Errorf("%s %s: %d more replies after %s", subject, body, n, m.Data)
	}
	return rep, nil
}

// ctlCall is ctlTry that fails the test on error.
func ctlCall(t *testing.T, nc *nats.Conn, subject, body string) map[string]any {
	t.Helper()
	rep, err := ctlTry(nc, subject, body)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// wantCount fails unless rep is {"ok":true,"count":n}.
func wantCount(t *testing.T, what string, rep map[string]any, n int) {
	t.Helper()
	equalJSON(t, what, mustJSON(t, rep), fmt.Sprintf(`{"ok":true,"count":%d}`, n))
}

// sids returns the sids of a members list, sorted.
func sids(t *testing.T, members any) []string {
	t.Helper()
	list, ok := members.([]any)
	if !ok {
		t.Fatalf("members %v is not a list", members)
	}
	out := []string{}
	for _, m := range list {
		obj, _ := m.(map[string]any)
		sid, _ := obj["sid"].(string)
		if sid == "" || len(obj) != 1 {
			t.Errorf("member %v: want exactly {\"sid\"} for an anonymous socket", m)
		}
		out = append(out, sid)
	}
	sort.Strings(out)
	return out
}

func sorted(s ...string) []string {
	s = append([]string{}, s...)
	sort.Strings(s)
	return s
}

// isSID matches event frames whose data is {"sid": sid}.
func isSID(event, sid string) func(routertest.Frame) bool {
	return func(f routertest.Frame) bool {
		d, _ := f["data"].(map[string]any)
		return routertest.IsEvent(event)(f) && d["sid"] == sid
	}
}

func TestCtlJoinLeave(t *testing.T) {
	t.Parallel()
	n := nodeWith(t, nil)
	nc := n.Backend()
	pres := routertest.Subscribe(t, nc, "router.chat.presence.lobby")
	a := joined(n, "chat")
	b := joined(n, "chat", "lobby")
	pres.WaitN(t, 1)

	wantCount(t, "join", ctlCall(t, nc, "router.chat.ctl.join", `{"sid":"`+a.sid+`","room":"lobby"}`), 1)
	// Once the reply is in, the room's events reach the socket.
	backendPub(t, nc, "router.chat.room.lobby.news", []byte(`1`), nil)
	if f := a.c.Next(routertest.IsEvent("news")); f.Str("room") != "lobby" {
		t.Errorf("news: %v", f)
	}
	m := pres.WaitN(t, 2)[1]
	equalJSON(t, "presence notice", string(m.Data), `{"action":"join","sid":"`+a.sid+`","node":"t1"}`)
	if f := b.c.Next(isSID("$join", a.sid)); f.Str("room") != "lobby" {
		t.Errorf("$join: %v", f)
	}
	rep := ctlCall(t, nc, "router.chat.ctl.presence", `{"room":"lobby"}`)
	if got, want := sids(t, rep["members"]), sorted(a.sid, b.sid); !reflect.DeepEqual(got, want) {
		t.Errorf("presence after ctl join: %v, want %v", got, want)
	}
	// Joining again changes nothing, and counts the socket as in the room
	// (README: join counts the selected sockets in the room afterwards);
	// no second notice (the next one below is the leave).
	wantCount(t, "join again", ctlCall(t, nc, "router.chat.ctl.join", `{"sid":"`+a.sid+`","room":"lobby"}`), 1)
	// The socket is a member like any other: it may publish to the room.
	a.c.MustAck(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "hi"})
	b.c.Next(fromSID("hi", a.sid))

	wantCount(t, "leave", ctlCall(t, nc, "router.chat.ctl.leave", `{"sid":"`+a.sid+`","room":"lobby"}`), 1)
	equalJSON(t, "presence notice", string(pres.WaitN(t, 3)[2].Data), `{"action":"leave","sid":"`+a.sid+`","node":"t1"}`)
	b.c.Next(isSID("$leave", a.sid))
	backendPub(t, nc, "router.chat.room.lobby.after", nil, nil)
	b.c.Next(routertest.IsEvent("after"))
	a.c.None(routertest.IsEvent("after"))
	if code := a.c.ErrorCode(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "hi"}); code != "not_member" {
		t.Errorf("emit after ctl leave: %s, want not_member", code)
	}

	wantCount(t, "leave again", ctlCall(t, nc, "router.chat.ctl.leave", `{"sid":"`+a.sid+`","room":"lobby"}`), 0)
	wantCount(t, "join unknown sid", ctlCall(t, nc, "router.chat.ctl.join", `{"sid":"nosuchsocket","room":"lobby"}`), 0)
	wantCount(t, "join unknown user", ctlCall(t, nc, "router.chat.ctl.join", `{"user":"nobody","room":"lobby"}`), 0)
	rep = ctlCall(t, nc, "router.chat.ctl.presence", `{"room":"lobby"}`)
	if got := sids(t, rep["members"]); !reflect.DeepEqual(got, []string{b.sid}) {
		t.Errorf("presence: %v, want only %s", got, b.sid)
	}
}

func TestCtlDisconnectSocket(t *testing.T) {
	t.Parallel()
	n := nodeWith(t, func(c *config.Config) { c.Namespaces["other"] = config.DefaultNamespace() })
	nc := n.Backend()
	life := routertest.Subscribe(t, nc, "router.chat.lifecycle.disconnect")
	pres := routertest.Subscribe(t, nc, "router.chat.presence.lobby")

	a := n.Dial()
	sa := a.Connect("chat")
	so := a.Connect("other")
	a.Join("chat", "lobby")
	a.Join("other", "lobby")
	b := joined(n, "chat", "lobby")
	pres.WaitN(t, 2)

	wantCount(t, "disconnect", ctlCall(t, nc, "router.chat.ctl.disconnect", `{"sid":"`+sa+`"}`), 1)
	f := a.Next(routertest.IsType("disconnected"))
	if f.Str("ns") != "chat" || f.Str("reason") == "" {
		t.Errorf("disconnected frame: %v", f)
	}
	b.c.Next(isSID("$leave", sa))
	equalJSON(t, "presence notice", string(pres.WaitN(t, 3)[2].Data), `{"action":"leave","sid":"`+sa+`","node":"t1"}`)
	equalJSON(t, "lifecycle notice", string(life.WaitN(t, 1)[0].Data), `{"sid":"`+sa+`","node":"t1"}`)
	if code := a.ErrorCode(map[string]any{"type": "join", "ns": "chat", "room": "lobby"}); code != "not_connected" {
		t.Errorf("join after kick: %s, want not_connected", code)
	}
	backendPub(t, nc, "router.chat.room.lobby.after", nil, nil)
	b.c.Next(routertest.IsEvent("after"))
	a.None(routertest.IsEvent("after"))

	// The connection and its other socket live on.
	backendPub(t, nc, "router.other.room.lobby.still", nil, nil)
	a.Next(ofNS("still", "other"))
	sa2 := a.Connect("chat")
	if sa2 == sa {
		t.Errorf("reconnect got the old sid %s", sa)
	}
	a.Join("chat", "lobby")
	backendPub(t, nc, "router.chat.room.lobby.back", nil, nil)
	a.Next(ofNS("back", "chat"))

	// A reason given by the backend reaches the client (extension).
	wantCount(t, "disconnect with reason", ctlCall(t, nc, "router.other.ctl.disconnect", `{"sid":"`+so+`","reason":"maintenance"}`), 1)
	if f := a.Next(routertest.IsType("disconnected")); f.Str("ns") != "other" || f.Str("reason") != "maintenance" {
		t.Errorf("disconnected frame: %v", f)
	}
	// A sid of another namespace, an unknown sid: nothing to do.
	wantCount(t, "disconnect chat sid in other", ctlCall(t, nc, "router.other.ctl.disconnect", `{"sid":"`+sa2+`"}`), 0)
	wantCount(t, "disconnect unknown", ctlCall(t, nc, "router.chat.ctl.disconnect", `{"sid":"nosuchsocket"}`), 0)
	a.None(routertest.IsType("disconnected"))
	a.MustAck(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "alive"})
	b.c.Next(fromSID("alive", sa2))
}

func TestCtlDisconnectRoom(t *testing.T) {
	t.Parallel()
	n := nodeWith(t, nil)
	nc := n.Backend()
	a, b := joined(n, "chat", "r1"), joined(n, "chat", "r1", "r2")
	c := joined(n, "chat", "r2")
	d := joined(n, "chat")

	wantCount(t, "disconnect room", ctlCall(t, nc, "router.chat.ctl.disconnect", `{"room":"r1"}`), 2)
	for _, m := range []member{a, b} {
		if f := m.c.Next(routertest.IsType("disconnected")); f.Str("ns") != "chat" || f.Str("reason") == "" {
			t.Errorf("disconnected: %v", f)
		}
		if code := m.c.ErrorCode(map[string]any{"type": "presence", "ns": "chat", "room": "r2"}); code != "not_connected" {
			t.Errorf("after kick: %s, want not_connected", code)
		}
	}
	c.c.None(routertest.IsType("disconnected"))
	d.c.None(routertest.IsType("disconnected"))
	c.c.Next(isSID("$leave", b.sid))
	rep := ctlCall(t, nc, "router.chat.ctl.presence", `{"room":"r2"}`)
	if got := sids(t, rep["members"]); !reflect.DeepEqual(got, []string{c.sid}) {
		t.Errorf("r2 after kick: %v, want %s", got, c.sid)
	}
	equalJSON(t, "rooms", mustJSON(t, ctlCall(t, nc, "router.chat.ctl.rooms", `{}`)),
		`{"ok":true,"rooms":[{"room":"r2","members":1}]}`)
}

// roomsOf returns a rooms reply as room → members, failing on any other shape.
func roomsOf(t *testing.T, rep map[string]any) map[string]float64 {
	t.Helper()
	if rep["ok"] != true || len(rep) != 2 {
		t.Fatalf("rooms reply %v", rep)
	}
	list, ok := rep["rooms"].([]any)
	if !ok {
		t.Fatalf("rooms reply %v: rooms is not a list", rep)
	}
	out := map[string]float64{}
	for _, e := range list {
		obj, _ := e.(map[string]any)
		name, _ := obj["room"].(string)
		count, ok := obj["members"].(float64)
		if name == "" || !ok || len(obj) != 2 {
			t.Errorf("rooms entry %v: want {\"room\":name,\"members\":count}", e)
		}
		if _, dup := out[name]; dup {
			t.Errorf("room %q listed twice", name)
		}
		out[name] = count
	}
	return out
}

func TestCtlPresenceAndRooms(t *testing.T) {
	t.Parallel()
	n := nodeWith(t, func(c *config.Config) { c.Namespaces["other"] = config.DefaultNamespace() })
	nc := n.Backend()

	equalJSON(t, "rooms of an empty namespace", mustJSON(t, ctlCall(t, nc, "router.chat.ctl.rooms", `{}`)), `{"ok":true,"rooms":[]}`)
	equalJSON(t, "presence of an empty room", mustJSON(t, ctlCall(t, nc, "router.chat.ctl.presence", `{"room":"lobby"}`)), `{"ok":true,"members":[]}`)

	a, b := joined(n, "chat", "lobby", "x y"), joined(n, "chat", "lobby")
	joined(n, "chat") // in no room
	joined(n, "other", "lobby", "elsewhere")

	rep := ctlCall(t, nc, "router.chat.ctl.presence", `{"room":"lobby"}`)
	if rep["ok"] != true || len(rep) != 2 {
		t.Errorf("presence reply %v", rep)
	}
	if got, want := sids(t, rep["members"]), sorted(a.sid, b.sid); !reflect.DeepEqual(got, want) {
		t.Errorf("presence: %v, want %v", got, want)
	}
	rep = ctlCall(t, nc, "router.chat.ctl.presence", `{"room":"x y"}`)
	if got := sids(t, rep["members"]); !reflect.DeepEqual(got, []string{a.sid}) {
		t.Errorf("presence of x y: %v, want %s", got, a.sid)
	}
	// The rooms body may be empty as well as {}.
	for _, body := range []string{`{}`, ``} {
		if got, want := roomsOf(t, ctlCall(t, nc, "router.chat.ctl.rooms", body)), map[string]float64{"lobby": 2, "x y": 1}; !reflect.DeepEqual(got, want) {
			t.Errorf("rooms (body %q): %v, want %v", body, got, want)
		}
	}
	if got, want := roomsOf(t, ctlCall(t, nc, "router.other.ctl.rooms", `{}`)), map[string]float64{"lobby": 1, "elsewhere": 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("rooms of other: %v, want %v", got, want)
	}

	// The presence frame of a client says the same.
	r := a.c.MustAck(map[string]any{"type": "presence", "ns": "chat", "room": "lobby"})
	data, _ := r["data"].(map[string]any)
	if got, want := sids(t, data["members"]), sorted(a.sid, b.sid); !reflect.DeepEqual(got, want) {
		t.Errorf("client presence: %v, want %v", got, want)
	}

	b.c.MustAck(map[string]any{"type": "leave", "ns": "chat", "room": "lobby"})
	if got, want := roomsOf(t, ctlCall(t, nc, "router.chat.ctl.rooms", `{}`)), map[string]float64{"lobby": 1, "x y": 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("rooms after leave: %v, want %v", got, want)
	}
	a.c.MustAck(map[string]any{"type": "disconnect", "ns": "chat"})
	equalJSON(t, "rooms after disconnect", mustJSON(t, ctlCall(t, nc, "router.chat.ctl.rooms", `{}`)), `{"ok":true,"rooms":[]}`)
}

func TestCtlBadRequests(t *testing.T) {
	t.Parallel()
	n := nodeWith(t, nil)
	nc := n.Backend()
	a := joined(n, "chat", "lobby")
	cases := []struct {
		subject, body, code string
	}{
		{"router.chat.ctl.join", `{"room":"lobby"}`, "bad_frame"},                                  // no sid or user
		{"router.chat.ctl.join", `{"sid":"` + a.sid + `","user":"u","room":"lobby"}`, "bad_frame"}, // both
		{"router.chat.ctl.join", `{"sid":"` + a.sid + `"}`, "bad_frame"},                           // no room
		{"router.chat.ctl.join", `{"sid":"","room":"lobby"}`, "bad_frame"},                         // empty sid
		{"router.chat.ctl.join", `{"sid":"` + a.sid + `","room":""}`, "invalid_name"},              // empty room
		{"router.chat.ctl.join", `{"sid":"` + a.sid + `","room":"a\u0001b"}`, "invalid_name"},      // control character
		{"router.chat.ctl.join", `{"sid":5,"room":"lobby"}`, "bad_frame"},                          // mistyped
		{"router.chat.ctl.join", ``, "bad_frame"},                                                  // no body
		{"router.chat.ctl.leave", `{"user":"u"}`, "bad_frame"},                                     // no room
		{"router.chat.ctl.leave", `{"room":"lobby"}`, "bad_frame"},                                 // no sid or user
		{"router.chat.ctl.disconnect", `{}`, "bad_frame"},                                          // no target
		{"router.chat.ctl.disconnect", `{"sid":"` + a.sid + `","room":"lobby"}`, "bad_frame"},      // two targets
		{"router.chat.ctl.disconnect", `{"user":"u","room":"lobby"}`, "bad_frame"},                 // two targets
		{"router.chat.ctl.presence", `{}`, "bad_frame"},                                            // no room
		{"router.chat.ctl.presence", `{"room":7}`, "bad_frame"},                                    // mistyped
		{"router.chat.ctl.join", `hello`, "bad_frame"},                                             // not JSON
		{"router.chat.ctl.join", `{"sid":"` + a.sid + `","room":"lobby"`, "bad_frame"},             // truncated
		{"router.chat.ctl.disconnect", `["` + a.sid + `"]`, "bad_frame"},                           // not an object
		{"router.nope.ctl.join", `{"sid":"` + a.sid + `","room":"lobby"}`, "unknown_namespace"},    // undeclared
		{"router.nope.ctl.rooms", `{}`, "unknown_namespace"},                                       // undeclared
		{"router.chat.ctl.explode", `{}`, "unknown_type"},                                          // unknown op
		{"router.chat.ctl.JOIN", `{"sid":"` + a.sid + `","room":"lobby"}`, "unknown_type"},         // ops are lower case
		{"router.a%2Eb.ctl.rooms", `{}`, "invalid_name"},                                           // not a namespace name
	}
	for _, tc := range cases {
		rep := ctlCall(t, nc, tc.subject, tc.body)
		e, _ := rep["error"].(map[string]any)
		code, _ := e["code"].(string)
		msg, _ := e["message"].(string)
		if rep["ok"] != false || len(rep) != 2 || code != tc.code || msg == "" || len(e) != 2 {
			t.Errorf("%s %s: %s, want {\"ok\":false,\"error\":{\"code\":%q,\"message\":..}}", tc.subject, tc.body, mustJSON(t, rep), tc.code)
		}
	}
	// None of it touched the socket.
	rep := ctlCall(t, nc, "router.chat.ctl.presence", `{"room":"lobby"}`)
	if got := sids(t, rep["members"]); !reflect.DeepEqual(got, []string{a.sid}) {
		t.Errorf("presence: %v, want %s", got, a.sid)
	}
	a.c.None(routertest.IsType("disconnected"))
}

// TestCtlCluster runs two routerd nodes on one NATS (the second uses the
// first one's embedded server as its external NATS): control requests get
// one reply that covers both nodes.
func TestCtlCluster(t *testing.T) {
	t.Parallel()
	n1 := nodeWith(t, nil)
	n2 := nodeWith(t, func(c *config.Config) {
		c.Node.Name = "t2"
		c.NATS.URL = []string{n1.NATSURL()}
	})
	nc := n1.Backend()
	pres := routertest.Subscribe(t, nc, "router.chat.presence.lobby")
	a := joined(n1, "chat", "lobby")
	b := joined(n2, "chat", "lobby")
	routertest.Eventually(t, "presence across both nodes", func() error {
		rep, err := ctlTry(nc, "router.chat.ctl.presence", `{"room":"lobby"}`)
		if err != nil {
			return err
		}
		if list, _ := rep["members"].([]any); len(list) != 2 {
			return fmt.Errorf("members %v", rep["members"])
		}
		return nil
	})
	rep := ctlCall(t, nc, "router.chat.ctl.presence", `{"room":"lobby"}`)
	if got, want := sids(t, rep["members"]), sorted(a.sid, b.sid); !reflect.DeepEqual(got, want) {
		t.Errorf("presence: %v, want %v", got, want)
	}
	nodes := map[string]string{}
	for _, m := range pres.WaitN(t, 2) {
		v := msgJSON(t, m)
		nodes[v["sid"].(string)] = v["node"].(string)
	}
	if nodes[a.sid] != "t1" || nodes[b.sid] != "t2" {
		t.Errorf("presence notices name nodes %v", nodes)
	}
	if got, want := roomsOf(t, ctlCall(t, nc, "router.chat.ctl.rooms", `{}`)), map[string]float64{"lobby": 2}; !reflect.DeepEqual(got, want) {
		t.Errorf("rooms: %v, want %v", got, want)
	}

	// Either node may take a request; the one on the other node acts all the same.
	for i := range 4 {
		room := fmt.Sprintf("side%d", i)
		wantCount(t, "join on node 2", ctlCall(t, nc, "router.chat.ctl.join", `{"sid":"`+b.sid+`","room":"`+room+`"}`), 1)
		backendPub(t, nc, "router.chat.room."+room+".ping", nil, nil)
		b.c.Next(routertest.IsEvent("ping"))
	}
	a.c.MustAck(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "across"})
	b.c.Next(fromSID("across", a.sid))

	wantCount(t, "disconnect room", ctlCall(t, nc, "router.chat.ctl.disconnect", `{"room":"lobby"}`), 2)
	a.c.Next(routertest.IsType("disconnected"))
	b.c.Next(routertest.IsType("disconnected"))
	equalJSON(t, "rooms", mustJSON(t, ctlCall(t, nc, "router.chat.ctl.rooms", `{}`)), `{"ok":true,"rooms":[]}`)
}

func TestCtlUserTargets(t *testing.T) {
	t.Parallel()
	n := nodeWith(t, withSecure)
	nc := n.Backend()
	alice1, alice2 := userSocket(t, n, "alice"), userSocket(t, n, "alice")
	bob := userSocket(t, n, "bob")

	wantCount(t, "join user", ctlCall(t, nc, "router.secure.ctl.join", `{"user":"alice","room":"vip"}`), 2)
	backendPub(t, nc, "router.secure.room.vip.news", nil, nil)
	alice1.c.Next(routertest.IsEvent("news"))
	alice2.c.Next(routertest.IsEvent("news"))
	bob.c.None(routertest.IsEvent("news"))
	rep := ctlCall(t, nc, "router.secure.ctl.presence", `{"room":"vip"}`)
	equalJSON(t, "presence", mustJSON(t, sortedMembers(t, rep)),
		mustJSON(t, sortedMembers(t, jsonValue(t, `{"ok":true,"members":[{"sid":"`+alice1.sid+`","user":"alice"},{"sid":"`+alice2.sid+`","user":"alice"}]}`))))

	wantCount(t, "leave user", ctlCall(t, nc, "router.secure.ctl.leave", `{"user":"alice","room":"vip"}`), 2)
	equalJSON(t, "rooms", mustJSON(t, ctlCall(t, nc, "router.secure.ctl.rooms", `{}`)), `{"ok":true,"rooms":[]}`)

	wantCount(t, "disconnect user", ctlCall(t, nc, "router.secure.ctl.disconnect", `{"user":"alice"}`), 2)
	alice1.c.Next(routertest.IsType("disconnected"))
	alice2.c.Next(routertest.IsType("disconnected"))
	bob.c.None(routertest.IsType("disconnected"))
	backendPub(t, nc, "router.secure.user.alice.gone", nil, nil)
	backendPub(t, nc, "router.secure.user.bob.here", nil, nil)
	bob.c.Next(routertest.IsEvent("here"))
	alice1.c.None(routertest.IsEvent("gone"))
	alice2.c.None(routertest.IsEvent("gone"))
}
