package socketio_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/internal/routertest"
)

// TestAuth: the CONNECT auth object is the one of docs/protocol.md: JWT applies;
// refusals are CONNECT_ERROR with the code in data.
func TestAuth(t *testing.T) {
	cfg := sioConfig(t)
	cfg.Auth.JWT.Secret = "s3cret"
	secure := config.DefaultNamespace()
	secure.Auth = config.AuthJWT
	cfg.Namespaces["secure"] = secure
	n := routertest.Start(t, cfg)
	d := startDriver(t)
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "ann"}).SignedString([]byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	sid := d.connect("ok", n.HTTPURL()+"/secure", map[string]any{"auth": map[string]any{"token": tok}})
	d.emitAck("ok", "join", "r")
	native := n.Dial()
	if code := native.ErrorCode(map[string]any{"type": "connect", "ns": "secure"}); code != "unauthorized" {
		t.Fatalf("native without token: %s", code)
	}
	// The Socket.IO socket is ann's: presence lists it with its user.
	nn := n.Dial()
	nn.MustAck(map[string]any{"type": "connect", "ns": "secure", "auth": map[string]any{"token": tok}})
	r := nn.MustAck(map[string]any{"type": "presence", "ns": "secure", "room": "r"})
	if got := r.JSON("data"); got != `{"members":[{"sid":"`+sid+`","user":"ann"}]}` {
		t.Fatalf("presence %s", got)
	}
	for name, opts := range map[string]map[string]any{
		"none": nil,
		"bad":  {"auth": map[string]any{"token": tok + "x"}},
	} {
		r := d.connectReply(name, n.HTTPURL()+"/secure", opts)
		if r.Error == nil || string(r.Error.Data) != `{"code":"unauthorized"}` || r.Error.Message == "" {
			t.Fatalf("%s: %+v", name, r)
		}
	}
}

// TestCluster: WebSocket-only clients work on any node; Socket.IO and
// native sockets on different nodes share a room; presence events and a
// backend's kick reach Socket.IO clients.
func TestCluster(t *testing.T) {
	nodes := routertest.StartCluster(t, 2, func(_ int, cfg *config.Config) {
		cfg.SocketIO.Enabled = true
		cfg.SocketIO.Namespaces = map[string]string{"/": "chat"}
		cfg.SocketIO.Events = map[string]string{"join": config.ActionJoin, "message": config.ActionRoom}
	})
	d := startDriver(t)
	d.connect("a", nodes[0].HTTPURL(), wsOnly)
	b := d.connect("b", nodes[1].HTTPURL(), wsOnly)
	d.emitAck("a", "join", "lobby")
	native := nodes[1].Dial()
	native.Connect("chat")
	native.Join("chat", "lobby")
	// chat has presence events: a hears the native socket join.
	if got := argsJSON(d.event("a", "$join")); !strings.Contains(got, `"sid":"`) {
		t.Fatalf("$join %s", got)
	}
	d.emitAck("b", "join", "lobby")
	d.event("a", "$join")
	// The room's interest reaches the other node within milliseconds.
	routertest.Eventually(t, "interest propagated", func() error {
		d.emit("a", "message", "lobby", "probe")
		if !native.Has(isEvent("message")) {
			return errors.New("no probe arrived yet")
		}
		return nil
	})
	d.emit("a", "message", "lobby", "ping")
	if f := native.Next(func(f routertest.Frame) bool { return f.Str("event") == "message" && f.JSON("data") == `"ping"` }); f.Str("room") != "lobby" {
		t.Fatalf("native got %v", f)
	}
	d.next("ping on b", func(m msg) bool { return m.Socket == "b" && m.Event == "message" && argsJSON(m) == `["ping"]` })
	native.Send(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "message", "data": "pong"})
	if got := argsJSON(d.event("a", "message")); got != `["pong"]` {
		t.Fatalf("a got %s", got)
	}
	// A backend disconnects b: the client gets "io server disconnect".
	be := nodes[0].Backend()
	reply, err := be.Request("router.chat.ctl.disconnect", []byte(`{"sid":"`+b+`"}`), routertest.Wait)
	if err != nil || !strings.Contains(string(reply.Data), `"count":1`) {
		t.Fatalf("ctl disconnect: %v %s", err, reply.Data)
	}
	if m := d.event("b", "$disconnect"); m.Reason != "io server disconnect" {
		t.Fatalf("b disconnect reason %q", m.Reason)
	}
	if got := argsJSON(d.event("a", "$leave")); got != `[{"sid":"`+b+`"}]` {
		t.Fatalf("$leave %s", got)
	}
}

// TestReconnect: when the connection is lost the client reconnects by
// itself and gets a new sid (no history here, so no recovery).
func TestReconnect(t *testing.T) {
	n := routertest.Start(t, sioConfig(t))
	d := startDriver(t)
	for _, opts := range []map[string]any{nil, wsOnly} {
		first := d.connect("a", n.HTTPURL(), opts)
		d.emitAck("a", "join", "r")
		d.do(map[string]any{"op": "drop", "name": "a"})
		if m := d.event("a", "$disconnect"); m.Reason != "transport close" {
			t.Fatalf("reason %q", m.Reason)
		}
		m := d.event("a", "$connect")
		if m.SID == "" || m.SID == first || m.Recovered {
			t.Fatalf("reconnected as %+v (was %s)", m, first)
		}
		// The new socket works, and is in no room.
		if got := d.emitAck("a", "message", "r", "x"); !strings.Contains(got, "not_member") {
			t.Fatalf("after reconnect: %s", got)
		}
		d.do(map[string]any{"op": "disconnect", "name": "a"})
		d.event("a", "$disconnect")
	}
}
