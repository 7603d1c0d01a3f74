// Package daemon assembles one routerd node: the embedded (or external)
// NATS server, routerd's NATS connection, the router, the WebSocket bridge
// and the HTTP server with its health, readiness and metrics endpoints.
//
// Lifecycle: New → Start (binds every port, returns once ready) → Shutdown
// (closes WebSockets with 1001 after draining them, detaches every socket,
// drains NATS, stops the embedded server). Run does all three around a
// context.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/routerd/routerd/admin"
	"github.com/routerd/routerd/auth"
	"github.com/routerd/routerd/bridge"
	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/internal/bus"
	"github.com/routerd/routerd/metrics"
	"github.com/routerd/routerd/router"
	"github.com/routerd/routerd/socketio"
	"github.com/routerd/routerd/web"
)

// Daemon is one routerd node.
type Daemon struct {
	cfg *config.Config
	log *slog.Logger
	reg *prometheus.Registry
	m   *metrics.Metrics

	emb    *embedded               // nil with an external NATS
	bus    atomic.Pointer[bus.Bus] // set once connected; read by NATS handlers
	router *router.Router
	bridge *bridge.Server
	sio    *socketio.Server // nil unless socketio.enabled
	admin  *admin.Console   // nil unless admin.enabled
	http   *http.Server
	ln     net.Listener
	failed chan error // the HTTP server stopped by itself
}

// New returns a daemon for a validated configuration.
func New(cfg config.Config, log *slog.Logger) *Daemon {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &Daemon{cfg: &cfg, log: log, reg: reg, m: metrics.New(reg), failed: make(chan error, 1)}
}

// NewLogger returns the slog logger the log config asks for, writing to w.
func NewLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Start brings the node up: NATS, router, transports, HTTP. On error
// everything started so far is stopped again.
func (d *Daemon) Start(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			d.stopNATS()
		}
	}()
	url := strings.Join(d.cfg.NATS.URL, ",")
	if url == "" {
		if d.emb, err = startEmbedded(d.cfg, d.log); err != nil {
			return err
		}
		url = d.emb.srv.ClientURL()
		d.log.Info("embedded NATS ready", "url", url)
		srv, remotes := d.emb.srv, len(d.cfg.NATS.Leafnodes.Remotes)
		d.m.CountLeafnodes(func() (int, int) { return srv.NumLeafNodes(), remotes })
	}
	b, err := d.connect(url)
	if err != nil {
		return err
	}
	d.bus.Store(b)
	d.natsState()
	authn, err := auth.New(d.cfg, b)
	if err != nil {
		return err
	}
	d.router = router.New(router.Options{Bus: b, Config: d.cfg, Logger: d.log, Metrics: d.m, Authenticator: authn})
	if err = d.router.Start(ctx); err != nil {
		return err
	}
	d.bridge = bridge.New(bridge.Options{Router: d.router, Config: d.cfg, Logger: d.log, Metrics: d.m})
	if d.cfg.SocketIO.Enabled {
		d.sio = socketio.New(socketio.Options{Router: d.router, Config: d.cfg, Logger: d.log, Metrics: d.m, NATS: b.Main()})
		if err = d.sio.Start(ctx); err != nil {
			d.router.Close()
			return err
		}
	}
	if d.cfg.Admin.Enabled {
		d.admin = admin.New(admin.Options{Config: d.cfg, Router: d.router, Bus: b, Metrics: d.reg, Tokens: authn, Logger: d.log})
		if err = d.admin.Start(ctx); err != nil {
			d.router.Close()
			return err
		}
	}
	if d.ln, err = net.Listen("tcp", d.cfg.HTTP.Listen); err != nil {
		if d.admin != nil {
			d.admin.Close()
		}
		d.router.Close()
		return fmt.Errorf("http.listen: %w", err)
	}
	d.http = &http.Server{
		Handler:           d.mux(),
		ReadHeaderTimeout: d.cfg.HTTP.HandshakeTimeout, // slow-loris requests end here
		ErrorLog:          slog.NewLogLogger(d.log.With("component", "http").Handler(), slog.LevelDebug),
		// net/http reads up to MaxHeaderBytes + 4096 (its "bufio slop") for
		// the request line and headers before it answers 431: take the slop
		// off, so that http.max_header_bytes is the bound enforced.
		MaxHeaderBytes: d.cfg.HTTP.MaxHeaderBytes - 4096,
	}
	go func() {
		var err error
		if t := d.cfg.HTTP.TLS; t.CertFile != "" {
			err = d.http.ServeTLS(d.ln, t.CertFile, t.KeyFile)
		} else {
			err = d.http.Serve(d.ln)
		}
		if !errors.Is(err, http.ErrServerClosed) {
			d.failed <- fmt.Errorf("http server: %w", err)
		}
	}()
	if len(d.cfg.HTTP.AllowedOrigins) == 0 && !config.Loopback(d.HTTPAddr()) {
		d.log.Warn("http listens beyond this host with no http.allowed_origins: any web site's pages may open WebSockets to routerd with their visitors' cookies; list your sites' origins", "http", d.HTTPAddr())
	}
	d.log.Info("routerd ready", "node", d.cfg.Node.Name, "http", d.HTTPAddr(), "ws_path", d.cfg.HTTP.WSPath, "nats", config.RedactURLs(d.NATSURL()))
	return nil
}

func (d *Daemon) mux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle(d.cfg.HTTP.WSPath, d.bridge)
	if d.sio != nil {
		mux.Handle(socketio.Pattern(d.cfg.SocketIO.Path), d.sio)
	}
	if d.admin != nil {
		mux.Handle(d.cfg.Admin.Path, d.admin)
		mux.Handle(d.cfg.Admin.Path+"/", d.admin)
	}
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !d.bus.Load().Connected() {
			http.Error(w, "not connected to NATS", http.StatusServiceUnavailable)
			return
		}
		if !d.router.Discovered() {
			http.Error(w, "discovering the other routerd nodes", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ready\n")
	})
	mux.Handle("/metrics", promhttp.HandlerFor(d.reg, promhttp.HandlerOpts{Registry: d.reg}))
	if dir := d.cfg.HTTP.StaticDir; dir != "" {
		mux.Handle("/", staticFiles(dir, d.log))
	}
	if d.cfg.HTTP.ChatPage {
		mux.Handle("/", web.Handler())
	}
	if d.cfg.HTTP.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// HTTPAddr returns the address the HTTP server listens on.
func (d *Daemon) HTTPAddr() string {
	if d.ln == nil {
		return ""
	}
	return d.ln.Addr().String()
}

// NATSURL returns the URL backends connect to: the embedded server's client
// URL, or the external URLs.
func (d *Daemon) NATSURL() string {
	if d.emb != nil {
		return d.emb.srv.ClientURL()
	}
	return strings.Join(d.cfg.NATS.URL, ",")
}

// ClusterURL returns the embedded server's cluster (route) URL, or "" when
// it is not clustered.
func (d *Daemon) ClusterURL() string {
	if d.emb == nil || d.emb.srv.ClusterAddr() == nil {
		return ""
	}
	return "nats-route://" + d.emb.srv.ClusterAddr().String()
}

// Nodes returns how many routerd nodes (this one included) share the bus,
// as heartbeats show.
func (d *Daemon) Nodes() int { return d.router.Nodes() }

// Failed reports a component that stopped by itself.
func (d *Daemon) Failed() <-chan error { return d.failed }

// Shutdown stops the node gracefully within ctx: no new connections; open
// ones get what is queued and close 1001; every socket is detached with its
// notices published; the NATS connection drains; the embedded server stops.
func (d *Daemon) Shutdown(ctx context.Context) error {
	var errs []error
	if d.admin != nil { // first: its open event streams would hold up the HTTP shutdown
		d.admin.Close()
	}
	if d.sio != nil { // first: its pending long-polls would hold up the HTTP shutdown
		if err := d.sio.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if d.http != nil {
		if err := d.http.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http shutdown: %w", err))
		}
		if err := d.bridge.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("websocket shutdown: %w", err))
		}
	}
	if d.router != nil {
		d.router.Close()
	}
	if err := d.drainNATS(ctx); err != nil {
		errs = append(errs, err)
	}
	d.stopNATS()
	return errors.Join(errs...)
}

// drainNATS drains routerd's connections so everything published reaches
// the server, and waits for them to close.
func (d *Daemon) drainNATS(ctx context.Context) error {
	b := d.bus.Load()
	if b == nil {
		return nil
	}
	if err := b.Drain(ctx); err != nil {
		return fmt.Errorf("drain nats: %w", err)
	}
	return nil
}

func (d *Daemon) stopNATS() {
	if b := d.bus.Load(); b != nil {
		b.Close()
	}
	if d.emb != nil {
		d.emb.srv.Shutdown()
		d.emb.srv.WaitForShutdown()
	}
}

// Run starts the daemon, serves until ctx ends or a component fails, then
// shuts down within shutdownTimeout.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger, shutdownTimeout time.Duration) error {
	d := New(cfg, log)
	if err := d.Start(ctx); err != nil {
		return err
	}
	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case runErr = <-d.Failed():
		log.Error("component failed, shutting down", "err", runErr)
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	return errors.Join(runErr, d.Shutdown(sctx))
}
