package router

import (
	"testing"

	"github.com/routerd/routerd/contract"
)

func TestSubjectsParse(t *testing.T) {
	s := newSubjects("acme.rt")
	tests := []struct {
		subject string
		want    parsed
		ok      bool
	}{
		{"acme.rt.chat.room.a%2Eb.msg", parsed{ns: "chat", kind: contract.KindRoom, target: "a%2Eb", event: "msg"}, true},
		{"acme.rt.chat.socket.SID.ev", parsed{ns: "chat", kind: contract.KindSocket, target: "SID", event: "ev"}, true},
		{"acme.rt.chat.user.bob.ev", parsed{ns: "chat", kind: contract.KindUser, target: "bob", event: "ev"}, true},
		{"acme.rt.chat.broadcast.ev", parsed{ns: "chat", kind: contract.KindBroadcast, event: "ev"}, true},
		{"acme.rt.chat.presence.lobby", parsed{ns: "chat", kind: contract.KindPresence, target: "lobby"}, true},
		{"acme.rt.chat.room.lobby", parsed{}, false},
		{"acme.rt.chat.room.lobby.a.b", parsed{}, false},
		{"acme.rtx.chat.broadcast.ev", parsed{}, false},
		{"other.chat.broadcast.ev", parsed{}, false},
		{"acme.rt", parsed{}, false},
	}
	for _, tt := range tests {
		got, ok := s.parse(tt.subject)
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("parse(%q) = %+v, %v; want %+v, %v", tt.subject, got, ok, tt.want, tt.ok)
		}
	}
	if got := s.Room("chat", "a.b c", "new msg"); got != "acme.rt.chat.room.a%2Eb%20c.new%20msg" {
		t.Errorf("Room = %q", got)
	}
}
