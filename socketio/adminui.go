package socketio

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/routerd/routerd/admin"
	"github.com/routerd/routerd/contract"
	"github.com/routerd/routerd/internal/bus"
	"github.com/routerd/routerd/router"
)

// The official Socket.IO Admin UI (@socket.io/admin-ui) on routerd. With
// admin.socketio_ui, the Socket.IO namespace "/admin" is routerd's own,
// mapped to no routerd namespace: it speaks the server side of the
// protocol of the package's instrument() (its lib/index.ts) for the whole
// cluster, native and Socket.IO sockets alike, so that the UI (the
// package's ui/dist, served from http.static_dir, or its hosted copy)
// shows them:
//
//   - CONNECT with auth {username, password}, checked against admin.users
//     (admin.CheckPassword), or {sessionId}: CONNECT, then "session" (after
//     a password: a token every node accepts for admin.session_ttl) and
//     "config" (the features below); otherwise CONNECT_ERROR "invalid
//     credentials".
//   - "all_sockets": every socket of every node (router.Inventory); the
//     live updates that come meanwhile follow it.
//   - "server_stats": one per node every adminStatsEvery (router.Inventory
//     without sockets), with its connections opened and closed since the
//     last as aggregated events.
//   - "socket_connected", "socket_disconnected", "room_joined",
//     "room_left": the lifecycle and presence notices of every namespace
//     (router.WatchNotices); a connect notice is completed with what the
//     node holding the socket tells of it (router.NodeSockets: its client
//     connection and transport). "socket_updated" tells a socket that left
//     long-polling or came to it.
//   - The UI's "_disconnect", "join" and "leave" are ctl requests on NATS
//     (P.{ns}.ctl.disconnect, .join, .leave), for one socket, the members
//     of a room or every socket of a namespace.
//
// Its notice subscriptions and its ticker run only while an Admin UI is
// connected to this node (an adminWatch).

// adminNsp is the Socket.IO namespace of the Admin UI.
const adminNsp = "/admin"

const (
	// adminStatsEvery spaces the server_stats (the admin-ui's 2 s).
	adminStatsEvery = 2 * time.Second
	// adminActionTimeout bounds one action of the UI, with its ctl
	// requests.
	adminActionTimeout = 30 * time.Second
	// adminQueue bounds the notices waiting for the pump; beyond, they are
	// dropped (and the drop logged): the UI misses those updates until it
	// reconnects.
	adminQueue = 1 << 14
	// adminOther prefixes the name a routerd namespace is shown under when
	// "/" + its name is another namespace's in socketio.namespaces.
	adminOther = "routerd:"
	// adminLoginRate and adminLoginBurst bound the password logins a node
	// checks, all clients together (each costs a bcrypt compare), and
	// adminMaxPassword a password's bytes: as the admin console does.
	adminLoginRate   = 5
	adminLoginBurst  = 10
	adminMaxPassword = 1024
)

// adminFeatures are the features the UI is told the server has: Socket.IO
// 4's but EMIT, plus AGGREGATED_EVENTS (server_stats carries the
// connection counts) and ALL_EVENTS (the socket, room and event pages).
var adminFeatures = []string{"JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT", "AGGREGATED_EVENTS", "ALL_EVENTS"}

// adminUI serves the Admin UI's namespace on this node.
type adminUI struct {
	srv    *Server
	nats   *bus.Conn // routerd's own connection: ctl requests
	subj   contract.Subjects
	log    *slog.Logger
	names  map[string]string // routerd namespace → the Socket.IO namespace listed for it
	logins *rate.Limiter     // password logins, all clients together

	starting sync.Mutex // one adminWatch starts at a time

	mu    sync.Mutex
	conns map[*session]*adminConn // the connected UIs, by session; guarded by mu
	w     *adminWatch             // while conns is not empty; guarded by mu

	wg sync.WaitGroup // goroutines of the connected UIs and of w
}

// adminConn is one connected Admin UI.
type adminConn struct {
	sess *session
	user string // the admin user it logged in as

	// guarded by adminUI.mu
	ready   bool                      // all_sockets was sent
	pending [][]byte                  // units to send after all_sockets
	gone    map[router.SocketKey]bool // sockets that left before all_sockets was sent
	left    bool                      // the UI disconnected the namespace
	done    chan struct{}             // closed when left is set
}

// adminWatch is what runs while Admin UIs are connected: the notice
// subscriptions feeding the pump, the stats ticker, and the view of the
// cluster's sockets they keep.
type adminWatch struct {
	ctx    context.Context
	cancel context.CancelFunc
	wake   chan struct{} // capacity 1: notices were queued

	qmu     sync.Mutex
	queue   []router.Notice // guarded by qmu
	dropped bool            // guarded by qmu

	// guarded by adminUI.mu
	view   map[router.SocketKey]viewed
	counts map[string][2]uint64 // opened, closed by node instance id, at the last tick
}

// viewed is what the watch knows of a socket: enough to act on it and to
// tell when its transport changed.
type viewed struct {
	node      string    // instance id of the node that holds it
	client    string    // router.SocketInfo.Client
	transport string    // router.SocketInfo.Transport
	learned   time.Time // when the watch learned of it: an inventory asked before may not tell its transport
}

// newAdminUI returns the Admin UI of srv, whose ctl requests go on c.
func newAdminUI(srv *Server, c *bus.Conn) *adminUI {
	ui := &adminUI{
		srv:    srv,
		nats:   c,
		subj:   contract.NewSubjects(srv.cfg.NATS.Prefix),
		log:    srv.log.With("nsp", adminNsp),
		names:  map[string]string{},
		logins: rate.NewLimiter(adminLoginRate, adminLoginBurst),
		conns:  map[*session]*adminConn{},
	}
	for nsp, ns := range srv.cfg.SocketIO.Namespaces {
		if best, ok := ui.names[ns]; !ok || len(nsp) < len(best) || (len(nsp) == len(best) && nsp < best) {
			ui.names[ns] = nsp
		}
	}
	if ns, ok := srv.cfg.SocketIO.Namespaces[adminNsp]; ok {
		ui.log.Warn("admin.socketio_ui serves the Socket.IO namespace /admin: its entry in socketio.namespaces is not used", "ns", ns)
	}
	return ui
}

// serves reports whether nsp is the Admin UI's namespace on this node.
func (ui *adminUI) serves(nsp string) bool { return ui != nil && nsp == adminNsp }

// attached reports whether session s has the Admin UI's namespace nsp
// connected.
func (ui *adminUI) attached(s *session, nsp string) bool {
	if !ui.serves(nsp) {
		return false
	}
	ui.mu.Lock()
	defer ui.mu.Unlock()
	c := ui.conns[s]
	return c != nil && !c.left
}

// wait waits for the goroutines of the UIs, once their sessions closed.
func (ui *adminUI) wait() {
	if ui != nil {
		ui.wg.Wait()
	}
}

// dispatch carries out a packet of session s for the Admin UI's
// namespace. Lock handling must be held.
func (ui *adminUI) dispatch(s *session, pkt sioPacket) {
	switch pkt.typ {
	case sioConnect:
		ui.connect(s, pkt)
	case sioDisconnect:
		ui.disconnect(s)
	case sioEvent:
		ui.event(s, pkt)
	}
}

// adminAuth is the auth object of the UI's CONNECT.
type adminAuth struct {
	Username  string `json:"username"`
	Password  string `json:"password"`
	SessionID string `json:"sessionId"`
}

// connect logs a UI in: with a session token, or with a user's password.
func (ui *adminUI) connect(s *session, pkt sioPacket) {
	if ui.attached(s, pkt.nsp) {
		s.refuse(pkt, router.Errorf(contract.CodeAlreadyConnected, "already connected to namespace %q", pkt.nsp))
		return
	}
	var auth adminAuth
	_ = json.Unmarshal(pkt.data, &auth) // anything else logs in nobody
	user, token := ui.checkSession(auth.SessionID), ""
	if user == "" {
		if !ui.logins.Allow() {
			ui.log.Info("admin ui login refused", "remote", s.info.RemoteAddr, "reason", "rate_limited")
			s.refuse(pkt, router.Errorf(contract.CodeRateLimited, "too many logins: try again in a second"))
			return
		}
		if len(auth.Password) <= adminMaxPassword && admin.CheckPassword(ui.srv.cfg.Admin.Users, auth.Username, auth.Password) {
			user, token = auth.Username, ui.newSession(auth.Username)
		}
	}
	if user == "" {
		// The name only when it is an admin's: another may be a password
		// typed in the wrong field.
		log := ui.log.With("remote", s.info.RemoteAddr, "reason", "invalid credentials")
		if ui.isUser(auth.Username) {
			log = log.With("user", auth.Username)
		}
		log.Info("admin ui login refused")
		s.refuse(pkt, &router.Error{Code: contract.CodeUnauthorized, Message: "invalid credentials"})
		return
	}
	c := &adminConn{sess: s, user: user, gone: map[router.SocketKey]bool{}, done: make(chan struct{})}
	ui.mu.Lock()
	ui.conns[s] = c
	ui.mu.Unlock()
	ui.log.Info("admin ui connected", "remote", s.info.RemoteAddr, "user", user)
	s.connected()
	s.srv.m.FrameOut("sio_connect")
	s.push(connectUnit(adminNsp, router.RandomID(), ""))
	if token != "" {
		s.push(adminEvent("session", token))
	}
	s.push(adminEvent("config", map[string]any{"supportedFeatures": adminFeatures}))
	ui.wg.Add(2)
	go ui.follow(c)
	go ui.begin(c)
}

// isUser reports whether name is an admin's.
func (ui *adminUI) isUser(name string) bool {
	for _, u := range ui.srv.cfg.Admin.Users {
		if u.Name == name {
			return true
		}
	}
	return false
}

// disconnect ends the UI of session s.
func (ui *adminUI) disconnect(s *session) {
	ui.mu.Lock()
	defer ui.mu.Unlock()
	if c := ui.conns[s]; c != nil && !c.left {
		c.left = true
		close(c.done)
	}
}

// follow forgets a UI once its session closed or it disconnected the
// namespace; the watch stops with the last UI.
func (ui *adminUI) follow(c *adminConn) {
	defer ui.wg.Done()
	select {
	case <-c.sess.ctx.Done():
	case <-c.done:
	}
	ui.mu.Lock()
	defer ui.mu.Unlock()
	if ui.conns[c.sess] == c {
		delete(ui.conns, c.sess)
	}
	if len(ui.conns) == 0 && ui.w != nil {
		ui.w.cancel()
		ui.w = nil
	}
	ui.log.Info("admin ui disconnected", "remote", c.sess.info.RemoteAddr, "user", c.user)
}

// current reports whether c is connected (adminUI.mu must be held).
func (ui *adminUI) current(c *adminConn) bool { return ui.conns[c.sess] == c && !c.left }

// begin sends a new UI all_sockets, once the watch follows the notices,
// then what the notices told meanwhile.
func (ui *adminUI) begin(c *adminConn) {
	defer ui.wg.Done()
	w := ui.watch(c)
	if w == nil {
		return
	}
	nodes, partial, err := ui.srv.r.Inventory(w.ctx, true)
	if err != nil {
		ui.log.Warn("admin ui: the sockets of the cluster are unavailable", "err", err)
	} else if partial {
		ui.log.Warn("admin ui: a node did not list its sockets in time: all_sockets lacks them")
	}
	sockets := []adminSocket{}
	ui.mu.Lock()
	defer ui.mu.Unlock()
	if !ui.current(c) {
		return
	}
	for _, n := range nodes {
		for _, si := range n.Sockets {
			k := router.SocketKey{NS: si.NS, SID: si.SID}
			if c.gone[k] {
				continue // left since it was listed
			}
			w.view[k] = viewed{node: n.ID, client: si.Client, transport: si.Transport, learned: time.Now()}
			sockets = append(sockets, ui.serialize(si, n.Node))
		}
	}
	c.sess.push(adminEvent("all_sockets", sockets))
	for _, u := range c.pending {
		c.sess.push(u)
	}
	c.ready, c.pending, c.gone = true, nil, nil
}

// watch returns the running watch, starting it for the first UI (its
// notice subscriptions are in force when it returns); nil when c is gone.
func (ui *adminUI) watch(c *adminConn) *adminWatch {
	ui.starting.Lock()
	defer ui.starting.Unlock()
	ui.mu.Lock()
	w, ok := ui.w, ui.current(c)
	ui.mu.Unlock()
	if !ok || w != nil {
		return w
	}
	ctx, cancel := context.WithCancel(ui.srv.stopping)
	w = &adminWatch{ctx: ctx, cancel: cancel, wake: make(chan struct{}, 1), view: map[router.SocketKey]viewed{}, counts: map[string][2]uint64{}}
	if err := ui.srv.r.WatchNotices(ctx, w.add); err != nil {
		ui.log.Warn("admin ui: no live updates", "err", err)
	}
	ui.mu.Lock()
	defer ui.mu.Unlock()
	if !ui.current(c) {
		cancel()
		return nil
	}
	ui.w = w
	ui.wg.Add(2)
	go ui.pump(w)
	go ui.tick(w)
	return w
}

// add queues a notice for the pump.
func (w *adminWatch) add(n router.Notice) {
	w.qmu.Lock()
	defer w.qmu.Unlock()
	if len(w.queue) >= adminQueue {
		w.dropped = true
		return
	}
	w.queue = append(w.queue, n)
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// pump turns the queued notices into the UIs' events, in order, a batch
// at a time: the sockets a batch tells connected are asked of their nodes
// first, one request per node.
func (ui *adminUI) pump(w *adminWatch) {
	defer ui.wg.Done()
	for {
		select {
		case <-w.ctx.Done():
			return
		case <-w.wake:
		}
		w.qmu.Lock()
		batch, dropped := w.queue, w.dropped
		w.queue, w.dropped = nil, false
		w.qmu.Unlock()
		if dropped {
			ui.log.Warn("admin ui: notices came faster than they were handled: the UIs miss some updates until they reconnect")
		}
		details := ui.details(w.ctx, batch)
		ui.mu.Lock()
		if ui.w == w {
			for _, n := range batch {
				ui.apply(w, n, details)
			}
		}
		ui.mu.Unlock()
	}
}

// details asks the nodes that hold the sockets that batch tells connected
// what they hold of them.
func (ui *adminUI) details(ctx context.Context, batch []router.Notice) map[router.SocketKey]router.SocketInfo {
	byNode := map[string][]router.SocketKey{}
	for _, n := range batch {
		if n.Kind == router.NoticeConnect && n.NodeID != "" {
			byNode[n.NodeID] = append(byNode[n.NodeID], n.Key)
		}
	}
	out := map[router.SocketKey]router.SocketInfo{}
	for node, keys := range byNode {
		infos, err := ui.srv.r.NodeSockets(ctx, node, keys)
		if err != nil {
			ui.log.Debug("admin ui: sockets not described by their node", "id", node, "err", err)
		}
		for _, si := range infos {
			out[router.SocketKey{NS: si.NS, SID: si.SID}] = si
		}
	}
	return out
}

// apply carries a notice to the view and to the UIs (adminUI.mu held).
func (ui *adminUI) apply(w *adminWatch, n router.Notice, details map[router.SocketKey]router.SocketInfo) {
	now := time.Now().UTC()
	nsp := ui.nspName(n.Key.NS)
	switch n.Kind {
	case router.NoticeConnect:
		si, ok := details[n.Key]
		if !ok { // gone already, or its node did not answer
			si = router.SocketInfo{NS: n.Key.NS, SID: n.Key.SID, User: n.User, Client: n.Key.SID, Handshake: n.Handshake}
		}
		si.Rooms = nil // the presence notices that follow tell its rooms
		w.view[n.Key] = viewed{node: n.NodeID, client: si.Client, transport: si.Transport, learned: time.Now()}
		ui.broadcast(adminEvent("socket_connected", ui.serialize(si, n.Node), now), nil)
	case router.NoticeDisconnect:
		delete(w.view, n.Key)
		ui.broadcast(adminEvent("socket_disconnected", nsp, n.Key.SID, n.Reason, now), &n.Key)
	case router.NoticeJoin:
		ui.broadcast(adminEvent("room_joined", nsp, n.Room, n.Key.SID, now), nil)
	case router.NoticeLeave:
		ui.broadcast(adminEvent("room_left", nsp, n.Room, n.Key.SID, now), nil)
	}
}

// broadcast sends unit to every UI, after all_sockets for those still
// waiting for it; gone names a socket the unit tells left, which those
// leave out of all_sockets (adminUI.mu held).
func (ui *adminUI) broadcast(unit []byte, gone *router.SocketKey) {
	for _, c := range ui.conns {
		switch {
		case c.left:
		case c.ready:
			c.sess.push(unit)
		default:
			c.pending = append(c.pending, unit)
			if gone != nil {
				c.gone[*gone] = true
			}
		}
	}
}

// tick sends server_stats every adminStatsEvery while w runs.
func (ui *adminUI) tick(w *adminWatch) {
	defer ui.wg.Done()
	t := time.NewTicker(adminStatsEvery)
	defer t.Stop()
	for {
		ui.stats(w)
		select {
		case <-w.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// adminStats is the admin-ui's server_stats: one node.
type adminStats struct {
	ServerID            string            `json:"serverId"`
	Hostname            string            `json:"hostname"`
	PID                 int               `json:"pid"`
	Uptime              float64           `json:"uptime"` // seconds
	ClientsCount        int64             `json:"clientsCount"`
	PollingClientsCount int               `json:"pollingClientsCount"`
	AggregatedEvents    []adminAggregated `json:"aggregatedEvents"`
	Namespaces          []adminNamespace  `json:"namespaces"`
}

// adminAggregated counts events of one type in a second.
type adminAggregated struct {
	Timestamp int64  `json:"timestamp"` // ms, on the second
	Type      string `json:"type"`
	Count     uint64 `json:"count"`
}

// adminNamespace is a namespace's socket count in server_stats.
type adminNamespace struct {
	Name         string `json:"name"`
	SocketsCount int    `json:"socketsCount"`
}

// stats sends every node's server_stats, and socket_updated for the
// sockets whose transport changed since the UIs heard it.
func (ui *adminUI) stats(w *adminWatch) {
	asked := time.Now()
	nodes, _, err := ui.srv.r.Inventory(w.ctx, false)
	if err != nil {
		ui.log.Debug("admin ui: server stats unavailable", "err", err)
		return
	}
	now := time.Now()
	second := now.Truncate(time.Second).UnixMilli()
	ui.mu.Lock()
	defer ui.mu.Unlock()
	if ui.w != w {
		return
	}
	polling := map[string]map[string]bool{} // by node instance id: its sockets on long-polling
	for _, n := range nodes {
		st := adminStats{
			ServerID:            n.Node,
			Hostname:            n.Hostname,
			PID:                 n.PID,
			Uptime:              now.Sub(n.Started).Seconds(),
			ClientsCount:        n.Connections,
			PollingClientsCount: n.PollingClients,
			AggregatedEvents:    []adminAggregated{},
			Namespaces:          []adminNamespace{},
		}
		if last, ok := w.counts[n.ID]; ok {
			for _, e := range []adminAggregated{{second, "rawConnection", n.Opened - last[0]}, {second, "rawDisconnection", n.Closed - last[1]}} {
				if e.Count > 0 {
					st.AggregatedEvents = append(st.AggregatedEvents, e)
				}
			}
		}
		w.counts[n.ID] = [2]uint64{n.Opened, n.Closed}
		for ns, count := range n.Namespaces {
			st.Namespaces = append(st.Namespaces, adminNamespace{Name: ui.nspName(ns), SocketsCount: count})
		}
		ui.broadcast(adminEvent("server_stats", st), nil)
		if !n.PollingCut {
			polling[n.ID] = make(map[string]bool, len(n.Polling))
			for _, k := range n.Polling {
				polling[n.ID][k] = true
			}
		}
	}
	ui.transports(w, polling, asked)
}

// transports sends socket_updated for the sockets that left long-polling
// (upgraded to WebSocket) or came to it (resumed on a new session), of
// the nodes whose sockets on long-polling polling lists, as an inventory
// asked at asked tells them (adminUI.mu held).
func (ui *adminUI) transports(w *adminWatch, polling map[string]map[string]bool, asked time.Time) {
	for k, v := range w.view {
		onNode, listed := polling[v.node]
		if !listed || v.transport == "" || v.learned.After(asked) {
			continue // a node that did not list them all, a native socket, or one the inventory may predate
		}
		now := "websocket"
		if onNode[k.String()] {
			now = "polling"
		}
		if (v.transport == "polling") == (now == "polling") {
			continue
		}
		v.transport = now
		w.view[k] = v
		ui.broadcast(adminEvent("socket_updated", map[string]string{"id": k.SID, "nsp": ui.nspName(k.NS), "transport": now}), nil)
	}
}

// event carries out an event of the UI: an action, on its own goroutine
// (it waits for ctl replies). What the UI does not offer is ignored.
func (ui *adminUI) event(s *session, pkt sioPacket) {
	var args []json.RawMessage
	var name string
	if json.Unmarshal(pkt.data, &args) != nil || json.Unmarshal(args[0], &name) != nil {
		return
	}
	str := func(i int) string {
		var v string
		if i < len(args) {
			_ = json.Unmarshal(args[i], &v) // null (an undefined filter) is ""
		}
		return v
	}
	ui.mu.Lock()
	c := ui.conns[s]
	ui.mu.Unlock()
	if c == nil {
		return
	}
	var act func(ctx context.Context, w *adminWatch) error
	switch name {
	case "_disconnect":
		var closeConn bool
		if len(args) > 2 {
			_ = json.Unmarshal(args[2], &closeConn)
		}
		nsp, filter := str(1), str(3)
		act = func(ctx context.Context, w *adminWatch) error {
			return ui.disconnectSockets(ctx, w, nsp, closeConn, filter)
		}
	case "join", "leave":
		nsp, room, filter := str(1), str(2), str(3)
		act = func(ctx context.Context, w *adminWatch) error { return ui.move(ctx, w, name, nsp, room, filter) }
	default:
		ui.log.Debug("admin ui: event ignored", "event", name)
		return
	}
	ui.log.Info("admin ui action", "user", c.user, "action", name, "args", string(pkt.data))
	ui.wg.Add(1)
	go func() {
		defer ui.wg.Done()
		ui.mu.Lock()
		w := ui.w
		ui.mu.Unlock()
		if w == nil {
			return
		}
		ctx, cancel := context.WithTimeout(w.ctx, adminActionTimeout)
		defer cancel()
		if err := act(ctx, w); err != nil {
			ui.log.Warn("admin ui action failed", "user", c.user, "action", name, "err", err)
		}
	}()
}

// disconnectSockets is the UI's "_disconnect" (Socket.IO's
// disconnectSockets): the socket filter names, else the members of room
// filter, else every socket of nsp; with closeConn, every socket of their
// client connections too (the connections stay open).
func (ui *adminUI) disconnectSockets(ctx context.Context, w *adminWatch, nsp string, closeConn bool, filter string) error {
	ns, ok := ui.nsOf(nsp)
	if !ok {
		return nil
	}
	if filter != "" && !ui.known(w, ns, filter) && !closeConn {
		_, err := ui.ctl(ctx, ns, contract.CtlDisconnect, contract.CtlRequest{Room: filter})
		return err
	}
	targets, err := ui.targets(ctx, w, ns, filter, "")
	if err != nil {
		return err
	}
	if closeConn {
		targets = ui.sameClients(w, targets)
	}
	for _, k := range targets {
		if _, err := ui.ctl(ctx, k.NS, contract.CtlDisconnect, contract.CtlRequest{SID: k.SID}); err != nil {
			return err
		}
	}
	return nil
}

// move is the UI's "join" or "leave" of room: for the socket filter
// names, else the members of room filter, else every socket of nsp (join)
// or the members of room (leave).
func (ui *adminUI) move(ctx context.Context, w *adminWatch, op, nsp, room, filter string) error {
	ns, ok := ui.nsOf(nsp)
	if !ok || room == "" {
		return nil
	}
	of := ""
	if op == contract.CtlLeave {
		of = room
	}
	targets, err := ui.targets(ctx, w, ns, filter, of)
	if err != nil {
		return err
	}
	for _, k := range targets {
		if _, err := ui.ctl(ctx, ns, op, contract.CtlRequest{SID: k.SID, Room: room}); err != nil {
			return err
		}
	}
	return nil
}

// targets resolves a filter as Socket.IO does (a socket is in a room
// named after its id): the socket filter names, else the members of room
// filter; without a filter, the members of room all, or with all "" every
// socket of ns the watch knows.
func (ui *adminUI) targets(ctx context.Context, w *adminWatch, ns, filter, all string) ([]router.SocketKey, error) {
	switch {
	case filter != "" && ui.known(w, ns, filter):
		return []router.SocketKey{{NS: ns, SID: filter}}, nil
	case filter != "":
		return ui.members(ctx, ns, filter)
	case all != "":
		return ui.members(ctx, ns, all)
	}
	ui.mu.Lock()
	defer ui.mu.Unlock()
	var out []router.SocketKey
	for k := range w.view {
		if k.NS == ns {
			out = append(out, k)
		}
	}
	return out, nil
}

// known reports whether the watch knows socket sid of ns.
func (ui *adminUI) known(w *adminWatch, ns, sid string) bool {
	ui.mu.Lock()
	defer ui.mu.Unlock()
	_, ok := w.view[router.SocketKey{NS: ns, SID: sid}]
	return ok
}

// members lists the members of room across the cluster (ctl presence).
func (ui *adminUI) members(ctx context.Context, ns, room string) ([]router.SocketKey, error) {
	rep, err := ui.ctl(ctx, ns, contract.CtlPresence, contract.CtlRequest{Room: room})
	if err != nil {
		return nil, err
	}
	out := make([]router.SocketKey, len(rep.Members))
	for i, m := range rep.Members {
		out[i] = router.SocketKey{NS: ns, SID: m.SID}
	}
	return out, nil
}

// sameClients adds to targets every socket the watch knows on their
// client connections.
func (ui *adminUI) sameClients(w *adminWatch, targets []router.SocketKey) []router.SocketKey {
	ui.mu.Lock()
	defer ui.mu.Unlock()
	clients := map[string]bool{}
	for _, k := range targets {
		if v, ok := w.view[k]; ok {
			clients[v.client] = true
		}
	}
	out := targets
	for k, v := range w.view {
		if clients[v.client] && !slices.Contains(targets, k) {
			out = append(out, k)
		}
	}
	return out
}

// ctl sends a control request for namespace ns and returns the reply.
func (ui *adminUI) ctl(ctx context.Context, ns, op string, body contract.CtlRequest) (contract.CtlReply, error) {
	b, _ := json.Marshal(body)
	m, err := ui.nats.NC().RequestWithContext(ctx, ui.subj.Ctl(ns, op), b)
	if err != nil {
		return contract.CtlReply{}, err
	}
	var rep contract.CtlReply
	if err := json.Unmarshal(m.Data, &rep); err != nil {
		return contract.CtlReply{}, err
	}
	if !rep.OK {
		if rep.Error != nil {
			return rep, rep.Error
		}
		return rep, errors.New("ctl " + op + " failed")
	}
	return rep, nil
}

// nspName is the Socket.IO namespace routerd namespace ns is shown under:
// the one socketio.namespaces lists for it (the shortest, then the first
// in order, when several are), else "/" + ns, unless that is another
// namespace's there: then adminOther + ns.
func (ui *adminUI) nspName(ns string) string {
	if nsp, ok := ui.names[ns]; ok {
		return nsp
	}
	if _, taken := ui.srv.cfg.SocketIO.Namespaces["/"+ns]; taken {
		return adminOther + ns
	}
	return "/" + ns
}

// nsOf is the routerd namespace the UI's namespace nsp (nspName) names.
func (ui *adminUI) nsOf(nsp string) (string, bool) {
	if ns, ok := strings.CutPrefix(nsp, adminOther); ok {
		return ns, true
	}
	if ns, ok := ui.srv.cfg.SocketIO.Namespaces[nsp]; ok {
		return ns, true
	}
	return strings.CutPrefix(nsp, "/")
}

// adminSocket is the admin-ui's serialized socket.
type adminSocket struct {
	ID        string            `json:"id"`
	ClientID  string            `json:"clientId"`
	Transport string            `json:"transport"`
	NSP       string            `json:"nsp"`
	Data      map[string]string `json:"data"`
	Handshake adminHandshake    `json:"handshake"`
	Rooms     []string          `json:"rooms"`
}

// adminHandshake is the admin-ui's handshake of a socket.
type adminHandshake struct {
	Address string                  `json:"address"`
	Headers map[string]string       `json:"headers"`
	Query   contract.HandshakeQuery `json:"query"`
	Issued  int64                   `json:"issued"`
	Time    time.Time               `json:"time"`
	URL     string                  `json:"url"`
}

// serialize describes socket si of node node as the admin-ui does: a
// native socket is on "websocket"; data says the node, the protocol and
// the user; the address is cf-connecting-ip's, x-forwarded-for's or the
// peer's, as the admin-ui takes it.
func (ui *adminUI) serialize(si router.SocketInfo, node string) adminSocket {
	a := adminSocket{
		ID:        si.SID,
		ClientID:  si.Client,
		Transport: si.Transport,
		NSP:       ui.nspName(si.NS),
		Data:      map[string]string{"node": node, "protocol": "socket.io"},
		Handshake: adminHandshake{Headers: map[string]string{}, Query: contract.HandshakeQuery{}},
		Rooms:     si.Rooms,
	}
	if a.Transport == "" {
		a.Transport, a.Data["protocol"] = "websocket", "routerd"
	}
	if si.User != "" {
		a.Data["user"] = si.User
	}
	if a.Rooms == nil {
		a.Rooms = []string{}
	}
	if h := si.Handshake; h != nil {
		a.Handshake = adminHandshake{Address: h.Address, Headers: h.Headers, Query: h.Query, Issued: h.Issued, Time: h.Time, URL: h.URL}
		for _, name := range []string{"x-forwarded-for", "cf-connecting-ip"} {
			if v := h.Headers[name]; v != "" {
				a.Handshake.Address = v
			}
		}
	}
	return a
}

// adminEvent encodes the EVENT [event, args...] for the UI.
func adminEvent(event string, args ...any) []byte {
	b, _ := json.Marshal(append([]any{event}, args...))
	return appendSIO([]byte{eioMessage}, sioEvent, 0, adminNsp, noID, b)
}

// newSession returns a session token for user: its name, the end of its
// validity and their HMAC keyed with the user's password hash, so that
// every node of the cluster accepts it, and none once the user's password
// changes or the user is gone.
func (ui *adminUI) newSession(user string) string {
	end := strconv.FormatInt(time.Now().Add(ui.srv.cfg.Admin.SessionTTL).Unix(), 10)
	name := base64.RawURLEncoding.EncodeToString([]byte(user))
	for _, u := range ui.srv.cfg.Admin.Users {
		if u.Name == user {
			return name + "." + end + "." + sessionMAC(u.PasswordHash, user, end)
		}
	}
	return ""
}

// checkSession returns the user a valid session token is of, or "".
func (ui *adminUI) checkSession(token string) string {
	name, rest, _ := strings.Cut(token, ".")
	end, mac, _ := strings.Cut(rest, ".")
	b, err := base64.RawURLEncoding.DecodeString(name)
	until, err2 := strconv.ParseInt(end, 10, 64)
	if err != nil || err2 != nil || time.Now().Unix() > until {
		return ""
	}
	user := string(b)
	for _, u := range ui.srv.cfg.Admin.Users {
		if u.Name == user && hmac.Equal([]byte(mac), []byte(sessionMAC(u.PasswordHash, user, end))) {
			return user
		}
	}
	return ""
}

// sessionMAC is the HMAC of a session token.
func sessionMAC(key, user, end string) string {
	h := hmac.New(sha256.New, []byte(key))
	h.Write([]byte("routerd socket.io admin-ui session\x00" + user + "\x00" + end))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}
