package router

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/contract"
	"github.com/routerd/routerd/internal/bus"
)

// The inventory: what every node holds, for an operator's view of the
// whole cluster (the Socket.IO Admin UI, socketio/adminui.go). Each node
// answers the scatter op "inventory" with its NodeInfo and, when asked, a
// page of the snapshots of its sockets (SocketInfo, local.go), each with
// its handshake; a node's further pages are asked of that node alone, so
// that no reply passes half of NATS's maximum payload. WatchNotices
// follows what changes afterwards.

// opInventory is the scatter op of the inventory.
const opInventory = "inventory"

// maxPollingKeys bounds NodeInfo.Polling.
const maxPollingKeys = 1000

// SocketKey names a socket across the cluster: its namespace and sid.
type SocketKey struct {
	NS  string
	SID string
}

// String returns the key as the inventory writes it: NS, NUL, SID.
func (k SocketKey) String() string { return peerKey(k.NS, k.SID) }

// parseSocketKey reads a key String wrote.
func parseSocketKey(s string) (SocketKey, bool) {
	ns, sid, ok := strings.Cut(s, "\x00")
	return SocketKey{NS: ns, SID: sid}, ok
}

// NodeInfo is one node in the inventory.
type NodeInfo struct {
	ID       string    `json:"id"`   // instance id, new at every start
	Node     string    `json:"node"` // node.name
	Hostname string    `json:"hostname"`
	PID      int       `json:"pid"`
	Started  time.Time `json:"started"`
	// Connections counts the client connections the node holds, of every
	// transport (limits.max_connections counts the same); Opened and
	// Closed count those it admitted and those that ended since it
	// started.
	Connections int64  `json:"connections"`
	Opened      uint64 `json:"opened"`
	Closed      uint64 `json:"closed"`
	// PollingClients counts the client connections with sockets whose
	// transport is "polling", and Polling lists those sockets
	// (SocketKey.String), at most maxPollingKeys of them: PollingCut
	// tells that there were more.
	PollingClients int      `json:"polling_clients"`
	Polling        []string `json:"polling,omitempty"`
	PollingCut     bool     `json:"polling_cut,omitempty"`
	// Namespaces counts the node's sockets per namespace.
	Namespaces map[string]int `json:"namespaces"`
	// Sockets lists the node's sockets, when they were asked for.
	Sockets []SocketInfo `json:"sockets,omitempty"`
}

// inventoryRequest is the inventory part of a scatterRequest.
type inventoryRequest struct {
	Sockets bool     `json:"sockets,omitempty"` // list every socket
	Keys    []string `json:"keys,omitempty"`    // list only these (SocketKey.String)
}

// inventoryPage is a node's answer: its NodeInfo with one page of its
// sockets, and the key to ask the next page after ("" at the end).
type inventoryPage struct {
	Info  NodeInfo `json:"info"`
	After string   `json:"after,omitempty"`
}

// Inventory lists every live node (NodeInfo) and, with sockets, every
// socket of each. partial reports that a node counted alive did not
// answer in time, or did not give all its pages: what it holds is missing
// or incomplete.
func (r *Router) Inventory(ctx context.Context, sockets bool) (nodes []NodeInfo, partial bool, err error) {
	req := scatterRequest{Op: opInventory, Inventory: &inventoryRequest{Sockets: sockets}}
	g, err := r.gather(ctx, req)
	if err != nil {
		return nil, false, err
	}
	partial = g.partial
	for _, rep := range g.reps {
		if rep.Inventory == nil { // a node that does not know the op
			partial = true
			continue
		}
		info := rep.Inventory.Info
		for after := rep.Inventory.After; after != ""; {
			req.Node, req.After = info.ID, after
			page, err := r.askInventory(ctx, req)
			if err != nil {
				r.log.Warn("inventory incomplete", "node", info.Node, "id", info.ID, "err", err)
				partial = true
				break
			}
			info.Sockets = append(info.Sockets, page.Info.Sockets...)
			after = page.After
		}
		nodes = append(nodes, info)
	}
	slices.SortFunc(nodes, func(a, b NodeInfo) int { return strings.Compare(a.Node, b.Node) })
	return nodes, partial, nil
}

// NodeSockets returns those of the sockets keys that node id (an
// instance id, NodeInfo.ID) holds.
func (r *Router) NodeSockets(ctx context.Context, id string, keys []SocketKey) ([]SocketInfo, error) {
	in := &inventoryRequest{Keys: make([]string, len(keys))}
	for i, k := range keys {
		in.Keys[i] = k.String()
	}
	req := scatterRequest{Op: opInventory, Node: id, Inventory: in}
	var out []SocketInfo
	for {
		page, err := r.askInventory(ctx, req)
		if err != nil {
			return out, err
		}
		out = append(out, page.Info.Sockets...)
		if page.After == "" {
			return out, nil
		}
		req.After = page.After
	}
}

// askInventory asks one node (req.Node) for an inventory page.
func (r *Router) askInventory(ctx context.Context, req scatterRequest) (*inventoryPage, error) {
	ctx, cancel := context.WithTimeout(ctx, gatherTimeout)
	defer cancel()
	m, err := r.bus.Main().NC().RequestWithContext(ctx, r.subj.sys.Scatter(), marshal(req))
	if err != nil {
		return nil, natsError(err)
	}
	var rep scatterReply
	switch {
	case json.Unmarshal(m.Data, &rep) != nil:
		return nil, fmt.Errorf("router: a bad inventory reply from node %s", req.Node)
	case rep.Error != nil:
		return nil, rep.Error
	case rep.Inventory == nil:
		return nil, fmt.Errorf("router: node %s keeps no inventory", req.Node)
	}
	return rep.Inventory, nil
}

// localInventory answers the inventory op: this node's NodeInfo (its
// figures on the first page of a listing only: the asker keeps those) and
// the page of its sockets req asks for, within half of NATS's maximum
// payload.
func (r *Router) localInventory(req scatterRequest) *inventoryPage {
	all := r.selectSockets("", "")
	page := &inventoryPage{Info: NodeInfo{ID: r.nodes.id, Node: r.node}}
	in := req.Inventory
	if in == nil {
		in = &inventoryRequest{}
	}
	if req.After == "" && in.Keys == nil {
		r.nodeFigures(&page.Info, all)
	}
	if !in.Sockets && in.Keys == nil {
		return page
	}
	var only map[SocketKey]bool
	if in.Keys != nil {
		only = make(map[SocketKey]bool, len(in.Keys))
		for _, k := range in.Keys {
			if key, ok := parseSocketKey(k); ok {
				only[key] = true
			}
		}
	}
	listed := all[:0]
	for _, s := range all {
		if (only == nil || only[SocketKey{s.ns, s.sid}]) && peerKey(s.ns, s.sid) > req.After {
			listed = append(listed, s)
		}
	}
	sortSockets(listed)
	full := int(r.bus.Main().NC().MaxPayload()/2) - len(marshal(page))
	budget := full
	for i, s := range listed {
		e := r.describe(s)
		n := len(marshal(e))
		if n > full {
			e.Handshake = nil // over a page alone: listed without it
			n = len(marshal(e))
		}
		if n > budget && i > 0 {
			page.After = peerKey(listed[i-1].ns, listed[i-1].sid)
			break
		}
		budget -= n
		page.Info.Sockets = append(page.Info.Sockets, e)
	}
	return page
}

// nodeFigures fills in what info tells of this node but its sockets; all
// are its sockets.
func (r *Router) nodeFigures(info *NodeInfo, all []*Socket) {
	info.Hostname, info.PID, info.Started = r.hostname, os.Getpid(), r.started
	info.Connections, info.Opened, info.Closed = r.conns.Load(), r.opened.Load(), r.closed.Load()
	info.Namespaces = map[string]int{}
	polling := map[string]bool{}
	for _, s := range all {
		info.Namespaces[s.ns]++
		if transportOf(s) != "polling" {
			continue
		}
		polling[r.clientOf(s)] = true
		if len(info.Polling) < maxPollingKeys {
			info.Polling = append(info.Polling, peerKey(s.ns, s.sid))
		} else {
			info.PollingCut = true
		}
	}
	info.PollingClients = len(polling)
}

// NoticeKind is what a Notice tells.
type NoticeKind int

// The kinds of notices.
const (
	NoticeConnect    NoticeKind = iota + 1 // lifecycle connect
	NoticeDisconnect                       // lifecycle disconnect
	NoticeJoin                             // presence join
	NoticeLeave                            // presence leave
)

// Notice is a lifecycle or presence notice as WatchNotices delivers it.
type Notice struct {
	Kind NoticeKind
	Key  SocketKey
	User string
	Room string // NoticeJoin, NoticeLeave
	// NodeID and Node are the instance id and the name of the node that
	// holds the socket (Router-Node-Id, Router-Node).
	NodeID string
	Node   string
	// Reason is the notice's Router-Reason (node_lost, node_returned),
	// or "".
	Reason string
	// Handshake is the connect notice's, when it has one.
	Handshake *contract.Handshake
}

// noticeQueue bounds the notices WatchNotices holds for its callback;
// NATS drops what comes beyond (a slow consumer) and logs it.
const noticeQueue = 1 << 14

// WatchNotices subscribes to the lifecycle and presence notices of every
// namespace, on every NATS connection (each tenant's too), and calls f
// with each on one goroutine, in the order each connection delivered them
// (so a socket's connect comes before its joins), until ctx ends or the
// router closes. It returns once the subscriptions are in force. As for
// node loss (peers.go), a notice whose Router-Ns is not the namespace of
// its subject, or of a namespace its connection does not carry, is
// ignored.
func (r *Router) WatchNotices(ctx context.Context, f func(Notice)) error {
	ch := make(chan *nats.Msg, noticeQueue)
	var subs []noticeSub
	unsubscribe := func() {
		for _, s := range subs {
			_ = s.sub.Unsubscribe()
		}
	}
	for _, c := range r.bus.Conns() {
		for _, kind := range []string{contract.KindLifecycle, contract.KindPresence} {
			sub, err := c.ChanSubscribe(r.subj.join("*", kind, "*"), ch)
			if err != nil {
				unsubscribe()
				return fmt.Errorf("router: subscribe to notices: %w", natsError(err))
			}
			subs = append(subs, noticeSub{c, sub})
		}
	}
	for _, c := range r.bus.Conns() {
		if err := r.flush(ctx, c); err != nil {
			unsubscribe()
			return err
		}
	}
	ran := r.background(func() {
		defer unsubscribe()
		for {
			select {
			case <-ctx.Done():
				return
			case <-r.ctx.Done():
				return
			case m := <-ch:
				if n, ok := r.readNotice(subs, m); ok {
					f(n)
				}
			}
		}
	})
	if !ran {
		unsubscribe()
		return Errorf(contract.CodeUnavailable, "router is shutting down")
	}
	return nil
}

// noticeSub is one of WatchNotices' subscriptions, on connection c.
type noticeSub struct {
	c   *bus.Conn
	sub *bus.Sub
}

// readNotice reads a notice delivered to one of subs.
func (r *Router) readNotice(subs []noticeSub, m *nats.Msg) (Notice, bool) {
	var c *bus.Conn
	for _, s := range subs {
		if s.sub.Owns(m) {
			c = s.c
		}
	}
	n := Notice{
		Key:    SocketKey{NS: header(m.Header, contract.HeaderNs), SID: header(m.Header, contract.HeaderSid)},
		User:   header(m.Header, contract.HeaderUser),
		NodeID: header(m.Header, contract.HeaderNodeID),
		Node:   header(m.Header, contract.HeaderNode),
		Reason: header(m.Header, contract.HeaderReason),
	}
	subj, ok := r.subj.parse(m.Subject)
	if c == nil || !ok || n.Key.SID == "" || subj.ns != n.Key.NS || !r.bus.Owns(c, n.Key.NS) {
		return Notice{}, false
	}
	switch subj.kind {
	case contract.KindLifecycle:
		var body contract.LifecycleNotice
		if json.Unmarshal(m.Data, &body) != nil {
			return Notice{}, false
		}
		switch subj.target {
		case contract.LifecycleConnect:
			n.Kind, n.Handshake = NoticeConnect, body.Handshake
		case contract.LifecycleDisconnect:
			n.Kind = NoticeDisconnect
		default:
			return Notice{}, false
		}
	case contract.KindPresence:
		var body contract.PresenceNotice
		if n.Room = header(m.Header, contract.HeaderRoom); n.Room == "" || json.Unmarshal(m.Data, &body) != nil {
			return Notice{}, false
		}
		switch body.Action {
		case contract.PresenceJoin:
			n.Kind = NoticeJoin
		case contract.PresenceLeave:
			n.Kind = NoticeLeave
		default:
			return Notice{}, false
		}
	default:
		return Notice{}, false
	}
	return n, true
}
