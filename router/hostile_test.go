package router_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/contract"
	"github.com/routerd/routerd/internal/routertest"
)

// TestHostileSubjectNames sends the names that made subjects past
// nats-server's control line (and so took the node off NATS for good): a
// `to` of 1400 dots, rooms that escape past the bound, a JWT sub and an
// auth backend's user of 1400 dots. Each is refused with invalid_name and
// the node stays on NATS.
func TestHostileSubjectNames(t *testing.T) {
	t.Parallel()
	const secret = "hostile-secret"
	n := routertest.StartWith(t, func(cfg *config.Config) {
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
	routertest.NATSServes(t, n, c, "chat")
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
	routertest.NATSServes(t, n, c, "chat")

	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": dots}).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	if code := c.ErrorCode(map[string]any{"type": "connect", "ns": "jwt", "auth": map[string]any{"token": tok}}); code != "invalid_name" {
		t.Errorf("JWT sub of 1400 dots: %s, want invalid_name", code)
	}
	routertest.NATSServes(t, n, c, "chat")

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
	routertest.NATSServes(t, n, c, "chat")
}
