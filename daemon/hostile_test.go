package daemon_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/contract"
	"github.com/routerd/routerd/internal/routertest"
)

// natsServes checks that the node is still on NATS: ready, and a backend's
// request through a client's server-bound emit is answered.
func natsServes(t *testing.T, n *routertest.Node, c *routertest.Client, ns string) {
	t.Helper()
	if code := readyz(n); code != http.StatusOK {
		t.Fatalf("readyz %d: the node is off NATS", code)
	}
	be := n.Backend()
	sub, err := be.Subscribe("router."+ns+".server.ping", func(m *nats.Msg) { _ = m.Respond([]byte(`"pong"`)) })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := be.Flush(); err != nil {
		t.Fatal(err)
	}
	if r := c.MustAck(map[string]any{"type": "emit", "ns": ns, "event": "ping"}); r.JSON("data") != `"pong"` {
		t.Fatalf("ping answered %v", r)
	}
}

// TestHostileSubjectNames sends the names that made subjects past
// nats-server's control line (and so took the node off NATS for good): a
// `to` of 1400 dots, rooms that escape past the bound, a JWT sub and an
// auth backend's user of 1400 dots. Each is refused with invalid_name and
// the node stays on NATS.
func TestHostileSubjectNames(t *testing.T) {
	t.Parallel()
	const secret = "hostile-secret"
	n := nodeWith(t, func(cfg *config.Config) {
		cfg.Limits.MaxNameBytes = 1024
		cfg.Auth.JWT.Secret = secret
		jwtNS := config.DefaultNamespace()
		jwtNS.Auth = config.AuthJWT
		cfg.Namespaces["jwt"] = jwtNS
		be := config.DefaultNamespace()
		be.Auth = config.AuthBackend
		cfg.Namespaces["be"] = be
	})
	dots := strings.Repeat(".", 1400)
	c := n.Dial()
	c.Connect("chat")

	if code := c.ErrorCode(map[string]any{"type": "emit", "ns": "chat", "event": "x", "to": dots}); code != "invalid_name" {
		t.Errorf("to of 1400 dots: %s, want invalid_name", code)
	}
	natsServes(t, n, c, "chat")
	for _, to := range []string{"a b", "a.b", strings.Repeat("a", contract.MaxSIDBytes+1)} {
		if code := c.ErrorCode(map[string]any{"type": "emit", "ns": "chat", "event": "x", "to": to}); code != "invalid_name" {
			t.Errorf("to %q: %s, want invalid_name", to, code)
		}
	}

	// 1024 dots are a valid room name under max_name_bytes 1024, but 3072
	// bytes escaped: past the subject bound.
	long := strings.Repeat(".", 1024)
	if code := c.ErrorCode(map[string]any{"type": "join", "ns": "chat", "room": long}); code != "invalid_name" {
		t.Errorf("join of a room past the subject bound: %s, want invalid_name", code)
	}
	if code := c.ErrorCode(map[string]any{"type": "emit", "ns": "chat", "room": long, "event": "x"}); code != "invalid_name" {
		t.Errorf("emit to a room past the subject bound: %s, want invalid_name", code)
	}
	fit := strings.Repeat(".", 600) // 1800 bytes escaped: fits
	c.Join("chat", fit)
	natsServes(t, n, c, "chat")

	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": dots}).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	if code := c.ErrorCode(map[string]any{"type": "connect", "ns": "jwt", "auth": map[string]any{"token": tok}}); code != "invalid_name" {
		t.Errorf("JWT sub of 1400 dots: %s, want invalid_name", code)
	}
	natsServes(t, n, c, "chat")

	authBackend := n.Backend()
	sub, err := authBackend.Subscribe("router.be.auth", func(m *nats.Msg) {
		_ = m.Respond([]byte(fmt.Sprintf(`{"allow":true,"user":%q}`, dots)))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := authBackend.Flush(); err != nil {
		t.Fatal(err)
	}
	if code := c.ErrorCode(map[string]any{"type": "connect", "ns": "be"}); code != "invalid_name" {
		t.Errorf("auth backend user of 1400 dots: %s, want invalid_name", code)
	}
	natsServes(t, n, c, "chat")
}

// TestNATSConnectionRecovers closes routerd's NATS connection from the
// server side, both ways a server can: it drops the client (nats.go
// reconnects), and it sends an error that nats.go takes as final (a
// protocol line past the server's max_control_line). Both times the node
// becomes ready again by itself, with its subscriptions in force: the
// client, still connected, gets a backend's room events and reaches
// backends again.
func TestNATSConnectionRecovers(t *testing.T) {
	t.Parallel()
	ext, n := startExternal(t, &server.Options{MaxControlLine: 512}, nil)
	c := n.Dial()
	c.Connect("chat")
	c.Join("chat", "lobby")
	be := n.Backend(nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))

	recovered := func(what string) {
		t.Helper()
		routertest.Eventually(t, what+": readyz 200 again", func() error {
			if code := readyz(n); code != http.StatusOK {
				return fmt.Errorf("readyz %d", code)
			}
			return nil
		})
		routertest.Eventually(t, what+": backend events reach the client again", func() error {
			if err := be.Publish("router.chat.room.lobby.news", []byte(`1`)); err != nil {
				return err
			}
			c.Barrier()
			if !c.Has(routertest.IsEvent("news")) {
				return fmt.Errorf("not yet")
			}
			return nil
		})
		c.Drop(routertest.IsEvent("news"))
		natsServes(t, n, c, "chat")
	}

	// 1. The server drops routerd's connection.
	var routerdID uint64
	conns, err := ext.Connz(&server.ConnzOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ci := range conns.Conns {
		if strings.HasPrefix(ci.Name, "routerd ") {
			routerdID = ci.Cid
		}
	}
	if routerdID == 0 {
		t.Fatal("routerd's connection not found on the server")
	}
	if err := ext.DisconnectClientByID(routerdID); err != nil {
		t.Fatal(err)
	}
	recovered("after the server dropped the connection")

	// 2. Names within routerd's bounds make a subject past this server's
	// max_control_line of 512 (128 + 64 dots, 576 bytes escaped): the
	// server closes the connection with an error nats.go does not
	// reconnect after.
	c.Join("chat", strings.Repeat(".", 128))
	c.Send(map[string]any{"type": "emit", "ns": "chat", "room": strings.Repeat(".", 128), "event": strings.Repeat(".", 64), "data": 1})
	routertest.Eventually(t, "the connection was dialled anew", func() error {
		if got := limMetric(t, n, "routerd_nats_redials_total"); got != "1" {
			return fmt.Errorf("redials %q", got)
		}
		return nil
	})
	recovered("after nats.go gave the connection up")
	if c.Has(routertest.IsType("disconnected")) {
		t.Fatal("the socket was detached")
	}
}
