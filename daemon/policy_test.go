package daemon_test

// Integration tests of the namespace policy of SPEC §4: client_join,
// client_publish, direct, presence, presence_events, history, and glob
// namespace keys, each checked through a real node.

import (
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/internal/routertest"
)

// silentOn subscribes nc synchronously to subject, for nothingPublished.
func silentOn(t *testing.T, nc *nats.Conn, subject string) *nats.Subscription {
	t.Helper()
	sub, err := nc.SubscribeSync(subject)
	if err != nil {
		t.Fatalf("subscribe %s: %v", subject, err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return sub
}

// nothingPublished fails when sub (made by silentOn on nc) holds a message.
// A control request in ns is answered on routerd's one NATS connection after
// anything routerd published before it, and the server forwards both to nc
// in that order; so once the reply is in, a message would be pending.
func nothingPublished(t *testing.T, nc *nats.Conn, ns string, sub *nats.Subscription) {
	t.Helper()
	ctlCall(t, nc, "router."+ns+".ctl.rooms", `{}`)
	if n, _, _ := sub.Pending(); n != 0 {
		m, _ := sub.NextMsg(0)
		t.Errorf("%d messages published on %s, first on %s", n, sub.Subject, m.Subject)
	}
}

// noID matches error frames without an id.
func noID(f routertest.Frame) bool {
	_, ok := f["id"]
	return f.Type() == "error" && !ok
}

func TestPolicyClientJoinOff(t *testing.T) {
	t.Parallel()
	n := nodeWith(t, func(c *config.Config) {
		c.Namespaces["locked"] = nsWith(func(p *config.Namespace) { p.ClientJoin = false })
	})
	nc := n.Backend()
	a, b := joined(n, "locked"), joined(n, "locked")

	for _, typ := range []string{"join", "leave"} {
		if code := a.c.ErrorCode(map[string]any{"type": typ, "ns": "locked", "room": "r"}); code != "forbidden" {
			t.Errorf("%s: %s, want forbidden", typ, code)
		}
	}
	a.c.Send(map[string]any{"type": "join", "ns": "locked", "room": "r"})
	if f := a.c.Next(noID); f.Str("code") != "forbidden" {
		t.Errorf("join without id: %v", f)
	}
	equalJSON(t, "rooms", mustJSON(t, ctlCall(t, nc, "router.locked.ctl.rooms", `{}`)), `{"ok":true,"rooms":[]}`)

	// Backends put sockets in rooms; they then get the room's events and
	// may publish there as members.
	for _, m := range []member{a, b} {
		wantCount(t, "ctl join", ctlCall(t, nc, "router.locked.ctl.join", `{"sid":"`+m.sid+`","room":"r"}`), 1)
	}
	backendPub(t, nc, "router.locked.room.r.news", []byte(`{"n":1}`), nil)
	for _, m := range []member{a, b} {
		if f := m.c.Next(routertest.IsEvent("news")); f.Str("room") != "r" || f.JSON("data") != `{"n":1}` {
			t.Errorf("news: %v", f)
		}
	}
	a.c.MustAck(map[string]any{"type": "emit", "ns": "locked", "room": "r", "event": "hi"})
	b.c.Next(fromSID("hi", a.sid))

	// Nor may the client leave by itself.
	if code := a.c.ErrorCode(map[string]any{"type": "leave", "ns": "locked", "room": "r"}); code != "forbidden" {
		t.Errorf("leave: %s, want forbidden", code)
	}
	backendPub(t, nc, "router.locked.room.r.still", nil, nil)
	a.c.Next(routertest.IsEvent("still"))

	wantCount(t, "ctl leave", ctlCall(t, nc, "router.locked.ctl.leave", `{"sid":"`+a.sid+`","room":"r"}`), 1)
	backendPub(t, nc, "router.locked.room.r.gone", nil, nil)
	b.c.Next(routertest.IsEvent("gone"))
	a.c.None(routertest.IsEvent("gone"))
}

func TestPolicyClientPublish(t *testing.T) {
	t.Parallel()
	n := nodeWith(t, func(c *config.Config) {
		c.Namespaces["open"] = nsWith(func(p *config.Namespace) { p.ClientPublish = config.PublishAny })
		c.Namespaces["readonly"] = nsWith(func(p *config.Namespace) { p.ClientPublish = config.PublishNone })
	})
	nc := n.Backend()

	t.Run("any", func(t *testing.T) {
		a, b := joined(n, "open"), joined(n, "open", "r")
		a.c.MustAck(map[string]any{"type": "emit", "ns": "open", "room": "r", "event": "hi", "data": 1})
		if f := b.c.Next(routertest.IsEvent("hi")); f.Str("from") != a.sid || f.Str("room") != "r" {
			t.Errorf("hi: %v", f)
		}
		a.c.None(routertest.IsEvent("hi")) // not a member: publishing does not make one
	})

	t.Run("none", func(t *testing.T) {
		obs := silentOn(t, nc, "router.readonly.room.>")
		a, b := joined(n, "readonly", "r"), joined(n, "readonly", "r")
		if code := a.c.ErrorCode(map[string]any{"type": "emit", "ns": "readonly", "room": "r", "event": "hi"}); code != "forbidden" {
			t.Errorf("emit: %s, want forbidden", code)
		}
		a.c.Send(map[string]any{"type": "emit", "ns": "readonly", "room": "r", "event": "hi", "self": true})
		if f := a.c.Next(noID); f.Str("code") != "forbidden" {
			t.Errorf("emit without id: %v", f)
		}
		nothingPublished(t, nc, "readonly", obs)
		b.c.None(routertest.IsEvent("hi"))
		// Backends still publish to the room.
		backendPub(t, nc, "router.readonly.room.r.news", nil, nil)
		a.c.Next(routertest.IsEvent("news"))
		b.c.Next(routertest.IsEvent("news"))
	})

	t.Run("members", func(t *testing.T) {
		obs := silentOn(t, nc, "router.chat.room.r.>")
		a, b := joined(n, "chat"), joined(n, "chat", "r")
		if code := a.c.ErrorCode(map[string]any{"type": "emit", "ns": "chat", "room": "r", "event": "hi"}); code != "not_member" {
			t.Errorf("emit by a non-member: %s, want not_member", code)
		}
		nothingPublished(t, nc, "chat", obs)
		a.c.Join("chat", "r")
		a.c.MustAck(map[string]any{"type": "emit", "ns": "chat", "room": "r", "event": "hi"})
		b.c.Next(fromSID("hi", a.sid))
		a.c.MustAck(map[string]any{"type": "leave", "ns": "chat", "room": "r"})
		if code := a.c.ErrorCode(map[string]any{"type": "emit", "ns": "chat", "room": "r", "event": "hi"}); code != "not_member" {
			t.Errorf("emit after leaving: %s, want not_member", code)
		}
	})
}

func TestPolicyDirect(t *testing.T) {
	t.Parallel()
	n := nodeWith(t, func(c *config.Config) { c.Namespaces["nodirect"] = config.DefaultNamespace() })
	nc := n.Backend()

	t.Run("off", func(t *testing.T) {
		obs := silentOn(t, nc, "router.nodirect.socket.>")
		a, b := joined(n, "nodirect"), joined(n, "nodirect")
		if code := a.c.ErrorCode(map[string]any{"type": "emit", "ns": "nodirect", "to": b.sid, "event": "psst"}); code != "forbidden" {
			t.Errorf("emit to: %s, want forbidden", code)
		}
		nothingPublished(t, nc, "nodirect", obs)
		b.c.None(routertest.IsEvent("psst"))
	})

	t.Run("on", func(t *testing.T) {
		a, b, c := joined(n, "chat", "r"), joined(n, "chat", "r"), joined(n, "chat", "r")
		a.c.MustAck(map[string]any{"type": "emit", "ns": "chat", "to": b.sid, "event": "psst", "data": "x"})
		f := b.c.Next(routertest.IsEvent("psst"))
		if f.Str("from") != a.sid || f.JSON("data") != `"x"` {
			t.Errorf("psst: %v", f)
		}
		noField(t, f, "room")
		c.c.None(routertest.IsEvent("psst"))
		a.c.None(routertest.IsEvent("psst"))
		// A sid that does not exist is not an error.
		a.c.MustAck(map[string]any{"type": "emit", "ns": "chat", "to": "AAAAAAAAAAAAAAAAAAAAAA", "event": "psst"})
		a.c.Send(map[string]any{"type": "emit", "ns": "chat", "to": "AAAAAAAAAAAAAAAAAAAAAA", "event": "psst"})
		a.c.None(noID)

		// A sid of another namespace reaches no one: the target is a sid
		// of the sender's namespace. A wildcard or anything else that is
		// not a sid is refused.
		other := joined(n, "nodirect")
		a.c.MustAck(map[string]any{"type": "emit", "ns": "chat", "to": other.sid, "event": "stray"})
		for _, to := range []string{"*", ">", b.sid + ".x"} {
			if code := a.c.ErrorCode(map[string]any{"type": "emit", "ns": "chat", "to": to, "event": "stray"}); code != "invalid_name" {
				t.Errorf("to %q: %s, want invalid_name", to, code)
			}
		}
		a.c.MustAck(map[string]any{"type": "emit", "ns": "chat", "to": b.sid, "event": "marker"})
		b.c.Next(routertest.IsEvent("marker"))
		b.c.None(routertest.IsEvent("stray"))
		c.c.None(routertest.IsEvent("stray"))
		other.c.None(routertest.IsEvent("stray"))
	})
}

func TestPolicyPresence(t *testing.T) {
	t.Parallel()
	n := nodeWith(t, func(c *config.Config) {
		c.Namespaces["nopresence"] = nsWith(func(p *config.Namespace) { p.Presence = false })
	})
	nc := n.Backend()
	a := joined(n, "nopresence", "r")
	if code := a.c.ErrorCode(map[string]any{"type": "presence", "ns": "nopresence", "room": "r"}); code != "forbidden" {
		t.Errorf("presence: %s, want forbidden", code)
	}
	// The policy is about clients: backends still ask.
	rep := ctlCall(t, nc, "router.nopresence.ctl.presence", `{"room":"r"}`)
	equalJSON(t, "ctl presence", mustJSON(t, rep), `{"ok":true,"members":[{"sid":"`+a.sid+`"}]}`)

	b := joined(n, "chat", "r")
	r := b.c.MustAck(map[string]any{"type": "presence", "ns": "chat", "room": "r"})
	equalJSON(t, "presence", r.JSON("data"), `{"members":[{"sid":"`+b.sid+`"}]}`)
}

func TestPolicyPresenceEvents(t *testing.T) {
	t.Parallel()
	n := nodeWith(t, func(c *config.Config) { c.Namespaces["quiet"] = config.DefaultNamespace() })

	t.Run("on", func(t *testing.T) {
		a, b := joined(n, "chat", "r"), joined(n, "chat", "r")
		c := joined(n, "chat")
		c.c.Join("chat", "r")
		for _, m := range []member{a, b} {
			f := m.c.Next(isSID("$join", c.sid))
			if f.Str("room") != "r" || f.Str("ns") != "chat" {
				t.Errorf("$join: %v", f)
			}
			equalJSON(t, "$join data", f.JSON("data"), `{"sid":"`+c.sid+`"}`)
			noField(t, f, "from")
		}
		c.c.None(isSID("$join", c.sid)) // not its own

		c.c.MustAck(map[string]any{"type": "leave", "ns": "chat", "room": "r"})
		for _, m := range []member{a, b} {
			equalJSON(t, "$leave data", m.c.Next(routertest.IsEvent("$leave")).JSON("data"), `{"sid":"`+c.sid+`"}`)
		}
		c.c.None(routertest.IsEvent("$leave"))

		// Leaving by closing the connection counts too.
		c.c.Join("chat", "r")
		a.c.Next(isSID("$join", c.sid))
		if err := c.c.WS.Close(); err != nil {
			t.Fatal(err)
		}
		a.c.Next(isSID("$leave", c.sid))
		b.c.Next(isSID("$leave", c.sid))
	})

	t.Run("off", func(t *testing.T) {
		a, b := joined(n, "quiet", "r"), joined(n, "quiet", "r")
		c := joined(n, "quiet")
		c.c.Join("quiet", "r")
		// Were there a $join, it would be queued ahead of this event.
		a.c.MustAck(map[string]any{"type": "emit", "ns": "quiet", "room": "r", "event": "after_join"})
		b.c.Next(routertest.IsEvent("after_join"))
		c.c.Next(routertest.IsEvent("after_join"))
		a.c.None(routertest.IsEvent("$join"))
		b.c.None(routertest.IsEvent("$join"))

		c.c.MustAck(map[string]any{"type": "leave", "ns": "quiet", "room": "r"})
		a.c.MustAck(map[string]any{"type": "emit", "ns": "quiet", "room": "r", "event": "after_leave"})
		b.c.Next(routertest.IsEvent("after_leave"))
		b.c.None(routertest.IsEvent("$leave"))
		c.c.None(routertest.IsEvent("after_leave"))
	})
}

func TestPolicyHistoryOff(t *testing.T) {
	t.Parallel()
	n := nodeWith(t, nil)
	a := joined(n, "chat", "r")
	for _, frame := range []map[string]any{
		{"type": "history", "ns": "chat", "room": "r"},
		{"type": "history", "ns": "chat", "room": "r", "limit": 10, "before": 5},
		{"type": "history", "ns": "chat", "room": "not-joined"},
	} {
		if code := a.c.ErrorCode(frame); code != "forbidden" {
			t.Errorf("%v: %s, want forbidden", frame, code)
		}
	}
}

// TestPolicyGlobNamespaces checks that a glob key declares every namespace
// it matches with its policy, and that an exact key beats it.
func TestPolicyGlobNamespaces(t *testing.T) {
	t.Parallel()
	n := nodeWith(t, func(c *config.Config) {
		c.Namespaces["tenant-*"] = nsWith(func(p *config.Namespace) { p.ClientPublish = config.PublishAny })
		c.Namespaces["tenant-vip"] = nsWith(func(p *config.Namespace) { p.ClientPublish = config.PublishNone })
	})
	nc := n.Backend()
	a, b := joined(n, "tenant-acme"), joined(n, "tenant-acme", "r")
	a.c.MustAck(map[string]any{"type": "emit", "ns": "tenant-acme", "room": "r", "event": "hi"})
	b.c.Next(fromSID("hi", a.sid))
	backendPub(t, nc, "router.tenant-acme.room.r.news", nil, nil)
	b.c.Next(routertest.IsEvent("news"))

	v := joined(n, "tenant-vip", "r")
	if code := v.c.ErrorCode(map[string]any{"type": "emit", "ns": "tenant-vip", "room": "r", "event": "hi"}); code != "forbidden" {
		t.Errorf("tenant-vip emit: %s, want forbidden", code)
	}
	for _, ns := range []string{"tenant", "tenan-x", "other"} {
		if code := a.c.ErrorCode(map[string]any{"type": "connect", "ns": ns}); code != "unknown_namespace" {
			t.Errorf("connect %s: %s, want unknown_namespace", ns, code)
		}
	}
}
