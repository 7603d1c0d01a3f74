package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := filepath.Join(dir, "jwt.pem")
	if err := os.WriteFile(key, []byte("-----BEGIN PUBLIC KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		yaml string
		want []string // nil: valid
	}{
		// node, log, http
		{name: "node name 64 bytes", yaml: "node: {name: " + strings.Repeat("n", 64) + "}"},
		{name: "node name a host name", yaml: "node: {name: web-1.example.com}"},
		{name: "node name with a tab", yaml: `node: {name: "a\tb"}`,
			want: []string{`node.name: invalid node name "a\tb": want 1 to 64 visible ASCII characters, no spaces`}},
		{name: "node name 65 bytes", yaml: "node: {name: " + strings.Repeat("n", 65) + "}",
			want: []string{`node.name: invalid node name "` + strings.Repeat("n", 65) + `": want 1 to 64 visible ASCII characters, no spaces`}},
		{name: "empty node name", yaml: `node: {name: ""}`,
			want: []string{`node.name: invalid node name "": want 1 to 64 visible ASCII characters, no spaces`}},
		{name: "log", yaml: "log: {level: warn, format: json}"},
		{name: "log level", yaml: "log: {level: INFO}",
			want: []string{`log.level: must be debug, info, warn or error, not "INFO"`}},
		{name: "listen any host", yaml: `http: {listen: ":8080"}`},
		{name: "listen ipv6", yaml: `http: {listen: "[::1]:0"}`},
		{name: "listen without port", yaml: `http: {listen: "0.0.0.0"}`,
			want: []string{`http.listen: invalid address "0.0.0.0": want host:port`}},
		{name: "listen named port", yaml: `http: {listen: ":http"}`,
			want: []string{`http.listen: invalid port in ":http": want 0 to 65535`}},
		{name: "ws path", yaml: "http: {ws_path: \"\"}",
			want: []string{`http.ws_path: must start with "/", not ""`}},
		{name: "origins", yaml: `http: {allowed_origins: ["https://a.example", "http://b:3000"]}`},
		{name: "origin with path", yaml: `http: {allowed_origins: ["https://a.example/app"]}`,
			want: []string{`http.allowed_origins[0]: invalid origin "https://a.example/app": want scheme://host[:port]; leave the list empty to allow any origin`}},
		{name: "tls pair", yaml: "http: {tls: {cert_file: " + key + ", key_file: " + key + "}}"},

		// nats
		{name: "external nats without listen", yaml: `nats: {url: "nats://a:4222", listen: ""}`},
		{name: "no nats at all", yaml: `nats: {listen: ""}`,
			want: []string{"nats.listen: must be set unless nats.url is set"}},
		{name: "prefix tokens", yaml: "nats: {prefix: acme.router_1.x-y}"},
		{name: "prefix wildcard", yaml: "nats: {prefix: \"router.>\"}",
			want: []string{`nats.prefix: invalid subject prefix "router.>": want 1..64 bytes of dot-separated tokens of [A-Za-z0-9_-], no wildcards`}},
		{name: "prefix empty", yaml: `nats: {prefix: ""}`,
			want: []string{`nats.prefix: invalid subject prefix "": want 1..64 bytes of dot-separated tokens of [A-Za-z0-9_-], no wildcards`}},
		{name: "prefix trailing dot", yaml: `nats: {prefix: "router."}`,
			want: []string{`nats.prefix: invalid subject prefix "router.": want 1..64 bytes of dot-separated tokens of [A-Za-z0-9_-], no wildcards`}},
		{name: "prefix too long", yaml: "nats: {prefix: " + strings.Repeat("p", 65) + "}",
			want: []string{`nats.prefix: invalid subject prefix "` + strings.Repeat("p", 65) + `": want 1..64 bytes of dot-separated tokens of [A-Za-z0-9_-], no wildcards`}},
		{name: "tenant accounts", yaml: `nats: {users: [{user: a, password: p, namespaces: [t1, t2]}, {user: b, password: p, namespaces: [t2], account: other}, {user: c, password: p, namespaces: [t1], account: a}, {user: ops, password: p, account: x}]}`,
			want: []string{
				`nats.users[1].namespaces[0]: namespace "t2" belongs to tenant account "a" already: a namespace lives in one NATS account (give the users of one tenant the same account)`,
				`nats.users[3].account: applies only to a user with namespaces (a tenant's); a user without namespaces works in routerd's own account`,
			}},
		{name: "anonymous beyond loopback", yaml: `nats: {listen: "0.0.0.0:4222"}`,
			want: []string{`nats.listen: 0.0.0.0:4222 is reachable beyond this host, and without nats.users anyone who reaches it may act as a backend (push to any socket, speak for one, disconnect them); set nats.users, listen on loopback, or set nats.allow_anonymous: true`}},
		{name: "anonymous on every interface", yaml: `nats: {listen: ":4222"}`,
			want: []string{`nats.listen: :4222 is reachable beyond this host, and without nats.users anyone who reaches it may act as a backend (push to any socket, speak for one, disconnect them); set nats.users, listen on loopback, or set nats.allow_anonymous: true`}},
		{name: "anonymous allowed", yaml: `nats: {listen: "0.0.0.0:4222", allow_anonymous: true}`},
		{name: "users beyond loopback", yaml: `nats: {listen: "0.0.0.0:4222", users: [{user: a, password: b}]}`},
		{name: "anonymous on loopback", yaml: `nats: {listen: "[::1]:4222"}`},
		{name: "url password redacted", yaml: `nats: {url: "http://u:secret@a:4222"}`,
			want: []string{`nats.url[0]: invalid URL "http://u:xxxxx@a:4222": want nats://, tls://, ws://, wss:// or host:port`}},
		{name: "url schemes", yaml: `nats: {url: [nats://u:p@a:4222, tls://b, ws://c:80, wss://d, e:4222]}`},
		{name: "url scheme", yaml: `nats: {url: "http://a:4222"}`,
			want: []string{`nats.url[0]: invalid URL "http://a:4222": want nats://, tls://, ws://, wss:// or host:port`}},
		{name: "cluster", yaml: `nats: {cluster: {name: c, listen: ":6222", routes: [nats-route://a:6222, nats://b:6222]}}`},
		{name: "cluster without name", yaml: `nats: {cluster: {listen: ":6222"}}`,
			want: []string{"nats.cluster.name: required when nats.cluster.listen is set"}},
		{name: "cluster with external nats", yaml: `nats: {url: "nats://a:4222", cluster: {name: c, listen: ":6222"}}`,
			want: []string{"nats.cluster.listen: applies only to the embedded server, but nats.url is set"}},
		{name: "users with external nats", yaml: `nats: {url: "nats://a:4222", users: [{user: a, password: b}]}`,
			want: []string{"nats.users: applies only to the embedded server, but nats.url is set"}},
		{name: "jetstream with external nats", yaml: `nats: {url: "nats://a:4222", jetstream: {enabled: true}}`},
		{name: "storage", yaml: `nats: {jetstream: {storage: memory}}`},
		{name: "bad storage", yaml: `nats: {jetstream: {storage: ""}}`,
			want: []string{`nats.jetstream.storage: must be file or memory, not ""`}},
		{name: "users", yaml: `nats: {users: [{user: a, password: b, namespaces: [x, t-a]}, {user: c, password: d}]}`},

		// leafnodes and the JetStream domain
		{name: "leafnode edge on the hub's jetstream", yaml: `nats:
  leafnodes: {remotes: [{url: "nats-leaf://u:p@hub:7422"}, {url: [tls://hub-1, "hub-2:7422"], account: acme, credentials: ` + key + `, tls: {cert_file: ` + key + `, key_file: ` + key + `, ca_file: ` + key + `}}]}
  jetstream: {domain: hub}
  users: [{user: acme, password: p, namespaces: [acme-chat]}]
namespaces: {a: {history: {max_msgs: 1, replicas: 3}}}`},
		{name: "leafnode remote without url", yaml: `nats: {leafnodes: {remotes: [{account: ""}]}}`,
			want: []string{`nats.leafnodes.remotes[0].url: must list the hub's leafnode URLs (nats-leaf://host:7422)`}},
		{name: "leafnode remote url", yaml: `nats: {leafnodes: {remotes: [{url: "http://u:secret@hub:7422"}]}}`,
			want: []string{`nats.leafnodes.remotes[0].url[0]: invalid URL "http://u:xxxxx@hub:7422": want nats-leaf://, nats://, tls://, ws://, wss:// or host:port`}},
		{name: "leafnode remote of no tenant", yaml: `nats: {leafnodes: {remotes: [{url: "hub:7422", account: acme}]}, users: [{user: ops, password: p}]}`,
			want: []string{`nats.leafnodes.remotes[0].account: "acme" is not a tenant account of nats.users (the account of users with namespaces); leave it empty for routerd's own account`}},
		{name: "leafnode remote files", yaml: `nats: {leafnodes: {remotes: [{url: "hub:7422", credentials: ` + key + `.missing, tls: {cert_file: ` + key + `, ca_file: ` + dir + `}}]}}`,
			want: []string{
				"nats.leafnodes.remotes[0].credentials: stat " + key + ".missing: no such file or directory",
				"nats.leafnodes.remotes[0].tls.ca_file: " + dir + " is a directory",
				"nats.leafnodes.remotes[0].tls.key_file: required when nats.leafnodes.remotes[0].tls.cert_file is set",
			}},
		{name: "leafnodes with external nats", yaml: `nats: {url: "nats://a:4222", leafnodes: {remotes: [{url: "hub:7422"}]}}`,
			want: []string{"nats.leafnodes.remotes: applies only to the embedded server, but nats.url is set"}},
		{name: "leafnode edges with their own history", yaml: "nats: {jetstream: {enabled: true, domain: edge}, leafnodes: {remotes: [{url: \"hub:7422\"}]}}\nnamespaces: {a: {history: {max_msgs: 1}}}",
			want: []string{"namespaces.a.history: with nats.leafnodes each edge's own JetStream would store every edge's events and deliver them twice: keep history on the hub's JetStream (nats.jetstream.enabled: false, nats.jetstream.domain: the hub's domain)"}},
		{name: "leafnode edge with its own jetstream", yaml: `nats: {jetstream: {enabled: true, domain: edge-1}, leafnodes: {remotes: [{url: "hub:7422"}]}}`},
		{name: "jetstream domain of an external nats", yaml: "nats: {url: \"nats://leaf:4222\", jetstream: {domain: hub}}\nnamespaces: {a: {history: {max_msgs: 1}}}"},
		{name: "jetstream domain of nothing", yaml: "nats: {jetstream: {domain: hub}}",
			want: []string{"nats.jetstream.domain: names another system's JetStream, reached over nats.leafnodes.remotes or nats.url, and neither is set (with nats.jetstream.enabled it is the embedded server's own domain)"}},
		{name: "jetstream domain name", yaml: `nats: {jetstream: {enabled: true, domain: "hub.1"}}`,
			want: []string{`nats.jetstream.domain: invalid JetStream domain "hub.1": want 1 to 64 of [A-Za-z0-9_-]`}},
		{name: "user namespaces", yaml: `nats: {users: [{user: a, password: b, namespaces: ["a b"]}]}`,
			want: []string{`nats.users[0].namespaces[0]: invalid namespace name "a b": an exact name [A-Za-z0-9_-]{1,64} (NATS permissions cannot express globs)`}},
		{name: "user namespace glob", yaml: `nats: {users: [{user: a, password: b, namespaces: ["t-*"]}]}`,
			want: []string{`nats.users[0].namespaces[0]: invalid namespace name "t-*": an exact name [A-Za-z0-9_-]{1,64} (NATS permissions cannot express globs)`}},

		// limits
		{name: "limits at the bounds", yaml: `limits: {max_frame_bytes: 1024, max_name_bytes: 1024, max_rooms_per_socket: 1,
  max_connections: 10000000, send_queue: 1, rate: {per_second: 0, burst: 0}, ack_timeout: 10m}`},
		{name: "frame too large", yaml: "limits: {max_frame_bytes: 16777217}",
			want: []string{"limits.max_frame_bytes: must be between 1024 and 16777216"}},
		{name: "rate without burst", yaml: "limits: {rate: {per_second: 1, burst: 0}}",
			want: []string{"limits.rate.burst: must be at least 1 when limits.rate.per_second is above 0"}},
		{name: "ack timeout too long", yaml: "limits: {ack_timeout: 10m1s}",
			want: []string{"limits.ack_timeout: must be at most 10m"}},
		{name: "negative rate", yaml: "limits: {rate: {per_second: -1}}",
			want: []string{"limits.rate.per_second: must be a finite number, 0 (no limit) or more"}},

		// namespaces and auth
		{name: "policies", yaml: `namespaces: {a: {auth: backend, client_publish: none}, "b-*": {client_publish: any}}`},
		{name: "bad policy", yaml: `namespaces: {a: {client_publish: all}}`,
			want: []string{`namespaces.a.client_publish: must be members, any or none, not "all"`}},
		{name: "jwt secret", yaml: `auth: {jwt: {secret: s}}` + "\nnamespaces: {a: {auth: jwt}}"},
		{name: "jwt key file", yaml: "auth: {jwt: {public_key_file: " + key + "}}\nnamespaces: {a: {auth: jwt}}"},
		{name: "jwt without key", yaml: "namespaces: {a: {auth: jwt}}",
			want: []string{"auth.jwt: namespace a uses auth jwt: set auth.jwt.secret or auth.jwt.public_key_file"}},
		{name: "jwt key file missing", yaml: "auth: {jwt: {public_key_file: " + key + ".missing}}",
			want: []string{"auth.jwt.public_key_file: stat " + key + ".missing: no such file or directory"}},
		{name: "jwt key file is a directory", yaml: "auth: {jwt: {public_key_file: " + dir + "}}",
			want: []string{"auth.jwt.public_key_file: " + dir + " is a directory"}},
		{name: "history", yaml: "nats: {jetstream: {enabled: true}, cluster: {name: c, listen: \"127.0.0.1:6222\"}}\nnamespaces: {a: {history: {max_msgs: 1, max_age: 1h, replicas: 5}}}"},
		{name: "jwt audience and issuer", yaml: `auth: {jwt: {secret: s, audience: api, issuer: "https://id.example.com/"}}`},
		{name: "header bytes at the bounds", yaml: "http: {max_header_bytes: 8192}"},
		{name: "header bytes at the upper bound", yaml: "http: {max_header_bytes: 1048576}"},
		{name: "header bytes too few", yaml: "http: {max_header_bytes: 8191}",
			want: []string{"http.max_header_bytes: must be between 8192 and 1048576"}},
		{name: "header bytes too many", yaml: "http: {max_header_bytes: 1048577}",
			want: []string{"http.max_header_bytes: must be between 8192 and 1048576"}},
		{name: "static dir", yaml: "http: {static_dir: testdata}"},
		{name: "static dir missing", yaml: "http: {static_dir: testdata/nowhere}",
			want: []string{"http.static_dir: stat testdata/nowhere: no such file or directory"}},
		{name: "static dir and chat page", yaml: "http: {static_dir: testdata, chat_page: true}",
			want: []string{"http.static_dir: http.chat_page serves / too: set one of them"}},
		{name: "history replicas without a cluster", yaml: "nats: {jetstream: {enabled: true}}\nnamespaces: {a: {history: {max_msgs: 1, replicas: 3}}}",
			want: []string{"namespaces.a.history.replicas: 3 replicas need a cluster (nats.cluster) of at least 3 nodes; one embedded server keeps 1"}},
		{name: "history defaults replicas", yaml: "nats: {jetstream: {enabled: true}}\nnamespaces: {a: {history: {max_msgs: 1}}}"},
		{name: "history without jetstream", yaml: "namespaces: {a: {history: {max_msgs: 1}}}",
			want: []string{"namespaces.a.history: requires nats.jetstream.enabled (or an external nats.url with JetStream, or the hub's JetStream: nats.leafnodes and nats.jetstream.domain)"}},
		{name: "history without max_msgs", yaml: "nats: {jetstream: {enabled: true}}\nnamespaces: {a: {history: {max_age: 1h}}}",
			want: []string{"namespaces.a.history.max_msgs: must be at least 1"}},
		{name: "history replicas", yaml: "nats: {jetstream: {enabled: true}}\nnamespaces: {a: {history: {max_msgs: 1, replicas: 0}}}",
			want: []string{"namespaces.a.history.replicas: must be between 1 and 5"}},

		// socketio
		{name: "socketio", yaml: `namespaces: {chat: {}, "t-*": {}}
socketio: {enabled: true, namespaces: {"/": chat, "/t": t-1}, events: {join: join, "a b": server}}`},
		{name: "socketio undeclared namespace", yaml: `namespaces: {"t-*": {}}
socketio: {namespaces: {"/": chat}}`,
			want: []string{`socketio.namespaces./: namespace "chat" is not declared under namespaces`}},
		{name: "socketio pattern as target", yaml: `namespaces: {"t-*": {}}
socketio: {namespaces: {"/": "t-*"}}`,
			want: []string{`socketio.namespaces./: invalid namespace name "t-*"`}},
		{name: "socketio reserved event", yaml: `socketio: {events: {"$join": join}}`,
			want: []string{`socketio.events.$join: invalid event name: want 1 to 64 bytes of UTF-8 without control characters, not starting with "$"`}},
		{name: "socketio path", yaml: `socketio: {path: ""}`,
			want: []string{`socketio.path: must start with "/", not ""`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := loadYAML(t, tt.yaml, nil)
			if got := problemLines(t, err); !slices.Equal(got, tt.want) {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestValidateDefault(t *testing.T) {
	t.Parallel()
	cfg := Default()
	if err := cfg.Validate(); err != nil {
		t.Errorf("Default() is invalid:\n%v", err)
	}
	var zero Config
	err := zero.Validate()
	if got := len(problemLines(t, err)); got < 10 {
		t.Errorf("zero Config has %d problems, want many:\n%v", got, err)
	}
}

func TestHostNodeName(t *testing.T) {
	t.Parallel()
	if n := hostNodeName(); !ValidNodeName(n) {
		t.Errorf("hostNodeName() = %q, not a valid node name", n)
	}
}

func TestValidNamespaceName(t *testing.T) {
	t.Parallel()
	tests := map[string]bool{
		"chat": true, "Chat_1-x": true, strings.Repeat("a", 64): true,
		"": false, strings.Repeat("a", 65): false, "a.b": false, "a b": false, "a/b": false,
		"t-*": false, "é": false,
	}
	for s, want := range tests {
		if got := ValidNamespaceName(s); got != want {
			t.Errorf("ValidNamespaceName(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestValidNamespacePattern(t *testing.T) {
	t.Parallel()
	tests := map[string]bool{
		"chat": true, "*": true, "tenant-*": true, "t-?": true, "t-[a-z]*": true, "t-[^0-9]": true,
		"[ab]x": true, "a[-_]b": false, // "-" first in a class is malformed for path.Match
		"": false, "[": false, "[]": false, "[^]": false, "a.*": false, "a/*": false, `a\*`: false,
		"x^y": false, "t-[a.]": false, strings.Repeat("*", 257): false,
	}
	for s, want := range tests {
		if got := ValidNamespacePattern(s); got != want {
			t.Errorf("ValidNamespacePattern(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestNamespaceResolution(t *testing.T) {
	t.Parallel()
	mark := func(p string) Namespace {
		ns := DefaultNamespace()
		ns.ClientPublish = p // which key resolved
		return ns
	}
	cfg := Config{Namespaces: map[string]Namespace{
		"chat":       mark("chat"),
		"*":          mark("*"),
		"tenant-*":   mark("tenant-*"),
		"tenant-a*":  mark("tenant-a*"),
		"tenant-?b*": mark("tenant-?b*"),
		"tenant-a?*": mark("tenant-a?*"),
		"c*":         mark("c*"),
	}}
	tests := []struct {
		name string
		want string // "" means not found
	}{
		{"chat", "chat"},              // exact beats every glob
		{"cat", "c*"},                 // longer than "*"
		{"other", "*"},                // only "*"
		{"tenant-x", "tenant-*"},      // the only tenant glob that matches
		{"tenant-abc", "tenant-?b*"},  // "tenant-?b*" and "tenant-a?*" tie at 10 bytes: lexical order
		{"tenant-acme", "tenant-a?*"}, // "tenant-?b*" does not match
		{"tenant-a", "tenant-a*"},     // "tenant-a?*" needs one more byte
		{"tenant-bb", "tenant-?b*"},   // longest match
		{"a.b", ""},                   // not a namespace name
		{"", ""},                      // not a namespace name
		{strings.Repeat("x", 65), ""}, // not a namespace name
	}
	for _, tt := range tests {
		ns, ok := cfg.Namespace(tt.name)
		switch {
		case tt.want == "" && ok:
			t.Errorf("Namespace(%q) resolved to %q, want not found", tt.name, ns.ClientPublish)
		case tt.want != "" && (!ok || ns.ClientPublish != tt.want):
			t.Errorf("Namespace(%q) = %q, %v; want %q", tt.name, ns.ClientPublish, ok, tt.want)
		}
	}
	var empty Config
	if _, ok := empty.Namespace("chat"); ok {
		t.Error("a config without namespaces resolves chat")
	}
}

func TestPerNamespaceSockets(t *testing.T) {
	t.Parallel()
	alone := NATS{SocketSubscriptions: SocketsAuto}
	clustered := NATS{SocketSubscriptions: SocketsAuto, Cluster: Cluster{Name: "c", Listen: "127.0.0.1:6222"}}
	external := NATS{SocketSubscriptions: SocketsAuto, URL: []string{"nats://127.0.0.1:4222"}}
	edge := NATS{SocketSubscriptions: SocketsAuto, Leafnodes: Leafnodes{Remotes: []LeafRemote{{URL: []string{"nats-leaf://hub:7422"}}}}}
	for _, c := range []struct {
		name string
		n    NATS
		want bool
	}{
		{"auto, alone", alone, true},
		{"auto, clustered", clustered, false},
		{"auto, external", external, false},
		{"auto, leafnode edge", edge, false},
		{"per_socket, alone", NATS{SocketSubscriptions: SocketsPerSocket}, false},
		{"per_namespace, external", NATS{SocketSubscriptions: SocketsPerNamespace, URL: external.URL}, true},
	} {
		if got := c.n.PerNamespaceSockets(); got != c.want {
			t.Errorf("%s: PerNamespaceSockets() = %v, want %v", c.name, got, c.want)
		}
	}
	if !Default().NATS.PerNamespaceSockets() {
		t.Error("the default node (alone, embedded) does not use per-namespace socket subscriptions")
	}
}
