package admin_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/internal/routertest"
)

// TestLogin: the right password starts a session in an HttpOnly,
// SameSite=Strict cookie; a wrong one, an unknown name, a token with
// token logins off and a request from another site are refused; nothing
// secret reaches the logs.
func TestLogin(t *testing.T) {
	cfg := routertest.Config(t)
	cfg.Log.Level = "debug"
	withAdmin(&cfg)
	node, logs := routertest.StartLogged(t, cfg)

	c := newConsole(t, node)
	var opts struct {
		Login struct{ Password, Token bool } `json:"login"`
	}
	if status := c.get("/api/session", &opts); status != http.StatusUnauthorized || !opts.Login.Password || opts.Login.Token {
		t.Fatalf("session before login: %d %+v", status, opts)
	}
	for _, body := range []map[string]string{
		{"name": "ann", "password": "WrongPass-77"},
		{"name": "Secret-Typed-As-Name", "password": annPassword},
		{"name": "ann", "password": ""},
		{"token": "eyJhbGciOiJIUzI1NiJ9.e30.c2ln"},
	} {
		if status, out := c.post("/api/login", body, nil); status != http.StatusUnauthorized {
			t.Errorf("login %v: %d %v, want 401", body, status, out)
		}
	}
	if status, _ := c.post("/api/login", map[string]string{"name": "ann", "password": annPassword}, http.Header{"Origin": {"https://evil.example"}}); status != http.StatusForbidden {
		t.Errorf("login from another site: %d, want 403", status)
	}
	if status := c.request(http.MethodPost, "/api/login", []byte(`name=ann&password=x`), http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, nil).StatusCode; status != http.StatusUnsupportedMediaType {
		t.Errorf("login as a form: %d, want 415", status)
	}
	if status := c.get("/api/snapshot", nil); status != http.StatusUnauthorized {
		t.Errorf("snapshot without a session: %d, want 401", status)
	}

	b, _ := json.Marshal(map[string]string{"name": "ann", "password": annPassword})
	var info map[string]any
	res := c.request(http.MethodPost, "/api/login", b, http.Header{"Content-Type": {"application/json"}, "Origin": {node.HTTPURL()}}, &info)
	if res.StatusCode != http.StatusOK || info["name"] != "ann" || info["method"] != "password" || info["node"] != "t1" {
		t.Fatalf("login: %d %v", res.StatusCode, info)
	}
	var cookie *http.Cookie
	for _, ck := range res.Cookies() {
		if ck.Name == "routerd_admin" {
			cookie = ck
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != "/admin" || len(cookie.Value) < 40 || cookie.MaxAge <= 0 {
		t.Fatalf("session cookie: %+v", cookie)
	}
	if status := c.get("/api/session", &info); status != http.StatusOK || info["name"] != "ann" {
		t.Fatalf("session after login: %d %v", status, info)
	}
	csrf, _ := info["csrf"].(string)

	c.csrf = csrf
	if status, _ := c.post("/api/logout", map[string]any{}, nil); status != http.StatusNoContent {
		t.Fatalf("logout: %d", status)
	}
	if status := c.get("/api/snapshot", nil); status != http.StatusUnauthorized {
		t.Errorf("snapshot after logout: %d, want 401", status)
	}

	routertest.Eventually(t, "login logs", func() error {
		if !strings.Contains(logs.String(), "admin logout") {
			return fmt.Errorf("no logout logged yet")
		}
		return nil
	})
	out := logs.String()
	for _, want := range []string{
		`msg="admin login refused" component=admin method=password reason="wrong password"`,
		`msg="admin login refused" component=admin method=password reason="unknown user"`,
		`msg="admin login refused" component=admin method=token reason="token login is off (admin.jwt_claim)"`,
		`msg="admin login" component=admin admin=ann method=password`,
		`msg="admin logout" component=admin admin=ann`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the logs lack %s:\n%s", want, out)
		}
	}
	for _, secret := range []string{"WrongPass-77", "Secret-Typed-As-Name", annPassword, annHash, cookie.Value, csrf} {
		if strings.Contains(out, secret) {
			t.Errorf("the logs hold a secret %q", secret)
		}
	}
}

// TestTokenLogin: with admin.jwt_claim, a JWT that auth.jwt verifies logs
// in when that claim is true; its sub is the admin; a token without the
// claim, with it false, expired or signed with another key is refused.
func TestTokenLogin(t *testing.T) {
	node := routertest.StartWith(t, func(cfg *config.Config) {
		cfg.Admin.Enabled = true
		cfg.Admin.JWTClaim = "routerd_admin"
		cfg.Auth.JWT.Secret = "jwt-secret"
	})
	sign := func(key string, claims jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(key))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	exp := time.Now().Add(time.Hour).Unix()
	c := newConsole(t, node)
	for name, token := range map[string]string{
		"no claim":    sign("jwt-secret", jwt.MapClaims{"sub": "bob", "exp": exp}),
		"claim false": sign("jwt-secret", jwt.MapClaims{"sub": "bob", "exp": exp, "routerd_admin": false}),
		"claim text":  sign("jwt-secret", jwt.MapClaims{"sub": "bob", "exp": exp, "routerd_admin": "true"}),
		"expired":     sign("jwt-secret", jwt.MapClaims{"sub": "bob", "exp": time.Now().Add(-time.Minute).Unix(), "routerd_admin": true}),
		"other key":   sign("not-the-secret", jwt.MapClaims{"sub": "bob", "exp": exp, "routerd_admin": true}),
		"no sub":      sign("jwt-secret", jwt.MapClaims{"exp": exp, "routerd_admin": true}),
	} {
		if status, out := c.post("/api/login", map[string]string{"token": token}, nil); status != http.StatusUnauthorized {
			t.Errorf("%s: %d %v, want 401", name, status, out)
		}
	}
	if status, _ := c.post("/api/login", map[string]string{"name": "ann", "password": annPassword}, nil); status != http.StatusUnauthorized {
		t.Errorf("password login without admin.users: %d, want 401", status)
	}
	status, info := c.post("/api/login", map[string]string{"token": sign("jwt-secret", jwt.MapClaims{"sub": "bob", "exp": exp, "routerd_admin": true})}, nil)
	if status != http.StatusOK || info["name"] != "bob" || info["method"] != "token" {
		t.Fatalf("token login: %d %v", status, info)
	}
	expires, err := time.Parse(time.RFC3339Nano, info["expires"].(string))
	if err != nil || expires.Unix() != exp {
		t.Errorf("a token session ends at the token's exp (%d): %v %v", exp, info["expires"], err)
	}
	if status := c.get("/api/snapshot", nil); status != http.StatusOK {
		t.Errorf("snapshot after a token login: %d", status)
	}
}

// TestCSRF: an action needs the session's CSRF token in X-CSRF-Token, a
// JSON body and, from a browser, the console's own origin; a refused
// action does nothing.
func TestCSRF(t *testing.T) {
	node := routertest.StartWith(t, withAdmin)
	client := node.Dial()
	sid := client.Connect("chat")
	c := loggedIn(t, node)
	action := map[string]any{"op": "disconnect", "ns": "chat", "sid": sid}

	good := c.csrf
	c.csrf = ""
	if status, out := c.post("/api/action", action, nil); status != http.StatusForbidden {
		t.Errorf("no CSRF token: %d %v, want 403", status, out)
	}
	c.csrf = good[:len(good)-1] + "x"
	if status, out := c.post("/api/action", action, nil); status != http.StatusForbidden {
		t.Errorf("a wrong CSRF token: %d %v, want 403", status, out)
	}
	c.csrf = good
	if status, out := c.post("/api/action", action, http.Header{"Origin": {"https://evil.example"}}); status != http.StatusForbidden {
		t.Errorf("another site's origin: %d %v, want 403", status, out)
	}
	if status, out := c.post("/api/action", action, http.Header{"Sec-Fetch-Site": {"cross-site"}}); status != http.StatusForbidden {
		t.Errorf("a cross-site fetch: %d %v, want 403", status, out)
	}
	b, _ := json.Marshal(action)
	if status := c.request(http.MethodPost, "/api/action", b, http.Header{"Content-Type": {"text/plain"}, "X-CSRF-Token": {good}}, nil).StatusCode; status != http.StatusUnsupportedMediaType {
		t.Errorf("a text/plain body: %d, want 415", status)
	}
	if status := c.request(http.MethodGet, "/api/action", nil, nil, nil).StatusCode; status != http.StatusMethodNotAllowed {
		t.Errorf("GET an action: %d, want 405", status)
	}
	client.None(routertest.IsType("disconnected"))

	out := c.act(map[string]any{"op": "disconnect", "ns": "chat", "sid": sid, "reason": "maintenance"})
	if out["count"] != float64(1) {
		t.Errorf("disconnect: %v", out)
	}
	if f := client.Next(routertest.IsType("disconnected")); f.Str("reason") != "maintenance" || f.Str("ns") != "chat" {
		t.Errorf("disconnected: %v", f)
	}
}

// TestClusterView: the console of one node shows both nodes, their
// sockets and rooms, as they come and go; a node with the console off is
// listed, without its figures.
func TestClusterView(t *testing.T) {
	nodes := routertest.StartCluster(t, 3, func(i int, cfg *config.Config) {
		if i < 2 {
			withAdmin(cfg)
		}
	})
	c := loggedIn(t, nodes[0])
	a, b := nodes[0].Dial(), nodes[1].Dial()
	sidA, sidB := a.Connect("chat"), b.Connect("chat")
	a.Join("chat", "lobby")
	b.Join("chat", "lobby")
	b.Join("chat", "ops")

	s := eventually(t, c, "/api/snapshot", "both sockets in the snapshot", func(s snapshot) error {
		rooms, n := s.members("chat")
		if n != 2 || rooms["lobby"] != 2 || rooms["ops"] != 1 {
			return fmt.Errorf("chat: %d sockets, rooms %v", n, rooms)
		}
		return nil
	})
	if len(s.Nodes) != 3 || !s.Partial {
		t.Fatalf("nodes: %+v (partial %v)", s.Nodes, s.Partial)
	}
	byName := map[string]int{}
	for i, n := range s.Nodes {
		byName[n.Name] = i
	}
	for _, name := range []string{"t1", "t2"} {
		n := s.Nodes[byName[name]]
		if !n.Answered || n.Sockets != 1 || n.Connections != 1 || n.NATS == nil || !n.NATS.Connected || n.Started == "" {
			t.Errorf("node %s: %+v", name, n)
		}
	}
	if n := s.Nodes[byName["t3"]]; n.Answered || n.ID == "" || n.NATS != nil {
		t.Errorf("t3 has the console off: %+v", n)
	}

	list := eventually(t, c, "/api/sockets?ns=chat&room=lobby", "the lobby's members, with their handshakes' details", func(v sockets) error {
		if got := v.sids(); !slices.Equal(got, sorted("t1:"+sidA, "t2:"+sidB)) {
			return fmt.Errorf("members %v", got)
		}
		for _, so := range v.Sockets {
			if so.Since == "" {
				return fmt.Errorf("no details yet: %+v", so)
			}
		}
		return nil
	})
	if list.Total != 2 || !list.Partial {
		t.Errorf("lobby: total %d, partial %v", list.Total, list.Partial)
	}
	for _, so := range list.Sockets {
		since, err := time.Parse(time.RFC3339Nano, so.Since)
		if so.Transport != "native" || so.Address != "127.0.0.1" || err != nil || time.Since(since) > time.Minute {
			t.Errorf("socket %s: %+v", so.SID, so)
		}
		if want := map[string][]string{sidA: {"lobby"}, sidB: {"lobby", "ops"}}[so.SID]; !slices.Equal(so.Rooms, want) {
			t.Errorf("socket %s rooms %v, want %v", so.SID, so.Rooms, want)
		}
	}

	b.Send(map[string]any{"type": "disconnect", "ns": "chat"})
	eventually(t, c, "/api/snapshot", "t2's socket gone", func(s snapshot) error {
		rooms, n := s.members("chat")
		if n != 1 || rooms["lobby"] != 1 || rooms["ops"] != 0 {
			return fmt.Errorf("chat: %d sockets, rooms %v", n, rooms)
		}
		return nil
	})
	eventually(t, c, "/api/sockets?ns=chat", "t2's socket gone from the list", func(v sockets) error {
		if got := v.sids(); !slices.Equal(got, []string{"t1:" + sidA}) {
			return fmt.Errorf("sockets %v", got)
		}
		return nil
	})
}

// TestActions: actions go through ctl to whichever node holds the socket,
// and emits through the room and socket subjects; each is logged with the
// admin's name; a malformed action is refused before anything is sent.
func TestActions(t *testing.T) {
	var logs *routertest.SyncBuffer
	var nodes []*routertest.Node
	for i := range 2 {
		cfg := routertest.Config(t)
		cfg.Node.Name = fmt.Sprintf("t%d", i+1)
		cfg.NATS.Cluster = config.Cluster{Name: "routertest", Listen: "127.0.0.1:0"}
		if i > 0 {
			cfg.NATS.Cluster.Routes = []string{nodes[0].ClusterURL()}
		}
		withAdmin(&cfg)
		cfg.Log.Level = "info"
		n, l := routertest.StartLogged(t, cfg)
		if i == 0 {
			logs = l
		}
		nodes = append(nodes, n)
	}
	for _, n := range nodes {
		routertest.Eventually(t, "cluster formed", func() error {
			if got := n.Nodes(); got != 2 {
				return fmt.Errorf("%d nodes", got)
			}
			return nil
		})
	}
	c := loggedIn(t, nodes[0])
	far := nodes[1].Dial()
	sid := far.Connect("chat")
	far.Join("chat", "lobby")

	if out := c.act(map[string]any{"op": "join", "ns": "chat", "sid": sid, "room": "vip"}); out["count"] != float64(1) {
		t.Errorf("join: %v", out)
	}
	eventually(t, c, "/api/sockets?ns=chat&room=vip", "the socket in vip", func(v sockets) error {
		if got := v.sids(); !slices.Equal(got, []string{"t2:" + sid}) {
			return fmt.Errorf("vip: %v", got)
		}
		return nil
	})
	c.act(map[string]any{"op": "emit", "ns": "chat", "room": "vip", "event": "notice", "data": `{"text":"to the room"}`})
	if f := far.Next(routertest.IsEvent("notice")); f.Str("room") != "vip" || f.JSON("data") != `{"text":"to the room"}` {
		t.Errorf("room emit: %v", f)
	}
	c.act(map[string]any{"op": "emit", "ns": "chat", "sid": sid, "event": "notice", "data": "plain text"})
	if f := far.Next(routertest.IsEvent("notice")); f.Str("room") != "" || f.Str("data") != "plain text" {
		t.Errorf("socket emit: %v", f)
	}
	if out := c.act(map[string]any{"op": "leave", "ns": "chat", "sid": sid, "room": "vip"}); out["count"] != float64(1) {
		t.Errorf("leave: %v", out)
	}
	for _, bad := range []map[string]any{
		{"op": "disconnect", "ns": "chat"},
		{"op": "disconnect", "ns": "chat", "sid": sid, "room": "lobby"},
		{"op": "join", "ns": "chat", "sid": sid},
		{"op": "emit", "ns": "chat", "room": "lobby", "event": "$join"},
		{"op": "emit", "ns": "chat", "sid": "not a sid", "event": "x"},
		{"op": "disconnect", "ns": "nowhere", "sid": sid},
		{"op": "restart", "ns": "chat"},
	} {
		if status, out := c.post("/api/action", bad, nil); status != http.StatusBadRequest {
			t.Errorf("action %v: %d %v, want 400", bad, status, out)
		}
	}
	far.None(routertest.IsType("disconnected"))
	if out := c.act(map[string]any{"op": "disconnect", "ns": "chat", "sid": sid, "reason": "maintenance"}); out["count"] != float64(1) {
		t.Errorf("disconnect: %v", out)
	}
	if f := far.Next(routertest.IsType("disconnected")); f.Str("reason") != "maintenance" {
		t.Errorf("disconnected: %v", f)
	}
	routertest.Eventually(t, "the actions logged", func() error {
		if n := strings.Count(logs.String(), `msg="admin action"`); n != 5 {
			return fmt.Errorf("%d actions logged", n)
		}
		return nil
	})
	out := logs.String()
	for _, want := range []string{
		`msg="admin action" component=admin admin=ann op=join ns=chat sid=` + sid + ` room=vip count=1`,
		`msg="admin action" component=admin admin=ann op=emit ns=chat room=vip event=notice bytes=22`,
		`msg="admin action" component=admin admin=ann op=emit ns=chat sid=` + sid + ` event=notice bytes=10`,
		`msg="admin action" component=admin admin=ann op=leave ns=chat sid=` + sid + ` room=vip count=1`,
		`msg="admin action" component=admin admin=ann op=disconnect ns=chat sid=` + sid + ` reason=maintenance count=1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the logs lack %s:\n%s", want, out)
		}
	}
}

// TestStream: the event stream pushes a snapshot every second, with the
// cluster's rates from the second one on, the selected room's members,
// and a tail of the room's events; it ends with a "session" event when
// the session ends.
func TestStream(t *testing.T) {
	node := routertest.StartWith(t, withAdmin)
	c := loggedIn(t, node)
	alice, bob := node.Dial(), node.Dial()
	sidA, sidB := alice.Connect("chat"), bob.Connect("chat")
	alice.Join("chat", "lobby")
	bob.Join("chat", "lobby")

	s := c.openStream("ns=chat&room=lobby&tail=1")
	if first := decode[snapshot](t, s.next(t, "snapshot", nil)); first.Rates != nil {
		t.Errorf("the first snapshot has rates, with no interval yet: %+v", first.Rates)
	}
	s.next(t, "snapshot", func(data string) bool {
		rooms, n := decode[snapshot](t, event{data: data}).members("chat")
		return n == 2 && rooms["lobby"] == 2
	})
	members := decode[sockets](t, s.next(t, "sockets", func(data string) bool { return decode[sockets](t, event{data: data}).Total == 2 }))
	if members.NS != "chat" || members.Room != "lobby" || !slices.Equal(members.sids(), sorted("t1:"+sidA, "t1:"+sidB)) {
		t.Errorf("members: %+v", members)
	}

	alice.MustAck(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "message", "data": map[string]string{"text": "hello"}})
	bob.Next(routertest.IsEvent("message"))
	tail := decode[map[string]any](t, s.next(t, "tail", nil))
	if tail["event"] != "message" || tail["from"] != sidA || tail["data"] != `{"text":"hello"}` {
		t.Errorf("tail: %v", tail)
	}
	delivered := decode[snapshot](t, s.next(t, "snapshot", func(data string) bool {
		v := decode[snapshot](t, event{data: data})
		return v.Rates != nil && v.Rates.Deliveries > 0
	}))
	if rooms := delivered.Namespaces[0].Rooms; len(rooms) != 1 || rooms[0].Room != "lobby" {
		t.Errorf("rooms: %+v", rooms)
	}

	if status, _ := c.post("/api/logout", map[string]any{}, nil); status != http.StatusNoContent {
		t.Fatalf("logout: %d", status)
	}
	s.next(t, "session", nil)
	if !s.events.WaitEnd(routertest.Wait) {
		t.Fatal("the stream goes on after the session ended")
	}
}

// TestHistoryStreams: the snapshot lists the namespaces' history streams
// with their counts and sequences.
func TestHistoryStreams(t *testing.T) {
	node := routertest.StartWith(t, func(cfg *config.Config) {
		withAdmin(cfg)
		cfg.NATS.JetStream = config.JetStream{Enabled: true, StoreDir: t.TempDir(), Storage: "memory"}
		chat := cfg.Namespaces["chat"]
		chat.History = &config.History{MaxMsgs: 10, Replicas: 1}
		cfg.Namespaces["chat"] = chat
	})
	c := loggedIn(t, node)
	backend := node.Backend()
	for i := range 3 {
		routertest.Publish(t, backend, "router.chat.room.lobby.message", []byte(fmt.Sprintf(`{"n":%d}`, i)), nil)
	}
	s := eventually(t, c, "/api/snapshot", "the chat stream", func(s snapshot) error {
		if len(s.Streams) != 1 || s.Streams[0].Messages != 3 {
			return fmt.Errorf("streams %+v", s.Streams)
		}
		return nil
	})
	if st := s.Streams[0]; st.Name != "routerd_router_chat" || st.NS != "chat" || st.FirstSeq != 1 || st.LastSeq != 3 {
		t.Errorf("stream: %+v", st)
	}
	if _, n := s.members("chat"); n != 0 || s.Namespaces[0].Policy.History != "10 msgs" {
		t.Errorf("chat: %+v", s.Namespaces[0])
	}
}

// TestPage: the page, its modules and its stylesheets (base.css from
// package web) are served with a policy that runs only the console's own
// scripts; a name outside the page is not found.
func TestPage(t *testing.T) {
	node := routertest.StartWith(t, withAdmin)
	c := newConsole(t, node)
	res := c.request(http.MethodGet, "", nil, nil, nil)
	if res.StatusCode != http.StatusOK || res.Request.URL.Path != "/admin/" {
		t.Fatalf("GET /admin: %d at %s", res.StatusCode, res.Request.URL)
	}
	for path, ctype := range map[string]string{"/": "text/html", "/admin.js": "text/javascript", "/chart.js": "text/javascript", "/admin.css": "text/css", "/base.css": "text/css"} {
		res := c.request(http.MethodGet, path, nil, nil, nil)
		if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), ctype) ||
			!strings.Contains(res.Header.Get("Content-Security-Policy"), "script-src 'self'") || res.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("GET %s: %d %v", path, res.StatusCode, res.Header)
		}
	}
	for _, path := range []string{"/nope.js", "/.hidden", "/api/nope", "/static/admin.js"} {
		if res := c.request(http.MethodGet, path, nil, nil, nil); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, res.StatusCode)
		}
	}
}

// sorted returns its arguments in order.
func sorted(s ...string) []string {
	slices.Sort(s)
	return s
}
