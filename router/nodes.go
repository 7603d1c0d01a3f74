package router

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/contract"
	"github.com/routerd/routerd/internal/bus"
)

// Node heartbeats: every node publishes $routerd.P.hb (package relay names
// the node-to-node subjects) every heartbeatInterval and counts a node it
// has not heard from for nodeExpiry as gone. Cluster-wide answers
// (presence, ctl) are gathered from every node in the table.
const (
	heartbeatInterval = 2 * time.Second
	nodeExpiry        = 3 * heartbeatInterval
	gatherTimeout     = 2 * time.Second
)

// heartbeat is the payload of $routerd.P.hb.
type heartbeat struct {
	ID      string `json:"id"`   // instance id, new at every start
	Node    string `json:"node"` // node name
	Probe   bool   `json:"probe,omitempty"`
	Leaving bool   `json:"leaving,omitempty"`
}

// nodeTable tracks the routerd nodes sharing the bus.
type nodeTable struct {
	r    *Router
	id   string
	done chan struct{}

	mu   sync.Mutex
	seen map[string]peer // other live nodes by instance id; guarded by mu
	subs []*bus.Sub
}

// peer is another node as its heartbeats show it.
type peer struct {
	name string
	last time.Time
}

func newNodeTable(r *Router) *nodeTable {
	return &nodeTable{r: r, id: RandomID(), done: make(chan struct{}), seen: make(map[string]peer)}
}

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
	t.publish(heartbeat{Probe: true})
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
	tick := time.NewTicker(heartbeatInterval)
	defer tick.Stop()
	for {
		select {
		case <-t.done:
			return
		case now := <-tick.C:
			t.publish(heartbeat{})
			t.mu.Lock()
			var gone []string
			for id, p := range t.seen {
				if now.Sub(p.last) > nodeExpiry {
					delete(t.seen, id)
					gone = append(gone, id)
					t.r.log.Warn("node lost: no heartbeat", "node", p.name, "id", id)
				}
			}
			t.mu.Unlock()
			for _, id := range gone {
				t.r.nodeGone(id)
			}
			n := t.count()
			t.r.m.Nodes(n)
			if n == 1 && len(gone) > 0 {
				t.r.unwatchPeers()
			}
		}
	}
}

func (t *nodeTable) handleHeartbeat(m *nats.Msg) {
	var h heartbeat
	if json.Unmarshal(m.Data, &h) != nil || h.ID == "" || h.ID == t.id {
		return
	}
	var gone []string
	t.mu.Lock()
	_, known := t.seen[h.ID]
	if h.Leaving {
		delete(t.seen, h.ID)
	} else {
		t.seen[h.ID] = peer{name: h.Node, last: time.Now()}
		// A node that restarted has a new id under its old name: the old
		// instance, and every socket it held, is gone.
		for id, p := range t.seen {
			if p.name == h.Node && id != h.ID {
				delete(t.seen, id)
				gone = append(gone, id)
			}
		}
	}
	t.mu.Unlock()
	switch {
	case !known && !h.Leaving:
		t.r.log.Info("node joined", "node", h.Node, "id", h.ID)
		t.r.watchPeers()
		t.r.background(func() { t.r.snapshotPeer(h.ID) })
	case h.Leaving:
		t.r.forgetPeer(h.ID) // it detached its sockets itself
	}
	for _, id := range gone {
		t.r.log.Warn("node lost: restarted", "node", h.Node, "id", id)
		t.r.nodeGone(id)
	}
	if !known || h.Leaving || len(gone) > 0 {
		n := t.count()
		t.r.m.Nodes(n)
		if n == 1 {
			t.r.unwatchPeers()
		}
	}
	if h.Probe {
		t.publish(heartbeat{})
	}
}

// smallest reports whether this node's instance id is the smallest of the
// live nodes: the one that speaks for a lost node.
func (t *nodeTable) smallest() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
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
	NS     string `json:"ns"`
	Op     string `json:"op"`
	Node   string `json:"node,omitempty"`  // only this node answers (sockets)
	After  string `json:"after,omitempty"` // sockets: the page after this key
	SID    string `json:"sid,omitempty"`
	User   string `json:"user,omitempty"`
	Room   string `json:"room,omitempty"`
	Reason string `json:"reason,omitempty"`
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
}

// gather sends req to every node and collects one reply from each node in
// the table, or what arrived within gatherTimeout.
func (r *Router) gather(ctx context.Context, req scatterRequest) ([]scatterReply, error) {
	nc := r.bus.Main().NC()
	inbox := nc.NewRespInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return nil, natsError(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.PublishMsg(&nats.Msg{Subject: r.subj.sys.Scatter(), Reply: inbox, Data: marshal(req)}); err != nil {
		return nil, natsError(err)
	}
	ctx, cancel := context.WithTimeout(ctx, gatherTimeout)
	defer cancel()
	want := r.nodes.count()
	seen := make(map[string]bool, want)
	var out []scatterReply
	for len(seen) < want {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			if len(out) == 0 {
				return nil, Errorf(contract.CodeUnavailable, "no node answered")
			}
			r.log.Warn("cluster request incomplete", "op", req.Op, "answered", len(seen), "expected", want)
			break
		}
		var rep scatterReply
		if json.Unmarshal(m.Data, &rep) != nil || seen[rep.ID] {
			continue
		}
		seen[rep.ID] = true
		out = append(out, rep)
	}
	return out, nil
}

// clusterPresence lists the members of a room on every node.
func (r *Router) clusterPresence(ctx context.Context, ns, room string) ([]contract.Member, error) {
	reps, err := r.gather(ctx, scatterRequest{NS: ns, Op: "presence", Room: room})
	if err != nil {
		return nil, err
	}
	members := []contract.Member{}
	for _, rep := range reps {
		members = append(members, rep.Members...)
	}
	return members, nil
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
	default:
		rep.Error = Errorf(contract.CodeUnknownType, "unknown node request %q", req.Op)
	}
}
