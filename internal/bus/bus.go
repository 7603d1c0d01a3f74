package bus

import (
	"context"
	"errors"
)

// Bus is every connection of one node: routerd's own (Main), which carries
// node-to-node traffic and the namespaces of no tenant, and one per tenant
// account, which carries the namespaces of that tenant and nothing else.
type Bus struct {
	main    *Conn
	tenants []*Conn
	byNS    map[string]*Conn // namespaces of tenant accounts
}

// New returns a bus of main and the tenant connections, with the namespaces
// of each tenant account (by account name).
func New(main *Conn, tenants []*Conn, namespaces map[string][]string) *Bus {
	b := &Bus{main: main, tenants: tenants, byNS: make(map[string]*Conn)}
	for _, c := range tenants {
		for _, ns := range namespaces[c.account] {
			b.byNS[ns] = c
		}
	}
	return b
}

// Single is a bus of one connection for everything.
func Single(c *Conn) *Bus { return New(c, nil, nil) }

// Main returns routerd's own connection.
func (b *Bus) Main() *Conn { return b.main }

// For returns the connection that carries namespace ns.
func (b *Bus) For(ns string) *Conn {
	if c := b.byNS[ns]; c != nil {
		return c
	}
	return b.main
}

// Owns reports whether c carries namespace ns. Routerd's own connection
// carries every namespace of no tenant account.
func (b *Bus) Owns(c *Conn, ns string) bool { return b.For(ns) == c }

// Conns returns every connection, routerd's own first.
func (b *Bus) Conns() []*Conn { return append([]*Conn{b.main}, b.tenants...) }

// Connected reports whether every connection is connected.
func (b *Bus) Connected() bool {
	for _, c := range b.Conns() {
		if !c.Connected() {
			return false
		}
	}
	return true
}

// Drain drains every connection, tenants first, and waits until they are
// closed or ctx ends.
func (b *Bus) Drain(ctx context.Context) error {
	var errs []error
	for _, c := range append(b.tenants, b.main) {
		if err := c.Drain(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Close closes every connection without draining.
func (b *Bus) Close() {
	for _, c := range b.Conns() {
		c.Close()
	}
}
