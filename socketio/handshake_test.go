package socketio_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/contract"
	"github.com/routerd/routerd/internal/routertest"
)

// TestHandshake: what the official socket.io-client puts in its
// handshake request reaches backends: the lifecycle connect notice carries
// the headers (but the credentials), the query the client gave (without
// Engine.IO's own parameters), the request's target and the client's
// address, on either transport; the auth backend gets the target and
// query as Router-Url and Router-Query, the credentials among the Http-
// headers, and the client's auth object, as it is, as the body.
func TestHandshake(t *testing.T) {
	cfg := sioConfig(t)
	app := config.DefaultNamespace()
	app.Auth = config.AuthBackend
	cfg.Namespaces["app"] = app
	n := routertest.Start(t, cfg)
	nc := n.Backend()
	life := routertest.Subscribe(t, nc, "router.*.lifecycle.connect")
	auths := make(chan *nats.Msg, 1)
	if _, err := nc.Subscribe("router.app.auth", func(m *nats.Msg) {
		auths <- m
		_ = m.Respond([]byte(`{"allow":true}`))
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	d := startDriver(t)

	// handshake waits for the connect notice of sid and returns its
	// handshake.
	handshake := func(sid string) *contract.Handshake {
		t.Helper()
		var hs *contract.Handshake
		routertest.Eventually(t, "the connect notice of "+sid, func() error {
			for _, m := range life.Msgs() {
				if m.Header.Get(contract.HeaderSid) != sid {
					continue
				}
				var v contract.LifecycleNotice
				if err := json.Unmarshal(m.Data, &v); err != nil || v.Handshake == nil {
					t.Fatalf("connect notice %s: %v", m.Data, err)
				}
				hs = v.Handshake
				return nil
			}
			return fmt.Errorf("not yet")
		})
		if hs.Address != "127.0.0.1" || hs.Headers["host"] != n.HTTPAddr() || hs.Issued != hs.Time.UnixMilli() ||
			time.Since(hs.Time) > time.Minute || time.Since(hs.Time) < 0 {
			t.Errorf("handshake of %s: %+v", sid, hs)
		}
		for _, name := range []string{"cookie", "authorization", "connection", "upgrade", "sec-websocket-key"} {
			if v, ok := hs.Headers[name]; ok {
				t.Errorf("handshake of %s: header %s %q", sid, name, v)
			}
		}
		return hs
	}
	wantQuery := func(what string, hs *contract.Handshake, want string) {
		t.Helper()
		if got := routertest.MustJSON(t, hs.Query); got != want {
			t.Errorf("%s: query %s, want %s", what, got, want)
		}
	}

	// The documented way: the query option, here on WebSocket only.
	sid := d.connect("option", n.HTTPURL()+"/chat", map[string]any{
		"transports":   []string{"websocket"},
		"query":        map[string]any{"a": "b", "x y": "1&2"},
		"extraHeaders": map[string]any{"x-app": "v1", "cookie": "s=1", "authorization": "Bearer t"},
	})
	hs := handshake(sid)
	wantQuery("query option", hs, `{"a":"b","x y":"1\u00262"}`)
	if hs.URL != "/socket.io/?a=b&x%20y=1%262&EIO=4&transport=websocket" || hs.Headers["x-app"] != "v1" {
		t.Errorf("query option: url %q, headers %v", hs.URL, hs.Headers)
	}

	// A query in the URL, on long-polling. socket.io-client hands the
	// whole URL to Engine.IO, whose query then replaces the query option:
	// b=c arrives, a=b does not.
	sid = d.connect("url", n.HTTPURL()+"/chat?b=c", map[string]any{
		"query":        map[string]any{"a": "b"},
		"extraHeaders": map[string]any{"x-app": "v2"},
	})
	hs = handshake(sid)
	wantQuery("query in the URL", hs, `{"b":"c"}`)
	if !strings.HasPrefix(hs.URL, "/socket.io/?b=c&EIO=4&transport=polling&t=") || hs.Headers["x-app"] != "v2" {
		t.Errorf("query in the URL: url %q, headers %v", hs.URL, hs.Headers)
	}

	// The auth backend: the client's auth object is the body; the query,
	// the target and the credentials are headers. The notice has no
	// credentials even so.
	sid = d.connect("auth", n.HTTPURL()+"/app", map[string]any{
		"query":        map[string]any{"tenant": "t1"},
		"auth":         map[string]any{"token": "tk"},
		"extraHeaders": map[string]any{"cookie": "s=1"},
	})
	select {
	case m := <-auths:
		if string(m.Data) != `{"token":"tk"}` {
			t.Errorf("auth request body %s", m.Data)
		}
		url := m.Header.Get(contract.HeaderURL)
		if m.Header.Get(contract.HeaderQuery) != "tenant=t1" || !strings.HasPrefix(url, "/socket.io/?tenant=t1&EIO=4&transport=polling&t=") ||
			m.Header.Get("Http-Cookie") != "s=1" || m.Header.Get("Http-Host") != n.HTTPAddr() {
			t.Errorf("auth request headers %v", m.Header)
		}
		if hs := handshake(sid); hs.URL != url {
			t.Errorf("notice url %q, auth request's %q", hs.URL, url)
		} else {
			wantQuery("auth", hs, `{"tenant":"t1"}`)
		}
	case <-time.After(routertest.Wait):
		t.Fatal("no auth request")
	}
}
