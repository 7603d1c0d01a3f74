package router_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/contract"
	"github.com/routerd/routerd/internal/routertest"
)

// handshakeOf decodes the connect notice m and returns its handshake as
// JSON without time and issued, after checking that those are the same
// instant, in UTC to the millisecond, between from and to.
func handshakeOf(t *testing.T, m *nats.Msg, from, to time.Time) string {
	t.Helper()
	var n contract.LifecycleNotice
	if err := json.Unmarshal(m.Data, &n); err != nil {
		t.Fatalf("%s: %v", m.Subject, err)
	}
	if n.Handshake == nil {
		t.Fatalf("%s: no handshake in %s", m.Subject, m.Data)
	}
	hs := n.Handshake
	if hs.Time.Location() != time.UTC || hs.Time.Nanosecond()%int(time.Millisecond) != 0 || hs.Issued != hs.Time.UnixMilli() {
		t.Errorf("%s: time %v, issued %d: want one instant in UTC, in ms", m.Subject, hs.Time, hs.Issued)
	}
	if hs.Time.Before(from.Truncate(time.Millisecond)) || hs.Time.After(to) {
		t.Errorf("%s: time %v, want within [%v, %v]", m.Subject, hs.Time, from, to)
	}
	var v map[string]any
	if err := json.Unmarshal(m.Data, &v); err != nil {
		t.Fatal(err)
	}
	raw := v["handshake"].(map[string]any)
	if s, _ := raw["time"].(string); !strings.HasSuffix(s, "Z") {
		t.Errorf("%s: time %q, want RFC 3339 in UTC", m.Subject, raw["time"])
	}
	delete(raw, "time")
	delete(raw, "issued")
	return routertest.MustJSON(t, raw)
}

// TestLifecycleHandshake: the connect notice carries the handshake of the
// WebSocket upgrade (Socket.IO's socket.handshake): its headers and Host
// without the credentials, even where an auth backend gets them; its query
// decoded as Node.js does (repeated names as arrays, a bad escape as
// sent); its target; the client's IP address; the time of the connect.
// Every connect of the connection's life carries it, the disconnect
// notice does not, and the auth backend gets the target and the query as
// Router-Url and Router-Query beside the client's auth object.
func TestLifecycleHandshake(t *testing.T) {
	t.Parallel()
	n := routertest.StartWith(t, func(c *config.Config) {
		app := config.DefaultNamespace()
		app.Auth = config.AuthBackend
		c.Namespaces["app"] = app
	})
	nc := n.Backend()
	life := routertest.Subscribe(t, nc, "router.*.lifecycle.*")
	seen := routertest.AllowAuth(t, nc, "router.app.auth", 2)
	const query = "x=1&x=2&name=ann+b%C3%A9&flag&bad=%zz&&e="
	c := routertest.DialURL(t, n.WSURL()+"?"+query, http.Header{
		"User-Agent":    {"handshake-test"},
		"Origin":        {"http://app.example"},
		"X-Multi":       {"a", "b"},
		"Cookie":        {"session=s1"},
		"Authorization": {"Bearer t"},
	})
	want := `{"headers":{"host":"` + n.HTTPAddr() + `","user-agent":"handshake-test","origin":"http://app.example","x-multi":"a, b"},` +
		`"query":{"x":["1","2"],"name":"ann bé","flag":"","bad":"%zz","e":""},"url":"/ws?` + query + `","address":"127.0.0.1"}`

	from := time.Now()
	sid := c.Connect("chat")
	m := life.WaitN(t, 1)[0]
	if m.Subject != "router.chat.lifecycle.connect" || m.Header.Get("Router-Sid") != sid {
		t.Fatalf("notice %s for %s, want the connect of %s", m.Subject, m.Header.Get("Router-Sid"), sid)
	}
	routertest.EqualJSON(t, "handshake", handshakeOf(t, m, from, time.Now()), want)

	from = time.Now()
	c.Connect("app")
	m = life.WaitN(t, 2)[1]
	if m.Subject != "router.app.lifecycle.connect" {
		t.Fatalf("notice %s, want the connect to app", m.Subject)
	}
	routertest.EqualJSON(t, "handshake of a later connect", handshakeOf(t, m, from, time.Now()), want)
	select {
	case h := <-seen:
		for name, v := range map[string]string{
			"Router-Url": "/ws?" + query, "Router-Query": query, "Http-Host": n.HTTPAddr(),
			"Http-Cookie": "session=s1", "Http-Authorization": "Bearer t", "Http-X-Multi": "a",
		} {
			if got := h.Get(name); got != v {
				t.Errorf("auth request: %s = %q, want %q", name, got, v)
			}
		}
	case <-time.After(routertest.Wait):
		t.Fatal("no auth request")
	}

	c.MustAck(map[string]any{"type": "disconnect", "ns": "chat"})
	m = life.WaitN(t, 3)[2]
	if v := msgJSON(t, m); m.Subject != "router.chat.lifecycle.disconnect" || v["handshake"] != nil {
		t.Errorf("disconnect notice %s: %v, want no handshake", m.Subject, v)
	}

	// Without a query the query is {}, and Router-Query is absent.
	bare := routertest.DialURL(t, n.WSURL(), http.Header{"User-Agent": {"bare"}})
	bare.Connect("app")
	m = life.WaitN(t, 4)[3]
	routertest.EqualJSON(t, "handshake without a query", handshakeOf(t, m, from, time.Now()),
		`{"headers":{"host":"`+n.HTTPAddr()+`","user-agent":"bare"},"query":{},"url":"/ws","address":"127.0.0.1"}`)
	select {
	case h := <-seen:
		if _, ok := h["Router-Query"]; ok || h.Get("Router-Url") != "/ws" {
			t.Errorf("auth request without a query: %v", h)
		}
	case <-time.After(routertest.Wait):
		t.Fatal("no auth request")
	}
}

// TestLifecycleHandshakeTooLarge: a handshake that would take the connect
// notice over NATS's maximum payload (headers near http.max_header_bytes
// of 1 MiB, twice as long in JSON) is left out of it, with a warning; the
// socket connects and the notice is published.
func TestLifecycleHandshakeTooLarge(t *testing.T) {
	t.Parallel()
	cfg := routertest.Config(t)
	cfg.HTTP.MaxHeaderBytes = 1 << 20
	n, logs := routertest.StartLogged(t, cfg)
	life := routertest.Subscribe(t, n.Backend(), "router.chat.lifecycle.connect")
	c := routertest.DialURL(t, n.WSURL(), http.Header{"X-Quotes": {strings.Repeat(`"`, 600_000)}})
	sid := c.Connect("chat")
	m := life.WaitN(t, 1)[0]
	routertest.EqualJSON(t, "notice", string(m.Data), `{"sid":"`+sid+`","node":"t1"}`)
	if !strings.Contains(logs.String(), "published without its handshake") {
		t.Errorf("no warning in the logs:\n%s", logs.String())
	}
	// A handshake that fits is published whole.
	small := routertest.DialURL(t, n.WSURL(), http.Header{"X-Quotes": {`""`}})
	small.Connect("chat")
	if v := msgJSON(t, life.WaitN(t, 2)[1]); v["handshake"] == nil {
		t.Errorf("notice without the handshake: %v", v)
	}
}
