// Package config loads, merges and validates routerd's configuration.
//
// Sources are applied in this order, each overriding the one before:
// built-in defaults, the YAML file, ROUTER_* environment variables, command-line
// flags. The result is a typed, validated Config; nothing else in routerd reads
// koanf. See docs/configuration.md for every key.
//
// The life of a configuration: NewFlagSet defines the flags, the caller
// parses them, Load merges the sources with koanf, decodes the merged tree
// into a Config by walking the Config type (every koanf tag is a known key;
// anything else is an unknown key), and calls Validate. Every problem found
// on the way, unknown keys and ROUTER_* variables, values of the wrong type
// and failed rules alike, is collected into one *Problems error with the key
// path of each, so that `routerd --check` can list them all at once.
//
// Environment variables are ROUTER_ + the key path upper-cased with "_" for
// "." (ROUTER_LIMITS_MAX_FRAME_BYTES); they are matched against the known
// keys, so underscores inside key names are no problem. Namespace keys are
// ROUTER_NAMESPACES_{NAME}_{KEY} (ROUTER_NAMESPACES_CHAT_HISTORY_MAX_MSGS);
// socketio.namespaces, socketio.events, nats.users and nats.leafnodes.remotes
// can only be set in the YAML file. Lists in environment values are
// comma-separated.
//
// Values convert the way a YAML author or a shell user expects: integers
// and numbers may be written as strings ("2048"), booleans as true, false,
// "1" or "0", string lists as a YAML list or one comma-separated string,
// durations only as Go duration strings ("25s", "1h30m"; a bare number other
// than 0 is an error, since its unit would be a guess). A null value keeps
// the default. File paths are relative to the working directory.
package config

import (
	"net"
	"slices"
	"time"
)

// Config is routerd's whole, validated configuration.
type Config struct {
	Node       Node                 `koanf:"node"`
	Log        Log                  `koanf:"log"`
	HTTP       HTTP                 `koanf:"http"`
	NATS       NATS                 `koanf:"nats"`
	Limits     Limits               `koanf:"limits"`
	Auth       Auth                 `koanf:"auth"`
	Namespaces map[string]Namespace `koanf:"namespaces"`
	SocketIO   SocketIO             `koanf:"socketio"`
	Admin      Admin                `koanf:"admin"`
}

// Node names this routerd instance.
type Node struct {
	// Name is unique within a cluster; it appears in hello frames and in
	// Router-Node headers. Default: the host name.
	Name string `koanf:"name"`
}

// Log sets up log/slog.
type Log struct {
	Level  string `koanf:"level"`  // debug, info (default), warn, error
	Format string `koanf:"format"` // text (default) or json
}

// HTTP is the HTTP and WebSocket listener.
type HTTP struct {
	Listen         string        `koanf:"listen"`          // default 127.0.0.1:8080
	WSPath         string        `koanf:"ws_path"`         // default /ws
	PingInterval   time.Duration `koanf:"ping_interval"`   // default 25s
	PongTimeout    time.Duration `koanf:"pong_timeout"`    // default 20s
	AllowedOrigins []string      `koanf:"allowed_origins"` // empty: any origin
	// HandshakeTimeout bounds reading the upgrade request's headers and the
	// WebSocket upgrade itself (extension, default 10s).
	HandshakeTimeout time.Duration `koanf:"handshake_timeout"`
	// TLS serves HTTPS/WSS when both files are set (extension).
	TLS TLSFiles `koanf:"tls"`
	// Pprof mounts net/http/pprof under /debug/pprof/ (extension, default false).
	Pprof bool `koanf:"pprof"`
	// ChatPage serves the chat example page at / and the browser client at
	// /client.js (extension, default false; on in the sample router.yaml).
	ChatPage bool `koanf:"chat_page"`
	// StaticDir serves the files of this directory at / (extension): an
	// app's pages from the same origin as its WebSocket or Socket.IO
	// endpoint, as a Socket.IO app's Node server would. Not with ChatPage.
	// Names starting with "." are not served, nor directory listings, nor
	// anything a symbolic link leads to outside the directory.
	StaticDir string `koanf:"static_dir"`
	// MaxHeaderBytes bounds a request's line and headers together, in
	// bytes as sent (extension, default 16384, 8192 to 1048576); a larger
	// request gets 431. It also bounds the headers a connection keeps for
	// auth: backend.
	MaxHeaderBytes int `koanf:"max_header_bytes"`
}

// TLSFiles names a PEM certificate chain and its private key.
type TLSFiles struct {
	CertFile string `koanf:"cert_file"`
	KeyFile  string `koanf:"key_file"`
}

// NATS is the bus: an embedded server, or an external one when URL is set.
type NATS struct {
	// Listen is the embedded server's client port for backends. Port 0 picks
	// a free port. Default 127.0.0.1:4222.
	Listen string `koanf:"listen"`
	// URL lists external NATS servers (comma-separated in one string, or a
	// YAML list). When set nothing is embedded.
	URL    []string `koanf:"url"`
	Prefix string   `koanf:"prefix"` // default router
	// SocketSubscriptions chooses how a node listens on the socket subjects
	// (extension): per_socket, one subscription per socket, so a direct
	// message reaches only the node holding the socket; per_namespace, one
	// subscription per namespace per node (about 1 KiB less per connection),
	// so every node with sockets in the namespace receives every direct
	// message and drops those for others; or auto (default), per_namespace
	// for a node alone on its embedded server and per_socket when it may
	// share NATS with other nodes (nats.cluster, nats.leafnodes or
	// nats.url). See PerNamespaceSockets.
	SocketSubscriptions string    `koanf:"socket_subscriptions"`
	Cluster             Cluster   `koanf:"cluster"`
	Leafnodes           Leafnodes `koanf:"leafnodes"`
	JetStream           JetStream `koanf:"jetstream"`
	Users               []User    `koanf:"users"`
	// AllowAnonymous lets an embedded server listening beyond loopback
	// take NATS clients without credentials (no nats.users): anyone who
	// reaches the port may then act as a backend. Off, such a config is
	// refused.
	AllowAnonymous bool `koanf:"allow_anonymous"`
	// TLS for the embedded server's client port (extension).
	TLS TLSFiles `koanf:"tls"`
}

// Loopback reports whether addr (host:port) listens on loopback only:
// localhost or a loopback IP, not every interface.
func Loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// PerNamespaceSockets reports whether a node listens on its sockets'
// subjects with one subscription per namespace (nats.socket_subscriptions
// resolved): always with per_namespace, and with auto when the node is alone
// on its embedded server (no cluster, no leafnode remotes), where no other
// node's direct messages can reach it.
func (n NATS) PerNamespaceSockets() bool {
	switch n.SocketSubscriptions {
	case SocketsPerNamespace:
		return true
	case SocketsAuto:
		return n.Alone()
	}
	return false
}

// Alone reports whether no other routerd node can share this node's NATS:
// the node embeds its server with no cluster and no leafnode remotes.
func (n NATS) Alone() bool {
	return len(n.URL) == 0 && n.Cluster.Listen == "" && len(n.Leafnodes.Remotes) == 0
}

// Cluster makes the embedded servers of several nodes one NATS cluster.
type Cluster struct {
	Name   string   `koanf:"name"`
	Listen string   `koanf:"listen"`
	Routes []string `koanf:"routes"`
}

// Leafnodes makes the embedded server a leaf node of other NATS systems
// (extension): each remote joins one of its accounts to an account of a
// remote NATS system (a hub), so that routerd nodes at several edges, each
// with its own embedded server, share rooms through the hub. The hub carries
// only the subjects somebody on the other side has interest in.
type Leafnodes struct {
	Remotes []LeafRemote `koanf:"remotes"`
}

// LeafRemote is one leafnode connection of the embedded server.
type LeafRemote struct {
	// URL lists the hub's leafnode URLs (nats-leaf://, tls://, ws://,
	// wss://, or host:port for nats-leaf), tried in turn: the servers of
	// one hub cluster. A URL may carry the hub user's user:password.
	URL []string `koanf:"url"`
	// Credentials is a NATS credentials file (a user JWT and its nkey
	// seed) for a hub in operator (JWT) mode.
	Credentials string `koanf:"credentials"`
	// Account is the local account the remote joins to the hub account of
	// its credentials: "" (default) routerd's own account, where every
	// namespace of no tenant lives and routerd's nodes find each other;
	// or a tenant account of nats.users (its name), whose namespaces then
	// span the edges too.
	Account string `koanf:"account"`
	// TLS is the client side of a TLS leafnode connection; a tls:// or
	// wss:// URL uses TLS with the system's roots without it.
	TLS LeafTLS `koanf:"tls"`
}

// LeafTLS is the TLS of a leafnode connection: a client certificate and
// key for a hub that verifies them, and the CA that signed the hub's
// certificate (default: the system's roots).
type LeafTLS struct {
	CertFile string `koanf:"cert_file"`
	KeyFile  string `koanf:"key_file"`
	CAFile   string `koanf:"ca_file"`
}

// Enabled reports whether any TLS file is set.
func (t LeafTLS) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" || t.CAFile != "" }

// JetStream enables JetStream on the embedded server (for history).
type JetStream struct {
	Enabled  bool   `koanf:"enabled"`
	StoreDir string `koanf:"store_dir"`
	// Storage is file (default) or memory (extension).
	Storage string `koanf:"storage"`
	// Domain is the JetStream domain routerd uses (extension): with
	// Enabled, the embedded server's own domain; without, the domain of a
	// JetStream reached over nats.leafnodes (the hub's) or nats.url. Empty:
	// the JetStream of the server routerd is connected to.
	Domain string `koanf:"domain"`
}

// RemoteJetStream reports whether routerd's JetStream is another system's,
// reached over nats.leafnodes or an external NATS by its domain: a domain
// set and the embedded server's own JetStream off.
func (j JetStream) RemoteJetStream() bool { return j.Domain != "" && !j.Enabled }

// User is a backend credential on the embedded NATS server.
type User struct {
	User     string `koanf:"user"`
	Password string `koanf:"password"`
	// Namespaces makes the user a tenant's: it works in the NATS account
	// of its tenant, limited to P.{ns}.> of these namespaces (exact
	// names). Empty: the user works in routerd's own account and may do
	// anything there.
	Namespaces []string `koanf:"namespaces"`
	// Account names the tenant's NATS account (extension); default: the
	// user name. Users of one tenant share it; a namespace belongs to one
	// account only.
	Account string `koanf:"account"`
}

// TenantAccount returns the NATS account of a user with namespaces: its
// account, or its name; "" for a user without namespaces.
func (u User) TenantAccount() string {
	switch {
	case len(u.Namespaces) == 0:
		return ""
	case u.Account != "":
		return u.Account
	}
	return u.User
}

// TenantAccounts maps every tenant account of nats.users to the namespaces
// its users list (sorted, once each); nil without tenants.
func (n NATS) TenantAccounts() map[string][]string {
	var out map[string][]string
	for _, u := range n.Users {
		acc := u.TenantAccount()
		if acc == "" {
			continue
		}
		if out == nil {
			out = make(map[string][]string)
		}
		for _, ns := range u.Namespaces {
			if !slices.Contains(out[acc], ns) {
				out[acc] = append(out[acc], ns)
			}
		}
		slices.Sort(out[acc])
	}
	return out
}

// Limits bound what one client may do and cost.
type Limits struct {
	MaxFrameBytes     int           `koanf:"max_frame_bytes"`      // default 65536
	MaxNameBytes      int           `koanf:"max_name_bytes"`       // default 128
	MaxRoomsPerSocket int           `koanf:"max_rooms_per_socket"` // default 100
	MaxConnections    int           `koanf:"max_connections"`      // default 100000
	SendQueue         int           `koanf:"send_queue"`           // default 1024 frames
	Rate              Rate          `koanf:"rate"`
	AckTimeout        time.Duration `koanf:"ack_timeout"` // default 5s

	// MaxNamespacesPerConnection bounds the namespaces one client
	// connection attaches (a native WebSocket, a Socket.IO session);
	// default 16.
	MaxNamespacesPerConnection int `koanf:"max_namespaces_per_connection"`
}

// Rate is a token bucket of client frames per connection.
type Rate struct {
	PerSecond float64 `koanf:"per_second"` // default 100; 0 disables
	Burst     int     `koanf:"burst"`      // default 200
}

// Auth holds the keys used by namespaces with auth: jwt.
type Auth struct {
	JWT JWT `koanf:"jwt"`
}

// JWT verifies client tokens: HS256 with Secret, or RS256/ES256 with the
// public key in PublicKeyFile (PEM).
type JWT struct {
	Secret        string `koanf:"secret"`
	PublicKeyFile string `koanf:"public_key_file"`
	// Audience, when set, must be one of the token's aud values.
	Audience string `koanf:"audience"`
	// Issuer, when set, must equal the token's iss.
	Issuer string `koanf:"issuer"`
}

// Namespace is the policy of one namespace (or of every namespace matching a
// glob key). Keys an entry does not set keep the DefaultNamespace values;
// Config.Namespace resolves a name to its entry.
type Namespace struct {
	Auth           string   `koanf:"auth"`            // none (default), jwt, backend
	ClientJoin     bool     `koanf:"client_join"`     // default true
	ClientPublish  string   `koanf:"client_publish"`  // members (default), any, none
	Direct         bool     `koanf:"direct"`          // default false
	Presence       bool     `koanf:"presence"`        // default true
	PresenceEvents bool     `koanf:"presence_events"` // default false
	History        *History `koanf:"history"`         // nil: no history
}

// History keeps the last MaxMsgs events of each room for MaxAge (docs/history.md).
// It requires nats.jetstream.enabled or an external nats.url. The keys
// after Replicas are extensions; 0 means their default.
type History struct {
	MaxMsgs  int           `koanf:"max_msgs"` // required, at least 1
	MaxAge   time.Duration `koanf:"max_age"`  // 0 (default): no age limit
	Replicas int           `koanf:"replicas"` // extension, 1 (default) to 5
	// MaxStreamMsgs bounds the events the namespace's stream keeps in
	// all (its MaxMsgs; the oldest go first); 0: 1000 × MaxMsgs.
	MaxStreamMsgs int `koanf:"max_stream_msgs"`
	// MaxStreamBytes bounds the stream's size (its MaxBytes; the oldest
	// events go first); 0: 64 MiB.
	MaxStreamBytes int `koanf:"max_stream_bytes"`
	// MaxStreams bounds how many namespaces matching a glob key have a
	// stream at once (glob keys only); 0: 1000.
	MaxStreams int `koanf:"max_streams"`
	// IdleTimeout is how long the stream of a namespace matching a glob
	// key is kept after its newest event while no node has a socket in
	// the namespace (glob keys only); 0: 24h.
	IdleTimeout time.Duration `koanf:"idle_timeout"`
}

// Defaults of the History keys left 0.
const (
	DefaultStreamMsgsPerRoomMsg = 1000
	DefaultMaxStreamBytes       = 64 << 20
	DefaultMaxStreams           = 1000
	DefaultIdleTimeout          = 24 * time.Hour
)

// StreamMaxMsgs is the MaxMsgs of the namespace's stream.
func (h History) StreamMaxMsgs() int64 {
	if h.MaxStreamMsgs > 0 {
		return int64(h.MaxStreamMsgs)
	}
	return DefaultStreamMsgsPerRoomMsg * int64(h.MaxMsgs)
}

// StreamMaxBytes is the MaxBytes of the namespace's stream.
func (h History) StreamMaxBytes() int64 {
	if h.MaxStreamBytes > 0 {
		return int64(h.MaxStreamBytes)
	}
	return DefaultMaxStreamBytes
}

// GlobMaxStreams is how many namespaces of a glob key may have a stream.
func (h History) GlobMaxStreams() int {
	if h.MaxStreams > 0 {
		return h.MaxStreams
	}
	return DefaultMaxStreams
}

// GlobIdleTimeout is how long an unused stream of a glob key's namespace
// is kept after its newest event.
func (h History) GlobIdleTimeout() time.Duration {
	if h.IdleTimeout > 0 {
		return h.IdleTimeout
	}
	return DefaultIdleTimeout
}

// SocketIO is the Socket.IO compatibility endpoint (docs/socketio.md).
type SocketIO struct {
	Enabled bool   `koanf:"enabled"`
	Path    string `koanf:"path"` // default /socket.io/
	// Namespaces maps Socket.IO namespaces ("/", "/x") to routerd namespaces.
	Namespaces map[string]string `koanf:"namespaces"`
	// Events maps an event name to its routing action: join, leave, room,
	// room_all, broadcast, broadcast_all, server.
	Events map[string]string `koanf:"events"`
	// ConnectTimeout closes a session that has not connected to a namespace
	// within it, as Socket.IO's connectTimeout does (extension; default 45s,
	// 0 never).
	ConnectTimeout time.Duration `koanf:"connect_timeout"`
	// NoResponders is what a Socket.IO client's acked event that no backend
	// serves gets: "ignore" (the default) sends no ack, as a Socket.IO
	// server does for an event nobody handles, so the client's timeout
	// fires; "error" acks at once with {"error":{"code":"no_responders"}}.
	NoResponders string `koanf:"no_responders"`
	// Recovery is connection state recovery (Socket.IO's
	// connectionStateRecovery): how long, and with how much, the socket
	// of a lost session is kept for its client to resume.
	Recovery Recovery `koanf:"recovery"`
}

// Recovery configures Socket.IO connection state recovery
// (socketio.recovery). Namespaces with history always recover; the others
// do with AllNamespaces, since a recovering namespace's events carry their
// offset as an extra last argument, as Socket.IO's do.
type Recovery struct {
	// AllNamespaces turns recovery on for every namespace, not only those
	// with history (default false).
	AllNamespaces bool `koanf:"all_namespaces"`
	// MaxDisconnection is how long a lost session's socket is kept
	// (Socket.IO's maxDisconnectionDuration; default 2m).
	MaxDisconnection time.Duration `koanf:"max_disconnection"`
	// MaxBufferPackets bounds the packets kept per socket for a resume:
	// those sent and not yet confirmed by the client, and those sent
	// while it is away (default 1000).
	MaxBufferPackets int `koanf:"max_buffer_packets"`
	// MaxBufferBytes bounds the bytes of those packets (default 512 KiB).
	MaxBufferBytes int `koanf:"max_buffer_bytes"`
}

// MaxRecoveryBufferBytes is the largest socketio.recovery.max_buffer_bytes:
// what a socket taken over by another node carries must fit one NATS
// message (1 MiB by default) with room to spare.
const MaxRecoveryBufferBytes = 768 << 10

// Recovers reports whether Socket.IO sockets of a namespace with policy
// ns recover their connection state.
func (r Recovery) Recovers(ns Namespace) bool { return r.AllNamespaces || ns.History != nil }

// NoResponders values (socketio.no_responders).
const (
	NoRespondersIgnore = "ignore"
	NoRespondersError  = "error"
)

// NoRespondersError reports whether an acked event no backend serves is
// acked with the no_responders error (socketio.no_responders: error).
func (s SocketIO) NoRespondersError() bool { return s.NoResponders == NoRespondersError }

// Policy values.
const (
	SocketsAuto         = "auto"
	SocketsPerSocket    = "per_socket"
	SocketsPerNamespace = "per_namespace"

	AuthNone    = "none"
	AuthJWT     = "jwt"
	AuthBackend = "backend"

	PublishMembers = "members"
	PublishAny     = "any"
	PublishNone    = "none"
)

// OriginAllowed reports whether a request with this Origin header may
// connect (http.allowed_origins): requests without one (not from a browser)
// may, and any origin may when the list is empty.
func (h HTTP) OriginAllowed(origin string) bool {
	return origin == "" || len(h.AllowedOrigins) == 0 || slices.Contains(h.AllowedOrigins, origin)
}

// BackendAuth reports whether any namespace authenticates with a backend,
// which may want the upgrade request's headers.
func (c *Config) BackendAuth() bool {
	for _, ns := range c.Namespaces {
		if ns.Auth == AuthBackend {
			return true
		}
	}
	return false
}
