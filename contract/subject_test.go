package contract

import "testing"

func TestSubjects(t *testing.T) {
	s := NewSubjects("acme.rt")
	tests := []struct{ got, want string }{
		{s.Room("chat", "a.b c", "new msg"), "acme.rt.chat.room.a%2Eb%20c.new%20msg"},
		{s.Socket("chat", "3mK8bq0rGfZ1xJY2a7cPnw", "ping"), "acme.rt.chat.socket.3mK8bq0rGfZ1xJY2a7cPnw.ping"},
		{s.User("chat", "ann@example.com", "$x"), "acme.rt.chat.user.ann%40example%2Ecom.%24x"},
		{s.Broadcast("chat", "news"), "acme.rt.chat.broadcast.news"},
		{s.Server("chat", "nick"), "acme.rt.chat.server.nick"},
		{s.Presence("chat", "lobby"), "acme.rt.chat.presence.lobby"},
		{s.Lifecycle("chat", LifecycleDisconnect), "acme.rt.chat.lifecycle.disconnect"},
		{s.Auth("chat"), "acme.rt.chat.auth"},
		{s.Ctl("chat", CtlPresence), "acme.rt.chat.ctl.presence"},
		{s.Prefix(), "acme.rt"},
		{s.HistoryStream("chat"), "routerd_acme_rt_chat"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}
