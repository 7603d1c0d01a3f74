package main

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/routerd/routerd/internal/routertest"
)

// TestProcessSignals runs the real binary next to a node: it serves nick
// requests, and SIGINT or SIGTERM makes it drain and exit 0, after which
// nobody answers nick requests.
func TestProcessSignals(t *testing.T) {
	bin := buildChatbot(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			node := routertest.Start(t, routertest.Config(t))
			p := startProcess(t, bin, nil, "-nats", node.NATSURL(), "-log-level", "debug")
			alice := joinChat(node, "lobby")
			routertest.Eventually(t, "the process answers nick", func() error {
				if f := alice.nick("alice"); f.Type() != "ack" {
					return fmt.Errorf("reply %v", f)
				}
				return nil
			})
			logs := p.Stop(t, sig, 20*time.Second)
			for _, want := range []string{"chatbot ready", "nickname granted", "chatbot stopping", "chatbot stopped"} {
				if !strings.Contains(logs, want) {
					t.Errorf("log lacks %q:\n%s", want, logs)
				}
			}
			if f := alice.nick("alice"); f.Str("code") != "no_responders" {
				t.Fatalf("nick after the bot exited: %v, want no_responders", f)
			}
		})
	}
}

// buildChatbot builds the binary into the test's temporary directory.
func buildChatbot(t *testing.T) string { return routertest.Build(t, ".", "chatbot") }

// startProcess runs bin with args, and env added to the test's
// environment; it is killed if it still runs when the test ends.
func startProcess(t *testing.T, bin string, env []string, args ...string) *routertest.Process {
	t.Helper()
	return routertest.StartProcess(t, "", env, bin, args...)
}

// The bot waits for NATS that is not up yet, and reconnects to it after it
// restarts, forever: it serves again without being restarted itself. Names
// of the sockets of a node that shut down are free again.
func TestReconnects(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", routertest.FreePort(t))
	cfg := routertest.Config(t)
	cfg.NATS.Listen = addr

	bot := startBot(t, nil, func(c *Config) {
		c.NATSURL = "nats://" + addr
		c.ReconnectWait = 20 * time.Millisecond
	})
	if len(bot.log.find("NATS not reachable yet, retrying", nil)) != 1 {
		t.Fatalf("bot did not report that NATS is down")
	}
	for round := 1; round <= 2; round++ {
		node := routertest.Start(t, cfg)
		alice := joinChat(node, "lobby")
		routertest.Eventually(t, fmt.Sprintf("round %d: the bot answers nick", round), func() error {
			if f := alice.nick("alice"); f.Type() != "ack" {
				return fmt.Errorf("reply %v", f)
			}
			return nil
		})
		// A node that shuts down gracefully reports its sockets' disconnects
		// before its NATS goes: alice's name is free for the next round.
		node.Stop()
		routertest.Eventually(t, fmt.Sprintf("round %d: the node's shutdown frees alice", round), func() error {
			if len(bot.log.find("nickname freed", map[string]string{"sid": alice.sid, "name": "alice"})) != 1 {
				return fmt.Errorf("not freed")
			}
			return nil
		})
	}
}
