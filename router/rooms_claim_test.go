package router_test

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/internal/routertest"
)

// TestRoomsClaimLimitsReads: the token's rooms claim limits what a socket
// may see and say beyond the rooms it is in: presence of a room it may not
// join is forbidden (as history is), and so is an emit into one under
// client_publish any. A namespace where clients do not join rooms
// themselves lets a socket list the presence of its own rooms only.
func TestRoomsClaimLimitsReads(t *testing.T) {
	t.Parallel()
	const secret = "rooms-claim-secret"
	n := routertest.StartWith(t, func(cfg *config.Config) {
		cfg.Auth.JWT.Secret = secret
		cfg.Namespaces["board"] = nsWith(func(p *config.Namespace) {
			p.Auth = config.AuthJWT
			p.ClientPublish = config.PublishAny
		})
		cfg.Namespaces["managed"] = nsWith(func(p *config.Namespace) { p.ClientJoin = false })
	})
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "ann", "rooms": []string{"public-*"}, "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	secretMember := n.Dial()
	adminTok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "admin", "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	secretMember.MustAck(map[string]any{"type": "connect", "ns": "board", "auth": map[string]any{"token": adminTok}})
	secretMember.Join("board", "board-secret")

	c := n.Dial()
	if r := c.MustAck(map[string]any{"type": "connect", "ns": "board", "auth": map[string]any{"token": tok}}); r.Type() != "connected" {
		t.Fatalf("connect: %v", r)
	}
	if code := c.ErrorCode(map[string]any{"type": "presence", "ns": "board", "room": "board-secret"}); code != "forbidden" {
		t.Errorf("presence of a room the token excludes: %s, want forbidden", code)
	}
	if code := c.ErrorCode(map[string]any{"type": "emit", "ns": "board", "room": "board-secret", "event": "x", "data": 1}); code != "forbidden" {
		t.Errorf("emit into a room the token excludes (client_publish any): %s, want forbidden", code)
	}
	secretMember.None(routertest.IsEvent("x"))
	c.MustAck(map[string]any{"type": "presence", "ns": "board", "room": "public-1"})
	c.MustAck(map[string]any{"type": "emit", "ns": "board", "room": "public-1", "event": "x", "data": 1})

	// client_join false: presence of the socket's own rooms only.
	m := n.Dial()
	sid := m.Connect("managed")
	be := n.Backend()
	routertest.WantCount(t, "ctl join", routertest.CtlCall(t, be, "router.managed.ctl.join", routertest.MustJSON(t, map[string]any{"sid": sid, "room": "mine"})), 1)
	m.MustAck(map[string]any{"type": "presence", "ns": "managed", "room": "mine"})
	if code := m.ErrorCode(map[string]any{"type": "presence", "ns": "managed", "room": "other"}); code != "forbidden" {
		t.Errorf("presence of another room where clients may not join: %s, want forbidden", code)
	}
}
