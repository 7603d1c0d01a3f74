package router_test

// Tests of the control requests of docs/backends.md (P.{ns}.ctl.{op}): server-side
// join and leave, kicks, cluster-wide presence and room lists, the error
// replies to bad requests, and the reply subjects never answered, through
// a whole node (internal/routertest).

import (
	"fmt"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/internal/routertest"
)

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
	n := routertest.StartWith(t, nil)
	nc := n.Backend()
	pres := routertest.Subscribe(t, nc, "router.chat.presence.lobby")
	a := n.Joined("chat")
	b := n.Joined("chat", "lobby")
	pres.WaitN(t, 1)

	routertest.WantCount(t, "join", routertest.CtlCall(t, nc, "router.chat.ctl.join", `{"sid":"`+a.SID+`","room":"lobby"}`), 1)
	// Once the reply is in, the room's events reach the socket.
	routertest.Publish(t, nc, "router.chat.room.lobby.news", []byte(`1`), nil)
	if f := a.C.Next(routertest.IsEvent("news")); f.Str("room") != "lobby" {
		t.Errorf("news: %v", f)
	}
	m := pres.WaitN(t, 2)[1]
	routertest.EqualJSON(t, "presence notice", string(m.Data), `{"action":"join","sid":"`+a.SID+`","node":"t1"}`)
	if f := b.C.Next(isSID("$join", a.SID)); f.Str("room") != "lobby" {
		t.Errorf("$join: %v", f)
	}
	rep := routertest.CtlCall(t, nc, "router.chat.ctl.presence", `{"room":"lobby"}`)
	if got, want := sids(t, rep["members"]), sorted(a.SID, b.SID); !reflect.DeepEqual(got, want) {
		t.Errorf("presence after ctl join: %v, want %v", got, want)
	}
	// Joining again changes nothing, and counts the socket as in the room
	// (docs/extensions.md: join counts the selected sockets in the room afterwards);
	// no second notice (the next one below is the leave).
	routertest.WantCount(t, "join again", routertest.CtlCall(t, nc, "router.chat.ctl.join", `{"sid":"`+a.SID+`","room":"lobby"}`), 1)
	// The socket is a member like any other: it may publish to the room.
	a.C.MustAck(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "hi"})
	b.C.Next(routertest.IsEventFrom("hi", a.SID))

	routertest.WantCount(t, "leave", routertest.CtlCall(t, nc, "router.chat.ctl.leave", `{"sid":"`+a.SID+`","room":"lobby"}`), 1)
	routertest.EqualJSON(t, "presence notice", string(pres.WaitN(t, 3)[2].Data), `{"action":"leave","sid":"`+a.SID+`","node":"t1"}`)
	b.C.Next(isSID("$leave", a.SID))
	routertest.Publish(t, nc, "router.chat.room.lobby.after", nil, nil)
	b.C.Next(routertest.IsEvent("after"))
	a.C.None(routertest.IsEvent("after"))
	if code := a.C.ErrorCode(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "hi"}); code != "not_member" {
		t.Errorf("emit after ctl leave: %s, want not_member", code)
	}

	routertest.WantCount(t, "leave again", routertest.CtlCall(t, nc, "router.chat.ctl.leave", `{"sid":"`+a.SID+`","room":"lobby"}`), 0)
	routertest.WantCount(t, "join unknown sid", routertest.CtlCall(t, nc, "router.chat.ctl.join", `{"sid":"nosuchsocket","room":"lobby"}`), 0)
	routertest.WantCount(t, "join unknown user", routertest.CtlCall(t, nc, "router.chat.ctl.join", `{"user":"nobody","room":"lobby"}`), 0)
	rep = routertest.CtlCall(t, nc, "router.chat.ctl.presence", `{"room":"lobby"}`)
	if got := sids(t, rep["members"]); !reflect.DeepEqual(got, []string{b.SID}) {
		t.Errorf("presence: %v, want only %s", got, b.SID)
	}
}

func TestCtlDisconnectSocket(t *testing.T) {
	t.Parallel()
	n := routertest.StartWith(t, func(c *config.Config) { c.Namespaces["other"] = config.DefaultNamespace() })
	nc := n.Backend()
	life := routertest.Subscribe(t, nc, "router.chat.lifecycle.disconnect")
	pres := routertest.Subscribe(t, nc, "router.chat.presence.lobby")

	a := n.Dial()
	sa := a.Connect("chat")
	so := a.Connect("other")
	a.Join("chat", "lobby")
	a.Join("other", "lobby")
	b := n.Joined("chat", "lobby")
	pres.WaitN(t, 2)

	routertest.WantCount(t, "disconnect", routertest.CtlCall(t, nc, "router.chat.ctl.disconnect", `{"sid":"`+sa+`"}`), 1)
	f := a.Next(routertest.IsType("disconnected"))
	if f.Str("ns") != "chat" || f.Str("reason") == "" {
		t.Errorf("disconnected frame: %v", f)
	}
	b.C.Next(isSID("$leave", sa))
	routertest.EqualJSON(t, "presence notice", string(pres.WaitN(t, 3)[2].Data), `{"action":"leave","sid":"`+sa+`","node":"t1"}`)
	routertest.EqualJSON(t, "lifecycle notice", string(life.WaitN(t, 1)[0].Data), `{"sid":"`+sa+`","node":"t1"}`)
	if code := a.ErrorCode(map[string]any{"type": "join", "ns": "chat", "room": "lobby"}); code != "not_connected" {
		t.Errorf("join after kick: %s, want not_connected", code)
	}
	routertest.Publish(t, nc, "router.chat.room.lobby.after", nil, nil)
	b.C.Next(routertest.IsEvent("after"))
	a.None(routertest.IsEvent("after"))

	// The connection and its other socket live on.
	routertest.Publish(t, nc, "router.other.room.lobby.still", nil, nil)
	a.Next(ofNS("still", "other"))
	sa2 := a.Connect("chat")
	if sa2 == sa {
		t.Errorf("reconnect got the old sid %s", sa)
	}
	a.Join("chat", "lobby")
	routertest.Publish(t, nc, "router.chat.room.lobby.back", nil, nil)
	a.Next(ofNS("back", "chat"))

	// A reason given by the backend reaches the client (extension).
	routertest.WantCount(t, "disconnect with reason", routertest.CtlCall(t, nc, "router.other.ctl.disconnect", `{"sid":"`+so+`","reason":"maintenance"}`), 1)
	if f := a.Next(routertest.IsType("disconnected")); f.Str("ns") != "other" || f.Str("reason") != "maintenance" {
		t.Errorf("disconnected frame: %v", f)
	}
	// A sid of another namespace, an unknown sid: nothing to do.
	routertest.WantCount(t, "disconnect chat sid in other", routertest.CtlCall(t, nc, "router.other.ctl.disconnect", `{"sid":"`+sa2+`"}`), 0)
	routertest.WantCount(t, "disconnect unknown", routertest.CtlCall(t, nc, "router.chat.ctl.disconnect", `{"sid":"nosuchsocket"}`), 0)
	a.None(routertest.IsType("disconnected"))
	a.MustAck(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "alive"})
	b.C.Next(routertest.IsEventFrom("alive", sa2))
}

func TestCtlDisconnectRoom(t *testing.T) {
	t.Parallel()
	n := routertest.StartWith(t, nil)
	nc := n.Backend()
	a, b := n.Joined("chat", "r1"), n.Joined("chat", "r1", "r2")
	c := n.Joined("chat", "r2")
	d := n.Joined("chat")

	routertest.WantCount(t, "disconnect room", routertest.CtlCall(t, nc, "router.chat.ctl.disconnect", `{"room":"r1"}`), 2)
	for _, m := range []routertest.Member{a, b} {
		if f := m.C.Next(routertest.IsType("disconnected")); f.Str("ns") != "chat" || f.Str("reason") == "" {
			t.Errorf("disconnected: %v", f)
		}
		if code := m.C.ErrorCode(map[string]any{"type": "presence", "ns": "chat", "room": "r2"}); code != "not_connected" {
			t.Errorf("after kick: %s, want not_connected", code)
		}
	}
	c.C.None(routertest.IsType("disconnected"))
	d.C.None(routertest.IsType("disconnected"))
	c.C.Next(isSID("$leave", b.SID))
	rep := routertest.CtlCall(t, nc, "router.chat.ctl.presence", `{"room":"r2"}`)
	if got := sids(t, rep["members"]); !reflect.DeepEqual(got, []string{c.SID}) {
		t.Errorf("r2 after kick: %v, want %s", got, c.SID)
	}
	routertest.EqualJSON(t, "rooms", routertest.MustJSON(t, routertest.CtlCall(t, nc, "router.chat.ctl.rooms", `{}`)),
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
	n := routertest.StartWith(t, func(c *config.Config) { c.Namespaces["other"] = config.DefaultNamespace() })
	nc := n.Backend()

	routertest.EqualJSON(t, "rooms of an empty namespace", routertest.MustJSON(t, routertest.CtlCall(t, nc, "router.chat.ctl.rooms", `{}`)), `{"ok":true,"rooms":[]}`)
	routertest.EqualJSON(t, "presence of an empty room", routertest.MustJSON(t, routertest.CtlCall(t, nc, "router.chat.ctl.presence", `{"room":"lobby"}`)), `{"ok":true,"members":[]}`)

	a, b := n.Joined("chat", "lobby", "x y"), n.Joined("chat", "lobby")
	n.Joined("chat") // in no room
	n.Joined("other", "lobby", "elsewhere")

	rep := routertest.CtlCall(t, nc, "router.chat.ctl.presence", `{"room":"lobby"}`)
	if rep["ok"] != true || len(rep) != 2 {
		t.Errorf("presence reply %v", rep)
	}
	if got, want := sids(t, rep["members"]), sorted(a.SID, b.SID); !reflect.DeepEqual(got, want) {
		t.Errorf("presence: %v, want %v", got, want)
	}
	rep = routertest.CtlCall(t, nc, "router.chat.ctl.presence", `{"room":"x y"}`)
	if got := sids(t, rep["members"]); !reflect.DeepEqual(got, []string{a.SID}) {
		t.Errorf("presence of x y: %v, want %s", got, a.SID)
	}
	// The rooms body may be empty as well as {}.
	for _, body := range []string{`{}`, ``} {
		if got, want := roomsOf(t, routertest.CtlCall(t, nc, "router.chat.ctl.rooms", body)), map[string]float64{"lobby": 2, "x y": 1}; !reflect.DeepEqual(got, want) {
			t.Errorf("rooms (body %q): %v, want %v", body, got, want)
		}
	}
	if got, want := roomsOf(t, routertest.CtlCall(t, nc, "router.other.ctl.rooms", `{}`)), map[string]float64{"lobby": 1, "elsewhere": 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("rooms of other: %v, want %v", got, want)
	}

	// The presence frame of a client says the same.
	r := a.C.MustAck(map[string]any{"type": "presence", "ns": "chat", "room": "lobby"})
	data, _ := r["data"].(map[string]any)
	if got, want := sids(t, data["members"]), sorted(a.SID, b.SID); !reflect.DeepEqual(got, want) {
		t.Errorf("client presence: %v, want %v", got, want)
	}

	b.C.MustAck(map[string]any{"type": "leave", "ns": "chat", "room": "lobby"})
	if got, want := roomsOf(t, routertest.CtlCall(t, nc, "router.chat.ctl.rooms", `{}`)), map[string]float64{"lobby": 1, "x y": 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("rooms after leave: %v, want %v", got, want)
	}
	a.C.MustAck(map[string]any{"type": "disconnect", "ns": "chat"})
	routertest.EqualJSON(t, "rooms after disconnect", routertest.MustJSON(t, routertest.CtlCall(t, nc, "router.chat.ctl.rooms", `{}`)), `{"ok":true,"rooms":[]}`)
}

func TestCtlBadRequests(t *testing.T) {
	t.Parallel()
	n := routertest.StartWith(t, nil)
	nc := n.Backend()
	a := n.Joined("chat", "lobby")
	cases := []struct {
		subject, body, code string
	}{
		{"router.chat.ctl.join", `{"room":"lobby"}`, "bad_frame"},                                  // no sid or user
		{"router.chat.ctl.join", `{"sid":"` + a.SID + `","user":"u","room":"lobby"}`, "bad_frame"}, // both
		{"router.chat.ctl.join", `{"sid":"` + a.SID + `"}`, "bad_frame"},                           // no room
		{"router.chat.ctl.join", `{"sid":"","room":"lobby"}`, "bad_frame"},                         // empty sid
		{"router.chat.ctl.join", `{"sid":"` + a.SID + `","room":""}`, "invalid_name"},              // empty room
		{"router.chat.ctl.join", `{"sid":"` + a.SID + `","room":"a\u0001b"}`, "invalid_name"},      // control character
		{"router.chat.ctl.join", `{"sid":5,"room":"lobby"}`, "bad_frame"},                          // mistyped
		{"router.chat.ctl.join", ``, "bad_frame"},                                                  // no body
		{"router.chat.ctl.leave", `{"user":"u"}`, "bad_frame"},                                     // no room
		{"router.chat.ctl.leave", `{"room":"lobby"}`, "bad_frame"},                                 // no sid or user
		{"router.chat.ctl.disconnect", `{}`, "bad_frame"},                                          // no target
		{"router.chat.ctl.disconnect", `{"sid":"` + a.SID + `","room":"lobby"}`, "bad_frame"},      // two targets
		{"router.chat.ctl.disconnect", `{"user":"u","room":"lobby"}`, "bad_frame"},                 // two targets
		{"router.chat.ctl.presence", `{}`, "bad_frame"},                                            // no room
		{"router.chat.ctl.presence", `{"room":7}`, "bad_frame"},                                    // mistyped
		{"router.chat.ctl.join", `hello`, "bad_frame"},                                             // not JSON
		{"router.chat.ctl.join", `{"sid":"` + a.SID + `","room":"lobby"`, "bad_frame"},             // truncated
		{"router.chat.ctl.disconnect", `["` + a.SID + `"]`, "bad_frame"},                           // not an object
		{"router.nope.ctl.join", `{"sid":"` + a.SID + `","room":"lobby"}`, "unknown_namespace"},    // undeclared
		{"router.nope.ctl.rooms", `{}`, "unknown_namespace"},                                       // undeclared
		{"router.chat.ctl.explode", `{}`, "unknown_type"},                                          // unknown op
		{"router.chat.ctl.JOIN", `{"sid":"` + a.SID + `","room":"lobby"}`, "unknown_type"},         // ops are lower case
		{"router.a%2Eb.ctl.rooms", `{}`, "invalid_name"},                                           // not a namespace name
	}
	for _, tc := range cases {
		rep := routertest.CtlCall(t, nc, tc.subject, tc.body)
		e, _ := rep["error"].(map[string]any)
		code, _ := e["code"].(string)
		msg, _ := e["message"].(string)
		if rep["ok"] != false || len(rep) != 2 || code != tc.code || msg == "" || len(e) != 2 {
			t.Errorf("%s %s: %s, want {\"ok\":false,\"error\":{\"code\":%q,\"message\":..}}", tc.subject, tc.body, routertest.MustJSON(t, rep), tc.code)
		}
	}
	// None of it touched the socket.
	rep := routertest.CtlCall(t, nc, "router.chat.ctl.presence", `{"room":"lobby"}`)
	if got := sids(t, rep["members"]); !reflect.DeepEqual(got, []string{a.SID}) {
		t.Errorf("presence: %v, want %s", got, a.SID)
	}
	a.C.None(routertest.IsType("disconnected"))
}

// TestCtlCluster runs two routerd nodes on one NATS (the second uses the
// first one's embedded server as its external NATS): control requests get
// one reply that covers both nodes.
func TestCtlCluster(t *testing.T) {
	t.Parallel()
	n1 := routertest.StartWith(t, nil)
	n2 := routertest.StartWith(t, func(c *config.Config) {
		c.Node.Name = "t2"
		c.NATS.URL = []string{n1.NATSURL()}
	})
	nc := n1.Backend()
	pres := routertest.Subscribe(t, nc, "router.chat.presence.lobby")
	a := n1.Joined("chat", "lobby")
	b := n2.Joined("chat", "lobby")
	routertest.Eventually(t, "presence across both nodes", func() error {
		rep, err := routertest.CtlTry(nc, "router.chat.ctl.presence", `{"room":"lobby"}`)
		if err != nil {
			return err
		}
		if list, _ := rep["members"].([]any); len(list) != 2 {
			return fmt.Errorf("members %v", rep["members"])
		}
		return nil
	})
	rep := routertest.CtlCall(t, nc, "router.chat.ctl.presence", `{"room":"lobby"}`)
	if got, want := sids(t, rep["members"]), sorted(a.SID, b.SID); !reflect.DeepEqual(got, want) {
		t.Errorf("presence: %v, want %v", got, want)
	}
	nodes := map[string]string{}
	for _, m := range pres.WaitN(t, 2) {
		v := msgJSON(t, m)
		nodes[v["sid"].(string)] = v["node"].(string)
	}
	if nodes[a.SID] != "t1" || nodes[b.SID] != "t2" {
		t.Errorf("presence notices name nodes %v", nodes)
	}
	if got, want := roomsOf(t, routertest.CtlCall(t, nc, "router.chat.ctl.rooms", `{}`)), map[string]float64{"lobby": 2}; !reflect.DeepEqual(got, want) {
		t.Errorf("rooms: %v, want %v", got, want)
	}

	// Either node may take a request; the one on the other node acts all the same.
	for i := range 4 {
		room := fmt.Sprintf("side%d", i)
		routertest.WantCount(t, "join on node 2", routertest.CtlCall(t, nc, "router.chat.ctl.join", `{"sid":"`+b.SID+`","room":"`+room+`"}`), 1)
		routertest.Publish(t, nc, "router.chat.room."+room+".ping", nil, nil)
		b.C.Next(routertest.IsEvent("ping"))
	}
	a.C.MustAck(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "across"})
	b.C.Next(routertest.IsEventFrom("across", a.SID))

	routertest.WantCount(t, "disconnect room", routertest.CtlCall(t, nc, "router.chat.ctl.disconnect", `{"room":"lobby"}`), 2)
	a.C.Next(routertest.IsType("disconnected"))
	b.C.Next(routertest.IsType("disconnected"))
	routertest.EqualJSON(t, "rooms", routertest.MustJSON(t, routertest.CtlCall(t, nc, "router.chat.ctl.rooms", `{}`)), `{"ok":true,"rooms":[]}`)
}

func TestCtlUserTargets(t *testing.T) {
	t.Parallel()
	n := routertest.StartWith(t, withSecure)
	nc := n.Backend()
	alice1, alice2 := userSocket(t, n, "alice"), userSocket(t, n, "alice")
	bob := userSocket(t, n, "bob")

	routertest.WantCount(t, "join user", routertest.CtlCall(t, nc, "router.secure.ctl.join", `{"user":"alice","room":"vip"}`), 2)
	routertest.Publish(t, nc, "router.secure.room.vip.news", nil, nil)
	alice1.C.Next(routertest.IsEvent("news"))
	alice2.C.Next(routertest.IsEvent("news"))
	bob.C.None(routertest.IsEvent("news"))
	rep := routertest.CtlCall(t, nc, "router.secure.ctl.presence", `{"room":"vip"}`)
	routertest.EqualJSON(t, "presence", routertest.MustJSON(t, sortedMembers(t, rep)),
		routertest.MustJSON(t, sortedMembers(t, routertest.JSONValue(t, `{"ok":true,"members":[{"sid":"`+alice1.SID+`","user":"alice"},{"sid":"`+alice2.SID+`","user":"alice"}]}`))))

	routertest.WantCount(t, "leave user", routertest.CtlCall(t, nc, "router.secure.ctl.leave", `{"user":"alice","room":"vip"}`), 2)
	routertest.EqualJSON(t, "rooms", routertest.MustJSON(t, routertest.CtlCall(t, nc, "router.secure.ctl.rooms", `{}`)), `{"ok":true,"rooms":[]}`)

	routertest.WantCount(t, "disconnect user", routertest.CtlCall(t, nc, "router.secure.ctl.disconnect", `{"user":"alice"}`), 2)
	alice1.C.Next(routertest.IsType("disconnected"))
	alice2.C.Next(routertest.IsType("disconnected"))
	bob.C.None(routertest.IsType("disconnected"))
	routertest.Publish(t, nc, "router.secure.user.alice.gone", nil, nil)
	routertest.Publish(t, nc, "router.secure.user.bob.here", nil, nil)
	bob.C.Next(routertest.IsEvent("here"))
	alice1.C.None(routertest.IsEvent("gone"))
	alice2.C.None(routertest.IsEvent("gone"))
}

// TestCtlReplyGuard: on one shared account (no nats.users) routerd still
// never answers a control request on a subject of its contract or a system
// subject, so a requester cannot aim its answer into a room.
func TestCtlReplyGuard(t *testing.T) {
	t.Parallel()
	n := routertest.StartWith(t, nil)
	be := n.Backend()
	c := n.Dial()
	c.Connect("chat")
	c.Join("chat", "lobby")
	for _, reply := range []string{"router.chat.room.lobby.message", "router.chat.broadcast.message", "$JS.API.STREAM.DELETE.x"} {
		if err := be.PublishRequest("router.chat.ctl.rooms", reply, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	if rep := routertest.CtlCall(t, be, "router.chat.ctl.rooms", `{}`); rep["ok"] != true {
		t.Fatalf("ctl: %v", rep)
	}
	// Rooms requests are served side by side: the three may still be in
	// hand after the one answered above. Each counts its drop once done.
	routertest.Eventually(t, "three dropped replies", func() error {
		if got := routertest.Metric(t, n, `routerd_dropped_total{reason="reply_subject"}`); got != "3" {
			return fmt.Errorf("dropped replies = %q, want 3", got)
		}
		return nil
	})
	if err := be.Publish("router.chat.room.lobby.marker", []byte(`1`)); err != nil {
		t.Fatal(err)
	}
	c.Next(routertest.IsEvent("marker"))
	c.None(routertest.IsEvent("message"))
}

// TestCtlReadsDoNotQueue: while a node counted alive does not answer
// (here a ghost that only sends heartbeats), each presence or rooms
// request waits gatherTimeout (2 s) for it and answers partial. Such
// requests are served side by side: five asked at once all answer within
// one wait or so, where served one after another the last would take five.
func TestCtlReadsDoNotQueue(t *testing.T) {
	t.Parallel()
	n := routertest.StartWith(t, nil)
	nc := n.Backend()
	done := make(chan struct{})
	defer close(done)
	ghost := []byte(`{"id":"ghost-instance-of-a-test-node","node":"ghost"}`)
	go func() { // heard every second: never counted lost during the test
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			_ = nc.Publish("$routerd.router.hb", ghost)
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	routertest.Eventually(t, "a partial presence answer", func() error {
		m, err := nc.Request("router.chat.ctl.presence", []byte(`{"room":"lobby"}`), 3*time.Second)
		if err != nil {
			return err
		}
		if m.Header.Get("Router-Partial") != "true" {
			return fmt.Errorf("not partial: %s", m.Data)
		}
		return nil
	})

	const asked = 5
	inbox := nc.NewRespInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := range asked {
		subject, body := "router.chat.ctl.presence", `{"room":"lobby"}`
		if i%2 == 1 {
			subject, body = "router.chat.ctl.rooms", `{}`
		}
		if err := nc.PublishRequest(subject, inbox, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	// Served one after another the last answer would come after 5 × 2 s.
	bound := 3 * 2 * time.Second
	for i := range asked {
		m, err := sub.NextMsg(max(time.Until(start.Add(bound)), time.Millisecond))
		if err != nil {
			t.Fatalf("answer %d of %d within %s: %v", i+1, asked, bound, err)
		}
		if m.Header.Get("Router-Partial") != "true" {
			t.Errorf("answer %d: %s %v, want Router-Partial: true", i+1, m.Data, m.Header)
		}
	}
	t.Logf("%d partial answers in %s", asked, time.Since(start).Round(time.Millisecond))
}
