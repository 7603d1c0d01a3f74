package config

import (
	"os"
	"time"
)

// DefaultNodeName is the node name used when the host name is unusable.
const DefaultNodeName = "routerd"

// Default returns the built-in configuration: every default of docs/configuration.md
// and no namespaces. Node.Name is the host name with every byte outside
// visible ASCII replaced by "-" and cut to 64 bytes, or DefaultNodeName
// when the host name is unavailable.
func Default() Config {
	return Config{
		Node: Node{Name: hostNodeName()},
		Log:  Log{Level: "info", Format: "text"},
		HTTP: HTTP{
			Listen:           "127.0.0.1:8080",
			WSPath:           "/ws",
			PingInterval:     25 * time.Second,
			PongTimeout:      20 * time.Second,
			HandshakeTimeout: 10 * time.Second,
			MaxHeaderBytes:   16384,
		},
		NATS: NATS{
			Listen:              "127.0.0.1:4222",
			Prefix:              "router",
			SocketSubscriptions: SocketsAuto,
			JetStream:           JetStream{Storage: "file"},
		},
		Limits: Limits{
			MaxFrameBytes:     65536,
			MaxNameBytes:      128,
			MaxRoomsPerSocket: 100,
			MaxConnections:    100000,
			SendQueue:         1024,
			Rate:              Rate{PerSecond: 100, Burst: 200},
			AckTimeout:        5 * time.Second,

			MaxNamespacesPerConnection: 16,
		},
		SocketIO: SocketIO{
			Path: "/socket.io/", ConnectTimeout: 45 * time.Second, NoResponders: NoRespondersIgnore,
			Recovery: Recovery{MaxDisconnection: 2 * time.Minute, MaxBufferPackets: 1000, MaxBufferBytes: 512 << 10},
		},
		Admin: Admin{Path: "/admin", SessionTTL: 12 * time.Hour},
	}
}

// DefaultNamespace returns the policy a namespace entry starts from before
// its own keys apply (docs/protocol.md#namespace-policy): auth none, client_join true, client_publish
// members, direct false, presence true, presence_events false, no history.
func DefaultNamespace() Namespace {
	return Namespace{
		Auth:          AuthNone,
		ClientJoin:    true,
		ClientPublish: PublishMembers,
		Presence:      true,
	}
}

// DefaultHistory returns the settings a history key starts from: one
// replica. MaxMsgs has no default and must be set; MaxAge 0 means events are
// kept until MaxMsgs pushes them out.
func DefaultHistory() History {
	return History{Replicas: 1}
}

// hostNodeName turns the host name into a valid node name.
func hostNodeName() string {
	h, err := os.Hostname()
	if err != nil {
		return DefaultNodeName
	}
	b := []byte(h)
	if len(b) > maxNameLen {
		b = b[:maxNameLen]
	}
	for i, c := range b {
		if !isNodeNameByte(c) {
			b[i] = '-'
		}
	}
	if len(b) == 0 {
		return DefaultNodeName
	}
	return string(b)
}
