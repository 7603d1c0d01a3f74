package router_test

// Tests of the namespace policy of docs/protocol.md#namespace-policy: client_join, client_publish,
// direct, presence, presence_events, history, and glob namespace keys, each
// checked through a whole node (internal/routertest).

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
	routertest.CtlCall(t, nc, "router."+ns+".ctl.rooms", `{}`)
	if n, _, _ := sub.Pending(); n != 0 {
		m, _ := sub.NextMsg(0)
		t.Errorf("%d messages published on %s, first on %s", n, sub.Subject, m.Subject)
	}
}

func TestPolicyClientJoinOff(t *testing.T) {
	t.Parallel()
	n := routertest.StartWith(t, func(c *config.Config) {
		c.Namespaces["locked"] = nsWith(func(p *config.Namespace) { p.ClientJoin = false })
	})
	nc := n.Backend()
	a, b := n.Joined("locked"), n.Joined("locked")

	for _, typ := range []string{"join", "leave"} {
		if code := a.C.ErrorCode(map[string]any{"type": typ, "ns": "locked", "room": "r"}); code != "forbidden" {
			t.Errorf("%s: %s, want forbidden", typ, code)
		}
	}
	a.C.Send(map[string]any{"type": "join", "ns": "locked", "room": "r"})
	if f := a.C.Next(routertest.IsErrorNoID); f.Str("code") != "forbidden" {
		t.Errorf("join without id: %v", f)
	}
	routertest.EqualJSON(t, "rooms", routertest.MustJSON(t, routertest.CtlCall(t, nc, "router.locked.ctl.rooms", `{}`)), `{"ok":true,"rooms":[]}`)

	// Backends put sockets in rooms; they then get the room's events and
	// may publish there as members.
	for _, m := range []routertest.Member{a, b} {
		routertest.WantCount(t, "ctl join", routertest.CtlCall(t, nc, "router.locked.ctl.join", `{"sid":"`+m.SID+`","room":"r"}`), 1)
	}
	routertest.Publish(t, nc, "router.locked.room.r.news", []byte(`{"n":1}`), nil)
	for _, m := range []routertest.Member{a, b} {
		if f := m.C.Next(routertest.IsEvent("news")); f.Str("room") != "r" || f.JSON("data") != `{"n":1}` {
			t.Errorf("news: %v", f)
		}
	}
	a.C.MustAck(map[string]any{"type": "emit", "ns": "locked", "room": "r", "event": "hi"})
	b.C.Next(routertest.IsEventFrom("hi", a.SID))

	// Nor may the client leave by itself.
	if code := a.C.ErrorCode(map[string]any{"type": "leave", "ns": "locked", "room": "r"}); code != "forbidden" {
		t.Errorf("leave: %s, want forbidden", code)
	}
	routertest.Publish(t, nc, "router.locked.room.r.still", nil, nil)
	a.C.Next(routertest.IsEvent("still"))

	routertest.WantCount(t, "ctl leave", routertest.CtlCall(t, nc, "router.locked.ctl.leave", `{"sid":"`+a.SID+`","room":"r"}`), 1)
	routertest.Publish(t, nc, "router.locked.room.r.gone", nil, nil)
	b.C.Next(routertest.IsEvent("gone"))
	a.C.None(routertest.IsEvent("gone"))
}

func TestPolicyClientPublish(t *testing.T) {
	t.Parallel()
	n := routertest.StartWith(t, func(c *config.Config) {
		c.Namespaces["open"] = nsWith(func(p *config.Namespace) { p.ClientPublish = config.PublishAny })
		c.Namespaces["readonly"] = nsWith(func(p *config.Namespace) { p.ClientPublish = config.PublishNone })
	})
	nc := n.Backend()

	t.Run("any", func(t *testing.T) {
		a, b := n.Joined("open"), n.Joined("open", "r")
		a.C.MustAck(map[string]any{"type": "emit", "ns": "open", "room": "r", "event": "hi", "data": 1})
		if f := b.C.Next(routertest.IsEvent("hi")); f.Str("from") != a.SID || f.Str("room") != "r" {
			t.Errorf("hi: %v", f)
		}
		a.C.None(routertest.IsEvent("hi")) // not a member: publishing does not make one
	})

	t.Run("none", func(t *testing.T) {
		obs := silentOn(t, nc, "router.readonly.room.>")
		a, b := n.Joined("readonly", "r"), n.Joined("readonly", "r")
		if code := a.C.ErrorCode(map[string]any{"type": "emit", "ns": "readonly", "room": "r", "event": "hi"}); code != "forbidden" {
			t.Errorf("emit: %s, want forbidden", code)
		}
		a.C.Send(map[string]any{"type": "emit", "ns": "readonly", "room": "r", "event": "hi", "self": true})
		if f := a.C.Next(routertest.IsErrorNoID); f.Str("code") != "forbidden" {
			t.Errorf("emit without id: %v", f)
		}
		nothingPublished(t, nc, "readonly", obs)
		b.C.None(routertest.IsEvent("hi"))
		// Backends still publish to the room.
		routertest.Publish(t, nc, "router.readonly.room.r.news", nil, nil)
		a.C.Next(routertest.IsEvent("news"))
		b.C.Next(routertest.IsEvent("news"))
	})

	t.Run("members", func(t *testing.T) {
		obs := silentOn(t, nc, "router.chat.room.r.>")
		a, b := n.Joined("chat"), n.Joined("chat", "r")
		if code := a.C.ErrorCode(map[string]any{"type": "emit", "ns": "chat", "room": "r", "event": "hi"}); code != "not_member" {
			t.Errorf("emit by a non-member: %s, want not_member", code)
		}
		nothingPublished(t, nc, "chat", obs)
		a.C.Join("chat", "r")
		a.C.MustAck(map[string]any{"type": "emit", "ns": "chat", "room": "r", "event": "hi"})
		b.C.Next(routertest.IsEventFrom("hi", a.SID))
		a.C.MustAck(map[string]any{"type": "leave", "ns": "chat", "room": "r"})
		if code := a.C.ErrorCode(map[string]any{"type": "emit", "ns": "chat", "room": "r", "event": "hi"}); code != "not_member" {
			t.Errorf("emit after leaving: %s, want not_member", code)
		}
	})
}

func TestPolicyDirect(t *testing.T) {
	t.Parallel()
	n := routertest.StartWith(t, func(c *config.Config) { c.Namespaces["nodirect"] = config.DefaultNamespace() })
	nc := n.Backend()

	t.Run("off", func(t *testing.T) {
		obs := silentOn(t, nc, "router.nodirect.socket.>")
		a, b := n.Joined("nodirect"), n.Joined("nodirect")
		if code := a.C.ErrorCode(map[string]any{"type": "emit", "ns": "nodirect", "to": b.SID, "event": "psst"}); code != "forbidden" {
			t.Errorf("emit to: %s, want forbidden", code)
		}
		nothingPublished(t, nc, "nodirect", obs)
		b.C.None(routertest.IsEvent("psst"))
	})

	t.Run("on", func(t *testing.T) {
		a, b, c := n.Joined("chat", "r"), n.Joined("chat", "r"), n.Joined("chat", "r")
		a.C.MustAck(map[string]any{"type": "emit", "ns": "chat", "to": b.SID, "event": "psst", "data": "x"})
		f := b.C.Next(routertest.IsEvent("psst"))
		if f.Str("from") != a.SID || f.JSON("data") != `"x"` {
			t.Errorf("psst: %v", f)
		}
		noField(t, f, "room")
		c.C.None(routertest.IsEvent("psst"))
		a.C.None(routertest.IsEvent("psst"))
		// A sid that does not exist is not an error.
		a.C.MustAck(map[string]any{"type": "emit", "ns": "chat", "to": "AAAAAAAAAAAAAAAAAAAAAA", "event": "psst"})
		a.C.Send(map[string]any{"type": "emit", "ns": "chat", "to": "AAAAAAAAAAAAAAAAAAAAAA", "event": "psst"})
		a.C.None(routertest.IsErrorNoID)

		// A sid of another namespace reaches no one: the target is a sid
		// of the sender's namespace. A wildcard or anything else that is
		// not a sid is refused.
		other := n.Joined("nodirect")
		a.C.MustAck(map[string]any{"type": "emit", "ns": "chat", "to": other.SID, "event": "stray"})
		for _, to := range []string{"*", ">", b.SID + ".x"} {
			if code := a.C.ErrorCode(map[string]any{"type": "emit", "ns": "chat", "to": to, "event": "stray"}); code != "invalid_name" {
				t.Errorf("to %q: %s, want invalid_name", to, code)
			}
		}
		a.C.MustAck(map[string]any{"type": "emit", "ns": "chat", "to": b.SID, "event": "marker"})
		b.C.Next(routertest.IsEvent("marker"))
		b.C.None(routertest.IsEvent("stray"))
		c.C.None(routertest.IsEvent("stray"))
		other.C.None(routertest.IsEvent("stray"))
	})
}

func TestPolicyPresence(t *testing.T) {
	t.Parallel()
	n := routertest.StartWith(t, func(c *config.Config) {
		c.Namespaces["nopresence"] = nsWith(func(p *config.Namespace) { p.Presence = false })
	})
	nc := n.Backend()
	a := n.Joined("nopresence", "r")
	if code := a.C.ErrorCode(map[string]any{"type": "presence", "ns": "nopresence", "room": "r"}); code != "forbidden" {
		t.Errorf("presence: %s, want forbidden", code)
	}
	// The policy is about clients: backends still ask.
	rep := routertest.CtlCall(t, nc, "router.nopresence.ctl.presence", `{"room":"r"}`)
	routertest.EqualJSON(t, "ctl presence", routertest.MustJSON(t, rep), `{"ok":true,"members":[{"sid":"`+a.SID+`"}]}`)

	b := n.Joined("chat", "r")
	r := b.C.MustAck(map[string]any{"type": "presence", "ns": "chat", "room": "r"})
	routertest.EqualJSON(t, "presence", r.JSON("data"), `{"members":[{"sid":"`+b.SID+`"}]}`)
}

func TestPolicyPresenceEvents(t *testing.T) {
	t.Parallel()
	n := routertest.StartWith(t, func(c *config.Config) { c.Namespaces["quiet"] = config.DefaultNamespace() })

	t.Run("on", func(t *testing.T) {
		a, b := n.Joined("chat", "r"), n.Joined("chat", "r")
		c := n.Joined("chat")
		c.C.Join("chat", "r")
		for _, m := range []routertest.Member{a, b} {
			f := m.C.Next(isSID("$join", c.SID))
			if f.Str("room") != "r" || f.Str("ns") != "chat" {
				t.Errorf("$join: %v", f)
			}
			routertest.EqualJSON(t, "$join data", f.JSON("data"), `{"sid":"`+c.SID+`"}`)
			noField(t, f, "from")
		}
		c.C.None(isSID("$join", c.SID)) // not its own

		c.C.MustAck(map[string]any{"type": "leave", "ns": "chat", "room": "r"})
		for _, m := range []routertest.Member{a, b} {
			routertest.EqualJSON(t, "$leave data", m.C.Next(routertest.IsEvent("$leave")).JSON("data"), `{"sid":"`+c.SID+`"}`)
		}
		c.C.None(routertest.IsEvent("$leave"))

		// Leaving by closing the connection counts too.
		c.C.Join("chat", "r")
		a.C.Next(isSID("$join", c.SID))
		if err := c.C.WS.Close(); err != nil {
			t.Fatal(err)
		}
		a.C.Next(isSID("$leave", c.SID))
		b.C.Next(isSID("$leave", c.SID))
	})

	t.Run("off", func(t *testing.T) {
		a, b := n.Joined("quiet", "r"), n.Joined("quiet", "r")
		c := n.Joined("quiet")
		c.C.Join("quiet", "r")
		// Were there a $join, it would be queued ahead of this event.
		a.C.MustAck(map[string]any{"type": "emit", "ns": "quiet", "room": "r", "event": "after_join"})
		b.C.Next(routertest.IsEvent("after_join"))
		c.C.Next(routertest.IsEvent("after_join"))
		a.C.None(routertest.IsEvent("$join"))
		b.C.None(routertest.IsEvent("$join"))

		c.C.MustAck(map[string]any{"type": "leave", "ns": "quiet", "room": "r"})
		a.C.MustAck(map[string]any{"type": "emit", "ns": "quiet", "room": "r", "event": "after_leave"})
		b.C.Next(routertest.IsEvent("after_leave"))
		b.C.None(routertest.IsEvent("$leave"))
		c.C.None(routertest.IsEvent("after_leave"))
	})
}

func TestPolicyHistoryOff(t *testing.T) {
	t.Parallel()
	n := routertest.StartWith(t, nil)
	a := n.Joined("chat", "r")
	for _, frame := range []map[string]any{
		{"type": "history", "ns": "chat", "room": "r"},
		{"type": "history", "ns": "chat", "room": "r", "limit": 10, "before": 5},
		{"type": "history", "ns": "chat", "room": "not-joined"},
	} {
		if code := a.C.ErrorCode(frame); code != "forbidden" {
			t.Errorf("%v: %s, want forbidden", frame, code)
		}
	}
}

// TestPolicyGlobNamespaces checks that a glob key declares every namespace
// it matches with its policy, and that an exact key beats it.
func TestPolicyGlobNamespaces(t *testing.T) {
	t.Parallel()
	n := routertest.StartWith(t, func(c *config.Config) {
		c.Namespaces["tenant-*"] = nsWith(func(p *config.Namespace) { p.ClientPublish = config.PublishAny })
		c.Namespaces["tenant-vip"] = nsWith(func(p *config.Namespace) { p.ClientPublish = config.PublishNone })
	})
	nc := n.Backend()
	a, b := n.Joined("tenant-acme"), n.Joined("tenant-acme", "r")
	a.C.MustAck(map[string]any{"type": "emit", "ns": "tenant-acme", "room": "r", "event": "hi"})
	b.C.Next(routertest.IsEventFrom("hi", a.SID))
	routertest.Publish(t, nc, "router.tenant-acme.room.r.news", nil, nil)
	b.C.Next(routertest.IsEvent("news"))

	v := n.Joined("tenant-vip", "r")
	if code := v.C.ErrorCode(map[string]any{"type": "emit", "ns": "tenant-vip", "room": "r", "event": "hi"}); code != "forbidden" {
		t.Errorf("tenant-vip emit: %s, want forbidden", code)
	}
	for _, ns := range []string{"tenant", "tenan-x", "other"} {
		if code := a.C.ErrorCode(map[string]any{"type": "connect", "ns": ns}); code != "unknown_namespace" {
			t.Errorf("connect %s: %s, want unknown_namespace", ns, code)
		}
	}
}
