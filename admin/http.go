package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/contract"
	"github.com/routerd/routerd/web"
)

// The console's HTTP API, under admin.path (P): GET P/ is the page;
// POST P/api/login, P/api/logout and P/api/action; GET P/api/session,
// P/api/snapshot, P/api/sockets and P/api/stream (Server-Sent Events).
const (
	cookieName  = "routerd_admin"
	csrfHeader  = "X-CSRF-Token"
	maxLogin    = 8 << 10 // bytes of a login body
	maxPassword = 1024    // bytes of a password
	writeWait   = 10 * time.Second
)

// setSecurityHeaders sets the headers of every answer of the console: no
// framing, no content sniffing, no referrer, and a page that runs only its
// own scripts and talks only to its own origin.
func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
}

// ServeHTTP serves the console under admin.path.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w.Header())
	base := c.cfg.Admin.Path
	rel, ok := strings.CutPrefix(r.URL.Path, base)
	switch {
	case !ok:
		http.NotFound(w, r)
	case rel == "":
		target := base + "/"
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		http.Redirect(w, r, target, http.StatusMovedPermanently)
	case strings.HasPrefix(rel, "/api/"):
		w.Header().Set("Cache-Control", "no-store")
		c.api(w, r, strings.TrimPrefix(rel, "/api/"))
	default:
		c.files.serve(w, r, strings.TrimPrefix(rel, "/"))
	}
}

// api dispatches an API request.
func (c *Console) api(w http.ResponseWriter, r *http.Request, name string) {
	type route struct {
		method string
		serve  func(http.ResponseWriter, *http.Request)
	}
	routes := map[string]route{
		"login":    {http.MethodPost, c.login},
		"logout":   {http.MethodPost, c.logout},
		"action":   {http.MethodPost, c.action},
		"session":  {http.MethodGet, c.session},
		"snapshot": {http.MethodGet, c.snapshot},
		"sockets":  {http.MethodGet, c.socketList},
		"stream":   {http.MethodGet, c.stream},
	}
	rt, ok := routes[name]
	switch {
	case !ok:
		writeError(w, http.StatusNotFound, "not_found", "no such API")
	case r.Method != rt.method:
		w.Header().Set("Allow", rt.method)
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", rt.method+" only")
	default:
		rt.serve(w, r)
	}
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"encoding the answer failed"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeError answers {"error":{"code","message"}}.
func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]any{"error": contract.Error{Code: contract.Code(code), Message: message}})
}

// originOK reports whether r may come from the console's own page: a
// request with an Origin must name this host (the Host header, or the
// X-Forwarded-Host a proxy set), and a request without one must not be
// marked cross-site by the browser (Sec-Fetch-Site). Requests of neither
// kind are not from a browser, and pass.
func originOK(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		site := r.Header.Get("Sec-Fetch-Site")
		return site == "" || site == "same-origin" || site == "none"
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	return strings.EqualFold(u.Host, r.Host) || (r.Header.Get("X-Forwarded-Host") != "" && strings.EqualFold(u.Host, r.Header.Get("X-Forwarded-Host")))
}

// jsonBody reports whether r declares a JSON body: a cross-site form
// cannot send one without a CORS preflight, which the console never
// answers.
func jsonBody(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

// sessionOf returns the live session r's cookie names, or nil.
func (c *Console) sessionOf(r *http.Request) (string, *session) {
	ck, err := r.Cookie(cookieName)
	if err != nil {
		return "", nil
	}
	return ck.Value, c.sessions.get(ck.Value)
}

// guard lets an API request through, returning its session and the
// session's token, or answers it with the refusal: another site's
// request (403), no session (401), and for a POST a body that is not JSON
// (415) or a missing or wrong CSRF token (403).
func (c *Console) guard(w http.ResponseWriter, r *http.Request) (string, *session) {
	if !originOK(r) {
		writeError(w, http.StatusForbidden, "forbidden", "cross-origin request refused")
		return "", nil
	}
	token, ss := c.sessionOf(r)
	if ss == nil {
		writeError(w, http.StatusUnauthorized, "unauthorized", "log in first")
		return "", nil
	}
	if r.Method == http.MethodPost {
		if !jsonBody(r) {
			writeError(w, http.StatusUnsupportedMediaType, "bad_frame", "the body must be application/json")
			return "", nil
		}
		if !ss.csrfOK(r.Header.Get(csrfHeader)) {
			c.log.Warn("admin request without its CSRF token refused", "admin", ss.name, "path", r.URL.Path, "remote", r.RemoteAddr)
			writeError(w, http.StatusForbidden, "forbidden", "missing or wrong "+csrfHeader+" header")
			return "", nil
		}
	}
	return token, ss
}

// sessionInfo is what the page learns of its session.
type sessionInfo struct {
	Name    string    `json:"name"`
	Method  string    `json:"method"` // password or token
	CSRF    string    `json:"csrf"`   // the X-CSRF-Token of every POST
	Expires time.Time `json:"expires"`
	Node    string    `json:"node"` // the node serving the console
}

// loginOptions tells a page without a session how it may log in.
type loginOptions struct {
	Password bool `json:"password"` // admin.users is set
	Token    bool `json:"token"`    // admin.jwt_claim is set
}

// describe tells the page of its session.
func (c *Console) describe(ss *session) sessionInfo {
	return sessionInfo{Name: ss.name, Method: ss.method, CSRF: ss.csrf, Expires: ss.expires, Node: c.r.Node()}
}

// loginRequest is the body of a login: a name and a password, or a token.
type loginRequest struct {
	Name     string `json:"name"`
	Password string `json:"password"`
	Token    string `json:"token"`
}

// login checks a name and password (admin.users) or a token
// (admin.jwt_claim) and starts a session.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	if !originOK(r) {
		writeError(w, http.StatusForbidden, "forbidden", "cross-origin request refused")
		return
	}
	if !jsonBody(r) {
		writeError(w, http.StatusUnsupportedMediaType, "bad_frame", "the body must be application/json")
		return
	}
	if !c.logins.Allow() {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusTooManyRequests, "rate_limited", "too many logins: try again in a second")
		return
	}
	var req loginRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxLogin)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "bad_frame", "the body must be a JSON object of at most 8 KiB")
		return
	}
	a := c.cfg.Admin
	expires := time.Now().Add(a.SessionTTL)
	var name, method string
	refuse := func(reason string, attrs ...any) {
		c.log.Warn("admin login refused", append([]any{"method", method, "reason", reason, "remote", r.RemoteAddr}, attrs...)...)
		writeError(w, http.StatusUnauthorized, "unauthorized", "login refused")
	}
	if req.Token != "" {
		method = "token"
		if a.JWTClaim == "" || c.tokens == nil {
			refuse("token login is off (admin.jwt_claim)")
			return
		}
		sub, exp, granted, err := c.tokens.AdminClaim(req.Token, a.JWTClaim)
		switch {
		case err != nil:
			refuse(err.Error())
			return
		case !granted:
			refuse("the token's "+a.JWTClaim+" claim is not true", "admin", sub)
			return
		}
		name = sub
		if !exp.IsZero() && exp.Before(expires) {
			expires = exp
		}
	} else {
		method = "password"
		ok := len(req.Password) <= maxPassword && CheckPassword(a.Users, req.Name, req.Password)
		if !ok {
			// A name that is no user's may be a password typed in the
			// wrong field: it is not logged.
			if slices.ContainsFunc(a.Users, func(u config.AdminUser) bool { return u.Name == req.Name }) {
				refuse("wrong password", "admin", req.Name)
			} else {
				refuse("unknown user")
			}
			return
		}
		name = req.Name
	}
	token, ss := c.sessions.create(name, method, expires)
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: token, Path: a.Path,
		Expires: expires, MaxAge: max(1, int(time.Until(expires).Seconds())),
		HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteStrictMode,
	})
	c.log.Info("admin login", "admin", name, "method", method, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, c.describe(ss))
}

// secure reports whether r reached the console over HTTPS, here or at a
// proxy: the session cookie is then Secure.
func secure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// logout ends the session.
func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	token, ss := c.guard(w, r)
	if ss == nil {
		return
	}
	c.sessions.end(token)
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: c.cfg.Admin.Path, MaxAge: -1, HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteStrictMode})
	c.log.Info("admin logout", "admin", ss.name, "remote", r.RemoteAddr)
	w.WriteHeader(http.StatusNoContent)
}

// session answers the page's session, or how to log in (401).
func (c *Console) session(w http.ResponseWriter, r *http.Request) {
	if !originOK(r) {
		writeError(w, http.StatusForbidden, "forbidden", "cross-origin request refused")
		return
	}
	if _, ss := c.sessionOf(r); ss != nil {
		writeJSON(w, http.StatusOK, c.describe(ss))
		return
	}
	writeJSON(w, http.StatusUnauthorized, map[string]any{
		"error": contract.Error{Code: contract.CodeUnauthorized, Message: "log in first"},
		"login": loginOptions{Password: len(c.cfg.Admin.Users) > 0, Token: c.cfg.Admin.JWTClaim != "" && c.tokens != nil},
	})
}

// action carries out an action (action.go).
func (c *Console) action(w http.ResponseWriter, r *http.Request) {
	_, ss := c.guard(w, r)
	if ss == nil {
		return
	}
	var req actionRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxEmitData+8<<10)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "bad_frame", "the body must be a JSON object: "+err.Error())
		return
	}
	res, err := c.act(r.Context(), ss.name, req)
	switch {
	case isBadAction(err):
		writeError(w, http.StatusBadRequest, "bad_frame", err.Error())
	case err != nil:
		writeError(w, http.StatusBadGateway, "unavailable", err.Error())
	default:
		writeJSON(w, http.StatusOK, res)
	}
}

// snapshot answers one snapshot, without rates.
func (c *Console) snapshot(w http.ResponseWriter, r *http.Request) {
	if _, ss := c.guard(w, r); ss == nil {
		return
	}
	a, err := c.ask(r.Context(), nodeRequest{Op: opInfo})
	if err != nil {
		writeError(w, http.StatusBadGateway, "unavailable", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, c.build(a, nil, false, c.historyStreams(r.Context()), map[string]sample{}, time.Now()))
}

// socketsView lists the sockets of a namespace, or of one of its rooms,
// across the cluster.
type socketsView struct {
	NS      string       `json:"ns"`
	Room    string       `json:"room,omitempty"`
	Total   int          `json:"total"`   // the sockets there are, listed or not
	Sockets []socketInfo `json:"sockets"` // by sid, at most maxSockets
	Partial bool         `json:"partial"` // a live node did not answer
}

// selection reads and checks the ns and room of a sockets or stream
// request; ok false after answering 400.
func (c *Console) selection(w http.ResponseWriter, r *http.Request) (ns, room string, ok bool) {
	q := r.URL.Query()
	ns, room = q.Get("ns"), q.Get("room")
	if ns != "" && !config.ValidNamespaceName(ns) {
		writeError(w, http.StatusBadRequest, "invalid_name", "ns must be a namespace name")
		return "", "", false
	}
	if room != "" && (ns == "" || !contract.ValidRoomName(room, c.cfg.Limits.MaxNameBytes)) {
		writeError(w, http.StatusBadRequest, "invalid_name", "room must be a room name, with ns")
		return "", "", false
	}
	return ns, room, true
}

// listSockets asks every node for the sockets of ns, or of its room.
func (c *Console) listSockets(ctx context.Context, ns, room string) (socketsView, error) {
	a, err := c.ask(ctx, nodeRequest{Op: opSockets, NS: ns, Room: room, Limit: maxSockets})
	if err != nil {
		return socketsView{}, err
	}
	v := socketsView{NS: ns, Room: room, Sockets: []socketInfo{}, Partial: len(a.missing) > 0}
	for _, rep := range a.reports {
		v.Total += rep.Total
		v.Sockets = append(v.Sockets, rep.Sockets...)
	}
	slices.SortFunc(v.Sockets, func(a, b socketInfo) int { return strings.Compare(a.SID, b.SID) })
	if len(v.Sockets) > maxSockets {
		v.Sockets = v.Sockets[:maxSockets]
	}
	return v, nil
}

// socketList answers the sockets of ?ns=, or of ?ns= and ?room=.
func (c *Console) socketList(w http.ResponseWriter, r *http.Request) {
	if _, ss := c.guard(w, r); ss == nil {
		return
	}
	ns, room, ok := c.selection(w, r)
	if !ok {
		return
	}
	if ns == "" {
		writeError(w, http.StatusBadRequest, "invalid_name", "ns is required")
		return
	}
	v, err := c.listSockets(r.Context(), ns, room)
	if err != nil {
		writeError(w, http.StatusBadGateway, "unavailable", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// stream pushes the console's live view as Server-Sent Events: a
// "snapshot" every second; with ?ns= a "sockets" list every second (the
// members of ?room= when given); with ?room= and ?tail=1 a "tail" event
// per sampled event of the room; "session" when the session ended, and
// the stream with it.
func (c *Console) stream(w http.ResponseWriter, r *http.Request) {
	_, ss := c.guard(w, r)
	if ss == nil {
		return
	}
	ns, room, ok := c.selection(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	var wg sync.WaitGroup // the sockets poller
	defer func() {
		cancel()
		wg.Wait()
	}()
	stop := context.AfterFunc(c.ctx, cancel) // the console closes
	defer stop()

	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	send := func(event string, data []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(writeWait))
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, data); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	sendJSON := func(event string, v any) bool {
		b, err := json.Marshal(v)
		return err == nil && send(event, b)
	}
	if _, err := fmt.Fprint(w, "retry: 2000\n\n"); err != nil || rc.Flush() != nil {
		return
	}

	wt := c.hub.watch()
	defer c.hub.unwatch(wt)
	var tails <-chan tailEvent
	if room != "" && r.URL.Query().Get("tail") == "1" {
		t, err := c.startTail(ns, room)
		if err != nil {
			c.log.Warn("admin: tail a room", "ns", ns, "room", room, "err", err)
		} else {
			defer t.stop()
			tails = t.events
		}
	}
	var lists chan socketsView
	if ns != "" {
		lists = make(chan socketsView, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.pollSockets(ctx, ns, room, lists)
		}()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case b := <-wt.snaps:
			if !c.sessions.live(ss) {
				sendJSON("session", map[string]bool{"ended": true})
				return
			}
			if !send("snapshot", b) {
				return
			}
		case v := <-lists:
			if !sendJSON("sockets", v) {
				return
			}
		case e := <-tails:
			if !sendJSON("tail", e) {
				return
			}
		}
	}
}

// pollSockets lists the sockets of ns (or of its room) every second into
// out, which holds the newest list only, until ctx ends.
func (c *Console) pollSockets(ctx context.Context, ns, room string, out chan socketsView) {
	t := time.NewTicker(snapshotEvery)
	defer t.Stop()
	for {
		v, err := c.listSockets(ctx, ns, room)
		if err == nil {
			select {
			case <-out:
			default:
			}
			out <- v
		} else if !errors.Is(err, context.Canceled) {
			c.log.Debug("admin: list sockets", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// fileServer serves the embedded page, and the base stylesheet it shares
// with the chat page (sharedCSS), which package web holds.
type fileServer struct {
	files fs.FS
	web   http.Handler // package web's files
}

// sharedCSS is the stylesheet of package web that the page's admin.css
// imports.
const sharedCSS = "base.css"

func newFileServer() fileServer {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree always has static/
	}
	return fileServer{files: sub, web: web.Handler()}
}

// serve answers GET name ("" for the page) from the embedded files.
func (f fileServer) serve(w http.ResponseWriter, r *http.Request, name string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "GET only", http.StatusMethodNotAllowed)
		return
	}
	if name == "" {
		name = "index.html"
	}
	if name != path.Base(name) || strings.HasPrefix(name, ".") {
		http.NotFound(w, r)
		return
	}
	if name == sharedCSS {
		w.Header().Set("Cache-Control", "no-cache")
		r = r.Clone(r.Context())
		r.URL.Path, r.URL.RawPath = "/"+name, ""
		f.web.ServeHTTP(w, r)
		return
	}
	b, err := fs.ReadFile(f.files, name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(b)
	}
}
