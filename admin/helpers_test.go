package admin_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/internal/routertest"
)

// annHash is the bcrypt hash (cost 4, fast for tests) of annPassword.
const (
	annPassword = "correct horse"
	annHash     = "$2a$04$AeRFUxJ9edXuHXincou/jeLL9WE7GV9rnzpOF3swMfeDsoWIPhGUS"
)

// withAdmin turns the console on with the admin ann.
func withAdmin(cfg *config.Config) {
	cfg.Admin.Enabled = true
	cfg.Admin.Users = []config.AdminUser{{Name: "ann", PasswordHash: annHash}}
}

// console is an admin's browser: a cookie jar on one node's console.
type console struct {
	t    testing.TB
	base string // http://host:port/admin
	hc   *http.Client
	csrf string // the session's CSRF token, once logged in
}

// newConsole returns a console client of node n, not logged in.
func newConsole(t testing.TB, n *routertest.Node) *console {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &console{t: t, base: n.HTTPURL() + n.Cfg.Admin.Path, hc: &http.Client{Jar: jar, Timeout: 20 * time.Second}}
}

// loggedIn returns a console of node n logged in as ann.
func loggedIn(t testing.TB, n *routertest.Node) *console {
	t.Helper()
	c := newConsole(t, n)
	status, body := c.post("/api/login", map[string]string{"name": "ann", "password": annPassword}, nil)
	if status != http.StatusOK {
		t.Fatalf("login: %d %v", status, body)
	}
	c.csrf, _ = body["csrf"].(string)
	if c.csrf == "" {
		t.Fatalf("login: no csrf token in %v", body)
	}
	return c
}

// request sends a request with the headers h and decodes the JSON answer
// into v (when not nil); it returns the response.
func (c *console) request(method, path string, body []byte, h http.Header, v any) *http.Response {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	res, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read: %v", method, path, err)
	}
	if v != nil && len(b) > 0 {
		if err := json.Unmarshal(b, v); err != nil {
			c.t.Fatalf("%s %s: %d %q is not JSON: %v", method, path, res.StatusCode, b, err)
		}
	}
	return res
}

// post sends body as JSON with the session's CSRF token and the extra
// headers h, and returns the status and the decoded answer.
func (c *console) post(path string, body any, h http.Header) (int, map[string]any) {
	c.t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		c.t.Fatal(err)
	}
	hh := http.Header{"Content-Type": {"application/json"}}
	if c.csrf != "" {
		hh.Set("X-CSRF-Token", c.csrf)
	}
	for k, vs := range h {
		hh[k] = vs
	}
	var out map[string]any
	res := c.request(http.MethodPost, path, b, hh, &out)
	return res.StatusCode, out
}

// get decodes the JSON answer of GET path into v and returns the status.
func (c *console) get(path string, v any) int {
	c.t.Helper()
	return c.request(http.MethodGet, path, nil, nil, v).StatusCode
}

// act posts an action and fails unless it is carried out.
func (c *console) act(body map[string]any) map[string]any {
	c.t.Helper()
	status, out := c.post("/api/action", body, nil)
	if status != http.StatusOK || out["ok"] != true {
		c.t.Fatalf("action %v: %d %v", body, status, out)
	}
	return out
}

// snapshot is the part of /api/snapshot the tests read.
type snapshot struct {
	Node  string `json:"node"`
	Nodes []struct {
		ID          string `json:"id"`
		Name        string `json:"name"`
		Answered    bool   `json:"answered"`
		Connections int    `json:"connections"`
		Sockets     int    `json:"sockets"`
		Started     string `json:"started"`
		NATS        *struct {
			Connected bool `json:"connected"`
		} `json:"nats"`
	} `json:"nodes"`
	Namespaces []struct {
		Name      string `json:"name"`
		Sockets   int    `json:"sockets"`
		RoomCount int    `json:"room_count"`
		Policy    struct {
			Direct  bool   `json:"direct"`
			History string `json:"history"`
		} `json:"policy"`
		Rooms []struct {
			Room    string  `json:"room"`
			Members int     `json:"members"`
			Rate    float64 `json:"rate"`
		} `json:"rooms"`
	} `json:"namespaces"`
	Streams []struct {
		Name     string `json:"name"`
		NS       string `json:"ns"`
		Messages int    `json:"messages"`
		FirstSeq int    `json:"first_seq"`
		LastSeq  int    `json:"last_seq"`
	} `json:"streams"`
	Partial bool `json:"partial"`
	Rates   *struct {
		Deliveries float64  `json:"deliveries"`
		AckMeanMS  *float64 `json:"ack_mean_ms"`
	} `json:"rates"`
}

// members returns a namespace's room member counts, and its sockets.
func (s snapshot) members(ns string) (rooms map[string]int, sockets int) {
	rooms = map[string]int{}
	for _, n := range s.Namespaces {
		if n.Name == ns {
			for _, r := range n.Rooms {
				rooms[r.Room] = r.Members
			}
			return rooms, n.Sockets
		}
	}
	return rooms, -1
}

// sockets is /api/sockets.
type sockets struct {
	NS      string `json:"ns"`
	Room    string `json:"room"`
	Total   int    `json:"total"`
	Partial bool   `json:"partial"`
	Sockets []struct {
		SID       string   `json:"sid"`
		User      string   `json:"user"`
		Node      string   `json:"node"`
		Rooms     []string `json:"rooms"`
		Transport string   `json:"transport"`
		Address   string   `json:"address"`
		Since     string   `json:"since"`
	} `json:"sockets"`
}

// sids lists the sockets of a sockets answer as "node:sid", sorted.
func (s sockets) sids() []string {
	var out []string
	for _, so := range s.Sockets {
		out = append(out, so.Node+":"+so.SID)
	}
	slices.Sort(out)
	return out
}

// event is one Server-Sent Event.
type event struct {
	name string
	data string
}

// stream is an open /api/stream.
type stream struct {
	events *routertest.Inbox[event] // the events not consumed yet; ended with the stream
}

// openStream opens /api/stream with the query q; it is closed when the
// test ends.
func (c *console) openStream(q string) *stream {
	c.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/api/stream?"+q, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	hc := *c.hc
	hc.Timeout = 0
	res, err := hc.Do(req)
	if err != nil {
		cancel()
		c.t.Fatalf("open stream: %v", err)
	}
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		res.Body.Close()
		cancel()
		c.t.Fatalf("open stream: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	s := &stream{events: routertest.NewInbox[event]()}
	c.t.Cleanup(cancel)
	go func() {
		defer s.events.End()
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<22)
		var e event
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if e.name != "" {
					s.events.Add(e)
				}
				e = event{}
			case strings.HasPrefix(line, "event: "):
				e.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				e.data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return s
}

// next waits for the first event not consumed yet named name that match
// accepts (nil: any), and consumes it; it fails the test when none comes
// in time.
func (s *stream) next(t testing.TB, name string, match func(data string) bool) event {
	t.Helper()
	e, ok := s.events.Next(func(e event) bool { return e.name == name && (match == nil || match(e.data)) }, routertest.Wait)
	if !ok {
		t.Fatalf("no %q event within %s (the stream ended: %v)", name, routertest.Wait, s.events.Ended())
	}
	return e
}

// decode decodes an event's data.
func decode[T any](t testing.TB, e event) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(e.data), &v); err != nil {
		t.Fatalf("%s event %q: %v", e.name, e.data, err)
	}
	return v
}

// eventually polls the console's GET path until check accepts its answer.
func eventually[T any](t testing.TB, c *console, path string, what string, check func(T) error) T {
	t.Helper()
	var last T
	routertest.Eventually(t, what, func() error {
		var v T
		if status := c.get(path, &v); status != http.StatusOK {
			return fmt.Errorf("GET %s: %d", path, status)
		}
		last = v
		return check(v)
	})
	return last
}
