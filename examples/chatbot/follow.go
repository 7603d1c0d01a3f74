package main

import (
	"encoding/json"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/contract"
)

// Every instance follows the namespace's presence and disconnect notices
// and its chat lines (not in the queue group): the first to know who reads
// the answers under way here, the last for the transcripts of rooms whose
// namespace keeps no history.

// onPresence applies a presence notice to the answers under way in its
// room; an answer whose room empties is cancelled.
func (a *assistant) onPresence(m *nats.Msg) {
	room := m.Header.Get(contract.HeaderRoom)
	if room == "" {
		var err error
		if room, err = contract.Unescape(strings.TrimPrefix(m.Subject, a.subj.presencePrefix)); err != nil {
			return
		}
	}
	var n contract.PresenceNotice
	if err := json.Unmarshal(m.Data, &n); err != nil || n.SID == "" {
		a.log.Warn("ignoring malformed presence notice", "subject", m.Subject, "err", err)
		return
	}
	for _, ans := range a.answers(func(ans *answer) bool { return ans.q.room == room }) {
		if ans.aud.notice(n) {
			a.log.Info("room emptied: answer cancelled", "id", ans.id, "room", room)
			ans.cancel(errNobodyLeft)
		}
	}
}

// onDisconnect cancels the direct answers to a socket that left the
// namespace and forgets its direct conversation. (Room answers learn of it
// from the presence leave notices routerd publishes for each room.)
func (a *assistant) onDisconnect(m *nats.Msg) {
	var n contract.LifecycleNotice
	if err := json.Unmarshal(m.Data, &n); err != nil || n.SID == "" {
		return
	}
	for _, ans := range a.answers(func(ans *answer) bool { return ans.q.room == "" && ans.q.sid == n.SID }) {
		if ans.aud.gone(n.SID) {
			a.log.Info("asker left: answer cancelled", "id", ans.id, "sid", n.SID)
			ans.cancel(errNobodyLeft)
		}
	}
	a.lines.drop("dm:" + n.SID)
}

// onRoomLine adds a chat line to its room's transcript.
func (a *assistant) onRoomLine(m *nats.Msg) {
	room, err := a.b.subj.roomOf(m)
	if err != nil {
		return
	}
	if l, ok := parseLine(m.Header, m.Data, a.b.cfg.Name); ok {
		a.lines.add("room:"+room, l, a.b.cfg.Clock())
	}
}
