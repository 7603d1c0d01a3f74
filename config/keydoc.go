package config

import (
	"fmt"
	"strings"
)

// keyDoc describes one configuration key. The reference's description of
// a key is help, then "; " and more when there is more; `routerd --help`
// and the key's flag show help alone.
type keyDoc struct {
	// help says what the key is in one line of plain text, without a
	// final period: it starts the reference's description and is the
	// key's line in --help.
	help string
	// more is the rest of the reference's description (Markdown), or "".
	more string
	// ext marks a key the original specification did not have (an extension).
	ext bool
	// def describes a default that is no constant, in place of the value
	// Default() holds: the host name, or no default at all.
	def string
}

// keyDocs describes every key schemaKeys lists, by its path: the single
// source of the meaning of a key. Defaults and types are not repeated
// here: they come from the Config type and Default(). Links are relative
// to docs/, where the reference lives.
func keyDocs() map[string]keyDoc {
	actions := strings.Join([]string{ActionJoin, ActionLeave, ActionRoom, ActionRoomAll,
		ActionBroadcast, ActionBroadcastAll}, ", ") + " or " + ActionServer
	return map[string]keyDoc{
		"node.name": {
			help: "node name, unique in the cluster",
			more: fmt.Sprintf("it is sent in hello frames and `Router-Node` headers and names the embedded NATS server: 1 to %d visible ASCII characters, no spaces. Default: the host name with bytes outside visible ASCII as `-`, cut to %d bytes, or `%s` when there is none",
				maxNameLen, maxNameLen, DefaultNodeName),
			def: "host name",
		},
		"log.level":  {help: "log level: debug, info, warn or error"},
		"log.format": {help: "log format: text or json"},

		"http.listen": {
			help: "HTTP and WebSocket listen address (host:port)",
			more: "it also serves `/healthz`, `/readyz` and `/metrics`; port 0 picks a free port",
		},
		"http.ws_path":       {help: "path of the WebSocket endpoint"},
		"http.ping_interval": {help: "interval between WebSocket pings", more: "also Socket.IO's `pingInterval`"},
		"http.pong_timeout": {
			help: "close a connection whose pong is this late",
			more: "also Socket.IO's `pingTimeout`: a session that does not answer a ping within it ends",
		},
		"http.allowed_origins": {
			help: "allowed Origin headers (empty: any)",
			more: "else exact origins, `scheme://host[:port]`: others get 403, listed ones get their Origin back with `Access-Control-Allow-Credentials: true`; requests without an Origin (not from a browser) are allowed. Empty, Socket.IO polling answers `Access-Control-Allow-Origin: *` without credentials",
		},
		"http.handshake_timeout": {
			help: "bound on sending the upgrade request's headers and completing the WebSocket upgrade",
			more: "slow clients are cut off",
			ext:  true,
		},
		"http.tls.cert_file": {help: "PEM certificate chain for HTTPS/WSS", more: "with `http.tls.key_file`", ext: true},
		"http.tls.key_file":  {help: "PEM private key for HTTPS/WSS", more: "with `http.tls.cert_file`", ext: true},
		"http.pprof":         {help: "serve net/http/pprof under /debug/pprof/", ext: true},
		"http.chat_page": {
			help: "serve the chat example page at / and the browser client at /client.js",
			more: "on in the sample `router.yaml`; not with `http.static_dir`",
			ext:  true,
		},
		"http.static_dir": {
			help: "serve the files of this directory at / (not with http.chat_page)",
			more: "an app's pages on the same origin as `/ws` or `/socket.io/`. Never serves names starting with `.`, directory listings (a directory serves its `index.html` or 404), or anything outside the directory, symbolic links included",
			ext:  true,
		},
		"http.max_header_bytes": {
			help: "largest request line and headers in bytes (larger requests get 431)",
			more: "8192 to 1048576, counted as sent. Also bounds the headers a connection keeps for `auth: backend` and the lifecycle connect notice's `handshake`",
			ext:  true,
		},

		"nats.listen": {
			help: "embedded NATS server client address for backends (host:port)",
			more: "port 0 picks a free port. Beyond loopback it needs `nats.users` (or `nats.allow_anonymous`), else the config is refused",
		},
		"nats.url": {
			help: "external NATS server URLs; when set nothing is embedded",
			more: "`nats://`, `tls://`, `ws://` or `wss://` URLs or host:port, as a YAML list or one comma-separated string",
		},
		"nats.prefix": {
			help: "subject prefix",
			more: fmt.Sprintf("`P` in every subject (`P.{ns}.room.{room}.{event}`, ...): dot-separated tokens of `[A-Za-z0-9_-]`, at most %d bytes", MaxPrefixBytes),
		},
		"nats.socket_subscriptions": {
			help: "how a node subscribes to its sockets' subjects: auto, per_socket or per_namespace",
			more: "`per_socket`: one NATS subscription per socket, so a direct message (`to`, `P.{ns}.socket.{sid}.*`) reaches only the node holding the socket; `per_namespace`: one per namespace per node, about 1 KiB less per connection and a cheaper connect, but every node with sockets in the namespace receives every direct message (and drops the others'); `auto`: `per_namespace` for a node alone on its embedded server (no `nats.cluster`, no `nats.leafnodes`, no `nats.url`: no other node's direct messages can reach it), `per_socket` otherwise",
			ext:  true,
		},
		"nats.cluster.name": {
			help: "embedded NATS cluster name",
			more: "required with `nats.cluster.listen`; no white space",
		},
		"nats.cluster.listen": {
			help: "embedded NATS cluster route address (host:port)",
			more: "makes the embedded servers of several nodes one NATS cluster; not with `nats.url`",
		},
		"nats.cluster.routes": {
			help: "routes to the other nodes (nats-route://host:port)",
			more: "requires `nats.cluster.listen`",
		},
		"nats.leafnodes.remotes": {
			help: "leafnode connections that make the embedded server a leaf node of a central NATS (a hub)",
			more: "so that edges in several regions, each with its own embedded server, are one system sharing rooms through the hub; see [examples/edge](../examples/edge). Not with `nats.url`",
			ext:  true,
		},
		"nats.leafnodes.remotes[].url": {
			help: "the hub's leafnode URLs, tried in turn (the servers of one hub cluster)",
			more: "`nats-leaf://[user:password@]host:7422`, or `tls://`, `ws://`, `wss://`, or host:port",
			ext:  true,
		},
		"nats.leafnodes.remotes[].credentials": {
			help: "NATS credentials file (a user JWT and its nkey seed) for a hub in operator (JWT) mode",
			ext:  true,
		},
		"nats.leafnodes.remotes[].account": {
			help: "local account the remote joins to the hub account of its user",
			more: "empty: routerd's own account, where every namespace of no tenant lives and routerd's nodes find each other; or a tenant account of `nats.users`, whose namespaces then span the edges (each such tenant needs a remote of its own)",
			ext:  true,
		},
		"nats.leafnodes.remotes[].tls.cert_file": {help: "PEM client certificate for a hub that verifies it", ext: true},
		"nats.leafnodes.remotes[].tls.key_file":  {help: "PEM private key of the client certificate", ext: true},
		"nats.leafnodes.remotes[].tls.ca_file": {
			help: "PEM CA certificate that signed the hub's certificate",
			more: "empty: the system's roots; a `tls://` or `wss://` URL uses TLS without any of these keys",
			ext:  true,
		},
		"nats.jetstream.enabled": {help: "enable JetStream on the embedded server (for history)"},
		"nats.jetstream.store_dir": {
			help: "JetStream storage directory",
			more: "empty: the NATS server's default, `jetstream` in the system's temporary directory",
		},
		"nats.jetstream.storage": {
			help: "storage of the history streams: file or memory",
			more: "`memory` keeps nothing across restarts",
			ext:  true,
		},
		"nats.jetstream.domain": {
			help: "JetStream domain routerd uses: the embedded server's own with nats.jetstream.enabled, else the hub's, reached over nats.leafnodes (or nats.url)",
			more: "empty: the JetStream of the server routerd is connected to. Edges with `nats.leafnodes` keep no history of their own: `enabled` with a history namespace is refused; history then lives on the hub, once for every edge",
			ext:  true,
		},
		"nats.users": {
			help: "backend credentials on the embedded NATS server",
			more: "once set, NATS clients without credentials are refused; a user with `namespaces` is a tenant's, in the NATS account of its tenant, see [Tenants](security.md#tenants-one-nats-account-each). Not with `nats.url`",
		},
		"nats.users[].user":     {help: "user name, unique"},
		"nats.users[].password": {help: "password"},
		"nats.users[].namespaces": {
			help: "namespaces of a tenant's user, exact names",
			more: "the user works in its tenant's NATS account, limited to `P.{ns}.>` of these namespaces. Empty: the user works in routerd's own account and may do anything there",
		},
		"nats.users[].account": {
			help: "NATS account of the user's tenant (only for a user with namespaces)",
			more: "empty: the user name. Users of one tenant share it; a namespace belongs to one account only",
			ext:  true,
		},
		"nats.allow_anonymous": {
			help: "let NATS clients without credentials in when the embedded server listens beyond loopback with no nats.users",
			more: "anyone who reaches the port may then act as a backend",
			ext:  true,
		},
		"nats.tls.cert_file": {help: "PEM certificate chain for the embedded server's client port", ext: true},
		"nats.tls.key_file":  {help: "PEM private key for the embedded server's client port", ext: true},

		"limits.max_frame_bytes": {
			help: "largest client message in bytes",
			more: "a larger one closes the connection with 1009; 1024 to 16777216",
		},
		"limits.max_name_bytes": {help: "longest room name in bytes", more: "1 to 1024"},
		"limits.max_rooms_per_socket": {
			help: "most rooms one socket may join",
			more: "more joins get `limit_exceeded`",
		},
		"limits.max_connections": {
			help: "most client connections: native WebSockets, Socket.IO sessions and the Socket.IO WebSockets tunnelled through this node together",
			more: "more upgrades get HTTP 503",
		},
		"limits.send_queue": {
			help: "frames queued per connection before it is a slow consumer",
			more: "one more closes it with 1013",
		},
		"limits.rate.per_second": {
			help: "client frames per second per connection (0: no limit)",
			more: "a token bucket per connection",
		},
		"limits.rate.burst": {
			help: "client frame burst per connection",
			more: "at least 1 when `limits.rate.per_second` is above 0",
		},
		"limits.ack_timeout": {
			help: "how long a server-bound request waits for a backend's reply, and a backend's request for a client's answer",
			more: "at most 10m; see [Asking clients for acks](backends.md#asking-clients-for-acks)",
		},
		"limits.max_namespaces_per_connection": {
			help: "most namespaces one connection (WebSocket or Socket.IO session) may attach",
			more: "one more gets `limit_exceeded`",
			ext:  true,
		},

		"auth.jwt.secret": {
			help: "HS256 secret for jwt namespaces (visible in ps as a flag; prefer the file or ROUTER_AUTH_JWT_SECRET)",
			more: "not with `auth.jwt.public_key_file`",
		},
		"auth.jwt.public_key_file": {
			help: "PEM public key for RS256/ES256 jwt namespaces",
			more: "an RSA or EC P-256 key; not with `auth.jwt.secret`",
		},
		"auth.jwt.audience": {
			help: "when set, tokens must list it in aud",
			more: "otherwise `unauthorized`",
			ext:  true,
		},
		"auth.jwt.issuer": {
			help: "when set, tokens must have it as iss",
			more: "otherwise `unauthorized`",
			ext:  true,
		},

		"namespaces": {
			help: "namespace policies, by namespace name or glob pattern",
			more: "a name is `[A-Za-z0-9_-]{1,64}`; a glob adds `*`, `?` and `[...]` classes (`\"tenant-*\"`). An exact name wins over globs; among matching globs the longest pattern wins. Keys an entry does not set keep their defaults",
		},
		"namespaces.<name>.auth": {
			help: "how clients authenticate: none, jwt or backend",
			more: "`jwt`: the token in `connect.auth.token`, verified with `auth.jwt`; `backend`: a request on `P.{ns}.auth`",
		},
		"namespaces.<name>.client_join": {
			help: "clients may join and leave rooms themselves",
			more: "otherwise only a backend's `ctl`",
		},
		"namespaces.<name>.client_publish": {help: "who may emit to a room: members, any or none"},
		"namespaces.<name>.direct":         {help: "clients may emit to a sid"},
		"namespaces.<name>.presence":       {help: "clients may ask presence"},
		"namespaces.<name>.presence_events": {
			help: "members receive $join and $leave",
		},
		"namespaces.<name>.history": {
			help: "room history on JetStream",
			more: "absent: none. Requires `nats.jetstream.enabled`, an external `nats.url` with JetStream, or the hub's JetStream (`nats.leafnodes` and `nats.jetstream.domain`); see [history](history.md)",
		},
		"namespaces.<name>.history.max_msgs": {
			help: "events kept per room",
			more: "at least 1",
			def:  "none, required",
		},
		"namespaces.<name>.history.max_age": {
			help: "how long events are kept (0: until max_msgs pushes them out)",
		},
		"namespaces.<name>.history.replicas": {
			help: "replicas of the namespace's stream, 1 to 5",
			more: "more than 1 needs a cluster (`nats.cluster`, an external `nats.url` or the hub's) of that many nodes",
			ext:  true,
		},
		"namespaces.<name>.history.max_stream_msgs": {
			help: fmt.Sprintf("events the namespace's stream keeps in all (0: %d × max_msgs)", DefaultStreamMsgsPerRoomMsg),
			more: "otherwise at least `max_msgs`; the oldest events go first",
			ext:  true,
		},
		"namespaces.<name>.history.max_stream_bytes": {
			help: fmt.Sprintf("bytes the namespace's stream keeps (0: %d MiB)", DefaultMaxStreamBytes>>20),
			more: "otherwise at least 1048576; the oldest events go first",
			ext:  true,
		},
		"namespaces.<name>.history.max_streams": {
			help: fmt.Sprintf("namespaces of a glob key that have a stream at once (glob keys only; 0: %d)", DefaultMaxStreams),
			ext:  true,
		},
		"namespaces.<name>.history.idle_timeout": {
			help: fmt.Sprintf("how long the stream of a glob key's namespace is kept after its newest event while no node has a socket in it (glob keys only; 0: %s)", formatDuration(DefaultIdleTimeout)),
			more: "otherwise at least 1s",
			ext:  true,
		},

		"socketio.enabled": {
			help: "serve the Socket.IO compatibility endpoint",
			more: "for `socket.io-client` 4.x; see [Socket.IO compatibility](socketio.md)",
		},
		"socketio.path": {
			help: "path of the Socket.IO endpoint",
			more: "the client's `path` option",
		},
		"socketio.namespaces": {
			help: `Socket.IO namespaces ("/", "/x") mapped to routerd namespaces`,
			more: "an unlisted `/x` maps to namespace `x` when it is declared",
		},
		"socketio.events": {
			help: "routing action per event name: " + actions,
			more: "an unlisted event is `server` (`P.{ns}.server.{event}`)",
		},
		"socketio.connect_timeout": {
			help: "close a Socket.IO session that connects no namespace within this (0: never)",
			more: "Socket.IO's `connectTimeout`",
			ext:  true,
		},
		"socketio.no_responders": {
			help: "an acked Socket.IO event no backend serves: ignore (no ack, the client times out) or error (a no_responders error ack)",
			more: "`ignore` sends no ack, as a Socket.IO server does for an event nobody handles, so the client's timeout fires; `error` acks it at once with `{\"error\":{\"code\":\"no_responders\"}}`",
			ext:  true,
		},
		"socketio.recovery.all_namespaces": {
			help: "Socket.IO connection state recovery for every namespace, not only those with history",
			more: "a recovering namespace's events carry their offset as an extra last argument, as Socket.IO's do",
			ext:  true,
		},
		"socketio.recovery.max_disconnection": {
			help: "how long the socket of a lost Socket.IO session is kept for its client to resume",
			more: "Socket.IO's `maxDisconnectionDuration`",
		},
		"socketio.recovery.max_buffer_packets": {
			help: "most packets kept per Socket.IO socket for a resume",
			more: "those its client has not confirmed and those sent while it is away; a parked socket that must drop one its client never got ends",
			ext:  true,
		},
		"socketio.recovery.max_buffer_bytes": {
			help: "most bytes of packets kept per Socket.IO socket for a resume",
			more: fmt.Sprintf("1024 to %d: a socket another node takes over travels in one NATS message", MaxRecoveryBufferBytes),
			ext:  true,
		},

		"admin.enabled": {
			help: "serve the admin console at admin.path",
			more: "the whole cluster live (nodes, namespaces, rooms, sockets, history streams, rates) and actions on sockets through `ctl`; needs `admin.users` or `admin.jwt_claim`. See [the admin console](admin.md) and [security](security.md#the-admin-console)",
			ext:  true,
		},
		"admin.path": {
			help: "path of the admin console",
			more: "segments of `[A-Za-z0-9_-]`, no trailing `/`; it must not overlap `http.ws_path`, `socketio.path`, `/healthz`, `/readyz`, `/metrics` or `/debug/pprof/`",
			ext:  true,
		},
		"admin.users": {
			help: "admins who log in with a name and a password",
			more: "a list of `{name, password_hash}`",
			ext:  true,
		},
		"admin.users[].name":          {help: "admin name, unique; actions are logged with it"},
		"admin.users[].password_hash": {help: "bcrypt hash of the admin's password ($2a$, $2b$ or $2y$), never the password itself", more: "a value that is not a bcrypt hash is a config error; make one with `htpasswd -nbBC 12 '' PASSWORD | tr -d ':\\n'`"},
		"admin.jwt_claim": {
			help: "name of a JWT claim that, when true, lets the token log in to the admin console",
			more: "the token is verified with `auth.jwt` (key, audience, issuer); its `sub` is the admin's name, and the session ends at its `exp` when that is sooner than `admin.session_ttl`",
			ext:  true,
		},
		"admin.session_ttl": {
			help: "how long an admin console login lasts",
			more: fmt.Sprintf("%s to %s; sessions are kept in memory on the node that made them", formatDuration(MinAdminSessionTTL), formatDuration(MaxAdminSessionTTL)),
			ext:  true,
		},
		"admin.socketio_ui": {
			help: "serve the namespace of the official Socket.IO Admin UI on the Socket.IO endpoint",
			more: "its logins are checked against `admin.users`; needs `admin.enabled` and `socketio.enabled`",
			ext:  true,
		},
	}
}
