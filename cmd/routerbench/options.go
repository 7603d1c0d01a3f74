package main

import (
	"flag"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
)

// Default endpoints of the servers routerbench speaks to: routerd,
// bench/socketio/server.js, Centrifugo with bench/centrifugo/config.yaml.
const (
	defaultURL           = "ws://127.0.0.1:8080/ws"
	defaultSocketIOURL   = "ws://127.0.0.1:3000/socket.io/?EIO=4&transport=websocket"
	defaultCentrifugoURL = "ws://127.0.0.1:8000/connection/websocket"
)

// options are the flags every scenario shares.
type options struct {
	url         string
	publishURL  string // publishers' connections; "" means url
	ns          string
	protoName   string
	proto       protocol
	metrics     string // Prometheus text endpoint of the server; "" when not scraped
	json        bool
	out         string    // file the JSON object is appended to
	concurrency int       // connections dialled at once
	pipeline    bool      // v1: connect and join in one message, not waiting for hello
	room        string    // room names are <room>-<n>
	cpuProfile  string    // file for routerbench's own CPU profile
	progress    io.Writer // where a run says what it is doing
	source      string    // -source: auto, none or addresses
	sources     *sources  // the local addresses connections are dialled from
	// readBuffer is gorilla's read buffer of each connection, in bytes;
	// 0 is its default (4096). The idle scenario's connections take less.
	readBuffer int
}

// commonFlags registers the shared flags on fs.
func commonFlags(fs *flag.FlagSet) *options {
	o := &options{}
	fs.StringVar(&o.url, "url", defaultURL, "WebSocket URL of the server (with -proto socketio: "+defaultSocketIOURL+")")
	fs.StringVar(&o.publishURL, "publish-url", "", "WebSocket URL for the publishers' connections (default: -url); another node's URL puts publishers and members on different nodes of a cluster")
	fs.StringVar(&o.ns, "ns", "chat", "namespace")
	fs.StringVar(&o.protoName, "proto", "routerd", "wire protocol: routerd (v1 JSON frames), socketio (Socket.IO 4, bench/socketio/server.js) or centrifugo (Centrifugo's JSON protocol, bench/centrifugo/config.yaml; default -url "+defaultCentrifugoURL+"; publishers receive their own messages, as with -self)")
	fs.StringVar(&o.metrics, "metrics", "auto", "Prometheus /metrics URL of the server; auto: http://<url host>/metrics; none: do not scrape")
	fs.BoolVar(&o.json, "json", false, "print one JSON object instead of the table")
	fs.StringVar(&o.out, "out", "", "also append the JSON object to this file (one line per run)")
	fs.IntVar(&o.concurrency, "concurrency", 50, "connections dialled at once")
	fs.BoolVar(&o.pipeline, "pipeline", false, "routerd protocol: send connect and join in one message at once, without waiting for hello or the connected reply (a client that pipelines its handshake; default: each step waits for its reply)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write routerbench's own CPU profile to this file")
	fs.StringVar(&o.room, "room", "bench", "room names are PREFIX-0, PREFIX-1, ...")
	fs.StringVar(&o.source, "source", "auto", "local addresses to dial from, comma-separated (127.0.0.2,127.0.0.3): connections take them round robin, and each has its own ephemeral ports (net.ipv4.ip_local_port_range, about 28 000 to one server); auto: 127.0.0.2, 127.0.0.3, ... as many as needed when the server is on an IPv4 loopback address and more connections are asked than a quarter of one address's ports (connect slows down as a range fills); none: the kernel chooses")
	return o
}

// wsURL parses s as a ws:// or wss:// URL with a host.
func wsURL(s string) (*url.URL, bool) {
	u, err := url.Parse(s)
	return u, err == nil && (u.Scheme == "ws" || u.Scheme == "wss") && u.Host != ""
}

// resolve checks the shared flags and fills in what depends on others.
func (o *options) resolve(fs *flag.FlagSet) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch o.protoName {
	case "routerd":
		o.proto = v1{pipeline: o.pipeline}
	case "socketio":
		o.proto = socketIO{}
		if !set["url"] {
			o.url = defaultSocketIOURL
		}
	case "centrifugo":
		o.proto = centrifugo{}
		if !set["url"] {
			o.url = defaultCentrifugoURL
		}
		// A Centrifugo publication reaches its publisher too: count it.
		if f := fs.Lookup("self"); f != nil {
			if set["self"] && f.Value.String() != "true" {
				return fmt.Errorf("-self=false: with -proto centrifugo publishers receive their own messages")
			}
			_ = fs.Set("self", "true") // a bool flag takes "true"
		}
	default:
		return fmt.Errorf("-proto %q: want routerd, socketio or centrifugo", o.protoName)
	}
	if o.pipeline && o.protoName != "routerd" {
		return fmt.Errorf("-pipeline: only with -proto routerd")
	}
	u, ok := wsURL(o.url)
	if !ok {
		return fmt.Errorf("-url %q: want ws://host:port/path", o.url)
	}
	if o.publishURL == "" {
		o.publishURL = o.url
	} else if _, ok := wsURL(o.publishURL); !ok {
		return fmt.Errorf("-publish-url %q: want ws://host:port/path", o.publishURL)
	}
	switch o.metrics {
	case "none":
		o.metrics = ""
	case "auto":
		scheme := "http"
		if u.Scheme == "wss" {
			scheme = "https"
		}
		o.metrics = scheme + "://" + u.Host + "/metrics"
	}
	if o.concurrency < 1 {
		return fmt.Errorf("-concurrency must be at least 1")
	}
	var err error
	o.sources, err = parseSources(o.source)
	return err
}

// logf tells how a run goes, one line at a time.
func (o *options) logf(format string, args ...any) {
	if o.progress != nil {
		fmt.Fprintf(o.progress, format+"\n", args...)
	}
}

// roomName is the name of room n.
func (o *options) roomName(n int) string { return fmt.Sprintf("%s-%d", o.room, n) }

// params returns every flag's value, for the report.
func params(fs *flag.FlagSet) map[string]string {
	p := map[string]string{}
	fs.VisitAll(func(f *flag.Flag) { p[f.Name] = f.Value.String() })
	return p
}

// positive checks that named integer flags are at least 1.
func positive(flags map[string]int) error {
	var bad []string
	for name, v := range flags {
		if v < 1 {
			bad = append(bad, "-"+name)
		}
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		return fmt.Errorf("%s must be at least 1", strings.Join(bad, ", "))
	}
	return nil
}

// memberURL is the URL of every connection of the scenarios without
// publishers.
func (o *options) memberURL(int) string { return o.url }
