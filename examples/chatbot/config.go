package main

import (
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"time"

	"github.com/routerd/routerd/contract"
)

// Config is what a bot needs. Fields left zero take the defaults written
// beside them.
type Config struct {
	NATSURL string // NATS server URL(s), comma separated; "nats://127.0.0.1:4222"
	Prefix  string // routerd's nats.prefix; "router"
	NS      string // the chat namespace; "chat"
	Group   string // queue group shared by the instances, and the scope of their nickname state; "chatbot"
	Name    string // the name the bot speaks as, reserved as a nickname; "bot"

	RequestTimeout time.Duration // ctl requests to routerd; 2s
	SyncTimeout    time.Duration // wait for a peer's snapshot of the nicknames; 1s
	DrainTimeout   time.Duration // graceful shutdown bound; 10s
	ReconnectWait  time.Duration // pause between attempts to reach NATS (forever); 1s
	TombstoneTTL   time.Duration // how long a disconnected sid is remembered; 5m
	Inbox          int           // state messages buffered before NATS reports a slow consumer; 4096

	LLM         LLMConfig // the language-model assistant; off while LLM.URL is ""
	MetricsAddr string    // serve Prometheus metrics at http://MetricsAddr/metrics; "" off

	Clock func() time.Time // time.Now
	Log   *slog.Logger     // discards when nil
}

// token is what a namespace, group or subject prefix token may be.
var token = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// prefixRE is routerd's rule for nats.prefix: dot-separated tokens.
var prefixRE = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)

// withDefaults returns c with every zero field set to its default, or an
// error naming the first invalid field.
func (c Config) withDefaults() (Config, error) {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.NATSURL, "nats://127.0.0.1:4222")
	def(&c.Prefix, "router")
	def(&c.NS, "chat")
	def(&c.Group, "chatbot")
	def(&c.Name, "bot")
	dur := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	dur(&c.RequestTimeout, 2*time.Second)
	dur(&c.SyncTimeout, time.Second)
	dur(&c.DrainTimeout, 10*time.Second)
	dur(&c.ReconnectWait, time.Second)
	dur(&c.TombstoneTTL, 5*time.Minute)
	if c.Inbox <= 0 {
		c.Inbox = 4096
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Log == nil {
		c.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	nameErr := validNick(c.Name)
	var llmErr error
	c.LLM, llmErr = c.LLM.withDefaults()
	switch {
	case !prefixRE.MatchString(c.Prefix):
		return c, fmt.Errorf("prefix %q: want dot-separated tokens of [A-Za-z0-9_-]", c.Prefix)
	case !token.MatchString(c.NS) || len(c.NS) > 64:
		return c, fmt.Errorf("namespace %q: want 1 to 64 of [A-Za-z0-9_-]", c.NS)
	case !token.MatchString(c.Group):
		return c, fmt.Errorf("group %q: want [A-Za-z0-9_-]+", c.Group)
	case nameErr != nil:
		return c, fmt.Errorf("name %q: %w", c.Name, nameErr)
	case llmErr != nil:
		return c, llmErr
	}
	return c, nil
}

// subjects are the NATS subjects one bot uses.
type subjects struct {
	contract.Subjects
	roomMessages string // P.{ns}.room.*.message: every chat line
	roomPrefix   string // "P.{ns}.room.": a room subject up to its room token
	nick         string // P.{ns}.server.nick: nickname requests from clients
	disconnect   string // P.{ns}.lifecycle.disconnect
	presence     string // P.{ns}.ctl.presence
	claims       string // {group}.P.{ns}.nicks.claim: granted nicknames, to every instance
	sync         string // {group}.P.{ns}.nicks.sync: snapshot requests between instances
}

// chatEvent is the event name of chat lines.
const chatEvent = "message"

func newSubjects(c Config) subjects {
	s := contract.NewSubjects(c.Prefix)
	state := c.Group + "." + c.Prefix + "." + c.NS + ".nicks."
	return subjects{
		Subjects:     s,
		roomMessages: c.Prefix + "." + c.NS + ".room.*." + chatEvent,
		roomPrefix:   c.Prefix + "." + c.NS + ".room.",
		nick:         s.Server(c.NS, "nick"),
		disconnect:   s.Lifecycle(c.NS, contract.LifecycleDisconnect),
		presence:     s.Ctl(c.NS, contract.CtlPresence),
		claims:       state + "claim",
		sync:         state + "sync",
	}
}
