package config

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/knadh/koanf/providers/posflag"
	"github.com/spf13/pflag"
)

// Names of the flags that are not config keys.
const (
	FlagConfig  = "config"  // -c, --config FILE: the YAML file
	FlagCheck   = "check"   // --check: validate the config and exit
	FlagVersion = "version" // --version: print the version and exit
)

// NewFlagSet returns routerd's command-line flags, not yet parsed, with
// pflag.ContinueOnError so the caller reports parse errors: -c/--config,
// --check, --version, and one flag per scalar or list key named by its key
// path (--http.listen, --limits.max_frame_bytes, --nats.url a,b). The
// map-valued keys (namespaces, socketio.namespaces, socketio.events),
// nats.users and nats.leafnodes.remotes have no flags. Flag defaults show
// the built-in defaults; a key flag only overrides the file and the
// environment when it is given on the command line.
func NewFlagSet(name string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.StringP(FlagConfig, "c", "", "path to the YAML config file")
	fs.Bool(FlagCheck, false, "validate the config (file, ROUTER_* environment and flags) and exit")
	fs.Bool(FlagVersion, false, "print the version and exit")

	def := reflect.ValueOf(Default())
	help := flagHelp()
	for _, l := range configLeaves() {
		v := fieldByKey(def, l.key)
		usage := help[l.key]
		if usage == "" {
			usage = "sets " + l.key
		}
		switch {
		case l.typ == durationType:
			fs.Duration(l.key, time.Duration(v.Int()), usage)
		case l.typ.Kind() == reflect.String:
			fs.String(l.key, v.String(), usage)
		case l.typ.Kind() == reflect.Int:
			fs.Int(l.key, int(v.Int()), usage)
		case l.typ.Kind() == reflect.Float64:
			fs.Float64(l.key, v.Float(), usage)
		case l.typ.Kind() == reflect.Bool:
			fs.Bool(l.key, v.Bool(), usage)
		case isStringList(l.typ):
			fs.StringSlice(l.key, v.Interface().([]string), usage+" (comma-separated)")
		default:
			panic(fmt.Sprintf("config: no flag type for key %s (%s)", l.key, l.typ))
		}
	}
	return fs
}

// fieldByKey returns the field of struct v at the dotted key path.
func fieldByKey(v reflect.Value, key string) reflect.Value {
	for _, l := range strings.Split(key, ".") {
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			if t.Field(i).Tag.Get("koanf") == l {
				v = v.Field(i)
				break
			}
		}
	}
	return v
}

// flagProvider returns the koanf provider for the key flags of fs that were
// set on the command line; other flags are skipped.
func flagProvider(fs *pflag.FlagSet, ko posflag.KoanfIntf) *posflag.Posflag {
	keys := map[string]bool{}
	for _, l := range configLeaves() {
		keys[l.key] = true
	}
	return posflag.ProviderWithFlag(fs, ".", ko, func(f *pflag.Flag) (string, any) {
		if !f.Changed || !keys[f.Name] {
			return "", nil
		}
		return f.Name, posflag.FlagVal(fs, f)
	})
}

// flagHelp returns the usage text of the key flags.
func flagHelp() map[string]string {
	return map[string]string{
		"node.name":                            "node name, unique in the cluster",
		"log.level":                            "log level: debug, info, warn or error",
		"log.format":                           "log format: text or json",
		"http.listen":                          "HTTP and WebSocket listen address (host:port)",
		"http.ws_path":                         "path of the WebSocket endpoint",
		"http.ping_interval":                   "interval between WebSocket pings",
		"http.pong_timeout":                    "close a connection whose pong is this late",
		"http.allowed_origins":                 "allowed Origin headers (empty: any)",
		"http.handshake_timeout":               "bound on the WebSocket upgrade",
		"http.tls.cert_file":                   "PEM certificate chain for HTTPS/WSS",
		"http.tls.key_file":                    "PEM private key for HTTPS/WSS",
		"http.pprof":                           "serve net/http/pprof under /debug/pprof/",
		"http.chat_page":                       "serve the chat example page at / and the browser client at /client.js",
		"http.static_dir":                      "serve the files of this directory at / (not with http.chat_page)",
		"http.max_header_bytes":                "largest request line and headers in bytes (larger requests get 431)",
		"nats.listen":                          "embedded NATS server client address (host:port)",
		"nats.url":                             "external NATS server URLs; when set nothing is embedded",
		"nats.prefix":                          "subject prefix",
		"nats.cluster.name":                    "embedded NATS cluster name",
		"nats.cluster.listen":                  "embedded NATS cluster route address (host:port)",
		"nats.cluster.routes":                  "routes to the other nodes (nats-route://host:port)",
		"nats.jetstream.enabled":               "enable JetStream on the embedded server (for history)",
		"nats.jetstream.store_dir":             "JetStream storage directory",
		"nats.jetstream.storage":               "JetStream storage: file or memory",
		"nats.jetstream.domain":                "JetStream domain routerd uses: the embedded server's own with nats.jetstream.enabled, else the hub's, reached over nats.leafnodes (or nats.url)",
		"nats.socket_subscriptions":            "auto (per_namespace for a node alone on its embedded server, else per_socket), per_socket (direct messages reach only the socket's node) or per_namespace (less memory per connection)",
		"nats.allow_anonymous":                 "let NATS clients without credentials in when the embedded server listens beyond loopback with no nats.users",
		"nats.tls.cert_file":                   "PEM certificate chain for the embedded server's client port",
		"nats.tls.key_file":                    "PEM private key for the embedded server's client port",
		"limits.max_frame_bytes":               "largest client message in bytes",
		"limits.max_name_bytes":                "longest room name in bytes",
		"limits.max_rooms_per_socket":          "most rooms one socket may join",
		"limits.max_connections":               "most open WebSocket connections",
		"limits.send_queue":                    "frames queued per connection before it is a slow consumer",
		"limits.rate.per_second":               "client frames per second per connection (0: no limit)",
		"limits.rate.burst":                    "client frame burst per connection",
		"limits.ack_timeout":                   "how long a server-bound request waits for its reply",
		"auth.jwt.secret":                      "HS256 secret for jwt namespaces (visible in ps; prefer the file or ROUTER_AUTH_JWT_SECRET)",
		"auth.jwt.public_key_file":             "PEM public key for RS256/ES256 jwt namespaces",
		"auth.jwt.audience":                    "when set, tokens must list it in aud",
		"auth.jwt.issuer":                      "when set, tokens must have it as iss",
		"socketio.enabled":                     "serve the Socket.IO compatibility endpoint",
		"socketio.path":                        "path of the Socket.IO endpoint",
		"socketio.connect_timeout":             "close a Socket.IO session that connects no namespace within this (0: never)",
		"socketio.no_responders":               "an acked Socket.IO event no backend serves: ignore (no ack, the client times out) or error (a no_responders error ack)",
		"socketio.recovery.all_namespaces":     "Socket.IO connection state recovery for every namespace, not only those with history",
		"socketio.recovery.max_disconnection":  "how long the socket of a lost Socket.IO session is kept for its client to resume",
		"socketio.recovery.max_buffer_packets": "most packets kept per Socket.IO socket for a resume",
		"socketio.recovery.max_buffer_bytes":   "most bytes of packets kept per Socket.IO socket for a resume",

		"limits.max_namespaces_per_connection": "most namespaces one connection (WebSocket or Socket.IO session) may attach",
	}
}
