// Package admin is routerd's admin console (admin.enabled, off by
// default): a page at admin.path that shows the whole cluster live —
// nodes, namespaces, rooms, sockets, history streams, delivery and drop
// rates, ack latency, a room's events — and acts on sockets through the
// backend contract (ctl disconnect, join and leave, and test events), each
// action logged with the admin's identity.
//
// Access: a login with a name and password of admin.users (bcrypt hashes),
// or with a JWT that auth.jwt verifies and whose admin.jwt_claim claim is
// true, starts a session of admin.session_ttl, kept in memory on the node
// that made it (an HttpOnly, SameSite=Strict cookie names it). Every POST
// must carry the session's CSRF token in the X-CSRF-Token header and a
// JSON body, and every API request whose Origin (or Sec-Fetch-Site) shows
// another site is refused.
//
// Data: the node serving a console asks every node over NATS
// ($routerd.{P}.admin, package relay) for a report of its own sockets,
// rooms and metrics (its Prometheus registry), merges the answers once a
// second while a console is open and pushes them to the page as
// Server-Sent Events ({admin.path}/api/stream), with the history streams
// as JetStream lists them, the rooms' event rates (it observes every room
// subject while a console is open) and, on demand, a sampled tail of one
// room's events. Each node answers for itself: a node without the console
// is listed by name only (from heartbeats).
//
// Lifecycle: New → Start (subscribes) → serve → Close (ends the streams,
// unsubscribes). The page is embedded (static/): plain ES modules, no
// build step.
package admin

import (
	"context"
	"embed"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/contract"
	"github.com/routerd/routerd/internal/bus"
	"github.com/routerd/routerd/internal/relay"
	"github.com/routerd/routerd/router"
)

// static holds the console's page.
//
//go:embed static/*.html static/*.css static/*.js
var static embed.FS

// flushTimeout bounds the wait for the server to confirm the console's
// subscription at Start.
const flushTimeout = 10 * time.Second

// TokenVerifier verifies the JWT of a token login (auth.Authenticator).
type TokenVerifier interface {
	// AdminClaim reports the token's subject, its expiry (zero without
	// exp) and whether its claim called claim is true; err when the
	// token does not verify.
	AdminClaim(token, claim string) (subject string, expires time.Time, granted bool, err error)
}

// Options configure a Console. Config, Router, Bus and Metrics are
// required.
type Options struct {
	// Config is the validated configuration (admin.*, the namespaces,
	// nats.prefix).
	Config *config.Config
	// Router is this node's router: its sockets, rooms and live nodes.
	Router *router.Router
	// Bus is this node's NATS connections: the node requests, the ctl
	// requests and publishes of actions, the history streams.
	Bus *bus.Bus
	// Metrics is this node's Prometheus registry, read for the charts.
	Metrics prometheus.Gatherer
	// Tokens verifies the JWTs of token logins; nil refuses them.
	Tokens TokenVerifier
	// Logger receives the console's logs (logins, actions); nil discards
	// them.
	Logger *slog.Logger
}

// Console is the admin console of one node: its HTTP handler (ServeHTTP)
// and its answers to the consoles of the cluster.
type Console struct {
	cfg     *config.Config
	r       *router.Router
	bus     *bus.Bus
	reg     prometheus.Gatherer
	tokens  TokenVerifier
	log     *slog.Logger
	names   relay.Names
	subj    contract.Subjects
	history bool // some namespace keeps history
	started time.Time
	version string

	sessions *sessions
	logins   *rate.Limiter // login attempts, all clients together: each costs a bcrypt compare
	hub      hub
	files    fileServer

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the hub loop
	subs   []*bus.Sub
}

// Login attempts a node checks per second (and in a burst), every client
// together: a password check costs a bcrypt compare, tens of milliseconds
// of CPU.
const (
	loginRate  = 5
	loginBurst = 10
)

// New returns a console; call Start before serving it.
func New(o Options) *Console {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Console{
		cfg:      o.Config,
		r:        o.Router,
		bus:      o.Bus,
		reg:      o.Metrics,
		tokens:   o.Tokens,
		log:      log.With("component", "admin"),
		names:    relay.NewNames(o.Config.NATS.Prefix),
		subj:     contract.NewSubjects(o.Config.NATS.Prefix),
		started:  time.Now().UTC().Truncate(time.Millisecond),
		version:  buildVersion(),
		sessions: newSessions(),
		logins:   rate.NewLimiter(loginRate, loginBurst),
		files:    newFileServer(),
		ctx:      ctx,
		cancel:   cancel,
	}
	c.hub.c = c
	for _, ns := range o.Config.Namespaces {
		c.history = c.history || ns.History != nil
	}
	return c
}

// Start subscribes to the consoles' node requests, and returns once the
// server has the subscription. Every node with the console on answers.
func (c *Console) Start(ctx context.Context) error {
	main := c.bus.Main()
	requests, err := main.Subscribe(c.names.Admin(), c.handleRequest)
	if err != nil {
		return fmt.Errorf("admin: subscribe node requests: %w", err)
	}
	c.subs = append(c.subs, requests)
	if main.Connected() {
		ctx, cancel := context.WithTimeout(ctx, flushTimeout)
		defer cancel()
		if err := main.Flush(ctx); err != nil {
			c.unsubscribe()
			return fmt.Errorf("admin: confirm subscription: %w", err)
		}
	}
	return nil
}

// Close ends every console stream and the node's answers, and waits for
// the console's goroutines. The HTTP server's shutdown waits for open
// streams: Close them first.
func (c *Console) Close() {
	c.hub.close()
	c.cancel()
	c.unsubscribe()
	c.wg.Wait()
}

func (c *Console) unsubscribe() {
	for _, s := range c.subs {
		_ = s.Unsubscribe()
	}
	c.subs = nil
}
