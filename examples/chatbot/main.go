// Command chatbot is the backend half of routerd's chat example: a Go
// service that talks to routerd over plain NATS subjects, with no SDK.
//
// It logs every chat line (events named "message" in the rooms of the chat
// namespace), answers /help, /who and /time in the room, and serves the
// server-bound "nick" request: nicknames are unique across the namespace.
// Several instances share the work in a NATS queue group and agree on
// nicknames through a small shared state on plain NATS (see README.md).
//
// With -llm-url it is also an assistant: it answers questions with a
// language model behind any OpenAI-compatible chat-completions API,
// streaming each answer into the room as it is generated (assistant.go).
// The API key, when one is needed, comes from OPENAI_API_KEY only.
//
//	go run ./cmd/routerd -c router.yaml
//	go run ./examples/chatbot
//	go run ./examples/chatbot -llm-url http://127.0.0.1:11434/v1 -llm-model llama3.2
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "chatbot:", err)
		os.Exit(1)
	}
}

// run parses flags, starts a bot and waits for SIGINT or SIGTERM, then shuts
// the bot down gracefully (drain).
func run(args []string) error {
	var cfg Config
	fs := flag.NewFlagSet("chatbot", flag.ContinueOnError)
	fs.StringVar(&cfg.NATSURL, "nats", "nats://127.0.0.1:4222", "NATS server URL(s), comma separated (routerd's nats.listen or nats.url)")
	fs.StringVar(&cfg.Prefix, "prefix", "router", "routerd's subject prefix (nats.prefix)")
	fs.StringVar(&cfg.NS, "ns", "chat", "chat namespace")
	fs.StringVar(&cfg.Group, "group", "chatbot", "queue group of the instances that share the work and the nicknames")
	fs.StringVar(&cfg.Name, "name", "bot", "name the bot speaks as (reserved as a nickname)")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	fs.StringVar(&cfg.MetricsAddr, "metrics-addr", "", "serve Prometheus metrics at http://ADDR/metrics, e.g. 127.0.0.1:9464 (default off)")
	systemFile := llmFlags(fs, &cfg.LLM)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *systemFile != "" {
		if cfg.LLM.System != "" {
			return errors.New("-llm-system and -llm-system-file: give one")
		}
		prompt, err := os.ReadFile(*systemFile)
		if err != nil {
			return fmt.Errorf("-llm-system-file: %w", err)
		}
		cfg.LLM.System = string(prompt)
	}
	cfg.LLM.APIKey = Secret(os.Getenv("OPENAI_API_KEY"))
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lv}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	bot, err := Start(ctx, cfg)
	if err != nil {
		return err
	}
	<-bot.Done()
	return nil
}

// llmFlags declares the assistant's flags on fs, with their defaults, and
// returns the -llm-system-file flag. There is no flag for the API key: it
// comes from the environment (OPENAI_API_KEY), where no process listing shows
// it.
func llmFlags(fs *flag.FlagSet, c *LLMConfig) *string {
	c.Direct, c.Retries, c.Rooms = true, 2, []string{"assistant"}
	c.UserLimit, c.RoomLimit = Limit{N: 5, Per: time.Minute}, Limit{N: 20, Per: time.Minute}
	fs.StringVar(&c.URL, "llm-url", "", "base URL of an OpenAI-compatible chat-completions API, e.g. http://127.0.0.1:11434/v1 (Ollama); the key, if any, from OPENAI_API_KEY (default off: commands only)")
	fs.StringVar(&c.Model, "llm-model", "", "the model to ask, e.g. llama3.2 (needed with -llm-url)")
	fs.Var(listFlag{&c.Rooms}, "llm-rooms", "rooms where every line is a question, comma separated")
	fs.StringVar(&c.System, "llm-system", "", "system prompt (default a short built-in one)")
	file := fs.String("llm-system-file", "", "read the system prompt from this file")
	fs.BoolVar(&c.Direct, "llm-direct", c.Direct, "answer direct questions (server-bound ask); false where the namespace's direct policy is false")
	fs.IntVar(&c.Context, "llm-context", 20, "chat lines before a question that the model reads")
	fs.DurationVar(&c.Timeout, "llm-timeout", time.Minute, "bound on one answer; past it the answer ends with an error")
	fs.IntVar(&c.MaxTokens, "llm-max-tokens", 0, "max_tokens of each request (default 0: the server's)")
	fs.IntVar(&c.Retries, "llm-retries", c.Retries, "retries of a request that failed before streaming (connection, 429, 5xx)")
	fs.IntVar(&c.Concurrency, "llm-concurrency", 4, "answers one instance generates at once; more wait their turn")
	fs.Var(limitFlag{&c.UserLimit}, "llm-user-limit", "questions per user (per socket when anonymous): N/duration, or off")
	fs.Var(limitFlag{&c.RoomLimit}, "llm-room-limit", "questions per room: N/duration, or off")
	fs.DurationVar(&c.StopGrace, "llm-stop-grace", 10*time.Second, "at shutdown, how long answers under way may finish before they are cancelled")
	return file
}
