package router_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/routerd/routerd/config"
	rt "github.com/routerd/routerd/internal/routertest"
)

// globHistoryConfig is historyConfig with the history namespace declared as
// the glob "hist-*", its history changed by edit.
func globHistoryConfig(t *testing.T, dir string, edit func(*config.History)) config.Config {
	t.Helper()
	cfg := historyConfig(t, dir, 10)
	ns := cfg.Namespaces["hist"]
	delete(cfg.Namespaces, "hist")
	h := *ns.History
	edit(&h)
	ns.History = &h
	cfg.Namespaces["hist-*"] = ns
	return cfg
}

// streamInfo returns the info of a stream, or nil when there is none.
func streamInfo(t *testing.T, js jetstream.JetStream, name string) *jetstream.StreamInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), rt.Wait)
	defer cancel()
	s, err := js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return s.CachedInfo()
}

// connectCode connects c to ns and returns "" or the error code, waiting
// through unavailable answers while JetStream elects its leaders.
func connectCode(t *testing.T, c *rt.Client, ns string) string {
	t.Helper()
	var code string
	rt.EventuallyWithin(t, "connect "+ns+" answered", 30*time.Second, func() error {
		r := c.ReqWithin(map[string]any{"type": "connect", "ns": ns}, 2*rt.Wait)
		if code = r.Str("code"); code == "unavailable" {
			return fmt.Errorf("%s: %s", ns, r.Str("message"))
		}
		return nil
	})
	return code
}

// TestHistoryAuthorization: a socket reads the history of the rooms it is
// in and of those it may join, no other: a room its token's rooms claim
// excludes, or any room it is not in where clients do not join rooms
// themselves, is forbidden.
func TestHistoryAuthorization(t *testing.T) {
	const secret = "history-auth-secret"
	cfg := historyConfig(t, t.TempDir(), 10)
	cfg.Auth.JWT.Secret = secret
	board := cfg.Namespaces["hist"]
	board.Auth = config.AuthJWT
	cfg.Namespaces["board"] = board
	managed := cfg.Namespaces["hist"]
	managed.ClientJoin = false
	cfg.Namespaces["managed"] = managed
	n := rt.Start(t, cfg)
	be := n.Backend()
	js, err := jetstream.New(be)
	if err != nil {
		t.Fatal(err)
	}
	rt.Eventually(t, "history streams", func() error {
		for _, ns := range []string{"board", "managed"} {
			if streamInfo(t, js, "routerd_router_"+ns) == nil {
				return fmt.Errorf("no stream for %s yet", ns)
			}
		}
		return nil
	})
	for _, subject := range []string{"router.board.room.secret.msg", "router.board.room.public-1.msg", "router.managed.room.other.msg", "router.managed.room.mine.msg"} {
		rt.Publish(t, be, subject, []byte(`"kept"`), nil)
	}
	token := func(claims jwt.MapClaims) string {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	history := func(ns, room string) map[string]any {
		return map[string]any{"type": "history", "ns": ns, "room": room}
	}
	stored := func(c *rt.Client, ns, room string) int {
		return len(c.MustAck(history(ns, room))["data"].(map[string]any)["events"].([]any))
	}

	c := n.Dial()
	c.MustAck(map[string]any{"type": "connect", "ns": "board", "auth": map[string]any{"token": token(jwt.MapClaims{"sub": "ann", "rooms": []string{"public-*"}})}})
	if code := c.Req(history("board", "secret")).Str("code"); code != "forbidden" {
		t.Errorf("history of a room the token excludes: %s, want forbidden", code)
	}
	rt.Eventually(t, "the history of a room the token allows", func() error {
		if got := stored(c, "board", "public-1"); got != 1 {
			return fmt.Errorf("%d events", got)
		}
		return nil
	})
	admin := n.Dial()
	admin.MustAck(map[string]any{"type": "connect", "ns": "board", "auth": map[string]any{"token": token(jwt.MapClaims{"sub": "admin"})}})
	if got := stored(admin, "board", "secret"); got != 1 {
		t.Errorf("a token without a rooms claim reads room secret: %d events, want 1", got)
	}

	m := n.Dial()
	sid := m.Connect("managed")
	if code := m.Req(history("managed", "other")).Str("code"); code != "forbidden" {
		t.Errorf("history of a room not joined where clients may not join: %s, want forbidden", code)
	}
	rt.WantCount(t, "ctl join", rt.CtlCall(t, be, "router.managed.ctl.join", rt.MustJSON(t, map[string]any{"sid": sid, "room": "mine"})), 1)
	if got := stored(m, "managed", "mine"); got != 1 {
		t.Errorf("history of a room the backend joined: %d events, want 1", got)
	}
}

// TestHistoryStreamBounds: a namespace's stream is bounded in all, by
// max_stream_msgs and max_stream_bytes (defaults: 1000 × max_msgs and
// 64 MiB), applied to a stream made by an earlier version too: events
// under many event names no longer grow a room without bound.
func TestHistoryStreamBounds(t *testing.T) {
	dir := t.TempDir()
	n := rt.Start(t, historyConfig(t, dir, 5))
	_, js := histBackend(t, n)
	info := streamInfo(t, js, "routerd_router_hist")
	if info.Config.MaxMsgs != 5000 || info.Config.MaxBytes != 64<<20 || info.Config.MaxMsgsPerSubject != 5 {
		t.Errorf("default bounds: max_msgs %d, max_bytes %d, per subject %d; want 5000, %d, 5", info.Config.MaxMsgs, info.Config.MaxBytes, info.Config.MaxMsgsPerSubject, 64<<20)
	}
	n.Stop()

	cfg := historyConfig(t, dir, 5)
	cfg.Namespaces["hist"].History.MaxStreamMsgs = 20
	cfg.Namespaces["hist"].History.MaxStreamBytes = 1 << 20
	n = rt.Start(t, cfg)
	js, err := jetstream.New(n.Backend())
	if err != nil {
		t.Fatal(err)
	}
	rt.Eventually(t, "bounds applied to the stream", func() error {
		if info := streamInfo(t, js, "routerd_router_hist"); info == nil || info.Config.MaxMsgs != 20 || info.Config.MaxBytes != 1<<20 {
			return fmt.Errorf("stream config %+v", info)
		}
		return nil
	})
	// 60 events in one room, under 20 event names (3 each, under max_msgs).
	for i := range 60 {
		if _, err := js.Publish(context.Background(), fmt.Sprintf("router.hist.room.r.e%d", i%20), fmt.Appendf(nil, "%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if info := streamInfo(t, js, "routerd_router_hist"); info.State.Msgs != 20 {
		t.Errorf("the stream holds %d events, want 20", info.State.Msgs)
	}
	c := n.Dial()
	c.Connect("hist")
	got := historyData(t, c.MustAck(map[string]any{"type": "history", "ns": "hist", "room": "r", "limit": 100}))
	if want := []string{"55", "56", "57", "58", "59"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("history %v, want the room's last max_msgs events %v", got, want)
	}
}

// TestHistoryGlobStreamCap: the namespaces of a glob key have at most
// history.max_streams streams; a connect that would make one more is
// refused with limit_exceeded, also after a restart (the streams are
// counted as JetStream lists them), while namespaces whose stream exists
// keep connecting.
func TestHistoryGlobStreamCap(t *testing.T) {
	dir := t.TempDir()
	capped := func(h *config.History) { h.MaxStreams = 2 }
	n := rt.Start(t, globHistoryConfig(t, dir, capped))
	c := n.Dial()
	c.Connect("hist-1")
	c.Connect("hist-2")
	if code := c.ErrorCode(map[string]any{"type": "connect", "ns": "hist-3"}); code != "limit_exceeded" {
		t.Fatalf("a third glob stream: %s, want limit_exceeded", code)
	}
	n.Dial().Connect("hist-1")
	n.Stop()

	n = rt.Start(t, globHistoryConfig(t, dir, capped))
	c = n.Dial()
	if code := connectCode(t, c, "hist-3"); code != "limit_exceeded" {
		t.Fatalf("a third glob stream after a restart: %q, want limit_exceeded", code)
	}
	c.Connect("hist-2")
	js, err := jetstream.New(n.Backend())
	if err != nil {
		t.Fatal(err)
	}
	if streamInfo(t, js, "routerd_router_hist-3") != nil {
		t.Error("the refused namespace has a stream")
	}
}

// globHistory is the policy of glob namespaces with history of
// globHistoryConfig.
func globHistory(edit func(*config.History)) config.Namespace {
	ns := config.DefaultNamespace()
	h := config.DefaultHistory()
	h.MaxMsgs = 10
	edit(&h)
	ns.History = &h
	return ns
}

// startHistoryCluster starts two nodes sharing JetStream with the glob
// namespaces "hist-*" of history h.
func startHistoryCluster(t *testing.T, edit func(*config.History)) []*rt.Node {
	t.Helper()
	// A JetStream cluster needs its routes from the start.
	ports := []int{rt.FreePort(t), rt.FreePort(t)}
	var routes []string
	for _, p := range ports {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
	}
	return rt.StartCluster(t, 2, func(i int, cfg *config.Config) {
		cfg.NATS.Cluster.Listen = fmt.Sprintf("127.0.0.1:%d", ports[i])
		cfg.NATS.Cluster.Routes = routes
		cfg.NATS.JetStream.Enabled = true
		cfg.NATS.JetStream.StoreDir = t.TempDir()
		cfg.Namespaces["hist-*"] = globHistory(edit)
	})
}

// TestHistoryGlobStreamCapCluster: the cap holds across nodes: the streams
// one node made count on another.
func TestHistoryGlobStreamCapCluster(t *testing.T) {
	nodes := startHistoryCluster(t, func(h *config.History) { h.MaxStreams = 2 })
	a, b := nodes[0].Dial(), nodes[1].Dial()
	for _, ns := range []string{"hist-1", "hist-2"} {
		if code := connectCode(t, a, ns); code != "" {
			t.Fatalf("connect %s: %s", ns, code)
		}
	}
	if code := connectCode(t, b, "hist-3"); code != "limit_exceeded" {
		t.Fatalf("a third glob stream on the other node: %q, want limit_exceeded", code)
	}
	if code := connectCode(t, b, "hist-1"); code != "" {
		t.Fatalf("connect hist-1 on the other node: %s", code)
	}
}

// TestHistoryIdleGlobStreams: the stream of a glob namespace whose newest
// event is older than history.idle_timeout, and where no node has a
// socket, is deleted; a namespace with a socket on any node keeps its
// stream and its live events; a deleted stream frees its place under
// max_streams, and the next connect makes it anew.
func TestHistoryIdleGlobStreams(t *testing.T) {
	nodes := startHistoryCluster(t, func(h *config.History) { h.MaxStreams = 3; h.IdleTimeout = time.Second })
	js, err := jetstream.New(nodes[0].Backend())
	if err != nil {
		t.Fatal(err)
	}
	emit := func(c *rt.Client, ns string) uint64 {
		t.Helper()
		a := c.ReqWithin(map[string]any{"type": "emit", "ns": ns, "room": "r", "event": "msg", "data": 1, "self": true}, 2*rt.Wait)
		seq, _ := a["data"].(map[string]any)["seq"].(float64)
		if seq == 0 {
			t.Fatalf("emit to %s: %v", ns, a)
		}
		return uint64(seq)
	}
	// In use, with a socket on each node (one of them sweeps): idle first.
	users := make([]*rt.Client, 2)
	last := make([]uint64, 2)
	for i, n := range nodes {
		ns := fmt.Sprintf("hist-used%d", i)
		users[i] = n.Dial()
		if code := connectCode(t, users[i], ns); code != "" {
			t.Fatalf("connect %s: %s", ns, code)
		}
		users[i].Join(ns, "r")
		last[i] = emit(users[i], ns)
		users[i].Next(rt.IsEvent("msg"))
	}
	// Unused once its client leaves.
	gone := nodes[1].Dial()
	if code := connectCode(t, gone, "hist-idle"); code != "" {
		t.Fatalf("connect hist-idle: %s", code)
	}
	gone.Join("hist-idle", "r")
	emit(gone, "hist-idle")
	gone.MustAck(map[string]any{"type": "disconnect", "ns": "hist-idle"})

	rt.EventuallyWithin(t, "the idle stream deleted", 20*time.Second, func() error {
		if streamInfo(t, js, "routerd_router_hist-idle") != nil {
			return errors.New("routerd_router_hist-idle still exists")
		}
		return nil
	})
	for i, c := range users {
		ns := fmt.Sprintf("hist-used%d", i)
		if streamInfo(t, js, "routerd_router_"+ns) == nil {
			t.Fatalf("the stream of %s, in use on node %d, was deleted", ns, i+1)
		}
		if seq := emit(c, ns); seq != last[i]+1 {
			t.Errorf("%s: emit after the sweep has seq %d, want %d (same stream)", ns, seq, last[i]+1)
		}
		if ev := c.Next(rt.IsEvent("msg")); uint64(ev.Num("seq")) != last[i]+1 {
			t.Errorf("%s: live event %v after the sweep", ns, ev)
		}
	}
	// Its place is free again (3 streams: two used, one new), and the
	// namespace comes back with a new stream when a client returns.
	back := nodes[0].Dial()
	if code := connectCode(t, back, "hist-idle"); code != "" {
		t.Fatalf("reconnect hist-idle: %s", code)
	}
	back.Join("hist-idle", "r")
	if seq := emit(back, "hist-idle"); seq != 1 {
		t.Errorf("first emit to the new stream: seq %d, want 1", seq)
	}
	if code := connectCode(t, back, "hist-more"); code != "limit_exceeded" {
		t.Errorf("a fourth stream: %q, want limit_exceeded", code)
	}
}
