package router

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/contract"
	"github.com/routerd/routerd/internal/bus"
)

// Node heartbeats and discovery. Every node publishes a heartbeat on
// $routerd.P.hb (package relay names the node-to-node subjects) every
// heartbeatInterval and counts a node it has not heard from for nodeExpiry
// as lost. A node learns another from any message that carries its
// instance id (heartbeats, lifecycle and presence notices, scatter
// replies), and publishes a heartbeat when it learns one, so that the
// other learns it at once too. A starting node probes: every node answers
// a probe at once, naming the nodes it knows, and the starting node probes
// again every probeInterval until each node heard of has answered and none
// was new for discoverySettle (or for discoveryTimeout when none answers,
// as for the first node of a cluster): its first discovery round, which
// its readiness waits for. Cluster-wide
// answers (presence, ctl) are gathered from every node in the table.
const (
	heartbeatInterval = 2 * time.Second
	nodeExpiry        = 3 * heartbeatInterval
	gatherTimeout     = 2 * time.Second
	// expiryCheck is how often silent nodes are looked for: a node is
	// counted lost at most expiryCheck after nodeExpiry.
	expiryCheck = 250 * time.Millisecond
	// probeInterval spaces the probes of the first discovery round.
	probeInterval = 100 * time.Millisecond
	// discoverySettle is how long the first discovery round goes on after
	// it heard of a node it did not know: the routes to the other servers
	// of a cluster do not come up all at the same instant.
	discoverySettle = 3 * probeInterval
	// discoveryTimeout bounds the first discovery round, from the first
	// probe on a connected bus.
	discoveryTimeout = 2 * time.Second
	// maxLost bounds the lost nodes remembered, to tell their return.
	maxLost = 256
)

// heartbeat is the payload of $routerd.P.hb. Nodes ignore the fields they
// do not know (a rolling upgrade).
type heartbeat struct {
	ID      string `json:"id"`   // instance id, new at every start
	Node    string `json:"node"` // node name
	Probe   bool   `json:"probe,omitempty"`
	Leaving bool   `json:"leaving,omitempty"`
	// Answer marks the answer to a probe, and Known lists the other live
	// nodes the answering node knows (instance id → name): a starting
	// node waits until each has answered.
	Answer bool              `json:"answer,omitempty"`
	Known  map[string]string `json:"known,omitempty"`
}

// nodeTable tracks the routerd nodes sharing the bus.
type nodeTable struct {
	r    *Router
	id   string
	done chan struct{}
	// discovered is set once the first discovery round is over.
	discovered atomic.Bool

	// mu guards the table. It also orders what a change of the table sets
	// off on this node (members told of a lost or returned node's members,
	// the notices published for it): that is carried out under mu, in the
	// order the table changed, and never waits for a reply (a returned
	// node's sockets are asked before).
	mu    sync.Mutex
	seen  map[string]peer     // other live nodes by instance id; guarded by mu
	lost  map[string]lostPeer // nodes counted lost, by instance id, until they return or an instance of their name is heard; guarded by mu
	round *round              // the first discovery round while it runs; guarded by mu
	subs  []*bus.Sub
	view  busView // the loop's own
}

// peer is another live node.
type peer struct {
	name string
	last time.Time // when it was last heard
}

// lostPeer is a node counted lost.
type lostPeer struct {
	name string
	at   time.Time
	// announced: this node published the notices of the node's loss, so
	// it publishes those of its return.
	announced bool
}

// round is the state of the first discovery round.
type round struct {
	start    time.Time         // the first probe on a connected bus; zero before
	learned  time.Time         // when it last heard of a node it did not know
	answered map[string]bool   // the nodes that answered a probe
	named    map[string]string // the nodes the answers named: instance id → name
}

func newNodeTable(r *Router) *nodeTable {
	t := &nodeTable{r: r, id: RandomID(), done: make(chan struct{}), seen: make(map[string]peer), lost: make(map[string]lostPeer)}
	if r.cfg.NATS.Alone() {
		t.discovered.Store(true) // no other node can share the bus
	} else {
		t.round = &round{answered: make(map[string]bool), named: make(map[string]string)}
	}
	return t
}

// Discovered reports whether this node's first discovery round is over:
// it knows the nodes it can reach, and they know it (at once for a node
// that no other can share NATS with; see the node heartbeats above). A
// node is not ready before.
func (r *Router) Discovered() bool { return r.nodes.discovered.Load() }

func (t *nodeTable) start() error {
	r := t.r
	hb, err := r.bus.Main().Subscribe(r.subj.sys.Heartbeat(), t.handleHeartbeat)
	if err != nil {
		return fmt.Errorf("router: subscribe heartbeats: %w", err)
	}
	sc, err := r.bus.Main().Subscribe(r.subj.sys.Scatter(), r.handleScatter)
	if err != nil {
		_ = hb.Unsubscribe()
		return fmt.Errorf("router: subscribe node requests: %w", err)
	}
	t.subs = []*bus.Sub{hb, sc}
	r.m.Nodes(1)
	if t.round == nil {
		// Alone by its config: no round to wait for, but whatever shares
		// the bus all the same (tests do) hears of this node at once.
		t.publish(heartbeat{Probe: true})
	}
	r.wg.Add(1)
	go t.loop()
	return nil
}

func (t *nodeTable) stop() {
	select {
	case <-t.done:
		return
	default:
	}
	close(t.done)
	t.publish(heartbeat{Leaving: true})
	for _, s := range t.subs {
		_ = s.Unsubscribe()
	}
}

func (t *nodeTable) publish(h heartbeat) {
	h.ID, h.Node = t.id, t.r.node
	if err := t.r.bus.Main().NC().Publish(t.r.subj.sys.Heartbeat(), marshal(h)); err != nil {
		t.r.log.Warn("publish heartbeat", "err", err)
	}
}

func (t *nodeTable) loop() {
	defer t.r.wg.Done()
	beat := time.NewTicker(heartbeatInterval)
	defer beat.Stop()
	check := time.NewTicker(expiryCheck)
	defer check.Stop()
	probe := time.NewTicker(probeInterval)
	defer probe.Stop()
	if t.discover(time.Now()) {
		probe.Stop()
	}
	for {
		select {
		case <-t.done:
			return
		case now := <-probe.C:
			if t.discover(now) {
				probe.Stop()
			}
		case <-beat.C:
			t.publish(heartbeat{})
		case now := <-check.C:
			t.expire(now)
			if t.busChanged() {
				t.r.log.Debug("NATS servers changed: probing")
				t.publish(heartbeat{Probe: true})
			}
		}
	}
}

// busView is what the node loop last saw of routerd's NATS connection.
type busView struct {
	nc         *nats.Conn
	reconnects uint64
	servers    string // the servers of the cluster the connection knows
}

// busChanged reports whether routerd's NATS connection is up and changed
// since the loop last looked: it reconnected, or a NATS server of the
// cluster appeared or went (NATS tells its clients as routes come up and
// go down). Nodes that could not hear each other may then: the node
// probes, rather than waiting for the next heartbeats.
func (t *nodeTable) busChanged() bool {
	nc := t.r.bus.Main().NC()
	servers := nc.Servers()
	slices.Sort(servers)
	v := busView{nc: nc, reconnects: nc.Stats().Reconnects, servers: strings.Join(servers, " ")}
	changed := v != t.view && t.view.nc != nil
	t.view = v
	return changed && nc.IsConnected()
}

// discover carries the first discovery round on: once the bus is
// connected, it probes until the round is over, and reports whether it is.
func (t *nodeTable) discover(now time.Time) bool {
	if t.discovered.Load() {
		return true
	}
	if !t.r.bus.Main().Connected() {
		return false
	}
	t.mu.Lock()
	if t.round.start.IsZero() {
		t.round.start = now
	}
	over := now.Sub(t.round.start) >= discoveryTimeout || t.roundComplete(now)
	if over {
		t.round = nil
	}
	n := len(t.seen) + 1
	t.mu.Unlock()
	if !over {
		t.publish(heartbeat{Probe: true})
		return false
	}
	t.discovered.Store(true)
	t.r.log.Info("cluster discovery done", "nodes", n)
	return true
}

// roundComplete reports whether a node answered a probe, every node heard
// of did, every node the answers named was heard (but a previous instance
// of this node), and no node was new for discoverySettle; t.mu must be
// held.
func (t *nodeTable) roundComplete(now time.Time) bool {
	d := t.round
	if len(d.answered) == 0 || now.Sub(d.learned) < discoverySettle {
		return false
	}
	for id := range t.seen {
		if !d.answered[id] {
			return false
		}
	}
	for id, name := range d.named {
		if _, ok := t.seen[id]; !ok && id != t.id && name != t.r.node {
			return false
		}
	}
	return true
}

// expire counts the nodes not heard for nodeExpiry as lost: the local
// members of their rooms are told they left, and the live node with the
// smallest instance id publishes their sockets' notices (publishLoss).
func (t *nodeTable) expire(now time.Time) {
	t.mu.Lock()
	var gone []string
	for id, p := range t.seen {
		if now.Sub(p.last) > nodeExpiry {
			gone = append(gone, id)
		}
	}
	if len(gone) == 0 {
		t.mu.Unlock()
		return
	}
	lost := make(map[string]peer, len(gone))
	for _, id := range gone {
		lost[id] = t.seen[id]
		delete(t.seen, id)
	}
	announce := t.smallestLocked()
	for id, p := range lost {
		t.r.log.Warn("node lost: no heartbeat", "node", p.name, "id", id, "silent", now.Sub(p.last).Round(time.Millisecond))
		t.remember(id, lostPeer{name: p.name, at: now, announced: announce})
		t.r.nodeGone(id, announce)
	}
	n := len(t.seen) + 1
	if n == 1 {
		t.r.unwatchPeers()
	}
	t.mu.Unlock()
	t.r.m.Nodes(n)
}

// remember records a lost node, forgetting the one lost longest ago when
// maxLost are remembered; t.mu must be held.
func (t *nodeTable) remember(id string, lp lostPeer) {
	if len(t.lost) >= maxLost {
		oldest := ""
		for k, v := range t.lost {
			if oldest == "" || v.at.Before(t.lost[oldest].at) {
				oldest = k
			}
		}
		delete(t.lost, oldest)
	}
	t.lost[id] = lp
}

func (t *nodeTable) handleHeartbeat(m *nats.Msg) {
	var h heartbeat
	if json.Unmarshal(m.Data, &h) != nil || h.ID == "" {
		return
	}
	t.hear(h.ID, h.Node, &h)
}

// hear records that node id, called name, is alive: from its heartbeat h,
// or (h nil) from another message it sent (a notice, a scatter reply). A
// heartbeat from a new instance of a live node's name counts the previous
// instance lost at once; any other message from an instance that a live
// node of its name replaced is ignored (a node's previous instance never
// comes back), and hear reports false. A node heard for the first time, or
// again after it was counted lost, is asked for its sockets (learnPeer).
func (t *nodeTable) hear(id, name string, h *heartbeat) bool {
	if id == t.id {
		return true
	}
	if h != nil && h.Leaving {
		t.left(id, name)
		return true
	}
	now := time.Now()
	t.mu.Lock()
	p, known := t.seen[id]
	if name == "" {
		name = p.name // a notice without Router-Node
	}
	if !known && h == nil {
		for other, q := range t.seen {
			if q.name == name && other != id {
				t.mu.Unlock()
				return false
			}
		}
	}
	t.seen[id] = peer{name: name, last: now}
	back, returned := t.lost[id]
	delete(t.lost, id)
	var restarted []string
	if h != nil {
		for other, q := range t.seen {
			if q.name == name && other != id {
				delete(t.seen, other)
				restarted = append(restarted, other)
			}
		}
		for other, lp := range t.lost {
			if lp.name == name {
				delete(t.lost, other) // it will not return
			}
		}
		if d := t.round; d != nil && h.Answer {
			d.answered[id] = true
			for k, v := range h.Known {
				d.named[k] = v
			}
		}
	}
	if d := t.round; d != nil && !known {
		d.learned = now
	}
	if len(restarted) > 0 {
		announce := t.smallestLocked()
		for _, old := range restarted {
			t.r.log.Warn("node lost: restarted", "node", name, "id", old)
			t.r.nodeGone(old, announce)
		}
	}
	n := len(t.seen) + 1
	if !known {
		t.r.watchPeers() // before its sockets are asked, so nothing falls between the two
	}
	t.mu.Unlock()
	if !known {
		if returned {
			t.r.log.Warn("node returned", "node", name, "id", id, "lost_for", now.Sub(back.at).Round(time.Millisecond))
			t.r.m.NodeReturned()
		} else {
			t.r.log.Info("node joined", "node", name, "id", id)
		}
		t.r.background(func() { t.r.learnPeer(id, name, returned, back.announced) })
	}
	if !known || len(restarted) > 0 {
		t.r.m.Nodes(n)
	}
	switch {
	case h != nil && h.Probe:
		t.publish(heartbeat{Answer: true, Known: t.known()})
	case !known && (h == nil || !h.Answer):
		t.publish(heartbeat{}) // it may not know this node yet
	}
	return true
}

// left forgets node id, which shut down: it published its sockets'
// notices itself.
func (t *nodeTable) left(id, name string) {
	t.mu.Lock()
	_, known := t.seen[id]
	delete(t.seen, id)
	delete(t.lost, id)
	n := len(t.seen) + 1
	if known && n == 1 {
		t.r.unwatchPeers()
	}
	t.mu.Unlock()
	t.r.forgetPeer(id)
	if !known {
		return
	}
	t.r.log.Info("node left", "node", name, "id", id)
	t.r.m.Nodes(n)
}

// whileLive runs f under mu when node id is live, and reports whether it
// was: what learning a node sets off is not carried out for a node lost
// meanwhile.
func (t *nodeTable) whileLive(id string, f func()) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.seen[id]; !ok {
		return false
	}
	f()
	return true
}

// known lists the other live nodes: instance id → name.
func (t *nodeTable) known() map[string]string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]string, len(t.seen))
	for id, p := range t.seen {
		out[id] = p.name
	}
	return out
}

// live returns the instance ids of the live nodes, this one included.
func (t *nodeTable) live() map[string]bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]bool, len(t.seen)+1)
	out[t.id] = true
	for id := range t.seen {
		out[id] = true
	}
	return out
}

// smallest reports whether this node's instance id is the smallest of the
// live nodes: the one that speaks for a lost node.
func (t *nodeTable) smallest() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.smallestLocked()
}

// smallestLocked is smallest with t.mu held.
func (t *nodeTable) smallestLocked() bool {
	for id := range t.seen {
		if id < t.id {
			return false
		}
	}
	return true
}

// count is the number of live nodes, this one included.
func (t *nodeTable) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.seen) + 1
}

// scatterRequest asks every node to act on its local sockets.
type scatterRequest struct {
	NS     string      `json:"ns"`
	Op     string      `json:"op"`
	Node   string      `json:"node,omitempty"`  // only this node answers (sockets)
	After  string      `json:"after,omitempty"` // sockets: the page after this key
	SID    string      `json:"sid,omitempty"`
	User   string      `json:"user,omitempty"`
	Room   string      `json:"room,omitempty"`
	Reason string      `json:"reason,omitempty"`
	Move   *moveNotice `json:"move,omitempty"` // moved: the socket that moved (park.go)
	// Inventory is what the inventory op asks (inventory.go).
	Inventory *inventoryRequest `json:"inventory,omitempty"`
}

// scatterReply is one node's answer to a scatterRequest.
type scatterReply struct {
	ID      string            `json:"id"`
	Node    string            `json:"node"`
	Count   int               `json:"count"`
	Members []contract.Member `json:"members,omitempty"`
	Rooms   map[string]int    `json:"rooms,omitempty"`
	Sockets []socketEntry     `json:"sockets,omitempty"`
	After   string            `json:"after,omitempty"` // sockets: the next page's key; "" at the end
	Error   *Error            `json:"error,omitempty"`
	// Inventory is the node's answer to the inventory op (inventory.go).
	Inventory *inventoryPage `json:"inventory,omitempty"`
}

// gathered is what a cluster-wide request collected.
type gathered struct {
	reps []scatterReply
	// partial reports that a node counted alive when the request went out
	// did not answer in time.
	partial bool
}

// gather sends req to every node and collects the replies until every node
// in the table has answered, or gatherTimeout passed (a partial answer,
// logged and counted). A node that answers is heard (nodeTable.hear).
func (r *Router) gather(ctx context.Context, req scatterRequest) (gathered, error) {
	nc := r.bus.Main().NC()
	inbox := nc.NewRespInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return gathered{}, natsError(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	want := r.nodes.live()
	if err := nc.PublishMsg(&nats.Msg{Subject: r.subj.sys.Scatter(), Reply: inbox, Data: marshal(req)}); err != nil {
		return gathered{}, natsError(err)
	}
	ctx, cancel := context.WithTimeout(ctx, gatherTimeout)
	defer cancel()
	seen := make(map[string]bool, len(want))
	missing := len(want)
	var g gathered
	for missing > 0 {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			if len(g.reps) == 0 {
				return gathered{}, Errorf(contract.CodeUnavailable, "no node answered")
			}
			break
		}
		var rep scatterReply
		if json.Unmarshal(m.Data, &rep) != nil || rep.ID == "" || seen[rep.ID] {
			continue
		}
		seen[rep.ID] = true
		if want[rep.ID] {
			missing--
		}
		r.nodes.hear(rep.ID, rep.Node, nil)
		g.reps = append(g.reps, rep)
	}
	if missing > 0 {
		g.partial = true
		r.m.GatherPartial(req.Op)
		r.log.Warn("cluster request incomplete", "op", req.Op, "answered", len(want)-missing, "expected", len(want))
	}
	return g, nil
}

// Presence is the member list of a room across the cluster, as a presence
// request's ack carries it. Partial reports that a node counted alive did
// not answer in time: its members are missing.
type Presence struct {
	Members []contract.Member `json:"members"`
	Partial bool              `json:"partial,omitempty"`
}

// clusterPresence lists the members of a room on every node.
func (r *Router) clusterPresence(ctx context.Context, ns, room string) (Presence, error) {
	g, err := r.gather(ctx, scatterRequest{NS: ns, Op: "presence", Room: room})
	if err != nil {
		return Presence{}, err
	}
	p := Presence{Members: []contract.Member{}, Partial: g.partial}
	for _, rep := range g.reps {
		p.Members = append(p.Members, rep.Members...)
	}
	return p, nil
}

// handleScatter answers a scatterRequest for this node's sockets.
func (r *Router) handleScatter(m *nats.Msg) {
	var req scatterRequest
	rep := scatterReply{ID: r.nodes.id, Node: r.node}
	if err := json.Unmarshal(m.Data, &req); err != nil {
		rep.Error = Errorf(contract.CodeBadFrame, "bad node request: %v", err)
	} else if req.Node != "" && req.Node != r.nodes.id {
		return // for another node
	} else {
		r.local(r.ctx, req, &rep)
	}
	if err := m.Respond(marshal(rep)); err != nil {
		r.log.Warn("answer node request", "err", err)
	}
}

// local carries out req on this node's sockets.
func (r *Router) local(ctx context.Context, req scatterRequest, rep *scatterReply) {
	selected := func(s *Socket) bool {
		return (req.SID != "" && s.sid == req.SID) || (req.User != "" && s.id.User == req.User) ||
			(req.Room != "" && req.SID == "" && req.User == "" && s.rooms[req.Room] != nil) // sp.mu is held by localSockets
	}
	switch req.Op {
	case "presence":
		rep.Members = r.localMembers(req.NS, req.Room)
	case "rooms":
		rep.Rooms = r.localRooms(req.NS)
	case "sockets":
		rep.Sockets, rep.After = r.localSocketPage(req.After)
	case "join":
		for _, s := range r.localSockets(req.NS, selected) {
			if _, _, err := r.joinRoom(ctx, s, req.Room, nil); err == nil {
				rep.Count++
			}
		}
	case "leave":
		for _, s := range r.localSockets(req.NS, selected) {
			if r.leaveRoom(s, req.Room) {
				rep.Count++
			}
		}
	case "disconnect":
		for _, s := range r.localSockets(req.NS, selected) {
			s.detach(req.Reason, true)
			rep.Count++
		}
	case opMoved:
		r.socketMoved(req.NS, req.Move)
	case opInventory:
		rep.Inventory = r.localInventory(req)
	default:
		rep.Error = Errorf(contract.CodeUnknownType, "unknown node request %q", req.Op)
	}
}
