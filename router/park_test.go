package router

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/contract"
	"github.com/routerd/routerd/internal/natstest"
)

// movingConn is a Conn of a multiplexing transport that can move to
// another client connection (as a resumed Socket.IO socket does).
type movingConn struct {
	*queueConn
	mu      sync.Mutex
	session *int
}

func (c *movingConn) Connection() any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.session
}

// TestRebind: a socket moved to another client connection counts against
// that one's limits.max_namespaces_per_connection from then on: refused
// (and not moved) when it has no room, and the connection it left has
// room again.
func TestRebind(t *testing.T) {
	r, _ := startRouterWith(t, &server.Options{}, map[string]config.Namespace{"ns-*": config.DefaultNamespace()})
	r.cfg.Limits.MaxNamespacesPerConnection = 1
	ctx := context.Background()
	var one, two int
	conn := &movingConn{queueConn: newQueueConn(8), session: &one}
	x, err := r.Connect(ctx, conn, "ns-a", nil, ConnInfo{})
	if err != nil {
		t.Fatal(err)
	}
	y, err := r.Connect(ctx, sessionConn{newQueueConn(8), &two}, "ns-b", nil, ConnInfo{})
	if err != nil {
		t.Fatal(err)
	}
	moveTo := func(session *int) error {
		return x.Rebind(session, func() {
			conn.mu.Lock()
			conn.session = session
			conn.mu.Unlock()
		})
	}
	var perr *Error
	if err := moveTo(&two); !errors.As(err, &perr) || perr.Code != contract.CodeLimitExceeded || conn.Connection() != &one {
		t.Fatalf("onto a full connection: %v (now on %p)", err, conn.Connection())
	}
	y.Disconnect()
	if err := moveTo(&two); err != nil || conn.Connection() != &two {
		t.Fatalf("move: %v", err)
	}
	if _, err := r.Connect(ctx, sessionConn{newQueueConn(8), &one}, "ns-c", nil, ConnInfo{}); err != nil {
		t.Fatalf("the connection it left: %v", err)
	}
	if _, err := r.Connect(ctx, sessionConn{newQueueConn(8), &two}, "ns-d", nil, ConnInfo{}); !errors.As(err, &perr) || perr.Code != contract.CodeLimitExceeded {
		t.Fatalf("the connection it moved to: %v, want limit_exceeded", err)
	}
	x.Disconnect() // counted out of the connection it is on
	if _, err := r.Connect(ctx, sessionConn{newQueueConn(8), &two}, "ns-d", nil, ConnInfo{}); err != nil {
		t.Fatalf("after it left: %v", err)
	}
	if err := moveTo(&one); !errors.As(err, &perr) || perr.Code != contract.CodeNotConnected {
		t.Fatalf("a detached socket: %v", err)
	}
}

// cluster starts n routers named n1..nn on one nats-server, with
// namespace chat (presence events), and waits until each sees the others.
func cluster(t *testing.T, n int) ([]*Router, *nats.Conn) {
	t.Helper()
	srv := natstest.Server(t, &server.Options{})
	chat := config.DefaultNamespace()
	chat.PresenceEvents = true
	var rs []*Router
	for i := range n {
		cfg := config.Default()
		cfg.Node.Name = fmt.Sprintf("n%d", i+1)
		cfg.Namespaces = map[string]config.Namespace{"chat": chat}
		r := New(Options{Bus: natstest.Bus(t, srv), Config: &cfg})
		if err := r.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.Close)
		rs = append(rs, r)
	}
	for _, r := range rs {
		eventually(t, "nodes see each other", func() error {
			if got := r.Nodes(); got != n {
				return fmt.Errorf("%s sees %d nodes", r.node, got)
			}
			return nil
		})
	}
	return rs, natstest.Connect(t, srv)
}

// eventually polls cond every 10ms for up to 5s.
func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// peerOf returns the instance id of the node r's tracker lists the socket
// sid of chat under, or "".
func peerOf(r *Router, sid string) string {
	r.peers.mu.Lock()
	defer r.peers.mu.Unlock()
	for id, p := range r.peers.byNode {
		if _, ok := p.sockets[peerKey("chat", sid)]; ok {
			return id
		}
	}
	return ""
}

// remoteOf returns the node r's room lobby lists the socket sid under as
// a member held elsewhere, or "".
func remoteOf(r *Router, sid string) string {
	sp := r.lookupSpace("chat")
	if sp == nil {
		return ""
	}
	sp.mu.RLock()
	rm := sp.rooms["lobby"]
	sp.mu.RUnlock()
	if rm == nil {
		return ""
	}
	rm.mu.RLock()
	defer rm.mu.RUnlock()
	return rm.remote[sid].node
}

// TestHandoffAdopt: a socket one node hands off and another adopts keeps
// its sid, identity and rooms, gets what is sent to it on its new node
// only, and no notice is published; every node then knows it on its new
// node (for node loss), both its tracker and its rooms' remote members. A
// socket that cannot be adopted, or that is abandoned, gets its end
// notices.
func TestHandoffAdopt(t *testing.T) {
	rs, backend := cluster(t, 3)
	a, b, c := rs[0], rs[1], rs[2]
	ctx := context.Background()
	notices := make(chan *nats.Msg, 64)
	if _, err := backend.ChanSubscribe("router.>", notices); err != nil {
		t.Fatal(err)
	}
	if err := backend.Flush(); err != nil {
		t.Fatal(err)
	}
	old := newQueueConn(64)
	s, err := a.Connect(ctx, old, "chat", nil, ConnInfo{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Join(ctx, "lobby"); err != nil {
		t.Fatal(err)
	}
	sid := s.SID()
	// c opens the room after: it learns its members elsewhere by asking.
	member, err := c.Connect(ctx, newQueueConn(64), "chat", nil, ConnInfo{})
	if err != nil {
		t.Fatal(err)
	}
	if err := member.Join(ctx, "lobby"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "c knows the socket on a", func() error {
		if peerOf(c, sid) != a.InstanceID() || remoteOf(c, sid) != a.InstanceID() {
			return fmt.Errorf("tracker %q, room %q", peerOf(c, sid), remoteOf(c, sid))
		}
		return nil
	})
	// drain reads what the backend saw so far, up to a marker from every
	// router; with quiet, none of it may be a notice about the socket.
	drain := func(quiet bool) {
		for _, r := range rs {
			if err := r.bus.Main().NC().Publish("router.chat.server.mark", []byte(r.node)); err != nil {
				t.Fatal(err)
			}
		}
		for seen := 0; seen < len(rs); {
			select {
			case m := <-notices:
				if m.Subject == "router.chat.server.mark" {
					seen++
				} else if strings.Contains(m.Subject, ".lifecycle.") || strings.Contains(m.Subject, ".presence.") {
					if quiet && m.Header.Get(contract.HeaderSid) == sid {
						t.Fatalf("a notice for the moved socket: %s %s", m.Subject, m.Data)
					}
				}
			case <-time.After(5 * time.Second):
				t.Fatal("markers did not come")
			}
		}
	}
	drain(false)
	eventually(t, "the socket was told of the member", func() error {
		old.mu.Lock()
		defer old.mu.Unlock()
		if !strings.Contains(fmt.Sprintf("%s", old.queue), member.SID()) {
			return fmt.Errorf("got %q", old.queue)
		}
		return nil
	})
	old.mu.Lock()
	before := len(old.queue)
	old.mu.Unlock()

	rooms, ok := s.Handoff()
	if !ok || fmt.Sprint(rooms) != "[lobby]" {
		t.Fatalf("handoff: %v %v", rooms, ok)
	}
	if _, again := s.Handoff(); again {
		t.Fatal("handed off twice")
	}
	mv := Moved{SID: sid, Identity: s.Identity(), Rooms: rooms, From: a.InstanceID()}
	conn := newQueueConn(64)
	moved, err := b.Adopt(ctx, conn, "chat", mv)
	if err != nil {
		t.Fatal(err)
	}
	if moved.SID() != sid || fmt.Sprint(moved.Rooms()) != "[lobby]" {
		t.Fatalf("adopted %s in %v", moved.SID(), moved.Rooms())
	}
	eventually(t, "every node knows it on b", func() error {
		for _, r := range []*Router{a, c} {
			if got := peerOf(r, sid); got != b.InstanceID() {
				return fmt.Errorf("%s's tracker: %q", r.node, got)
			}
		}
		if got := remoteOf(c, sid); got != b.InstanceID() {
			return fmt.Errorf("c's room: %q", got)
		}
		if got, mine := peerOf(b, sid), remoteOf(b, sid); got != "" || mine != "" {
			return fmt.Errorf("b lists its own socket elsewhere: %q %q", got, mine)
		}
		return nil
	})
	if err := backend.Publish("router.chat.room.lobby.hello", []byte("1")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "delivered on b", func() error {
		conn.mu.Lock()
		defer conn.mu.Unlock()
		if len(conn.queue) != 1 {
			return fmt.Errorf("%d frames", len(conn.queue))
		}
		return nil
	})
	drain(true)
	old.mu.Lock()
	after := old.queue[before:]
	old.mu.Unlock()
	if len(after) != 0 {
		t.Fatalf("the old node delivered %q", after)
	}
	if _, err := c.Adopt(ctx, newQueueConn(1), "chat", Moved{SID: member.SID()}); err == nil {
		t.Fatal("adopted a socket attached there already")
	}

	// A socket that cannot be adopted (its namespace is unknown there) is
	// gone: its notices are published.
	if _, err := c.Adopt(ctx, newQueueConn(1), "nowhere", Moved{SID: "lost-1", Rooms: []string{"r"}}); err == nil {
		t.Fatal("adopted into an unknown namespace")
	}
	if _, err := c.Adopt(ctx, newQueueConn(1), "chat", Moved{SID: "bad sid"}); err == nil {
		t.Fatal("adopted a bad sid")
	}
	var got []string
	for len(got) < 2 {
		select {
		case m := <-notices:
			if m.Header.Get(contract.HeaderSid) == "lost-1" {
				got = append(got, m.Subject)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("end notices: %q", got)
		}
	}
	if fmt.Sprint(got) != "[router.nowhere.presence.r router.nowhere.lifecycle.disconnect]" {
		t.Fatalf("end notices: %q", got)
	}

	// A socket handed off that no node takes over is abandoned: its end
	// notices then.
	gone, err := a.Connect(ctx, newQueueConn(8), "chat", nil, ConnInfo{})
	if err != nil {
		t.Fatal(err)
	}
	if err := gone.Join(ctx, "r2"); err != nil {
		t.Fatal(err)
	}
	left, _ := gone.Handoff()
	gone.Abandon(left)
	got = nil
	for len(got) < 2 {
		select {
		case m := <-notices:
			if m.Header.Get(contract.HeaderSid) == gone.SID() && !strings.HasSuffix(m.Subject, ".connect") && !strings.Contains(string(m.Data), `"join"`) {
				got = append(got, m.Subject)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("abandoned: %q", got)
		}
	}
	if fmt.Sprint(got) != "[router.chat.presence.r2 router.chat.lifecycle.disconnect]" {
		t.Fatalf("abandoned: %q", got)
	}
}
