package config

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Validate checks c against the rules of docs/configuration.md and returns a
// *Problems listing everything wrong, sorted by key path, or nil. It reads
// the file system to check that the files c names can be read, and changes
// nothing.
func (c *Config) Validate() error {
	p := &Problems{}
	c.validateGeneral(p)
	c.validateNATS(p)
	c.validateLimits(p)
	c.validateAuth(p)
	c.validateNamespaces(p)
	c.validateSocketIO(p)
	c.validateAdmin(p)
	return p.err()
}

// validateGeneral checks node, log and http.
func (c *Config) validateGeneral(p *Problems) {
	if !ValidNodeName(c.Node.Name) {
		p.add("node.name", "invalid node name %q: want 1 to 64 visible ASCII characters, no spaces", c.Node.Name)
	}
	oneOf(p, "log.level", c.Log.Level, "debug", "info", "warn", "error")
	oneOf(p, "log.format", c.Log.Format, "text", "json")

	listenAddr(p, "http.listen", c.HTTP.Listen)
	absPath(p, "http.ws_path", c.HTTP.WSPath)
	positive(p, "http.ping_interval", c.HTTP.PingInterval)
	positive(p, "http.pong_timeout", c.HTTP.PongTimeout)
	positive(p, "http.handshake_timeout", c.HTTP.HandshakeTimeout)
	between(p, "http.max_header_bytes", c.HTTP.MaxHeaderBytes, 8192, 1<<20)
	for i, o := range c.HTTP.AllowedOrigins {
		if u, err := url.Parse(o); err != nil || u.Scheme == "" || u.Host == "" || u.Path != "" || u.RawQuery != "" {
			p.add(fmt.Sprintf("http.allowed_origins[%d]", i),
				"invalid origin %q: want scheme://host[:port]; leave the list empty to allow any origin", o)
		}
	}
	tlsPair(p, "http.tls", c.HTTP.TLS)
	if d := c.HTTP.StaticDir; d != "" {
		if fi, err := os.Stat(d); err != nil {
			p.add("http.static_dir", "%v", err)
		} else if !fi.IsDir() {
			p.add("http.static_dir", "%s is not a directory", d)
		}
		if c.HTTP.ChatPage {
			p.add("http.static_dir", "http.chat_page serves / too: set one of them")
		}
	}
}

// validateNATS checks nats.*.
func (c *Config) validateNATS(p *Problems) {
	n := &c.NATS
	external := len(n.URL) > 0
	if n.Listen == "" {
		if !external {
			p.add("nats.listen", "must be set unless nats.url is set")
		}
	} else {
		listenAddr(p, "nats.listen", n.Listen)
		if !external && len(n.Users) == 0 && !n.AllowAnonymous && !Loopback(n.Listen) {
			p.add("nats.listen", "%s is reachable beyond this host, and without nats.users anyone who reaches it may act as a backend (push to any socket, speak for one, disconnect them); set nats.users, listen on loopback, or set nats.allow_anonymous: true", n.Listen)
		}
	}
	for i, u := range n.URL {
		serverURL(p, fmt.Sprintf("nats.url[%d]", i), u, "nats", "tls", "ws", "wss")
	}
	if !validPrefix(n.Prefix) {
		p.add("nats.prefix", "invalid subject prefix %q: want 1..%d bytes of dot-separated tokens of [A-Za-z0-9_-], no wildcards", n.Prefix, MaxPrefixBytes)
	}

	cl := &n.Cluster
	if cl.Listen != "" {
		listenAddr(p, "nats.cluster.listen", cl.Listen)
		if strings.TrimSpace(cl.Name) == "" {
			p.add("nats.cluster.name", "required when nats.cluster.listen is set")
		}
		if external {
			p.add("nats.cluster.listen", "applies only to the embedded server, but nats.url is set")
		}
	} else if len(cl.Routes) > 0 {
		p.add("nats.cluster.routes", "require nats.cluster.listen")
	}
	if strings.ContainsAny(cl.Name, " \t\r\n") {
		p.add("nats.cluster.name", "must not contain white space")
	}
	for i, r := range cl.Routes {
		serverURL(p, fmt.Sprintf("nats.cluster.routes[%d]", i), r, "nats-route", "nats")
	}

	oneOf(p, "nats.jetstream.storage", n.JetStream.Storage, "file", "memory")
	if d := n.JetStream.Domain; d != "" {
		if !validName(d, isNameByte) {
			p.add("nats.jetstream.domain", "invalid JetStream domain %q: want 1 to %d of [A-Za-z0-9_-]", d, maxNameLen)
		}
		if !n.JetStream.Enabled && !external && len(n.Leafnodes.Remotes) == 0 {
			p.add("nats.jetstream.domain", "names another system's JetStream, reached over nats.leafnodes.remotes or nats.url, and neither is set (with nats.jetstream.enabled it is the embedded server's own domain)")
		}
	}
	c.validateLeafnodes(p)
	oneOf(p, "nats.socket_subscriptions", n.SocketSubscriptions, SocketsAuto, SocketsPerSocket, SocketsPerNamespace)
	tlsPair(p, "nats.tls", n.TLS)

	if external && len(n.Users) > 0 {
		p.add("nats.users", "applies only to the embedded server, but nats.url is set")
	}
	seen := map[string]int{}
	for i, u := range n.Users {
		key := fmt.Sprintf("nats.users[%d]", i)
		if u.User == "" {
			p.add(key+".user", "must not be empty")
		} else if j, dup := seen[u.User]; dup {
			p.add(key+".user", "duplicate user %q (also nats.users[%d])", u.User, j)
		} else {
			seen[u.User] = i
		}
		if u.Password == "" {
			p.add(key+".password", "must not be empty")
		}
		for k, ns := range u.Namespaces {
			if !ValidNamespaceName(ns) {
				p.add(fmt.Sprintf("%s.namespaces[%d]", key, k), "invalid namespace name %q: an exact name [A-Za-z0-9_-]{1,64} (NATS permissions cannot express globs)", ns)
			}
		}
		if u.Account != "" && len(u.Namespaces) == 0 {
			p.add(key+".account", "applies only to a user with namespaces (a tenant's); a user without namespaces works in routerd's own account")
		}
	}
	owner := map[string]string{} // namespace → tenant account
	for i, u := range n.Users {
		acc := u.TenantAccount()
		for k, ns := range u.Namespaces {
			if o, ok := owner[ns]; ok && o != acc {
				p.add(fmt.Sprintf("nats.users[%d].namespaces[%d]", i, k), "namespace %q belongs to tenant account %q already: a namespace lives in one NATS account (give the users of one tenant the same account)", ns, o)
				continue
			}
			owner[ns] = acc
		}
	}
}

// validateLeafnodes checks nats.leafnodes.
func (c *Config) validateLeafnodes(p *Problems) {
	n := &c.NATS
	if len(n.Leafnodes.Remotes) == 0 {
		return
	}
	if len(n.URL) > 0 {
		p.add("nats.leafnodes.remotes", "applies only to the embedded server, but nats.url is set")
	}
	tenants := n.TenantAccounts()
	for i, r := range n.Leafnodes.Remotes {
		key := fmt.Sprintf("nats.leafnodes.remotes[%d]", i)
		if len(r.URL) == 0 {
			p.add(key+".url", "must list the hub's leafnode URLs (nats-leaf://host:7422)")
		}
		for k, u := range r.URL {
			serverURL(p, fmt.Sprintf("%s.url[%d]", key, k), u, "nats-leaf", "nats", "tls", "ws", "wss")
		}
		readable(p, key+".credentials", r.Credentials)
		if _, ok := tenants[r.Account]; r.Account != "" && !ok {
			p.add(key+".account", "%q is not a tenant account of nats.users (the account of users with namespaces); leave it empty for routerd's own account", r.Account)
		}
		tlsPair(p, key+".tls", TLSFiles{CertFile: r.TLS.CertFile, KeyFile: r.TLS.KeyFile})
		readable(p, key+".tls.ca_file", r.TLS.CAFile)
	}
	if !n.JetStream.Enabled {
		return
	}
	for name, ns := range c.Namespaces {
		if ns.History != nil {
			p.add("namespaces."+name+".history", "with nats.leafnodes each edge's own JetStream would store every edge's events and deliver them twice: keep history on the hub's JetStream (nats.jetstream.enabled: false, nats.jetstream.domain: the hub's domain)")
		}
	}
}

// validateLimits checks limits.*.
func (c *Config) validateLimits(p *Problems) {
	l := &c.Limits
	between(p, "limits.max_frame_bytes", l.MaxFrameBytes, 1024, 16<<20)
	between(p, "limits.max_name_bytes", l.MaxNameBytes, 1, 1024)
	between(p, "limits.max_rooms_per_socket", l.MaxRoomsPerSocket, 1, 100000)
	between(p, "limits.max_namespaces_per_connection", l.MaxNamespacesPerConnection, 1, 10000)
	between(p, "limits.max_connections", l.MaxConnections, 1, 10000000)
	between(p, "limits.send_queue", l.SendQueue, 1, 1000000)
	if r := l.Rate.PerSecond; r < 0 || math.IsNaN(r) || math.IsInf(r, 0) {
		p.add("limits.rate.per_second", "must be a finite number, 0 (no limit) or more")
	} else if r > 0 && l.Rate.Burst < 1 {
		p.add("limits.rate.burst", "must be at least 1 when limits.rate.per_second is above 0")
	}
	positive(p, "limits.ack_timeout", l.AckTimeout)
	if l.AckTimeout > 10*time.Minute {
		p.add("limits.ack_timeout", "must be at most 10m")
	}
}

// oneOf checks that v is one of allowed.
func oneOf(p *Problems, key, v string, allowed ...string) {
	if slices.Contains(allowed, v) {
		return
	}
	list := strings.Join(allowed[:len(allowed)-1], ", ") + " or " + allowed[len(allowed)-1]
	p.add(key, "must be %s, not %q", list, v)
}

// between checks lo <= v <= hi.
func between(p *Problems, key string, v, lo, hi int) {
	if v < lo || v > hi {
		p.add(key, "must be between %d and %d", lo, hi)
	}
}

// positive checks d > 0.
func positive(p *Problems, key string, d time.Duration) {
	if d <= 0 {
		p.add(key, "must be greater than 0")
	}
}

// absPath checks that an HTTP path starts with "/".
func absPath(p *Problems, key, v string) {
	if !strings.HasPrefix(v, "/") {
		p.add(key, "must start with \"/\", not %q", v)
	}
}

// listenAddr checks a host:port listen address; port 0 picks a free port.
func listenAddr(p *Problems, key, v string) {
	if err := checkHostPort(v, 0); err != nil {
		p.add(key, "%v", err)
	}
}

// checkHostPort checks that v is host:port with a numeric port of at least
// minPort.
func checkHostPort(v string, minPort int) error {
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		return fmt.Errorf("invalid address %q: want host:port", v)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < minPort || n > 65535 {
		return fmt.Errorf("invalid port in %q: want %d to 65535", v, minPort)
	}
	return nil
}

// serverURL checks a URL to connect to: scheme://host[:port] with one of
// schemes, or a plain host:port.
func serverURL(p *Problems, key, v string, schemes ...string) {
	want := strings.Join(schemes, "://, ") + ":// or host:port"
	if !strings.Contains(v, "://") {
		if checkHostPort(v, 1) != nil {
			p.add(key, "invalid URL %q: want %s", RedactURL(v), want)
		}
		return
	}
	u, err := url.Parse(v)
	if err != nil || !slices.Contains(schemes, u.Scheme) || u.Hostname() == "" {
		p.add(key, "invalid URL %q: want %s", RedactURL(v), want)
		return
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			p.add(key, "invalid port in %q: want 1 to 65535", RedactURL(v))
		}
	}
}

// MaxPrefixBytes bounds nats.prefix, which starts every subject.
const MaxPrefixBytes = 64

// validPrefix reports whether s is one or more dot-separated subject tokens
// of name bytes, at most MaxPrefixBytes in all.
func validPrefix(s string) bool {
	if len(s) > MaxPrefixBytes {
		return false
	}
	for tok := range strings.SplitSeq(s, ".") {
		if tok == "" {
			return false
		}
		for i := 0; i < len(tok); i++ {
			if !isNameByte(tok[i]) {
				return false
			}
		}
	}
	return true
}

// tlsPair checks that a certificate and key are set together and readable.
func tlsPair(p *Problems, key string, t TLSFiles) {
	switch {
	case t.CertFile != "" && t.KeyFile == "":
		p.add(key+".key_file", "required when %s.cert_file is set", key)
	case t.CertFile == "" && t.KeyFile != "":
		p.add(key+".cert_file", "required when %s.key_file is set", key)
	}
	readable(p, key+".cert_file", t.CertFile)
	readable(p, key+".key_file", t.KeyFile)
}

// readable checks that the file at path, when set, exists, is a regular
// file and can be opened.
func readable(p *Problems, key, path string) {
	if path == "" {
		return
	}
	fi, err := os.Stat(path)
	if err != nil {
		p.add(key, "%v", err)
		return
	}
	if fi.IsDir() {
		p.add(key, "%s is a directory", path)
		return
	}
	f, err := os.Open(path)
	if err != nil {
		p.add(key, "%v", err)
		return
	}
	f.Close()
}
