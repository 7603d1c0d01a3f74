package config

import (
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Socket.IO event routing actions (docs/socketio.md), the values of socketio.events.
const (
	ActionJoin         = "join"
	ActionLeave        = "leave"
	ActionRoom         = "room"
	ActionRoomAll      = "room_all"
	ActionBroadcast    = "broadcast"
	ActionBroadcastAll = "broadcast_all"
	ActionServer       = "server"
)

// maxEventLen bounds event names (docs/protocol.md#names).
const maxEventLen = 64

// validateAuth checks auth.jwt against the namespaces that use it.
func (c *Config) validateAuth(p *Problems) {
	j := c.Auth.JWT
	var users []string
	for key, ns := range c.Namespaces {
		if ns.Auth == AuthJWT {
			users = append(users, key)
		}
	}
	slices.Sort(users)
	switch {
	case j.Secret != "" && j.PublicKeyFile != "":
		p.add("auth.jwt", "set only one of auth.jwt.secret and auth.jwt.public_key_file")
	case j.Secret == "" && j.PublicKeyFile == "" && len(users) > 0:
		what := "namespace " + users[0] + " uses"
		if len(users) > 1 {
			what = "namespaces " + strings.Join(users, ", ") + " use"
		}
		p.add("auth.jwt", "%s auth jwt: set auth.jwt.secret or auth.jwt.public_key_file", what)
	}
	readable(p, "auth.jwt.public_key_file", j.PublicKeyFile)
}

// validateNamespaces checks every key and policy under namespaces.
func (c *Config) validateNamespaces(p *Problems) {
	jetStream := c.NATS.JetStream.Enabled || len(c.NATS.URL) > 0 || c.NATS.JetStream.RemoteJetStream()
	for name, ns := range c.Namespaces {
		key := "namespaces." + name
		switch {
		case isPattern(name):
			if !ValidNamespacePattern(name) {
				p.add(key, "invalid namespace pattern %q: want [A-Za-z0-9_-] with *, ? and [...] classes", name)
			}
		case !ValidNamespaceName(name):
			p.add(key, "invalid namespace name %q: want 1 to 64 of [A-Za-z0-9_-], or a glob pattern", name)
		}
		oneOf(p, key+".auth", ns.Auth, AuthNone, AuthJWT, AuthBackend)
		oneOf(p, key+".client_publish", ns.ClientPublish, PublishMembers, PublishAny, PublishNone)
		if h := ns.History; h != nil {
			if h.MaxMsgs < 1 {
				p.add(key+".history.max_msgs", "must be at least 1")
			}
			if h.MaxAge < 0 {
				p.add(key+".history.max_age", "must not be negative (0 keeps events until max_msgs drops them)")
			}
			between(p, key+".history.replicas", h.Replicas, 1, 5)
			if h.Replicas > 1 && h.Replicas <= 5 && len(c.NATS.URL) == 0 && c.NATS.Cluster.Listen == "" && !c.NATS.JetStream.RemoteJetStream() {
				p.add(key+".history.replicas", "%d replicas need a cluster (nats.cluster) of at least %d nodes; one embedded server keeps 1", h.Replicas, h.Replicas)
			}
			if !jetStream {
				p.add(key+".history", "requires nats.jetstream.enabled (or an external nats.url with JetStream, or the hub's JetStream: nats.leafnodes and nats.jetstream.domain)")
			}
			validateHistoryBounds(p, key+".history", *h, isPattern(name))
		}
	}
}

// validateHistoryBounds checks the stream bounds of a history key, and
// the keys only glob namespaces take.
func validateHistoryBounds(p *Problems, key string, h History, glob bool) {
	if h.MaxStreamMsgs != 0 && h.MaxStreamMsgs < h.MaxMsgs {
		p.add(key+".max_stream_msgs", "must be 0 (%d × max_msgs) or at least max_msgs (%d)", DefaultStreamMsgsPerRoomMsg, h.MaxMsgs)
	}
	if h.MaxStreamBytes != 0 && h.MaxStreamBytes < 1<<20 {
		p.add(key+".max_stream_bytes", "must be 0 (%d MiB) or at least 1048576", DefaultMaxStreamBytes>>20)
	}
	if h.MaxStreams < 0 {
		p.add(key+".max_streams", "must not be negative (0: %d)", DefaultMaxStreams)
	}
	if h.IdleTimeout != 0 && h.IdleTimeout < time.Second {
		p.add(key+".idle_timeout", "must be 0 (%gh) or at least 1s", DefaultIdleTimeout.Hours())
	}
	if !glob {
		if h.MaxStreams != 0 {
			p.add(key+".max_streams", "applies only to glob namespaces (a namespace declared by name has one stream)")
		}
		if h.IdleTimeout != 0 {
			p.add(key+".idle_timeout", "applies only to glob namespaces (the stream of a namespace declared by name is kept)")
		}
	}
}

// validateSocketIO checks socketio.*.
func (c *Config) validateSocketIO(p *Problems) {
	s := &c.SocketIO
	absPath(p, "socketio.path", s.Path)
	if s.ConnectTimeout < 0 {
		p.add("socketio.connect_timeout", "must not be negative (0 never closes a session for it)")
	}
	oneOf(p, "socketio.no_responders", s.NoResponders, NoRespondersIgnore, NoRespondersError)
	positive(p, "socketio.recovery.max_disconnection", s.Recovery.MaxDisconnection)
	if s.Recovery.MaxBufferPackets < 1 {
		p.add("socketio.recovery.max_buffer_packets", "must be at least 1")
	}
	// A socket another node takes over travels in one NATS message, of
	// at most 1 MiB by default.
	between(p, "socketio.recovery.max_buffer_bytes", s.Recovery.MaxBufferBytes, 1024, MaxRecoveryBufferBytes)
	for sioNS, name := range s.Namespaces {
		key := "socketio.namespaces." + sioNS
		if !strings.HasPrefix(sioNS, "/") {
			p.add(key, "Socket.IO namespace must start with \"/\"")
		}
		switch {
		case !ValidNamespaceName(name):
			p.add(key, "invalid namespace name %q", name)
		default:
			if _, ok := c.Namespace(name); !ok {
				p.add(key, "namespace %q is not declared under namespaces", name)
			}
		}
	}
	for event, action := range s.Events {
		key := "socketio.events." + event
		if !validEventName(event) {
			p.add(key, "invalid event name: want 1 to 64 bytes of UTF-8 without control characters, not starting with \"$\"")
		}
		oneOf(p, key, action, ActionJoin, ActionLeave, ActionRoom, ActionRoomAll,
			ActionBroadcast, ActionBroadcastAll, ActionServer)
	}
}

// validEventName reports whether s is a client event name (docs/protocol.md#names): 1..64
// bytes of UTF-8, no control characters, not reserved ("$...").
func validEventName(s string) bool {
	if len(s) == 0 || len(s) > maxEventLen || !utf8.ValidString(s) || strings.HasPrefix(s, "$") {
		return false
	}
	return !strings.ContainsFunc(s, unicode.IsControl)
}
