package daemon_test

import (
	"bufio"
	"context"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/internal/routertest"
)

// TestAdminOff: without admin.enabled nothing is served at admin.path.
func TestAdminOff(t *testing.T) {
	node := routertest.StartWith(t, nil)
	for _, path := range []string{"/admin", "/admin/", "/admin/api/session", "/admin/admin.js"} {
		res, err := http.Get(node.HTTPURL() + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, res.StatusCode)
		}
	}
}

// TestAdminShutdown: the console is served at admin.path, and a node
// shuts down at once with a console's event stream open: the stream ends
// first, rather than holding the HTTP server's shutdown up.
func TestAdminShutdown(t *testing.T) {
	cfg := routertest.Config(t)
	cfg.Admin.Enabled = true
	cfg.Admin.Path = "/ops"
	cfg.Admin.Users = []config.AdminUser{{Name: "ann", PasswordHash: "$2a$04$AeRFUxJ9edXuHXincou/jeLL9WE7GV9rnzpOF3swMfeDsoWIPhGUS"}} // "correct horse"
	node := routertest.Start(t, cfg)

	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Jar: jar}
	res, err := hc.Post(node.HTTPURL()+"/ops/api/login", "application/json", strings.NewReader(`{"name":"ann","password":"correct horse"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("login: %d", res.StatusCode)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, node.HTTPURL()+"/ops/api/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	lines := bufio.NewScanner(stream.Body)
	lines.Buffer(make([]byte, 1<<20), 1<<20)
	snapshot := false
	for !snapshot && lines.Scan() {
		snapshot = lines.Text() == "event: snapshot"
	}
	if !snapshot {
		t.Fatalf("no snapshot on the stream: %v", lines.Err())
	}

	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	start := time.Now()
	if err := node.Shutdown(sctx); err != nil {
		t.Fatalf("shutdown with a console open: %v (after %s)", err, time.Since(start))
	}
	ended := make(chan error, 1)
	go func() {
		for lines.Scan() { // what the stream sent before it ended
		}
		ended <- lines.Err()
	}()
	select {
	case err := <-ended:
		if err != nil {
			t.Errorf("the stream did not end cleanly: %v", err)
		}
	case <-time.After(routertest.Wait):
		t.Error("the stream goes on after the shutdown")
	}
}
