package router

import (
	"sync"
	"sync/atomic"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/contract"
	"github.com/routerd/routerd/internal/bus"
)

// space is the live state of one namespace on this node. It exists while the
// namespace has local sockets.
//
// Lock order: Router.mu, then space.mu, then room.mu.
type space struct {
	name   string
	policy config.Namespace
	nats   *bus.Conn // the connection of the namespace's account

	mu      sync.RWMutex
	gone    bool                  // removed from Router.spaces; guarded by Router.mu and mu
	sockets map[string]*Socket    // by sid; guarded by mu
	users   map[string]*userGroup // by user; guarded by mu
	rooms   map[string]*room      // by name; guarded by mu
	bcast   *bus.Sub              // P.{ns}.broadcast.*; guarded by mu
	direct  *bus.Sub              // P.{ns}.socket.*.* with per_namespace socket subscriptions, else nil; guarded by mu

	confirmed atomic.Bool // the server has processed its subscriptions
}

// userGroup is the local sockets of one user in a namespace, with the one
// subscription to the user's subject.
type userGroup struct {
	sub       *bus.Sub
	sockets   []*Socket   // guarded by space.mu
	confirmed atomic.Bool // the server has processed sub
}

// attachSocket adds s to the live space of its namespace, creating the space
// (and its broadcast subscription) when the namespace has none here. When
// a subscription s relies on may not be in force at the server yet (just
// made, by this call or a concurrent one), it returns confirm, to be called
// once a flush made sure it is.
func (r *Router) attachSocket(s *Socket, policy config.Namespace) (confirm func(), err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ctx == nil || r.closing {
		return nil, Errorf(contract.CodeUnavailable, "router is shutting down")
	}
	sp := r.spaces[s.ns]
	if sp == nil {
		sp = &space{
			name:    s.ns,
			policy:  policy,
			nats:    s.nats,
			sockets: make(map[string]*Socket),
			users:   make(map[string]*userGroup),
			rooms:   make(map[string]*room),
		}
		sub, err := s.nats.ChanSubscribe(r.subj.broadcastSub(s.ns), r.shardFor(s.ns))
		if err != nil {
			return nil, natsError(err)
		}
		sp.bcast = sub
		if r.cfg.NATS.PerNamespaceSockets() {
			if sp.direct, err = s.nats.ChanSubscribe(r.subj.socketsSub(s.ns), r.shardFor(s.ns+"\x00s")); err != nil {
				_ = sp.bcast.Unsubscribe()
				return nil, natsError(err)
			}
		}
		r.spaces[s.ns] = sp
		r.m.NamespaceUp(s.ns)
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	s.sp = sp
	sp.sockets[s.sid] = s
	if s.id.User != "" {
		g := sp.users[s.id.User]
		if g == nil {
			sub, err := s.nats.ChanSubscribe(r.subj.userSub(s.ns, s.id.User), r.shardFor(s.ns+"\x00u"+s.id.User))
			if err != nil {
				delete(sp.sockets, s.sid)
				return nil, natsError(err)
			}
			g = &userGroup{sub: sub}
			sp.users[s.id.User] = g
		}
		g.sockets = append(g.sockets, s)
		if !g.confirmed.Load() {
			confirm = func() { sp.confirmed.Store(true); g.confirmed.Store(true) }
		}
	}
	if confirm == nil && !sp.confirmed.Load() {
		confirm = func() { sp.confirmed.Store(true) }
	}
	return confirm, nil
}

// removeSocket takes s out of its space (its rooms must be left already)
// and drops the space when it was the last socket.
func (r *Router) removeSocket(s *Socket) {
	r.mu.Lock()
	defer r.mu.Unlock()
	sp := s.sp
	sp.mu.Lock()
	defer sp.mu.Unlock()
	delete(sp.sockets, s.sid)
	if g := sp.users[s.id.User]; g != nil {
		g.sockets = removeSocketFrom(g.sockets, s)
		if len(g.sockets) == 0 {
			_ = g.sub.Unsubscribe()
			delete(sp.users, s.id.User)
		}
	}
	if len(sp.sockets) > 0 {
		return
	}
	sp.gone = true
	if r.spaces[sp.name] == sp {
		delete(r.spaces, sp.name)
	}
	_ = sp.bcast.Unsubscribe()
	if sp.direct != nil {
		_ = sp.direct.Unsubscribe()
	}
	r.m.NamespaceDown(sp.name)
}

// lookupSpace returns the live space of ns, or nil.
func (r *Router) lookupSpace(ns string) *space {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.spaces[ns]
}

// localSockets returns the sockets of ns on this node that match sel.
func (r *Router) localSockets(ns string, sel func(*Socket) bool) []*Socket {
	sp := r.lookupSpace(ns)
	if sp == nil {
		return nil
	}
	sp.mu.RLock()
	defer sp.mu.RUnlock()
	var out []*Socket
	for _, s := range sp.sockets {
		if sel(s) {
			out = append(out, s)
		}
	}
	return out
}

func removeSocketFrom(list []*Socket, s *Socket) []*Socket {
	for i, x := range list {
		if x == s {
			last := len(list) - 1
			list[i] = list[last]
			list[last] = nil
			return list[:last]
		}
	}
	return list
}
