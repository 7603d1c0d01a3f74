package router

import (
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
// in, for limits.max_namespaces_per_connection. Only Connect and detach
// take its lock, never the delivery path.
type nsPerConn struct {
	mu     sync.Mutex
	byConn map[any]map[string]int // sockets per namespace, by client connection; guarded by mu
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
	t := &r.perConn
	k := connKey(c)
	t.mu.Lock()
	defer t.mu.Unlock()
	counts := t.byConn[k]
	if limit := r.cfg.Limits.MaxNamespacesPerConnection; counts[ns] == 0 && len(counts) >= limit {
		return Errorf(contract.CodeLimitExceeded, "a connection may attach at most %d namespaces (limits.max_namespaces_per_connection)", limit)
	}
	if counts == nil {
		if t.byConn == nil {
			t.byConn = make(map[any]map[string]int)
		}
		counts = make(map[string]int)
		t.byConn[k] = counts
	}
	counts[ns]++
	return nil
}

// releaseNamespace counts out a socket admitNamespace counted in.
func (r *Router) releaseNamespace(c Conn, ns string) {
	t := &r.perConn
	k := connKey(c)
	t.mu.Lock()
	defer t.mu.Unlock()
	counts := t.byConn[k]
	if counts[ns]--; counts[ns] > 0 {
		return
	}
	delete(counts, ns)
	if len(counts) == 0 {
		delete(t.byConn, k)
	}
}
