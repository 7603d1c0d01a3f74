package socketio_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"golang.org/x/crypto/bcrypt"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/internal/natstest"
	"github.com/routerd/routerd/internal/routertest"
)

// adminUsers is admin.users for the tests: root, with password pw. The
// nodes of a cluster share it, as they share their config.
func adminUsers(t *testing.T) []config.AdminUser {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return []config.AdminUser{{Name: "root", PasswordHash: string(hash)}}
}

// withAdminUI turns the Socket.IO Admin UI on for users.
func withAdminUI(cfg *config.Config, users []config.AdminUser) {
	cfg.Admin.Enabled = true
	cfg.Admin.SocketIOUI = true
	cfg.Admin.Users = users
}

// adminLogin is the CONNECT auth of the UI's login form.
func adminLogin(password string) map[string]any {
	return map[string]any{"auth": map[string]any{"username": "root", "password": password}}
}

// uiSocket is a socket as the admin-ui's server serializes it.
type uiSocket struct {
	ID        string            `json:"id"`
	ClientID  string            `json:"clientId"`
	Transport string            `json:"transport"`
	NSP       string            `json:"nsp"`
	Data      map[string]string `json:"data"`
	Handshake struct {
		Address string            `json:"address"`
		Headers map[string]string `json:"headers"`
		Query   map[string]any    `json:"query"`
		Issued  int64             `json:"issued"`
		Time    string            `json:"time"`
		URL     string            `json:"url"`
	} `json:"handshake"`
	Rooms []string `json:"rooms"`
}

// uiStats is the admin-ui's server_stats.
type uiStats struct {
	ServerID            string        `json:"serverId"`
	Hostname            string        `json:"hostname"`
	PID                 int           `json:"pid"`
	Uptime              float64       `json:"uptime"`
	ClientsCount        int           `json:"clientsCount"`
	PollingClientsCount int           `json:"pollingClientsCount"`
	Namespaces          []uiNamespace `json:"namespaces"`
	AggregatedEvents    []struct {
		Type  string `json:"type"`
		Count int    `json:"count"`
	} `json:"aggregatedEvents"`
}

// has reports whether st counts events of type typ.
func (st uiStats) has(typ string) bool {
	for _, e := range st.AggregatedEvents {
		if e.Type == typ && e.Count > 0 {
			return true
		}
	}
	return false
}

// uiNamespace is a namespace in server_stats.
type uiNamespace struct {
	Name         string `json:"name"`
	SocketsCount int    `json:"socketsCount"`
}

// arg decodes argument i of an event.
func arg[T any](t *testing.T, m msg, i int) T {
	t.Helper()
	var v T
	if i >= len(m.Args) {
		t.Fatalf("%s has %d arguments, want %d or more", m.Event, len(m.Args), i+1)
	}
	if err := json.Unmarshal(m.Args[i], &v); err != nil {
		t.Fatalf("%s argument %d: %v: %s", m.Event, i, err, m.Args[i])
	}
	return v
}

// uiEvent waits for the next event called event on UI socket ui whose
// arguments (as one JSON array) contain every one of parts.
func (d *driver) uiEvent(ui, event string, parts ...string) msg {
	d.t.Helper()
	return d.next(fmt.Sprintf("%s on %s with %q", event, ui, parts), func(m msg) bool {
		if m.ID != 0 || m.Socket != ui || m.Event != event {
			return false
		}
		args := argsJSON(m)
		for _, p := range parts {
			if !strings.Contains(args, p) {
				return false
			}
		}
		return true
	})
}

// uiStatsSeen waits until each of preds accepted one of the next few
// server_stats of UI socket "ui" (one comes every 2 s): not necessarily
// the same one, as what they check may change between two.
func (d *driver) uiStatsSeen(t *testing.T, what string, preds ...func(uiStats) bool) {
	t.Helper()
	var st uiStats
	for range 5 {
		st = arg[uiStats](t, d.uiEvent("ui", "server_stats"), 0)
		preds = slices.DeleteFunc(preds, func(pred func(uiStats) bool) bool { return pred(st) })
		if len(preds) == 0 {
			return
		}
	}
	t.Fatalf("%s: not in the server_stats up to %+v", what, st)
}

// find returns the socket with id in list.
func find(t *testing.T, list []uiSocket, id string) uiSocket {
	t.Helper()
	for _, s := range list {
		if s.ID == id {
			return s
		}
	}
	t.Fatalf("socket %s is not listed in %+v", id, list)
	return uiSocket{}
}

// TestAdminUI: the official admin-ui's protocol on a two-node cluster,
// driven by socket.io-client: the login, all_sockets with the Socket.IO
// and native sockets of both nodes, a server_stats per node, the live
// events, the actions (a native socket disconnected, a socket put in a
// room and the room cleared, a client connection's sockets disconnected
// together) and a session token accepted by the other node.
func TestAdminUI(t *testing.T) {
	users := adminUsers(t)
	nodes := routertest.StartCluster(t, 2, func(_ int, cfg *config.Config) {
		cfg.SocketIO.Enabled = true
		cfg.SocketIO.Namespaces = map[string]string{"/": "chat"}
		cfg.SocketIO.Events = map[string]string{"join": config.ActionJoin}
		cfg.Namespaces["ops"] = config.DefaultNamespace()
		withAdminUI(cfg, users)
	})
	n1, n2 := nodes[0], nodes[1]
	d := startDriver(t)
	a := d.connect("a", n1.HTTPURL(), map[string]any{"transports": []string{"websocket"}, "query": map[string]any{"tag": "x"}})
	native := routertest.DialURL(t, n2.WSURL(), http.Header{"X-Forwarded-For": {"203.0.113.7"}})
	nsid := native.Connect("chat")
	native.Join("chat", "lobby")
	osid := native.Connect("ops")

	r := d.connectReply("intruder", n1.HTTPURL()+"/admin", adminLogin("nope"))
	if r.Error == nil || r.Error.Message != "invalid credentials" {
		t.Fatalf("a wrong password: %+v", r)
	}
	d.connect("ui", n1.HTTPURL()+"/admin", adminLogin("pw"))
	token := arg[string](t, d.uiEvent("ui", "session"), 0)
	features := arg[map[string][]string](t, d.uiEvent("ui", "config"), 0)["supportedFeatures"]
	for _, f := range []string{"DISCONNECT", "JOIN", "LEAVE", "MLEAVE", "AGGREGATED_EVENTS", "ALL_EVENTS"} {
		if !slices.Contains(features, f) {
			t.Errorf("supportedFeatures %v lack %s", features, f)
		}
	}
	all := arg[[]uiSocket](t, d.uiEvent("ui", "all_sockets"), 0)
	sa := find(t, all, a)
	if sa.NSP != "/" || sa.Transport != "websocket" || sa.Data["node"] != "t1" || sa.Data["protocol"] != "socket.io" ||
		sa.ClientID == "" || !strings.HasPrefix(sa.Handshake.URL, "/socket.io/?") || sa.Handshake.Query["tag"] != "x" ||
		sa.Handshake.Address != "127.0.0.1" || sa.Handshake.Issued == 0 || len(sa.Rooms) != 0 {
		t.Errorf("the Socket.IO socket: %+v", sa)
	}
	sn, so := find(t, all, nsid), find(t, all, osid)
	if sn.NSP != "/" || sn.Transport != "websocket" || sn.Data["node"] != "t2" || sn.Data["protocol"] != "routerd" ||
		!slices.Equal(sn.Rooms, []string{"lobby"}) || sn.Handshake.Address != "203.0.113.7" || sn.Handshake.Headers["host"] == "" {
		t.Errorf("the native socket: %+v", sn)
	}
	if so.NSP != "/ops" || so.ClientID != sn.ClientID || so.ClientID == sa.ClientID {
		t.Errorf("the native connection's other socket: %+v (client %q, the Socket.IO one's %q)", so, sn.ClientID, sa.ClientID)
	}

	// A server_stats per node, each with its own sockets.
	stats := map[string]uiStats{}
	for len(stats) < 2 {
		st := arg[uiStats](t, d.uiEvent("ui", "server_stats"), 0)
		stats[st.ServerID] = st
	}
	for name, st := range stats {
		if st.Hostname == "" || st.PID == 0 || st.ClientsCount < 1 || len(st.Namespaces) == 0 {
			t.Errorf("server_stats of %s: %+v", name, st)
		}
	}
	if ns := stats["t2"].Namespaces; !slices.Contains(ns, uiNamespace{Name: "/ops", SocketsCount: 1}) {
		t.Errorf("t2's namespaces: %+v", ns)
	}

	// Live: a Socket.IO socket connects on t2 (long-polling, then the
	// upgrade) and joins a room.
	b := d.connect("b", n2.HTTPURL(), nil)
	sb := arg[uiSocket](t, d.uiEvent("ui", "socket_connected", `"id":"`+b+`"`), 0)
	if sb.NSP != "/" || sb.Data["node"] != "t2" || sb.ClientID == "" || sb.Handshake.URL == "" {
		t.Errorf("socket_connected: %+v", sb)
	}
	if sb.Transport == "polling" { // it upgrades: the UI hears it at a server_stats tick
		d.uiEvent("ui", "socket_updated", `"id":"`+b+`"`, `"transport":"websocket"`)
	}
	d.emitAck("b", "join", "lobby")
	d.uiEvent("ui", "room_joined", `"/"`, `"lobby"`, `"`+b+`"`)

	// The UI disconnects the native socket: the native client hears it.
	d.emit("ui", "_disconnect", "/", false, nsid)
	if f := native.Next(routertest.IsType("disconnected")); f.Str("ns") != "chat" || f.Str("reason") != "kicked" {
		t.Fatalf("the native client got %v", f)
	}
	d.uiEvent("ui", "room_left", `"lobby"`, `"`+nsid+`"`)
	d.uiEvent("ui", "socket_disconnected", `"/"`, `"`+nsid+`"`)

	// Join and leave: one socket joins vip, then the room is cleared.
	d.emit("ui", "join", "/", "vip", a)
	d.uiEvent("ui", "room_joined", `"vip"`, `"`+a+`"`)
	d.emit("ui", "leave", "/", "vip")
	d.uiEvent("ui", "room_left", `"vip"`, `"`+a+`"`)

	// Disconnect a room's members: b, in lobby, gets io server disconnect.
	d.emit("ui", "_disconnect", "/", false, "lobby")
	if m := d.event("b", "$disconnect"); m.Reason != "io server disconnect" {
		t.Fatalf("b: %+v", m)
	}
	d.uiEvent("ui", "socket_disconnected", `"`+b+`"`)

	// A session token logs in on the other node, without the password;
	// anything else does not.
	d.connect("ui2", n2.HTTPURL()+"/admin", map[string]any{"auth": map[string]any{"sessionId": token}})
	find(t, arg[[]uiSocket](t, d.uiEvent("ui2", "all_sockets"), 0), a)
	if d.has(func(m msg) bool { return m.Socket == "ui2" && m.Event == "session" }) {
		t.Error("a session login got a new session")
	}
	for _, bad := range []string{token + "x", "", "cm9vdA.99999999999.x"} {
		if r := d.connectReply("forged", n2.HTTPURL()+"/admin", map[string]any{"auth": map[string]any{"sessionId": bad}}); r.Error == nil {
			t.Errorf("session %q logged in", bad)
		}
	}
}

// TestAdminUICloseClient: "_disconnect" with close disconnects every
// socket of the target's client connection, in every namespace.
func TestAdminUICloseClient(t *testing.T) {
	cfg := sioConfig(t)
	cfg.Namespaces["ops"] = config.DefaultNamespace()
	withAdminUI(&cfg, adminUsers(t))
	n := routertest.Start(t, cfg)
	native := n.Dial()
	sid := native.Connect("chat")
	native.Connect("ops")
	other := n.Dial()
	keep := other.Connect("chat")
	d := startDriver(t)
	d.connect("ui", n.HTTPURL()+"/admin", adminLogin("pw"))
	find(t, arg[[]uiSocket](t, d.uiEvent("ui", "all_sockets"), 0), keep)
	d.emit("ui", "_disconnect", "/", true, sid)
	gone := map[string]bool{}
	for len(gone) < 2 {
		gone[native.Next(routertest.IsType("disconnected")).Str("ns")] = true
	}
	if !gone["chat"] || !gone["ops"] {
		t.Fatalf("disconnected %v, want chat and ops", gone)
	}
	d.uiEvent("ui", "socket_disconnected", `"/ops"`)
	// The other connection's socket is still there: the UI hears it join
	// a room.
	other.Join("chat", "still")
	d.uiEvent("ui", "room_joined", `"still"`, `"`+keep+`"`)
}

// TestAdminUIPages: a node whose NATS takes small messages lists its
// sockets in several inventory pages; all_sockets has every one of them.
func TestAdminUIPages(t *testing.T) {
	ext := natstest.Server(t, &server.Options{MaxPayload: 8192})
	cfg := sioConfig(t)
	cfg.NATS.URL = []string{fmt.Sprintf("nats://127.0.0.1:%d", ext.Addr().(*net.TCPAddr).Port)}
	cfg.NATS.Listen = ""
	withAdminUI(&cfg, adminUsers(t))
	n := routertest.Start(t, cfg)
	padding := strings.Repeat("p", 300)
	want := map[string]bool{}
	for range 40 {
		c := routertest.DialURL(t, n.WSURL(), http.Header{"X-Padding": {padding}})
		want[c.Connect("chat")] = true
	}
	d := startDriver(t)
	d.connect("ui", n.HTTPURL()+"/admin", adminLogin("pw"))
	all := arg[[]uiSocket](t, d.uiEvent("ui", "all_sockets"), 0)
	for _, s := range all {
		if s.Handshake.Headers["x-padding"] != padding {
			t.Errorf("socket %s without its handshake: %+v", s.ID, s.Handshake)
		}
		delete(want, s.ID)
	}
	if len(want) > 0 {
		t.Fatalf("all_sockets (%d) lacks %d sockets", len(all), len(want))
	}
}

// TestAdminUIOff: without admin.socketio_ui, /admin is a namespace as any
// other (here undeclared).
func TestAdminUIOff(t *testing.T) {
	n := routertest.Start(t, sioConfig(t))
	d := startDriver(t)
	r := d.connectReply("ui", n.HTTPURL()+"/admin", adminLogin("pw"))
	if r.Error == nil || string(r.Error.Data) != `{"code":"unknown_namespace"}` {
		t.Fatalf("%+v", r)
	}
}

// TestAdminUIPolling: a long-polling client is listed on "polling" and
// counted in pollingClientsCount, and never told upgraded; its
// connection's opening and its end reach server_stats as aggregated
// events.
func TestAdminUIPolling(t *testing.T) {
	cfg := sioConfig(t)
	withAdminUI(&cfg, adminUsers(t))
	n := routertest.Start(t, cfg)
	d := startDriver(t)
	d.connect("ui", n.HTTPURL()+"/admin", adminLogin("pw"))
	d.uiEvent("ui", "all_sockets")
	p := d.connect("p", n.HTTPURL(), map[string]any{"transports": []string{"polling"}})
	if s := arg[uiSocket](t, d.uiEvent("ui", "socket_connected", `"id":"`+p+`"`), 0); s.Transport != "polling" {
		t.Fatalf("socket_connected: %+v", s)
	}
	// The connection is counted open at its Engine.IO handshake, and on
	// long-polling once its socket is attached: a tick may come between.
	d.uiStatsSeen(t, "the polling client counted",
		func(st uiStats) bool { return st.has("rawConnection") },
		func(st uiStats) bool { return st.PollingClientsCount == 1 })
	if r := d.do(map[string]any{"op": "disconnect", "name": "p"}); !r.OK {
		t.Fatalf("disconnect: %+v", r)
	}
	d.uiEvent("ui", "socket_disconnected", `"`+p+`"`)
	d.uiStatsSeen(t, "the polling client gone",
		func(st uiStats) bool { return st.has("rawDisconnection") },
		func(st uiStats) bool { return st.PollingClientsCount == 0 })
	if d.has(func(m msg) bool { return m.Socket == "ui" && m.Event == "socket_updated" }) {
		t.Errorf("a socket on long-polling only was told upgraded: %v", d.in.Pending())
	}
}

// TestAdminUILoginLimit: a node checks at most a few password logins a
// second, all clients together; a session token logs in all the same.
func TestAdminUILoginLimit(t *testing.T) {
	cfg := sioConfig(t)
	withAdminUI(&cfg, adminUsers(t))
	n := routertest.Start(t, cfg)
	d := startDriver(t)
	d.connect("ui", n.HTTPURL()+"/admin", adminLogin("pw"))
	token := arg[string](t, d.uiEvent("ui", "session"), 0)
	login := func(auth map[string]any) msg {
		return d.connectReply("try", n.HTTPURL()+"/admin", map[string]any{"auth": auth, "transports": []string{"websocket"}})
	}
	limited := false
	for i := 0; i < 60 && !limited; i++ {
		r := login(map[string]any{"username": "root", "password": "guess"})
		switch {
		case r.Error == nil:
			t.Fatal("a wrong password logged in")
		case string(r.Error.Data) == `{"code":"rate_limited"}`:
			limited = true
		case r.Error.Message != "invalid credentials":
			t.Fatalf("a wrong password: %+v", r.Error)
		}
	}
	if !limited {
		t.Fatal("60 wrong passwords in a row were all checked")
	}
	if r := login(map[string]any{"sessionId": token}); r.Error != nil {
		t.Fatalf("a session login while passwords are limited: %+v", r.Error)
	}
}
