package router

import (
	"strings"
	"testing"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/contract"
)

// FuzzSubjectBound builds every subject routerd makes from client, token
// and backend names, those of the backend contract and routerd's own, with
// the longest prefix and namespace name config allows: names that pass
// their rules under the default limits always fit contract.MaxSubjectBytes,
// and fits refuses exactly the subjects past it (a room or user name the
// rules let through under larger limits).
func FuzzSubjectBound(f *testing.F) {
	f.Add("lobby", "message", "alice", "3mK8bq0rGfZ1xJY2a7cPnw", uint16(128))
	f.Add(strings.Repeat(".", 128), strings.Repeat("%", 64), strings.Repeat("ü", 128), strings.Repeat("a", 64), uint16(1024))
	f.Add(strings.Repeat(".", 1400), "x", "u", strings.Repeat(".", 1400), uint16(128))
	f.Fuzz(func(t *testing.T, room, event, user, sid string, maxName uint16) {
		s := newSubjects(strings.Repeat("p", config.MaxPrefixBytes))
		ns := strings.Repeat("n", 64)
		limit := max(int(maxName)%1025, 1) // limits.max_name_bytes: 1..1024
		valid := contract.ValidRoomName(room, limit) && checkClientEvent(event) == nil && contract.ValidUser(user) && contract.ValidSID(sid)
		subjects := []string{
			s.Room(ns, room, event), s.roomSub(ns, contract.Escape(room)), s.sys.StoredRoom(ns, contract.Escape(room)),
			s.Presence(ns, room), s.presenceSub(ns, contract.Escape(room)), s.Socket(ns, sid, event), s.User(ns, user, event),
			s.userSub(ns, user), s.Broadcast(ns, event), s.Server(ns, event),
		}
		for _, subject := range subjects {
			err := fits(subject)
			if (err != nil) != (len(subject) > contract.MaxSubjectBytes) {
				t.Fatalf("fits(%d bytes) = %v", len(subject), err)
			}
			if valid && limit <= 128 && err != nil {
				t.Fatalf("names valid under the default limits make a %d-byte subject: %v", len(subject), err)
			}
		}
	})
}
