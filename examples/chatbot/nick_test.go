package main

import (
	"context"
	"fmt"
	"testing"

	"github.com/routerd/routerd/internal/routertest"
)

// A free nickname is granted; the holder may ask again; another socket is
// refused (forbidden, "nickname taken"), whatever the case; the bot's own
// name is reserved; malformed names are invalid.
func TestNick(t *testing.T) {
	node := routertest.Start(t, routertest.Config(t))
	startBot(t, node, nil)
	alice := joinChat(node, "lobby")
	bob := joinChat(node, "lobby")

	wantAck(t, alice.nick("alice"), "alice")
	wantAck(t, alice.nick("alice"), "alice")
	wantError(t, bob.nick("alice"), "forbidden", "nickname taken")
	wantError(t, bob.nick("ALICE"), "forbidden", "nickname taken")
	wantError(t, bob.nick("Bot"), "forbidden", "nickname reserved")
	for _, bad := range []string{"", " bob", "b\x07b", "0123456789012345678901234567890123"} {
		if f := bob.nick(bad); f.Type() != "error" || f.Str("code") != "invalid_name" {
			t.Errorf("nick %q: want invalid_name, got %v", bad, f)
		}
	}
	if f := bob.Req(map[string]any{"type": "emit", "ns": "chat", "event": "nick", "data": "bob"}); f.Str("code") != "bad_frame" {
		t.Errorf("nick with data %q: want bad_frame, got %v", "bob", f)
	}
	wantAck(t, bob.nick("bob"), "bob")

	// A rename frees the old name: a socket holds one name at a time.
	wantAck(t, alice.nick("Alicia"), "Alicia")
	wantAck(t, bob.nick("alice"), "alice")
	wantAck(t, alice.nick("bob"), "bob")
	wantError(t, bob.nick("bob"), "forbidden", "nickname taken")
}

// A nickname is free again once its socket disconnects, whether it detaches
// from the namespace or its connection closes.
func TestNickFreedOnDisconnect(t *testing.T) {
	node := routertest.Start(t, routertest.Config(t))
	startBot(t, node, nil)
	alice := joinChat(node, "lobby")
	carol := joinChat(node, "lobby")
	bob := joinChat(node, "lobby")
	wantAck(t, alice.nick("alice"), "alice")
	wantAck(t, carol.nick("carol"), "carol")
	wantError(t, bob.nick("alice"), "forbidden", "nickname taken")
	wantError(t, bob.nick("carol"), "forbidden", "nickname taken")

	alice.MustAck(map[string]any{"type": "disconnect", "ns": "chat"})
	eventuallyGranted(t, bob, "alice")

	if err := carol.WS.Close(); err != nil {
		t.Fatal(err)
	}
	eventuallyGranted(t, bob, "carol")
}

// eventuallyGranted asks for name until the bot grants it.
func eventuallyGranted(t *testing.T, c *chatClient, name string) {
	t.Helper()
	routertest.Eventually(t, "nick "+name+" granted", func() error {
		if f := c.nick(name); f.Type() != "ack" {
			return fmt.Errorf("reply %v", f)
		}
		return nil
	})
}

// Two instances in the queue group: each nick request is handled by exactly
// one of them, both take a share, and they agree on who holds which name
// (and on its release).
func TestNickTwoInstances(t *testing.T) {
	node := routertest.Start(t, routertest.Config(t))
	ctx1, stop1 := context.WithCancel(context.Background())
	ctx2, stop2 := context.WithCancel(context.Background())
	b1 := startBotCtx(t, node, ctx1, nil)
	b2 := startBotCtx(t, node, ctx2, nil)
	alice := joinChat(node, "lobby")
	bob := joinChat(node, "lobby")

	const n = 40
	requests := 0
	wantAck(t, alice.nick("alice"), "alice")
	requests++
	for i := 0; i < n; i++ {
		wantError(t, bob.nick("alice"), "forbidden", "nickname taken")
		wantAck(t, alice.nick("alice"), "alice")
		requests += 2
	}
	for i := 0; i < n; i++ { // every instance holds bob's name as soon as bob has his ack
		wantAck(t, bob.nick(fmt.Sprintf("bob%d", i)), fmt.Sprintf("bob%d", i))
		wantError(t, alice.nick(fmt.Sprintf("bob%d", i)), "forbidden", "nickname taken")
		requests += 2
	}
	alice.MustAck(map[string]any{"type": "disconnect", "ns": "chat"})
	routertest.Eventually(t, "both instances free alice", func() error {
		for _, b := range []*testBot{b1, b2} {
			if c, ok := b.nicks.Owner("alice"); ok {
				return fmt.Errorf("instance %s: alice held by %s", b.id, c.SID)
			}
		}
		return nil
	})
	wantAck(t, bob.nick("alice"), "alice")
	requests++

	// Stopping drains: every request an instance received is handled by
	// then, so the counts are final.
	stop1()
	stop2()
	<-b1.Done()
	<-b2.Done()
	s1, s2 := b1.Stats().Nicks, b2.Stats().Nicks
	if s1+s2 != int64(requests) {
		t.Fatalf("instances handled %d + %d nick requests, want %d in all (each exactly once)", s1, s2, requests)
	}
	if s1 == 0 || s2 == 0 {
		t.Fatalf("instances handled %d and %d nick requests: want both to take a share", s1, s2)
	}
}

// A bot that starts next to a running one learns the names given out so far.
func TestNickLateInstanceSyncs(t *testing.T) {
	node := routertest.Start(t, routertest.Config(t))
	ctx1, stop1 := context.WithCancel(context.Background())
	b1 := startBotCtx(t, node, ctx1, nil)
	alice := joinChat(node, "lobby")
	bob := joinChat(node, "lobby")
	gone := joinChat(node, "lobby")
	wantAck(t, alice.nick("alice"), "alice")
	wantAck(t, gone.nick("gone"), "gone")
	gone.MustAck(map[string]any{"type": "disconnect", "ns": "chat"})
	routertest.Eventually(t, "first instance frees gone", func() error {
		if _, ok := b1.nicks.Owner("gone"); ok {
			return fmt.Errorf("still held")
		}
		return nil
	})

	b2 := startBot(t, node, nil)
	if c, ok := b2.nicks.Owner("alice"); !ok || c.SID != alice.sid {
		t.Fatalf("late instance: alice held by %+v (%v), want %s", c, ok, alice.sid)
	}
	if len(b2.log.find("nicknames synchronized", map[string]string{"claims": "1", "gone": "1"})) != 1 {
		t.Fatalf("late instance did not merge a snapshot of 1 claim and 1 tombstone")
	}
	// With the first instance gone, the second one alone still refuses.
	stop1()
	<-b1.Done()
	wantError(t, bob.nick("alice"), "forbidden", "nickname taken")
}
