package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// LLMConfig turns the bot into a language-model assistant (assistant.go):
// it answers questions in the chat with the text a model streams. It is
// off while URL is empty, and the bot then answers its commands only.
// Fields left zero take the defaults written beside them.
type LLMConfig struct {
	URL    string   // base URL of an OpenAI-compatible API, e.g. "http://127.0.0.1:11434/v1" (Ollama)
	Model  string   // the model to ask; required with URL
	APIKey Secret   // bearer token, when set (main reads OPENAI_API_KEY); never logged
	System string   // system prompt; defaultSystemPrompt
	Rooms  []string // rooms in which every client line is a question
	Direct bool     // answer direct questions (server-bound "ask"); the flag's default is true

	Context       int           // chat lines before the question given to the model; 20
	Timeout       time.Duration // bound on one answer, question to final message; 60s
	MaxTokens     int           // max_tokens of a request; 0: the server's default
	Retries       int           // retries of a request that failed before streaming (connection, 429, 5xx); 0: none (the flag's default is 2)
	Concurrency   int           // answers one instance generates at once (more wait their turn); 4
	UserLimit     Limit         // questions per user (per socket when anonymous); 5/1m; N < 0: no limit
	RoomLimit     Limit         // questions per room; 20/1m; N < 0: no limit
	DeltaInterval time.Duration // at most one answer_delta per answer per interval; 50ms (20 a second)
	StopGrace     time.Duration // at shutdown, how long answers under way may finish before they are cancelled; 10s
}

// defaultSystemPrompt is the system prompt unless -llm-system or
// -llm-system-file gives one.
const defaultSystemPrompt = "You are a helpful assistant taking part in a group chat. " +
	"Answer the last message briefly and in plain text: no Markdown, no HTML."

// enabled reports whether the assistant is on.
func (c LLMConfig) enabled() bool { return c.URL != "" }

// withDefaults returns c with every zero field set to its default, or an
// error naming the first invalid field. A config that is off is returned
// as it is.
func (c LLMConfig) withDefaults() (LLMConfig, error) {
	if !c.enabled() {
		if c.Model != "" {
			return c, errors.New("llm: a model without a URL (-llm-url)")
		}
		return c, nil
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c, fmt.Errorf("llm: URL %q: want http(s)://host[:port]/path", c.URL)
	}
	if u.User != nil {
		return c, errors.New("llm: URL with credentials: give the key in OPENAI_API_KEY")
	}
	if c.Model == "" {
		return c, errors.New("llm: a URL without a model (-llm-model)")
	}
	if strings.TrimSpace(c.System) == "" {
		c.System = defaultSystemPrompt
	}
	rooms := c.Rooms[:0:0]
	for _, r := range c.Rooms {
		if r = strings.TrimSpace(r); r != "" {
			rooms = append(rooms, r)
		}
	}
	c.Rooms = rooms
	if c.Context <= 0 {
		c.Context = 20
	}
	dur := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	dur(&c.Timeout, time.Minute)
	dur(&c.DeltaInterval, 50*time.Millisecond)
	dur(&c.StopGrace, 10*time.Second)
	if c.Concurrency <= 0 {
		c.Concurrency = 4
	}
	if c.UserLimit == (Limit{}) {
		c.UserLimit = Limit{N: 5, Per: time.Minute}
	}
	if c.RoomLimit == (Limit{}) {
		c.RoomLimit = Limit{N: 20, Per: time.Minute}
	}
	switch {
	case c.Context > 500:
		return c, fmt.Errorf("llm: context of %d lines: at most 500", c.Context)
	case c.MaxTokens < 0 || c.Retries < 0:
		return c, errors.New("llm: max tokens and retries must not be negative")
	case !c.UserLimit.valid() || !c.RoomLimit.valid():
		return c, errors.New("llm: a limit needs a positive duration")
	}
	return c, nil
}

// Secret is a credential. It prints, logs and marshals as "[redacted]";
// only reveal gives the value, to the one place that sends it.
type Secret string

const redacted = "[redacted]"

// String implements fmt.Stringer (every string verb of fmt).
func (Secret) String() string { return redacted }

// GoString implements fmt.GoStringer (%#v).
func (Secret) GoString() string { return redacted }

// LogValue implements slog.LogValuer.
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText implements encoding.TextMarshaler (and so JSON).
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// reveal returns the credential itself.
func (s Secret) reveal() string { return string(s) }

// Limit is a rate of questions: a token bucket that holds N and refills
// one every Per/N. N < 0 means no limit.
type Limit struct {
	N   int
	Per time.Duration
}

// off reports whether the limit lets everything through.
func (l Limit) off() bool { return l.N < 0 }

// valid reports whether the limit can work: off, or a positive N per a positive duration.
func (l Limit) valid() bool { return l.off() || (l.N > 0 && l.Per > 0) }

// String writes the limit as -llm-user-limit takes it: "5/1m0s" or "off".
func (l Limit) String() string {
	if l.off() {
		return "off"
	}
	return strconv.Itoa(l.N) + "/" + l.Per.String()
}

// parseLimit reads "N/duration" (e.g. "5/1m"), or "off" or "0" for no limit.
func parseLimit(s string) (Limit, error) {
	if s == "off" || s == "0" {
		return Limit{N: -1}, nil
	}
	ns, ds, ok := strings.Cut(s, "/")
	n, err := strconv.Atoi(ns)
	if !ok || err != nil || n <= 0 {
		return Limit{}, fmt.Errorf("limit %q: want N/duration (e.g. 5/1m) or off", s)
	}
	d, err := time.ParseDuration(ds)
	if err != nil || d <= 0 {
		return Limit{}, fmt.Errorf("limit %q: want N/duration (e.g. 5/1m) or off", s)
	}
	return Limit{N: n, Per: d}, nil
}

// limitFlag is a Limit as a flag.Value.
type limitFlag struct{ l *Limit }

// String implements flag.Value.
func (f limitFlag) String() string {
	if f.l == nil {
		return ""
	}
	return f.l.String()
}

// Set implements flag.Value.
func (f limitFlag) Set(s string) error {
	l, err := parseLimit(s)
	if err == nil {
		*f.l = l
	}
	return err
}

// listFlag is a comma-separated list as a flag.Value.
type listFlag struct{ list *[]string }

// String implements flag.Value.
func (f listFlag) String() string {
	if f.list == nil {
		return ""
	}
	return strings.Join(*f.list, ",")
}

// Set implements flag.Value: the items between commas, trimmed, empty ones dropped.
func (f listFlag) Set(s string) error {
	*f.list = nil
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*f.list = append(*f.list, v)
		}
	}
	return nil
}
