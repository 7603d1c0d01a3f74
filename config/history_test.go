package config

import (
	"testing"
	"time"
)

// TestHistoryBoundDefaults: history keys left 0 take their defaults, the
// stream's message bound derived from max_msgs; set keys win.
func TestHistoryBoundDefaults(t *testing.T) {
	h := History{MaxMsgs: 50}
	if got, want := h.StreamMaxMsgs(), int64(50*DefaultStreamMsgsPerRoomMsg); got != want {
		t.Errorf("StreamMaxMsgs = %d, want %d", got, want)
	}
	if got := h.StreamMaxBytes(); got != DefaultMaxStreamBytes {
		t.Errorf("StreamMaxBytes = %d, want %d", got, DefaultMaxStreamBytes)
	}
	if got := h.GlobMaxStreams(); got != DefaultMaxStreams {
		t.Errorf("GlobMaxStreams = %d, want %d", got, DefaultMaxStreams)
	}
	if got := h.GlobIdleTimeout(); got != DefaultIdleTimeout {
		t.Errorf("GlobIdleTimeout = %s, want %s", got, DefaultIdleTimeout)
	}
	h = History{MaxMsgs: 50, MaxStreamMsgs: 70, MaxStreamBytes: 2 << 20, MaxStreams: 3, IdleTimeout: time.Minute}
	if h.StreamMaxMsgs() != 70 || h.StreamMaxBytes() != 2<<20 || h.GlobMaxStreams() != 3 || h.GlobIdleTimeout() != time.Minute {
		t.Errorf("set keys not kept: %d %d %d %s", h.StreamMaxMsgs(), h.StreamMaxBytes(), h.GlobMaxStreams(), h.GlobIdleTimeout())
	}
}

// TestNamespaceKey: the key a namespace resolves through is its own name
// when declared by name, else the most specific glob.
func TestNamespaceKey(t *testing.T) {
	c := Config{Namespaces: map[string]Namespace{"chat": {}, "t-*": {}, "t-a*": {}}}
	for _, tc := range []struct{ name, key string }{
		{"chat", "chat"}, {"t-b", "t-*"}, {"t-ab", "t-a*"}, {"x", ""}, {"a b", ""},
	} {
		key, _, ok := c.NamespaceKey(tc.name)
		if key != tc.key || ok != (tc.key != "") {
			t.Errorf("NamespaceKey(%q) = %q, %v; want %q", tc.name, key, ok, tc.key)
		}
	}
}
