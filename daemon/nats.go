package daemon

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/contract"
	"github.com/routerd/routerd/internal/bus"
	"github.com/routerd/routerd/router"
)

// natsLogger sends nats-server's logs to slog. Fatalf only logs: the
// server's own default would exit the process.
type natsLogger struct{ log *slog.Logger }

func (l natsLogger) Noticef(format string, v ...any) { l.log.Info(fmt.Sprintf(format, v...)) }
func (l natsLogger) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l natsLogger) Fatalf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l natsLogger) Errorf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l natsLogger) Debugf(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l natsLogger) Tracef(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }

// readyTimeout bounds the embedded server's start.
const readyTimeout = 10 * time.Second

// hostPort splits host:port; port 0 means "any free port", which
// nats-server spells -1.
func hostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("port %q: %w", p, err)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	return host, port, nil
}

// serverOptions maps the config to the embedded server's options.
func serverOptions(cfg *config.Config) (*server.Options, error) {
	host, port, err := hostPort(cfg.NATS.Listen)
	if err != nil {
		return nil, fmt.Errorf("nats.listen: %w", err)
	}
	o := &server.Options{
		ServerName: cfg.Node.Name,
		Host:       host,
		Port:       port,
		NoSigs:     true,
		MaxPayload: maxPayload(cfg.Limits.MaxFrameBytes),
	}
	if c := cfg.NATS.Cluster; c.Listen != "" {
		o.Cluster.Name = c.Name
		if o.Cluster.Host, o.Cluster.Port, err = hostPort(c.Listen); err != nil {
			return nil, fmt.Errorf("nats.cluster.listen: %w", err)
		}
		if len(c.Routes) > 0 {
			o.Routes = server.RoutesFromStr(strings.Join(c.Routes, ","))
		}
	}
	if t := cfg.NATS.TLS; t.CertFile != "" {
		if o.TLSConfig, err = server.GenTLSConfig(&server.TLSConfigOpts{CertFile: t.CertFile, KeyFile: t.KeyFile}); err != nil {
			return nil, fmt.Errorf("nats.tls: %w", err)
		}
		o.TLS = true
	}
	if js := cfg.NATS.JetStream; js.Enabled {
		o.JetStream = true
		o.StoreDir = js.StoreDir
		o.JetStreamDomain = js.Domain
	}
	if o.LeafNode.Remotes, err = leafRemotes(cfg); err != nil {
		return nil, err
	}
	return o, nil
}

// leafRemotes maps nats.leafnodes.remotes to the embedded server's leafnode
// remotes. A remote of routerd's own account does not carry the subjects
// that account imports from the tenant accounts: a tenant's traffic crosses
// in its own account's remote (each edge's own account then sees it by its
// import), else an observer of routerd's account would get it twice.
func leafRemotes(cfg *config.Config) ([]*server.RemoteLeafOpts, error) {
	var imported []string
	for _, namespaces := range cfg.NATS.TenantAccounts() {
		imported = append(imported, observedSubjects(cfg.NATS.Prefix, namespaces)...)
	}
	remotes := make([]*server.RemoteLeafOpts, 0, len(cfg.NATS.Leafnodes.Remotes))
	for i, r := range cfg.NATS.Leafnodes.Remotes {
		key := fmt.Sprintf("nats.leafnodes.remotes[%d]", i)
		ro := &server.RemoteLeafOpts{Credentials: r.Credentials}
		for _, raw := range r.URL {
			if !strings.Contains(raw, "://") {
				raw = "nats-leaf://" + raw
			}
			u, err := url.Parse(raw)
			if err != nil {
				var ue *url.Error
				if errors.As(err, &ue) {
					err = ue.Err // without the URL, which may hold a password
				}
				return nil, fmt.Errorf("%s.url %s: %w", key, config.RedactURL(raw), err)
			}
			ro.URLs = append(ro.URLs, u)
			ro.TLS = ro.TLS || u.Scheme == "tls" // nats-server sees to wss:// itself
		}
		if r.Account != "" {
			ro.LocalAccount = accountName(r.Account)
		} else {
			ro.DenyImports, ro.DenyExports = imported, imported
		}
		if t := r.TLS; t.Enabled() {
			tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: t.CertFile, KeyFile: t.KeyFile, CaFile: t.CAFile})
			if err != nil {
				return nil, fmt.Errorf("%s.tls: %w", key, err)
			}
			// GenTLSConfig puts the CA in ClientCAs, for a server; this is
			// a client's, as nats-server's own config parser does.
			tc.RootCAs = tc.ClientCAs
			ro.TLS, ro.TLSConfig = true, tc
		}
		remotes = append(remotes, ro)
	}
	return remotes, nil
}

// InboxPrefix is the reply-subject prefix a backend user limited to some
// namespaces must use for its requests (nats.go: nats.CustomInboxPrefix,
// nats CLI: --inbox-prefix): _INBOX_{user}.
func InboxPrefix(user string) string { return "_INBOX_" + contract.Escape(user) }

// responsesPerRequest is how many replies a limited user may publish to one
// request it received. nats-server counts every delivery of the request to
// one of the user's matching subscriptions against it, so a backend that
// also observes P.{ns}.> needs more than the default of one.
const responsesPerRequest = 64

// accountName is the NATS account of tenant account acc: its name escaped
// as a subject token is (so never $G, $SYS or anything with spaces).
func accountName(acc string) string { return contract.Escape(acc) }

// backendUsers maps nats.users to server users, in the accounts of accounts
// (by tenant account; routerd's own account, the global one, for users
// without namespaces). A user with namespaces works in its tenant's
// account: it may publish and subscribe under P.{ns}.> of its namespaces
// only, subscribe to its own inbox prefix, and answer the requests it
// receives; it sees no other tenant's traffic, no other user's replies, and
// no JetStream. A user without namespaces may do anything in routerd's own
// account.
func backendUsers(cfg *config.Config, accounts map[string]*server.Account) []*server.User {
	users := make([]*server.User, 0, len(cfg.NATS.Users))
	for _, u := range cfg.NATS.Users {
		su := &server.User{Username: u.User, Password: u.Password}
		if acc := u.TenantAccount(); acc != "" {
			su.Account = accounts[acc]
			var subjects []string
			for _, ns := range u.Namespaces {
				subjects = append(subjects, cfg.NATS.Prefix+"."+ns+".>")
			}
			su.Permissions = &server.Permissions{
				Publish:   &server.SubjectPermission{Allow: subjects},
				Subscribe: &server.SubjectPermission{Allow: append(subjects, InboxPrefix(u.User)+".>")},
				Response:  &server.ResponsePermission{MaxMsgs: responsesPerRequest},
			}
		}
		users = append(users, su)
	}
	return users
}

// maxPayload leaves room for the largest client frame plus headers.
func maxPayload(maxFrame int) int32 {
	const floor = 1 << 20
	if p := 2 * maxFrame; p > floor {
		return int32(p)
	}
	return floor
}

// credentials are routerd's own in one account of the embedded server with
// nats.users: a fresh random user and password at every start.
type credentials struct{ user, password string }

// embedded is the embedded server and routerd's credentials in each of its
// accounts.
type embedded struct {
	srv     *server.Server
	self    *credentials           // routerd's own account; nil without nats.users
	tenants map[string]credentials // by tenant account (config name)
}

// startEmbedded starts the embedded nats-server and waits until it accepts
// connections; it dials its leafnode remotes by itself, then and whenever a
// connection is lost. With nats.users, every tenant account (users with
// namespaces) is a NATS account of its own, with JetStream where it is on,
// and routerd gets a user with every permission in its own account (the
// global one) and in each tenant account.
func startEmbedded(cfg *config.Config, log *slog.Logger) (*embedded, error) {
	opts, err := serverOptions(cfg)
	if err != nil {
		return nil, err
	}
	e := &embedded{}
	tenants := cfg.NATS.TenantAccounts()
	if len(cfg.NATS.Users) > 0 {
		accounts := make(map[string]*server.Account, len(tenants))
		e.tenants = make(map[string]credentials, len(tenants))
		for name := range tenants {
			acc := server.NewAccount(accountName(name))
			accounts[name] = acc
			opts.Accounts = append(opts.Accounts, acc)
			self := credentials{user: "routerd-" + router.RandomID(), password: router.RandomID()}
			e.tenants[name] = self
			opts.Users = append(opts.Users, &server.User{Username: self.user, Password: self.password, Account: acc})
		}
		opts.Users = append(opts.Users, backendUsers(cfg, accounts)...)
		e.self = &credentials{user: "routerd-" + router.RandomID(), password: router.RandomID()}
		opts.Users = append(opts.Users, &server.User{Username: e.self.user, Password: e.self.password})
	}
	if e.srv, err = server.NewServer(opts); err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	e.srv.SetLoggerV2(natsLogger{log.With("component", "nats-server")}, cfg.Log.Level == "debug", false, false)
	go e.srv.Start()
	if !e.srv.ReadyForConnections(readyTimeout) {
		e.srv.Shutdown()
		return nil, fmt.Errorf("embedded nats: not ready for connections within %s (is %s free?)", readyTimeout, cfg.NATS.Listen)
	}
	if err := wireTenants(e.srv, cfg, tenants); err != nil {
		e.srv.Shutdown()
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	return e, nil
}

// observedKinds are the subject kinds of a tenant's namespaces that
// routerd's own account sees too (all but ctl: a request imported as a
// stream would be carried out twice).
var observedKinds = []string{"room", "socket", "user", "broadcast", "server", "presence", "lifecycle", "auth"}

// observedSubjects are the subjects of a tenant's namespaces (under prefix)
// that routerd's own account imports: those of observedKinds.
func observedSubjects(prefix string, namespaces []string) []string {
	subjects := make([]string, 0, len(namespaces)*len(observedKinds))
	for _, ns := range namespaces {
		for _, kind := range observedKinds {
			subject := prefix + "." + ns + "." + kind + ".>"
			if kind == "auth" {
				subject = prefix + "." + ns + ".auth"
			}
			subjects = append(subjects, subject)
		}
	}
	return subjects
}

// wireTenants finishes the tenant accounts of a started server: each
// exports its namespaces' traffic as streams that routerd's own (global)
// account imports, so that its users observe every tenant (nothing flows
// back); and, with JetStream on, JetStream is enabled in the global account
// and every tenant's (with accounts configured nats-server enables it in
// none by itself).
func wireTenants(srv *server.Server, cfg *config.Config, tenants map[string][]string) error {
	if len(tenants) == 0 {
		return nil
	}
	global := srv.GlobalAccount()
	for name, namespaces := range tenants {
		acc, err := srv.LookupAccount(accountName(name))
		if err != nil {
			return fmt.Errorf("account %s: %w", name, err)
		}
		for _, subject := range observedSubjects(cfg.NATS.Prefix, namespaces) {
			if err := acc.AddStreamExport(subject, nil); err != nil {
				return fmt.Errorf("account %s: export %s: %w", name, subject, err)
			}
			if err := global.AddStreamImport(acc, subject, ""); err != nil {
				return fmt.Errorf("account %s: import %s: %w", name, subject, err)
			}
		}
		if cfg.NATS.JetStream.Enabled {
			if err := acc.EnableJetStream(nil, nil); err != nil {
				return fmt.Errorf("account %s: jetstream: %w", name, err)
			}
		}
	}
	if cfg.NATS.JetStream.Enabled {
		if err := global.EnableJetStream(nil, nil); err != nil {
			return fmt.Errorf("jetstream: %w", err)
		}
	}
	return nil
}

// pinnedTLS is the TLS config of routerd's in-process connection to its own
// server when the client port requires TLS: the only certificate it accepts
// is the one in certFile (the connection never leaves the process).
func pinnedTLS(certFile string) (*tls.Config, error) {
	pemBytes, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("nats.tls.cert_file: %w", err)
	}
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, fmt.Errorf("nats.tls.cert_file %s: no PEM certificate", certFile)
	}
	want := block.Bytes
	return &tls.Config{
		InsecureSkipVerify: true, // replaced by the exact check below
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 || !bytes.Equal(raw[0], want) {
				return errors.New("embedded nats-server presented another certificate")
			}
			return nil
		},
	}, nil
}

// connect opens routerd's NATS connections, each reconnecting forever and
// dialled again whenever nats.go gives it up: its own, and with tenant
// accounts one in each. With an embedded server they connect in-process (so
// client TLS on the port backends use does not concern them).
func (d *Daemon) connect(url string) (*bus.Bus, error) {
	main, err := d.dialAccount(url, "", d.emb.selfIn(""))
	if err != nil {
		return nil, err
	}
	tenants := d.cfg.NATS.TenantAccounts()
	conns := make([]*bus.Conn, 0, len(tenants))
	for acc := range tenants {
		c, err := d.dialAccount(url, acc, d.emb.selfIn(acc))
		if err != nil {
			main.Close()
			for _, c := range conns {
				c.Close()
			}
			return nil, err
		}
		conns = append(conns, c)
	}
	return bus.New(main, conns, tenants), nil
}

// selfIn returns routerd's credentials in a tenant account, or in its own
// ("" for account); nil without an embedded server with users.
func (e *embedded) selfIn(account string) *credentials {
	switch {
	case e == nil:
		return nil
	case account == "":
		return e.self
	}
	c, ok := e.tenants[account]
	if !ok {
		return nil
	}
	return &c
}

// dialAccount opens routerd's connection in one account (account "" is
// routerd's own) with self's credentials, when there are some.
func (d *Daemon) dialAccount(url, account string, self *credentials) (*bus.Conn, error) {
	log := d.log.With("component", "nats")
	if account != "" {
		log = log.With("account", account)
	}
	var extra []nats.Option
	if d.emb != nil {
		// In process, the connect timeout only waits for a busy server's
		// first answer: wait as long as for its start.
		extra = append(extra, nats.InProcessServer(d.emb.srv), nats.Timeout(readyTimeout))
		if t := d.cfg.NATS.TLS; t.CertFile != "" {
			pinned, err := pinnedTLS(t.CertFile)
			if err != nil {
				return nil, err
			}
			extra = append(extra, nats.Secure(pinned))
		}
	}
	if self != nil {
		extra = append(extra, nats.UserInfo(self.user, self.password))
	}
	if d.emb == nil {
		// An external NATS may come up after routerd (containers start in
		// any order): start anyway, not ready (/readyz 503) until connected.
		extra = append(extra, nats.RetryOnFailedConnect(true), nats.ConnectHandler(func(nc *nats.Conn) {
			d.natsState()
			log.Info("connected to NATS", "url", nc.ConnectedUrlRedacted())
		}))
	}
	extra = append(extra,
		nats.Name("routerd "+d.cfg.Node.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			d.natsState()
			if err != nil { // nil: routerd closed the connection itself
				log.Warn("disconnected from NATS", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			d.natsState()
			log.Info("reconnected to NATS", "url", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			if errors.Is(err, nats.ErrSlowConsumer) {
				d.m.Dropped("nats_slow_consumer")
			}
			log.Error("NATS async error", "subject", subject, "err", err)
		}),
	)
	c, err := bus.Dial(bus.Options{
		Account:         account,
		JetStreamDomain: d.cfg.NATS.JetStream.Domain,
		Logger:          log,
		Dial: func(opts ...nats.Option) (*nats.Conn, error) {
			return nats.Connect(url, append(extra, opts...)...)
		},
		OnRedial: func(*bus.Conn) {
			d.m.NATSRedialed()
			d.natsState()
		},
	})
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", config.RedactURLs(url), err)
	}
	if !c.Connected() {
		log.Warn("NATS is not reachable yet: serving, not ready, until it is", "url", config.RedactURLs(url))
	}
	return c, nil
}

// natsState sets the NATS connection gauge: 1 while every connection is up.
func (d *Daemon) natsState() {
	if b := d.bus.Load(); b != nil {
		d.m.NATSConnected(b.Connected())
	}
}
