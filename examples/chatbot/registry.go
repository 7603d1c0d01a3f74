package main

import (
	"errors"
	"strings"
	"sync"
	"time"
)

// ErrTaken is returned by Registry.Grant when another socket holds the name.
var ErrTaken = errors.New("nickname taken")

// ErrGone is returned by Registry.Grant when the socket has disconnected
// already (its request arrived after its disconnect notice).
var ErrGone = errors.New("socket disconnected")

// Claim is one socket's hold on a nickname, as a bot instance granted it.
// Claims travel between instances as JSON.
type Claim struct {
	SID  string `json:"sid"`
	Name string `json:"name"`
	At   int64  `json:"at"` // when it was granted: Unix nanoseconds, granting instance's clock
}

// earlier reports whether c was granted before d; ties go to the smaller sid,
// so every instance orders any two claims the same way.
func (c Claim) earlier(d Claim) bool {
	if c.At != d.At {
		return c.At < d.At
	}
	return c.SID < d.SID
}

// newer reports whether c supersedes d as the claim of one socket: the later
// grant wins; ties go to the greater name (any fixed rule will do).
func (c Claim) newer(d Claim) bool {
	if c.At != d.At {
		return c.At > d.At
	}
	return c.Name > d.Name
}

// Snapshot is a registry's whole state, sent to an instance that starts or
// reconnects.
type Snapshot struct {
	Claims []Claim  `json:"claims"`
	Gone   []string `json:"gone"` // sids whose disconnect was seen recently
}

// Registry is one instance's view of who holds which nickname. Every instance
// applies the same inputs (claims, disconnects, snapshots), and the result does
// not depend on the order they arrive in:
//
//   - a socket holds at most one claim, its newest (by At);
//   - a name belongs to the earliest live claim on it (by At, then sid), so
//     when two instances grant one name at once, all of them settle on the
//     same holder;
//   - a disconnected socket leaves a tombstone for TombstoneTTL, so a claim
//     that arrives after its socket's disconnect notice is ignored.
//
// Names are compared case-insensitively. The zero value is not usable; call
// NewRegistry. A Registry is safe for concurrent use.
type Registry struct {
	ttl time.Duration // how long tombstones stay

	mu        sync.Mutex
	bySID     map[string]Claim               // guarded by mu: the claim of each live socket
	byName    map[string]map[string]struct{} // guarded by mu: folded name → sids claiming it
	gone      map[string]time.Time           // guarded by mu: tombstones: sid → when its disconnect was seen
	lastPrune time.Time                      // guarded by mu
}

// NewRegistry returns an empty registry whose tombstones last ttl.
func NewRegistry(ttl time.Duration) *Registry {
	return &Registry{
		ttl:    ttl,
		bySID:  make(map[string]Claim),
		byName: make(map[string]map[string]struct{}),
		gone:   make(map[string]time.Time),
	}
}

// fold is the key nicknames are compared by.
func fold(name string) string { return strings.ToLower(name) }

// Grant gives name to sid at time now if nobody else holds it. It returns the
// claim sid holds afterwards and whether that claim is new (and so must be
// announced to the other instances); asking again for the name one holds
// changes nothing. Errors: ErrTaken, ErrGone.
func (r *Registry) Grant(sid, name string, now time.Time) (Claim, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dead := r.gone[sid]; dead {
		return Claim{}, false, ErrGone
	}
	if owner, ok := r.owner(fold(name)); ok && owner.SID != sid {
		return owner, false, ErrTaken
	}
	if cur, ok := r.bySID[sid]; ok && cur.Name == name {
		return cur, false, nil
	}
	c := Claim{SID: sid, Name: name, At: now.UnixNano()}
	if cur, ok := r.bySID[sid]; ok && cur.At >= c.At {
		c.At = cur.At + 1 // a rename must supersede, even on a coarse clock
	}
	r.apply(c)
	return c, true, nil
}

// Apply records a claim announced by an instance (this one included).
func (r *Registry) Apply(c Claim) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.apply(c)
}

// apply records c unless its socket is gone or holds a newer claim.
// Lock must be held.
func (r *Registry) apply(c Claim) {
	if _, dead := r.gone[c.SID]; dead {
		return
	}
	if cur, ok := r.bySID[c.SID]; ok {
		if !c.newer(cur) {
			return
		}
		r.unindex(cur)
	}
	r.bySID[c.SID] = c
	k := fold(c.Name)
	if r.byName[k] == nil {
		r.byName[k] = make(map[string]struct{}, 1)
	}
	r.byName[k][c.SID] = struct{}{}
}

// unindex removes c from byName. Lock must be held.
func (r *Registry) unindex(c Claim) {
	k := fold(c.Name)
	delete(r.byName[k], c.SID)
	if len(r.byName[k]) == 0 {
		delete(r.byName, k)
	}
}

// Release forgets sid's claim because the socket disconnected at now.
func (r *Registry) Release(sid string, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.release(sid, now)
}

// release drops sid's claim and leaves a tombstone. Lock must be held.
func (r *Registry) release(sid string, now time.Time) {
	if cur, ok := r.bySID[sid]; ok {
		r.unindex(cur)
		delete(r.bySID, sid)
	}
	r.gone[sid] = now
	if now.Sub(r.lastPrune) < r.ttl {
		return
	}
	r.lastPrune = now
	for s, at := range r.gone {
		if now.Sub(at) > r.ttl {
			delete(r.gone, s)
		}
	}
}

// owner returns the claim that holds folded name k. Lock must be held.
func (r *Registry) owner(k string) (Claim, bool) {
	var best Claim
	found := false
	for sid := range r.byName[k] {
		if c := r.bySID[sid]; !found || c.earlier(best) {
			best, found = c, true
		}
	}
	return best, found
}

// Owner returns the claim that holds name, if any.
func (r *Registry) Owner(name string) (Claim, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.owner(fold(name))
}

// Nick returns the nickname sid holds, if any. A socket that lost a race for
// its name holds none.
func (r *Registry) Nick(sid string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.bySID[sid]
	if !ok {
		return "", false
	}
	if owner, _ := r.owner(fold(c.Name)); owner.SID != sid {
		return "", false
	}
	return c.Name, true
}

// Snapshot returns the registry's state for another instance.
func (r *Registry) Snapshot() Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := Snapshot{Claims: make([]Claim, 0, len(r.bySID)), Gone: make([]string, 0, len(r.gone))}
	for _, c := range r.bySID {
		s.Claims = append(s.Claims, c)
	}
	for sid := range r.gone {
		s.Gone = append(s.Gone, sid)
	}
	return s
}

// Merge adds another instance's snapshot, received at now, to the registry.
func (r *Registry) Merge(s Snapshot, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, sid := range s.Gone {
		r.release(sid, now)
	}
	for _, c := range s.Claims {
		r.apply(c)
	}
}
