package main

import (
	"sync"

	"github.com/routerd/routerd/contract"
)

// audience is who reads one answer as it grows: the sockets in its room (a
// ctl presence answer, kept up to date by presence notices), or the asker of
// a direct question. It tells when it becomes empty, so the answer can be
// cancelled. Safe for concurrent use.
type audience struct {
	mu      sync.Mutex
	known   bool                      // the member list has arrived
	track   bool                      // becoming empty cancels the answer (false: the list could not be had)
	members map[string]bool           // sid → has had answer_start
	pending []contract.PresenceNotice // notices that came before the list
}

// newAudience returns an audience whose member list has not arrived.
func newAudience() *audience { return &audience{members: map[string]bool{}} }

// set installs the member list, then applies the notices that came while it
// was asked for (a notice and a list may cross in either order; applying a
// join or leave again is harmless). It reports whether nobody is left.
func (a *audience) set(sids []string, track bool) (empty bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, sid := range sids {
		a.members[sid] = false
	}
	a.known, a.track = true, track
	for _, n := range a.pending {
		a.applyLocked(n)
	}
	a.pending = nil
	return a.track && len(a.members) == 0
}

// notice applies a presence notice of the answer's room and reports
// whether it left the audience empty.
func (a *audience) notice(n contract.PresenceNotice) (emptied bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.known {
		a.pending = append(a.pending, n)
		return false
	}
	return a.applyLocked(n)
}

// applyLocked applies n; a.mu is held.
func (a *audience) applyLocked(n contract.PresenceNotice) (emptied bool) {
	switch n.Action {
	case contract.PresenceJoin:
		if _, ok := a.members[n.SID]; !ok {
			a.members[n.SID] = false
		}
	case contract.PresenceLeave:
		if _, ok := a.members[n.SID]; ok {
			delete(a.members, n.SID)
			return a.track && len(a.members) == 0
		}
	}
	return false
}

// gone removes a socket that disconnected and reports whether it left the
// audience empty.
func (a *audience) gone(sid string) (emptied bool) {
	return a.notice(contract.PresenceNotice{Action: contract.PresenceLeave, SID: sid})
}

// take returns the members that have had answer_start (they get the next
// delta) and those that have not (they get answer_start with the text so
// far), and marks the latter started.
func (a *audience) take() (started, fresh []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for sid, ok := range a.members {
		if ok {
			started = append(started, sid)
		} else {
			fresh = append(fresh, sid)
			a.members[sid] = true
		}
	}
	return started, fresh
}
