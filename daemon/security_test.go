package daemon_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	mrand "math/rand"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/internal/routertest"
)

func TestAllowedOrigins(t *testing.T) {
	t.Parallel()
	n := nodeWith(t, func(cfg *config.Config) { cfg.HTTP.AllowedOrigins = []string{"https://app.example.com"} })
	dial := func(origin string) int {
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		ws, resp, err := websocket.DefaultDialer.Dial(n.WSURL(), h)
		if err == nil {
			ws.Close()
			return http.StatusSwitchingProtocols
		}
		if resp == nil {
			t.Fatalf("dial: %v", err)
		}
		return resp.StatusCode
	}
	if got := dial("https://app.example.com"); got != http.StatusSwitchingProtocols {
		t.Errorf("allowed origin: HTTP %d", got)
	}
	if got := dial("https://evil.example.com"); got != http.StatusForbidden {
		t.Errorf("other origin: HTTP %d, want 403", got)
	}
	if got := dial(""); got != http.StatusSwitchingProtocols {
		t.Errorf("no Origin (not a browser): HTTP %d", got)
	}
	if got := limMetric(t, n, `routerd_connections_refused_total{reason="origin"}`); got != "1" {
		t.Errorf("refusals by origin = %q", got)
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "routerd test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestTLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := selfSigned(t)
	n := nodeWith(t, func(cfg *config.Config) {
		cfg.HTTP.TLS = config.TLSFiles{CertFile: certFile, KeyFile: keyFile}
		cfg.NATS.TLS = config.TLSFiles{CertFile: certFile, KeyFile: keyFile}
	})
	d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool}}
	ws, _, err := d.Dial("wss://"+n.HTTPAddr()+"/ws", nil)
	if err != nil {
		t.Fatalf("wss: %v", err)
	}
	defer ws.Close()
	if _, msg, err := ws.ReadMessage(); err != nil || !strings.Contains(string(msg), `"type":"hello"`) {
		t.Fatalf("hello over wss: %s %v", msg, err)
	}
	if _, _, err := websocket.DefaultDialer.Dial("ws://"+n.HTTPAddr()+"/ws", nil); err == nil {
		t.Error("plain ws accepted on a TLS listener")
	}
	nc, err := nats.Connect(n.NATSURL(), nats.Secure(&tls.Config{RootCAs: pool}))
	if err != nil {
		t.Fatalf("nats over TLS: %v", err)
	}
	nc.Close()
	if _, err := nats.Connect(n.NATSURL(), nats.Secure(&tls.Config{RootCAs: x509.NewCertPool()})); err == nil {
		t.Error("nats TLS accepted a client that does not trust the certificate")
	}
}

// TestGarbage throws random text and binary messages at the daemon from
// several connections; it keeps serving them and everyone else.
func TestGarbage(t *testing.T) {
	t.Parallel()
	n := nodeWith(t, func(cfg *config.Config) { cfg.Limits.Rate.PerSecond = 0 })
	watcher := n.Dial()
	watcher.Connect("chat")
	watcher.Join("chat", "lobby")
	rng := mrand.New(mrand.NewSource(1))
	pieces := []string{`{`, `}`, `"type"`, `:`, `"emit"`, `"join"`, `"ns"`, `"chat"`, `"room"`, `"lobby"`, `,`, `[`, `]`, `null`, `1e999`, `-0`, `"\u0000"`, "\n", `"id"`, `99999999999999999999`, `"data"`, `{"a":`, `"$join"`, `true`}
	for c := 0; c < 4; c++ {
		g := n.Dial()
		g.Connect("chat")
		for i := 0; i < 300; i++ {
			switch rng.Intn(3) {
			case 0:
				b := make([]byte, rng.Intn(200))
				rng.Read(b)
				if err := g.WS.WriteMessage(websocket.BinaryMessage, b); err != nil {
					t.Fatal(err)
				}
			case 1:
				b := make([]byte, rng.Intn(200))
				rng.Read(b)
				g.Send(b)
			default:
				var s []byte
				for j := rng.Intn(12); j >= 0; j-- {
					s = append(s, pieces[rng.Intn(len(pieces))]...)
				}
				g.Send(s)
			}
		}
		g.Barrier()
		g.Join("chat", "lobby")
	}
	watcher.MustAck(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "still", "self": true})
	watcher.Next(routertest.IsEvent("still"))
}

// TestHandshakeTimeout: a client that never finishes its upgrade request
// is disconnected after http.handshake_timeout.
func TestHandshakeTimeout(t *testing.T) {
	t.Parallel()
	n := nodeWith(t, func(cfg *config.Config) { cfg.HTTP.HandshakeTimeout = 300 * time.Millisecond })
	c, err := net.Dial("tcp", n.HTTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("GET /ws HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_ = c.SetReadDeadline(time.Now().Add(routertest.Wait))
	buf := make([]byte, 512)
	for {
		if _, err := c.Read(buf); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("still open after %s", routertest.Wait)
			}
			break
		}
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("closed after %s, before the handshake timeout", d)
	}
}
