package auth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/internal/routertest"
)

const secret = "test-secret-with-enough-bytes-32!"

// jwtNode starts a node whose namespace "secure" uses JWT auth.
func jwtNode(t *testing.T, mutate func(*config.Config)) *routertest.Node {
	t.Helper()
	cfg := routertest.Config(t)
	ns := config.DefaultNamespace()
	ns.Auth = config.AuthJWT
	ns.PresenceEvents = true
	cfg.Namespaces["secure"] = ns
	cfg.Auth.JWT.Secret = secret
	if mutate != nil {
		mutate(&cfg)
	}
	return routertest.Start(t, cfg)
}

func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

func connect(c *routertest.Client, ns, token string) routertest.Frame {
	return c.Req(map[string]any{"type": "connect", "ns": ns, "auth": map[string]any{"token": token}})
}

func TestJWTAccepted(t *testing.T) {
	t.Parallel()
	n := jwtNode(t, nil)
	c := n.Dial()
	tok := sign(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()})
	r := connect(c, "secure", tok)
	if r.Type() != "connected" {
		t.Fatalf("connect: %v", r)
	}
	c.Join("secure", "lobby")
	p := c.MustAck(map[string]any{"type": "presence", "ns": "secure", "room": "lobby"})
	if got := p.JSON("data"); got != `{"members":[{"sid":"`+r.Str("sid")+`","user":"alice"}]}` {
		t.Errorf("presence = %s", got)
	}
}

func TestJWTRefusals(t *testing.T) {
	t.Parallel()
	n := jwtNode(t, nil)
	now := time.Now()
	good := jwt.MapClaims{"sub": "alice", "exp": now.Add(time.Hour).Unix()}
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	tests := []struct {
		name, token, code string
	}{
		{"no token", "", "unauthorized"},
		{"garbage", "not.a.jwt", "unauthorized"},
		{"wrong secret", sign(t, jwt.SigningMethodHS256, []byte("other-secret-other-secret-other!!"), good), "unauthorized"},
		{"alg none", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good), "unauthorized"},
		{"HS512 instead of the pinned HS256", sign(t, jwt.SigningMethodHS512, []byte(secret), good), "unauthorized"},
		{"RS256 when the key is a secret", sign(t, jwt.SigningMethodRS256, rsaKey, good), "unauthorized"},
		{"expired", sign(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "a", "exp": now.Add(-time.Minute).Unix()}), "unauthorized"},
		{"not yet valid", sign(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "a", "nbf": now.Add(time.Minute).Unix()}), "unauthorized"},
		{"other namespace", sign(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "a", "ns": []string{"tenant-*"}}), "forbidden"},
	}
	c := n.Dial()
	for _, tt := range tests {
		r := connect(c, "secure", tt.token)
		if r.Type() != "error" || r.Str("code") != tt.code {
			t.Errorf("%s: got %v, want error %s", tt.name, r, tt.code)
		}
	}
	// The connection stays usable for other namespaces and for a good token.
	c.Connect("chat")
	ok := sign(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "a", "ns": []string{"sec*"}})
	if r := connect(c, "secure", ok); r.Type() != "connected" {
		t.Fatalf("good token after refusals: %v", r)
	}
}

// TestJWTAudienceIssuer: with auth.jwt.audience and auth.jwt.issuer set, a
// token must carry both (aud may be a list); without them any aud and iss
// pass.
func TestJWTAudienceIssuer(t *testing.T) {
	t.Parallel()
	const aud, iss = "routerd-api", "https://id.example.com/"
	n := jwtNode(t, func(c *config.Config) { c.Auth.JWT.Audience, c.Auth.JWT.Issuer = aud, iss })
	tok := func(claims jwt.MapClaims) string {
		claims["sub"] = "erin"
		return sign(t, jwt.SigningMethodHS256, []byte(secret), claims)
	}
	tests := []struct {
		name   string
		claims jwt.MapClaims
		code   string // "": connected
	}{
		{"aud and iss", jwt.MapClaims{"aud": aud, "iss": iss}, ""},
		{"aud among several", jwt.MapClaims{"aud": []string{"other", aud}, "iss": iss}, ""},
		{"no aud", jwt.MapClaims{"iss": iss}, "unauthorized"},
		{"empty aud", jwt.MapClaims{"aud": "", "iss": iss}, "unauthorized"},
		{"other aud", jwt.MapClaims{"aud": "routerd-api-2", "iss": iss}, "unauthorized"},
		{"other auds", jwt.MapClaims{"aud": []string{"a", "b"}, "iss": iss}, "unauthorized"},
		{"no iss", jwt.MapClaims{"aud": aud}, "unauthorized"},
		{"other iss", jwt.MapClaims{"aud": aud, "iss": "https://evil.example.com/"}, "unauthorized"},
		{"iss differs in case", jwt.MapClaims{"aud": aud, "iss": "https://ID.example.com/"}, "unauthorized"},
	}
	c := n.Dial()
	for _, tt := range tests {
		r := connect(c, "secure", tok(tt.claims))
		if r.Type() == "connected" { // free the namespace for the next case
			c.MustAck(map[string]any{"type": "disconnect", "ns": "secure"})
		}
		switch {
		case tt.code == "" && r.Type() != "connected":
			t.Errorf("%s: %v, want connected", tt.name, r)
		case tt.code != "" && (r.Type() != "error" || r.Str("code") != tt.code):
			t.Errorf("%s: %v, want error %s", tt.name, r, tt.code)
		}
	}

	// Unset, neither is checked.
	open := jwtNode(t, nil)
	if r := connect(open.Dial(), "secure", tok(jwt.MapClaims{"aud": "anything", "iss": "anyone"})); r.Type() != "connected" {
		t.Errorf("aud and iss without auth.jwt.audience and issuer: %v, want connected", r)
	}
}

func TestJWTRoomsClaim(t *testing.T) {
	t.Parallel()
	n := jwtNode(t, nil)
	c := n.Dial()
	tok := sign(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "bob", "rooms": []string{"team-*"}})
	if r := connect(c, "secure", tok); r.Type() != "connected" {
		t.Fatalf("connect: %v", r)
	}
	c.Join("secure", "team-red")
	if code := c.ErrorCode(map[string]any{"type": "join", "ns": "secure", "room": "lobby"}); code != "forbidden" {
		t.Errorf("join outside the rooms claim: %s", code)
	}
}

func TestJWTExpiryDisconnects(t *testing.T) {
	t.Parallel()
	n := jwtNode(t, nil)
	c := n.Dial()
	// exp (whole seconds, rounded down) 2 to 3s ago: past, but within the
	// 5s leeway for another 2 to 3s, which the connect has to spare.
	tok := sign(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "carol", "exp": time.Now().Unix() - 2})
	if r := connect(c, "secure", tok); r.Type() != "connected" {
		t.Fatalf("connect within leeway: %v", r)
	}
	f := c.NextWithin(routertest.IsType("disconnected"), 3*time.Second+routertest.Wait)
	if f.Str("ns") != "secure" || f.Str("reason") != "token_expired" {
		t.Fatalf("disconnected = %v", f)
	}
	if code := c.ErrorCode(map[string]any{"type": "join", "ns": "secure", "room": "x"}); code != "not_connected" {
		t.Errorf("join after expiry: %s", code)
	}
}

func writePEM(t *testing.T, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

func TestJWTPublicKeys(t *testing.T) {
	t.Parallel()
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tests := []struct {
		name   string
		pub    any
		good   func() string
		forged func() string
	}{
		{"RS256", &rsaKey.PublicKey,
			func() string { return sign(t, jwt.SigningMethodRS256, rsaKey, jwt.MapClaims{"sub": "r"}) },
			func() string { return sign(t, jwt.SigningMethodES256, ecKey, jwt.MapClaims{"sub": "r"}) }},
		{"ES256", &ecKey.PublicKey,
			func() string { return sign(t, jwt.SigningMethodES256, ecKey, jwt.MapClaims{"sub": "e"}) },
			func() string { return sign(t, jwt.SigningMethodRS256, rsaKey, jwt.MapClaims{"sub": "e"}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := writePEM(t, tt.pub)
			n := jwtNode(t, func(c *config.Config) { c.Auth.JWT.Secret = ""; c.Auth.JWT.PublicKeyFile = file })
			c := n.Dial()
			if r := connect(c, "secure", tt.forged()); r.Str("code") != "unauthorized" {
				t.Errorf("token of the other algorithm: %v", r)
			}
			if r := connect(c, "secure", tt.good()); r.Type() != "connected" {
				t.Errorf("good token: %v", r)
			}
		})
	}
}

func TestBackendAuth(t *testing.T) {
	t.Parallel()
	cfg := routertest.Config(t)
	ns := config.DefaultNamespace()
	ns.Auth = config.AuthBackend
	cfg.Namespaces["app"] = ns
	// Long enough for a loaded machine: without a backend the answer is
	// NATS's no-responders status, at once.
	cfg.Limits.AckTimeout = routertest.Wait
	n := routertest.Start(t, cfg)
	c := n.Dial()
	// The message says why in the client's terms, not the NATS client's.
	if f := c.Req(map[string]any{"type": "connect", "ns": "app", "auth": map[string]any{"pw": "x"}}); f.Str("code") != "unauthorized" || f.Str("message") != "no auth backend is listening" {
		t.Fatalf("no auth backend: %v", f)
	}
	be := n.Backend()
	var seen struct {
		auth, ns, remote, ua string
	}
	var mu sync.Mutex
	sub, err := be.Subscribe("router.app.auth", func(m *nats.Msg) {
		mu.Lock()
		seen.auth, seen.ns, seen.remote, seen.ua = string(m.Data), m.Header.Get("Router-Ns"), m.Header.Get("Router-Remote-Addr"), m.Header.Get("Http-User-Agent")
		mu.Unlock()
		var obj struct {
			PW string `json:"pw"`
		}
		_ = json.Unmarshal(m.Data, &obj)
		if obj.PW == "open sesame" {
			_ = m.Respond([]byte(`{"allow":true,"user":"dave","rooms":["ok-*"]}`))
			return
		}
		_ = m.Respond([]byte(`{"allow":false,"message":"bad password"}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := be.Flush(); err != nil {
		t.Fatal(err)
	}
	r := c.Req(map[string]any{"type": "connect", "ns": "app", "auth": map[string]any{"pw": "wrong"}})
	if r.Str("code") != "unauthorized" || r.Str("message") != "bad password" {
		t.Fatalf("refused: %v", r)
	}
	r = c.Req(map[string]any{"type": "connect", "ns": "app", "auth": map[string]any{"pw": "open sesame"}})
	if r.Type() != "connected" {
		t.Fatalf("allowed: %v", r)
	}
	mu.Lock()
	if seen.auth != `{"pw":"open sesame"}` || seen.ns != "app" || seen.remote == "" || seen.ua == "" {
		t.Errorf("auth request = %+v", seen)
	}
	mu.Unlock()
	c.Join("app", "ok-1")
	if code := c.ErrorCode(map[string]any{"type": "join", "ns": "app", "room": "other"}); code != "forbidden" {
		t.Errorf("join outside the backend's rooms: %s", code)
	}
	p := c.MustAck(map[string]any{"type": "presence", "ns": "app", "room": "ok-1"})
	if got := p.JSON("data"); got != `{"members":[{"sid":"`+r.Str("sid")+`","user":"dave"}]}` {
		t.Errorf("presence = %s", got)
	}
}

// TestBackendAuthHeaders: the auth backend gets the upgrade request's
// headers, a big one within http.max_header_bytes included, with every
// connect of the connection's life, but not those of the WebSocket
// handshake.
func TestBackendAuthHeaders(t *testing.T) {
	t.Parallel()
	cfg := routertest.Config(t)
	ns := config.DefaultNamespace()
	ns.Auth = config.AuthBackend
	cfg.Namespaces["app"] = ns
	cfg.Namespaces["app-*"] = ns
	n := routertest.Start(t, cfg)
	seen := routertest.AllowAuth(t, n.Backend(), "router.*.auth", 3)
	big := strings.Repeat("b", 12000)
	c := routertest.DialURL(t, n.WSURL(), http.Header{"Cookie": {"session=s1"}, "X-Big": {big}})
	for _, name := range []string{"app", "app-2", "app"} {
		if r := c.Req(map[string]any{"type": "connect", "ns": name}); r.Type() != "connected" {
			t.Fatalf("connect %s: %v", name, r)
		}
		var h nats.Header
		select {
		case h = <-seen:
		case <-time.After(routertest.Wait):
			t.Fatalf("connect %s: no auth request", name)
		}
		if h.Get("Router-Ns") != name || h.Get("Http-Cookie") != "session=s1" || h.Get("Http-X-Big") != big || h.Get("Http-User-Agent") == "" {
			t.Errorf("connect %s: auth request without the upgrade request's headers: %v", name, h)
		}
		for _, hdr := range []string{"Http-Connection", "Http-Upgrade", "Http-Sec-Websocket-Key", "Http-Sec-Websocket-Version"} {
			if v := h.Values(hdr); v != nil {
				t.Errorf("connect %s: auth request with %s %q", name, hdr, v)
			}
		}
		if name == "app" {
			c.MustAck(map[string]any{"type": "disconnect", "ns": name})
		}
	}
}
