package daemon_test

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/routerd/routerd/internal/natstest"
	rt "github.com/routerd/routerd/internal/routertest"
)

// TestNoSecretInLogs: with routerd's NATS password in nats.url, no log
// line, at debug level, carries it: not the start, not a connect, not an
// outage, not a NATS that is not reachable yet.
func TestNoSecretInLogs(t *testing.T) {
	t.Parallel()
	const secret = "s3cret-pw"
	ext := natstest.Server(t, &server.Options{Username: "routerd", Password: secret})
	port := ext.Addr().(*net.TCPAddr).Port
	cfg := rt.Config(t)
	cfg.Log.Level = "debug"
	cfg.NATS.Listen = ""
	cfg.NATS.URL = []string{fmt.Sprintf("nats://routerd:%s@127.0.0.1:%d", secret, port)}
	n, logs := rt.StartLogged(t, cfg)
	c := n.Dial()
	c.Connect("chat")
	c.Join("chat", "lobby")
	ext.Shutdown()
	ext.WaitForShutdown()
	rt.Eventually(t, "the outage is logged", func() error {
		if !strings.Contains(logs.String(), "disconnected from NATS") {
			return fmt.Errorf("not yet")
		}
		return nil
	})

	late := rt.Config(t)
	late.Log.Level = "debug"
	late.NATS.Listen = ""
	late.NATS.URL = []string{fmt.Sprintf("nats://routerd:%s@127.0.0.1:%d", secret, rt.FreePort(t))}
	_, lateLogs := rt.StartLogged(t, late)
	for name, l := range map[string]*rt.SyncBuffer{"node": logs, "node started before NATS": lateLogs} {
		text := l.String()
		if !strings.Contains(text, "routerd ready") || !strings.Contains(text, "routerd:xxxxx@") {
			t.Errorf("%s: the NATS URL is not logged redacted:\n%s", name, text)
		}
		if strings.Contains(text, secret) {
			t.Errorf("%s: the password is in the logs:\n%s", name, text)
		}
	}
}

// TestWarnHTTPBeyondLoopback: a node whose HTTP listener is reachable from
// other hosts, with no allowed origins, says so at start; one that lists
// its origins, or listens on loopback, does not.
func TestWarnHTTPBeyondLoopback(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		listen  string
		origins []string
		warn    bool
	}{
		{"0.0.0.0:0", nil, true},
		{"0.0.0.0:0", []string{"https://app.example.com"}, false},
		{"127.0.0.1:0", nil, false},
	} {
		cfg := rt.Config(t)
		cfg.HTTP.Listen, cfg.HTTP.AllowedOrigins = tc.listen, tc.origins
		_, logs := rt.StartLogged(t, cfg)
		if got := strings.Contains(logs.String(), "no http.allowed_origins"); got != tc.warn {
			t.Errorf("listen %s, origins %v: warned %v, want %v", tc.listen, tc.origins, got, tc.warn)
		}
	}
}
