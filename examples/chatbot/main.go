// Command chatbot is the backend half of routerd's chat example: a Go
// service that talks to routerd over plain NATS subjects, with no SDK.
//
// It logs every chat line (events named "message" in the rooms of the chat
// namespace), answers /help, /who and /time in the room, and serves the
// server-bound "nick" request: nicknames are unique across the namespace.
// Several instances share the work in a NATS queue group and agree on
// nicknames through a small shared state on plain NATS (see README.md).
//
//	go run ./cmd/routerd -c router.yaml
//	go run ./examples/chatbot
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
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
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
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
