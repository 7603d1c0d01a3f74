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
	"net"
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
	n := routertest.StartWith(t, func(cfg *config.Config) {
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

// TestHandshakeTimeout: a client that never finishes its upgrade request
// is disconnected after http.handshake_timeout.
func TestHandshakeTimeout(t *testing.T) {
	t.Parallel()
	n := routertest.StartWith(t, func(cfg *config.Config) { cfg.HTTP.HandshakeTimeout = 300 * time.Millisecond })
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
