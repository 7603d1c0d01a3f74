package router

import (
	"strconv"
	"sync"

	"github.com/routerd/routerd/contract"
)

// Multiplexed may be implemented by a Conn that is one of several attached
// over one client connection (a Socket.IO session attaches one Conn per
// namespace). Connection returns a comparable value naming that client
// connection, the same for each of its Conns, so that
// limits.max_namespaces_per_connection counts them together. A Conn that
// does not implement it is a client connection of its own.
type Multiplexed interface {
	Connection() any
}

// nsPerConn counts the namespaces each client connection has sockets
// in, for limits.max_namespaces_per_connection, and names each client
// connection for the inventory. Only Connect, detach and the inventory
// take its lock, never the delivery path.
type nsPerConn struct {
	mu     sync.Mutex
	byConn map[any]*connEntry // by client connection; guarded by mu
	made   uint64             // client connections named so far; guarded by mu
}

// connEntry is one client connection with sockets.
type connEntry struct {
	client string         // its name (SocketInfo.Client)
	counts map[string]int // sockets per namespace
}

// clientOf returns the name of the client connection s is attached
// through: this node's instance id and a number, unique across the
// cluster ("" once s is detached).
func (r *Router) clientOf(s *Socket) string {
	k := connKey(s.conn)
	t := &r.perConn
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.byConn[k]; e != nil {
		return e.client
	}
	return ""
}

// connKey names the client connection c belongs to.
func connKey(c Conn) any {
	if m, ok := c.(Multiplexed); ok {
		return m.Connection()
	}
	return c
}

// admitNamespace counts a socket of c in namespace ns, unless c's client
// connection has sockets in limits.max_namespaces_per_connection other
// namespaces already. Each admitted socket is counted out with
// releaseNamespace.
func (r *Router) admitNamespace(c Conn, ns string) error {
	k := connKey(c)
	t := &r.perConn
	t.mu.Lock()
	defer t.mu.Unlock()
	return r.admitKey(k, ns)
}

// releaseNamespace counts out a socket admitNamespace counted in.
func (r *Router) releaseNamespace(c Conn, ns string) {
	k := connKey(c)
	t := &r.perConn
	t.mu.Lock()
	defer t.mu.Unlock()
	t.release(k, ns)
}

// moveNamespace counts a socket in namespace ns against client connection
// to instead of from, unless to has no room for it (as admitNamespace).
func (r *Router) moveNamespace(from, to any, ns string) error {
	t := &r.perConn
	t.mu.Lock()
	defer t.mu.Unlock()
	if from == to {
		return nil
	}
	if err := r.admitKey(to, ns); err != nil {
		return err
	}
	t.release(from, ns)
	return nil
}

// admitKey is admitNamespace for the client connection k. perConn.mu must
// be held.
func (r *Router) admitKey(k any, ns string) error {
	t := &r.perConn
	e := t.byConn[k]
	var counts map[string]int
	if e != nil {
		counts = e.counts
	}
	if limit := r.cfg.Limits.MaxNamespacesPerConnection; counts[ns] == 0 && len(counts) >= limit {
		return Errorf(contract.CodeLimitExceeded, "a connection may attach at most %d namespaces (limits.max_namespaces_per_connection)", limit)
	}
	if e == nil {
		if t.byConn == nil {
			t.byConn = make(map[any]*connEntry)
		}
		t.made++
		e = &connEntry{client: r.nodes.id + "-" + strconv.FormatUint(t.made, 36), counts: make(map[string]int)}
		t.byConn[k] = e
	}
	e.counts[ns]++
	return nil
}

// release counts out a socket of client connection k in namespace ns.
// Lock mu must be held.
func (t *nsPerConn) release(k any, ns string) {
	e := t.byConn[k]
	if e == nil {
		return
	}
	if e.counts[ns]--; e.counts[ns] > 0 {
		return
	}
	delete(e.counts, ns)
	if len(e.counts) == 0 {
		delete(t.byConn, k)
	}
}
