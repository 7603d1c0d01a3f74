package socketio_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/internal/routertest"
)

// corsDo makes a request with h and returns the response, body closed.
func corsDo(t *testing.T, method, url string, h http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	resp.Body.Close()
	return resp
}

// TestCORS: with http.allowed_origins empty, polling answers any Origin
// with "*" and no credentials (browsers then send no cookies across
// sites); with a list, an allowed Origin gets itself back with
// credentials. Preflights the same.
func TestCORS(t *testing.T) {
	t.Parallel()
	const page = "https://app.example"
	tests := []struct {
		name        string
		allowed     []string
		origin      string // "" sends none
		allowOrigin string
		credentials string
	}{
		{"any origin", nil, page, "*", ""},
		{"any origin, no Origin", nil, "", "", ""},
		{"listed origin", []string{"https://other.example", page}, page, page, "true"},
		{"listed origins, no Origin", []string{page}, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := sioConfig(t)
			cfg.HTTP.AllowedOrigins = tt.allowed
			n := routertest.Start(t, cfg)
			h := http.Header{}
			if tt.origin != "" {
				h.Set("Origin", tt.origin)
			}
			check := func(what string, resp *http.Response, status int) {
				t.Helper()
				if resp.StatusCode != status {
					t.Errorf("%s: HTTP %d, want %d", what, resp.StatusCode, status)
				}
				if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tt.allowOrigin {
					t.Errorf("%s: Access-Control-Allow-Origin %q, want %q", what, got, tt.allowOrigin)
				}
				if got := resp.Header.Values("Access-Control-Allow-Credentials"); strings.Join(got, ",") != tt.credentials {
					t.Errorf("%s: Access-Control-Allow-Credentials %q, want %q", what, got, tt.credentials)
				}
				if tt.allowOrigin != "" && !strings.Contains(strings.Join(resp.Header.Values("Vary"), ","), "Origin") {
					t.Errorf("%s: Vary %q, want Origin", what, resp.Header.Values("Vary"))
				}
			}
			check("handshake", corsDo(t, http.MethodGet, eioURL(n, "transport=polling"), h), http.StatusOK)

			pre := h.Clone()
			pre.Set("Access-Control-Request-Method", "POST")
			pre.Set("Access-Control-Request-Headers", "content-type")
			resp := corsDo(t, http.MethodOptions, eioURL(n, "transport=polling"), pre)
			if tt.origin == "" {
				return // not a preflight
			}
			check("preflight", resp, http.StatusNoContent)
			if got := resp.Header.Get("Access-Control-Allow-Methods"); got != "GET, POST" {
				t.Errorf("preflight: Access-Control-Allow-Methods %q", got)
			}
			if got := resp.Header.Get("Access-Control-Allow-Headers"); got != "content-type" {
				t.Errorf("preflight: Access-Control-Allow-Headers %q", got)
			}
		})
	}
}

// TestBackendAuthHeaders: a Socket.IO session keeps its handshake's
// headers for the auth backend, for every CONNECT of its life, on either
// transport, without those of the WebSocket handshake.
func TestBackendAuthHeaders(t *testing.T) {
	t.Parallel()
	cfg := sioConfig(t)
	ns := config.DefaultNamespace()
	ns.Auth = config.AuthBackend
	cfg.Namespaces["app"] = ns
	n := routertest.Start(t, cfg)
	seen := routertest.AllowAuth(t, n.Backend(), "router.app.auth", 4)
	big := strings.Repeat("b", 12000)
	headers := http.Header{"Cookie": {"session=s1"}, "X-Big": {big}}
	authRequest := func(what string) {
		t.Helper()
		select {
		case h := <-seen:
			if h.Get("Http-Cookie") != "session=s1" || h.Get("Http-X-Big") != big {
				t.Errorf("%s: auth request without the handshake's headers: %v", what, h)
			}
			for _, name := range []string{"Http-Connection", "Http-Upgrade", "Http-Sec-Websocket-Key", "Http-Sec-Websocket-Version"} {
				if v := h.Values(name); v != nil {
					t.Errorf("%s: auth request with %s %q", what, name, v)
				}
			}
		case <-time.After(routertest.Wait):
			t.Fatalf("%s: no auth request", what)
		}
	}

	// WebSocket only: connect, disconnect, connect again.
	c := dialEIOHeader(t, n, headers)
	for _, what := range []string{"websocket connect", "websocket connect again"} {
		c.send("40/app,")
		c.expectPrefix(`40/app,{"sid":"`)
		authRequest(what)
		c.send("41/app,")
	}

	// Long-polling: the handshake's headers, on a later request too.
	status, body := httpDo(t, http.MethodGet, eioURL(n, "transport=polling"), "", headers)
	if status != http.StatusOK || !strings.HasPrefix(body, "0{") {
		t.Fatalf("polling handshake: %d %q", status, body)
	}
	var open struct {
		SID string `json:"sid"`
	}
	if err := json.Unmarshal([]byte(body[1:]), &open); err != nil {
		t.Fatal(err)
	}
	p := &pollSession{t: t, url: eioURL(n, "transport=polling&sid="+open.SID), sid: open.SID}
	p.post("40/app,") // without the headers: the session has them
	if body := p.get(); !strings.HasPrefix(body, `40/app,{"sid":"`) {
		t.Fatalf("polling connect: %q", body)
	}
	authRequest("polling connect")
}
