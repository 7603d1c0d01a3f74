package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/routerd/routerd/internal/routertest"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "router.yaml")
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

func TestCheck(t *testing.T) {
	t.Parallel()
	bad := writeConfig(t, `
http: {listen: "nope", ping_interval: soon}
limits: {max_frame_bytes: 1}
namespaces:
  "bad.name": {}
  chat: {client_publish: everyone, bogus: 1}
`)
	tests := []struct {
		name    string
		args    []string
		environ []string
		code    int
		out     []string // substrings of stdout+stderr
	}{
		{"sample config", []string{"-c", "../../router.yaml", "--check"}, nil, 0, []string{"valid"}},
		{"every problem listed", []string{"-c", bad, "--check"}, nil, 1, []string{
			"http.listen", "http.ping_interval", "limits.max_frame_bytes", "namespaces.bad.name", "namespaces.chat.client_publish", "namespaces.chat.bogus"}},
		{"unknown ROUTER_ variable", []string{"-c", "../../router.yaml", "--check"}, []string{"ROUTER_NOPE=1"}, 1, []string{"ROUTER_NOPE"}},
		{"env overrides file", []string{"-c", "../../router.yaml", "--check"}, []string{"ROUTER_LIMITS_MAX_FRAME_BYTES=10"}, 1, []string{"limits.max_frame_bytes"}},
		{"flag overrides env", []string{"-c", "../../router.yaml", "--check", "--limits.max_frame_bytes", "4096"}, []string{"ROUTER_LIMITS_MAX_FRAME_BYTES=10"}, 0, []string{"valid"}},
		{"missing file", []string{"-c", "/nonexistent/router.yaml", "--check"}, nil, 1, []string{"nonexistent"}},
		{"bad flag", []string{"--no-such-flag"}, nil, 2, []string{"no-such-flag"}},
		{"version", []string{"--version"}, nil, 0, []string{"routerd"}},
		{"help lists flags and every key", []string{"--help"}, nil, 0, []string{
			"Usage: routerd [flags]", "--healthcheck string", "--check",
			"  --http.listen string (default 127.0.0.1:8080)", "  nats.users list (YAML only)",
			"  socketio.events map (YAML only)", "  namespaces.<name>.history.max_msgs int", "docs/configuration.md"}},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		code := run(tt.args, tt.environ, &out, &out)
		if code != tt.code {
			t.Errorf("%s: exit %d, want %d; output:\n%s", tt.name, code, tt.code, out.String())
		}
		for _, s := range tt.out {
			if !strings.Contains(out.String(), s) {
				t.Errorf("%s: output lacks %q:\n%s", tt.name, s, out.String())
			}
		}
	}
}

// TestProcessSignals runs the real binary: it serves, and SIGTERM closes
// clients with 1001 and exits 0.
func TestProcessSignals(t *testing.T) {
	t.Parallel()
	bin := binary(t)
	httpAddr := fmt.Sprintf("127.0.0.1:%d", routertest.FreePort(t))
	cfg := writeConfig(t, fmt.Sprintf(`
node: {name: proc}
http: {listen: %q}
nats: {listen: "127.0.0.1:%d"}
namespaces: {chat: {}}
`, httpAddr, routertest.FreePort(t)))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-c", cfg)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready: %s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+httpAddr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if _, _, err := ws.ReadMessage(); err != nil { // hello
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for {
		if _, _, err = ws.ReadMessage(); err != nil {
			break
		}
	}
	if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Errorf("client closed with %v, want 1001", err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("still running 30s after SIGTERM:\n%s", logs.String())
	}
}
