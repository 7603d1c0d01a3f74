package relay

import "testing"

// TestNames pins every node-to-node name to the bytes routerd has always
// used: nodes of other versions share a cluster, and streams and buckets
// made before must be found again.
func TestNames(t *testing.T) {
	for _, tc := range []struct {
		prefix string
		want   map[string]string
	}{
		{"router", map[string]string{
			"heartbeat":       "$routerd.router.hb",
			"scatter":         "$routerd.router.ctl",
			"sweep":           "$routerd.router.sweep",
			"republished":     "$routerd.router.hist.chat.room.>",
			"stored room":     "$routerd.router.hist.chat.room.a%2Eb.*",
			"history stream":  "routerd_router_chat",
			"recovery bucket": "router_socketio_recovery",
			"forward":         "$routerd.router.eio.Tag12345",
			"cancel":          "$routerd.router.eio.Tag12345.cancel",
			"tunnel open":     "$routerd.router.eio.Tag12345.ws",
			"tunnel":          "$routerd.router.eio.Tag12345.ws.id-1",
			"resume":          "$routerd.router.resume.mntD9iGtAxNFEDb-v4rUSg",
			"admin":           "$routerd.router.admin",
		}},
		{"a.b", map[string]string{
			"heartbeat":       "$routerd.a.b.hb",
			"scatter":         "$routerd.a.b.ctl",
			"sweep":           "$routerd.a.b.sweep",
			"republished":     "$routerd.a.b.hist.chat.room.>",
			"stored room":     "$routerd.a.b.hist.chat.room.a%2Eb.*",
			"history stream":  "routerd_a_b_chat",
			"recovery bucket": "a_b_socketio_recovery",
			"forward":         "$routerd.a.b.eio.Tag12345",
			"cancel":          "$routerd.a.b.eio.Tag12345.cancel",
			"tunnel open":     "$routerd.a.b.eio.Tag12345.ws",
			"tunnel":          "$routerd.a.b.eio.Tag12345.ws.id-1",
			"resume":          "$routerd.a.b.resume.mntD9iGtAxNFEDb-v4rUSg",
			"admin":           "$routerd.a.b.admin",
		}},
		{"x-y_z", map[string]string{
			"history stream":  "routerd_x-y_z_chat",
			"recovery bucket": "x-y_z_socketio_recovery",
		}},
	} {
		n := NewNames(tc.prefix)
		got := map[string]string{
			"heartbeat":       n.Heartbeat(),
			"scatter":         n.Scatter(),
			"sweep":           n.Sweep(),
			"republished":     n.Republished("chat"),
			"stored room":     n.StoredRoom("chat", "a%2Eb"),
			"history stream":  n.HistoryStream("chat"),
			"recovery bucket": n.RecoveryBucket(),
			"forward":         n.Forward("Tag12345"),
			"cancel":          n.Cancel("Tag12345"),
			"tunnel open":     n.TunnelOpen("Tag12345"),
			"tunnel":          n.Tunnel("Tag12345", "id-1"),
			"resume":          n.Resume("pid-1"),
			"admin":           n.Admin(),
		}
		for name, want := range tc.want {
			if got[name] != want {
				t.Errorf("prefix %q: %s is %q, want %q", tc.prefix, name, got[name], want)
			}
		}
	}
}

// TestNamesInverse: a republished event maps back to the room subject it
// was stored under, and a history stream's name to its namespace; nothing
// else does.
func TestNamesInverse(t *testing.T) {
	n := NewNames("a.b")
	for subject, want := range map[string]string{
		"$routerd.a.b.hist.chat.room.lobby.message": "a.b.chat.room.lobby.message",
		"$routerd.a.b.hist.t-1.room.a%2Eb.x":        "a.b.t-1.room.a%2Eb.x",
	} {
		if got, ok := n.Unstored(subject); !ok || got != want {
			t.Errorf("Unstored(%q) = %q, %v; want %q", subject, got, ok, want)
		}
	}
	for _, subject := range []string{"a.b.chat.room.lobby.message", "$routerd.a.b.hb", "$routerd.a.bhist.x", "$routerd.router.hist.chat.room.r.e"} {
		if got, ok := n.Unstored(subject); ok {
			t.Errorf("Unstored(%q) = %q, want none", subject, got)
		}
	}
	if ns, ok := n.HistoryNamespace(n.HistoryStream("tenant-1")); !ok || ns != "tenant-1" {
		t.Errorf("HistoryNamespace of tenant-1's stream: %q, %v", ns, ok)
	}
	for _, stream := range []string{"routerd_router_chat", "KV_a_b_socketio_recovery", "routerd_a_bchat"} {
		if ns, ok := n.HistoryNamespace(stream); ok {
			t.Errorf("HistoryNamespace(%q) = %q, want none", stream, ns)
		}
	}
}

// TestTags: new tags are valid, and only tags of the right length and
// alphabet are.
func TestTags(t *testing.T) {
	for range 100 {
		if tag := NewTag(); !ValidTag(tag) {
			t.Fatalf("NewTag() = %q, not valid", tag)
		}
	}
	for tag, want := range map[string]bool{"Ab3_-xYz": true, "Ab3_-xY": false, "Ab3_-xYz9": false, "Ab3.-xYz": false, "Ab3*-xYz": false, "": false} {
		if ValidTag(tag) != want {
			t.Errorf("ValidTag(%q) = %v", tag, !want)
		}
	}
}
