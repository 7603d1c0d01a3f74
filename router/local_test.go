package router

import (
	"context"
	"slices"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/routerd/routerd/config"
)

// pollingConn is a Conn of a client connection on long-polling.
type pollingConn struct{ sessionConn }

func (pollingConn) Transport() string { return "polling" }

// TestLocalSockets: the snapshot of this node's sockets that the admin
// console and the inventory read: selected by namespace (or every one) and
// room, sorted by namespace then sid, cut at the limit with the total
// told; each socket with its sorted rooms, its client connection (one for
// every Conn of a multiplexed connection), its Conn's transport and its
// handshake (an adopted socket's has no URL). LocalNamespaces counts the
// same sockets and room members.
func TestLocalSockets(t *testing.T) {
	r, _ := startRouterWith(t, &server.Options{}, map[string]config.Namespace{"chat": config.DefaultNamespace(), "ops": config.DefaultNamespace()})
	ctx := context.Background()
	info := ConnInfo{RemoteAddr: "192.0.2.7:4000", URL: "/ws?tag=x", Query: "tag=x"}
	connect := func(conn Conn, ns string, rooms ...string) string {
		t.Helper()
		s, err := r.Connect(ctx, conn, ns, nil, info)
		if err != nil {
			t.Fatal(err)
		}
		for _, room := range rooms {
			if err := s.Join(ctx, room); err != nil {
				t.Fatal(err)
			}
		}
		return s.SID()
	}
	var session int
	a := connect(sessionConn{newQueueConn(8), &session}, "chat", "lobby", "a-team")
	b := connect(pollingConn{sessionConn{newQueueConn(8), &session}}, "ops", "lobby")
	c := connect(newQueueConn(8), "chat", "lobby")
	adopted, err := r.Adopt(ctx, newQueueConn(8), "chat", Moved{SID: "adopted-sid", Identity: Identity{User: "ann"}, Rooms: []string{"vip"}, From: "elsewhere"})
	if err != nil {
		t.Fatal(err)
	}

	sids := func(list []SocketInfo) (out []string) {
		for _, s := range list {
			out = append(out, s.NS+"/"+s.SID)
		}
		return out
	}
	chat := []string{"chat/" + a, "chat/" + adopted.SID(), "chat/" + c}
	slices.Sort(chat)
	all, total := r.LocalSockets("", "", 10)
	if want := append(slices.Clone(chat), "ops/"+b); !slices.Equal(sids(all), want) || total != 4 {
		t.Fatalf("every socket: %v (total %d), want %v", sids(all), total, want)
	}
	if list, total := r.LocalSockets("chat", "", 2); !slices.Equal(sids(list), chat[:2]) || total != 3 {
		t.Errorf("chat, at most 2: %v (total %d), want %v of 3", sids(list), total, chat[:2])
	}
	lobby := []string{"chat/" + a, "chat/" + c}
	slices.Sort(lobby)
	if list, total := r.LocalSockets("chat", "lobby", 10); !slices.Equal(sids(list), lobby) || total != 2 {
		t.Errorf("chat's lobby: %v (total %d), want %v", sids(list), total, lobby)
	}
	if list, total := r.LocalSockets("", "lobby", 10); len(list) != 3 || total != 3 {
		t.Errorf("every lobby: %v (total %d)", sids(list), total)
	}
	if list, total := r.LocalSockets("chat", "lobby", 0); len(list) != 0 || total != 2 {
		t.Errorf("limit 0: %v (total %d)", sids(list), total)
	}
	if list, total := r.LocalSockets("nowhere", "", 10); len(list) != 0 || total != 0 {
		t.Errorf("a namespace without sockets: %v (total %d)", sids(list), total)
	}

	by := map[string]SocketInfo{}
	for _, s := range all {
		by[s.SID] = s
	}
	sa, sb, sc, sd := by[a], by[b], by[c], by[adopted.SID()]
	if !slices.Equal(sa.Rooms, []string{"a-team", "lobby"}) || sa.Transport != "" || sa.Client == "" || sa.Client != sb.Client || sa.Client == sc.Client {
		t.Errorf("a: %+v (b's client %q, c's %q)", sa, sb.Client, sc.Client)
	}
	if sb.Transport != "polling" || !slices.Equal(sb.Rooms, []string{"lobby"}) {
		t.Errorf("b: %+v", sb)
	}
	if hs := sc.Handshake; hs == nil || hs.URL != info.URL || hs.Address != "192.0.2.7" || !slices.Equal(hs.Query["tag"], []string{"x"}) || hs.Time.IsZero() {
		t.Errorf("c's handshake: %+v", hs)
	}
	if hs := sd.Handshake; sd.User != "ann" || !slices.Equal(sd.Rooms, []string{"vip"}) || hs == nil || hs.URL != "" || hs.Address != "" || hs.Time.IsZero() {
		t.Errorf("the adopted socket: %+v, handshake %+v", sd, hs)
	}

	counts := r.LocalNamespaces()
	if len(counts) != 2 || counts[0].Name != "chat" || counts[0].Sockets != 3 || counts[1].Name != "ops" || counts[1].Sockets != 1 {
		t.Fatalf("LocalNamespaces: %+v", counts)
	}
	if rooms := counts[0].Rooms; len(rooms) != 3 || rooms["lobby"] != 2 || rooms["a-team"] != 1 || rooms["vip"] != 1 {
		t.Errorf("chat's rooms: %v", rooms)
	}
}
