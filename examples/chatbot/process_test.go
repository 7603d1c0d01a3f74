package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
			logs := p.stop(t, sig)
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
func buildChatbot(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "chatbot")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// botProcess is the chatbot binary running for a test.
type botProcess struct {
	cmd    *exec.Cmd
	logs   *routertest.SyncBuffer // its stdout and stderr
	exited chan error
}

// startProcess runs bin with args, and env added to the test's
// environment; it is killed if it still runs when the test ends.
func startProcess(t *testing.T, bin string, env []string, args ...string) *botProcess {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	p := &botProcess{cmd: exec.CommandContext(ctx, bin, args...), logs: &routertest.SyncBuffer{}, exited: make(chan error, 1)}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	return p
}

// stop sends sig, checks that the process exits 0 within 20s, and returns
// its output.
func (p *botProcess) stop(t *testing.T, sig syscall.Signal) string {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, p.logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("still running 20s after %v:\n%s", sig, p.logs.String())
	}
	return p.logs.String()
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
