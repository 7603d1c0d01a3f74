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
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/config"
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
	if len(cfg.NATS.Users) > 0 {
		o.Users = backendUsers(cfg)
	}
	if js := cfg.NATS.JetStream; js.Enabled {
		o.JetStream = true
		o.StoreDir = js.StoreDir
	}
	return o, nil
}

// InboxPrefix is the reply-subject prefix a backend user limited to some
// namespaces must use for its requests (nats.go: nats.CustomInboxPrefix,
// nats CLI: --inbox-prefix): _INBOX_{user}.
func InboxPrefix(user string) string { return "_INBOX_" + router.Escape(user) }

// responsesPerRequest is how many replies a limited user may publish to one
// request it received. nats-server counts every delivery of the request to
// one of the user's matching subscriptions against it, so a backend that
// also observes P.{ns}.> needs more than the default of one.
const responsesPerRequest = 64

// backendUsers maps nats.users to server users. A user with namespaces may
// publish and subscribe under P.{ns}.> of those namespaces only, subscribe
// to its own inbox prefix, and answer the requests it receives; it sees no
// other tenant's traffic and no other user's replies. A user without
// namespaces may do anything.
func backendUsers(cfg *config.Config) []*server.User {
	users := make([]*server.User, 0, len(cfg.NATS.Users))
	for _, u := range cfg.NATS.Users {
		su := &server.User{Username: u.User, Password: u.Password}
		if len(u.Namespaces) > 0 {
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

// credentials are routerd's own, on an embedded server with nats.users.
type credentials struct{ user, password string }

// startEmbedded starts the embedded nats-server and waits until it accepts
// connections. With nats.users, it adds a user for routerd itself, with a
// fresh random password and every permission.
func startEmbedded(cfg *config.Config, log *slog.Logger) (*server.Server, credentials, error) {
	var self credentials
	opts, err := serverOptions(cfg)
	if err != nil {
		return nil, self, err
	}
	if len(opts.Users) > 0 {
		self = credentials{user: "routerd-" + router.RandomID(), password: router.RandomID()}
		opts.Users = append(opts.Users, &server.User{Username: self.user, Password: self.password})
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, self, fmt.Errorf("embedded nats: %w", err)
	}
	ns.SetLoggerV2(natsLogger{log.With("component", "nats-server")}, cfg.Log.Level == "debug", false, false)
	go ns.Start()
	if !ns.ReadyForConnections(readyTimeout) {
		ns.Shutdown()
		return nil, self, fmt.Errorf("embedded nats: not ready for connections within %s (is %s free?)", readyTimeout, cfg.NATS.Listen)
	}
	return ns, self, nil
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

// connect opens routerd's own NATS connection, reconnecting forever. With
// an embedded server it connects in-process (so client TLS on the port
// backends use does not concern it).
func (d *Daemon) connect(url string) (*nats.Conn, error) {
	log := d.log.With("component", "nats")
	var extra []nats.Option
	if d.ns != nil {
		extra = append(extra, nats.InProcessServer(d.ns))
		if t := d.cfg.NATS.TLS; t.CertFile != "" {
			pinned, err := pinnedTLS(t.CertFile)
			if err != nil {
				return nil, err
			}
			extra = append(extra, nats.Secure(pinned))
		}
	}
	if d.ns != nil && len(d.cfg.NATS.Users) > 0 {
		extra = append(extra, nats.UserInfo(d.self.user, d.self.password))
	}
	if d.ns == nil {
		// An external NATS may come up after routerd (containers start in
		// any order): start anyway, not ready (/readyz 503) until connected.
		extra = append(extra, nats.RetryOnFailedConnect(true), nats.ConnectHandler(func(nc *nats.Conn) {
			d.m.NATSConnected(true)
			log.Info("connected to NATS", "url", nc.ConnectedUrlRedacted())
		}))
	}
	nc, err := nats.Connect(url, append(extra,
		nats.Name("routerd "+d.cfg.Node.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			d.m.NATSConnected(false)
			if err != nil { // nil: routerd closed the connection itself
				log.Warn("disconnected from NATS", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			d.m.NATSConnected(true)
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
	)...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", url, err)
	}
	if nc.IsConnected() {
		d.m.NATSConnected(true)
	} else {
		log.Warn("NATS is not reachable yet: serving, not ready, until it is", "url", url)
	}
	return nc, nil
}
