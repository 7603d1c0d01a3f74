// Command routerd is the routerd daemon: WebSocket clients get namespaces,
// rooms, events, acks and presence; backends get the same traffic as NATS
// subjects.
//
//	routerd -c router.yaml          run a node
//	routerd -c router.yaml --check  validate the config and exit
//	routerd --version               print the version, commit and date
//	routerd --healthcheck URL       exit 0 if URL (/readyz) answers 200
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/daemon"
)

// shutdownTimeout bounds the graceful shutdown after SIGINT/SIGTERM.
const shutdownTimeout = 30 * time.Second

func main() {
	os.Exit(run(os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

// run is main with its inputs and outputs passed in; it returns the exit code.
func run(args, environ []string, stdout, stderr io.Writer) int {
	fs := config.NewFlagSet("routerd")
	fs.String(flagHealthcheck, "", "GET this URL (e.g. http://127.0.0.1:8080/readyz) and exit: 0 if it answers 200, else 1 (no config is read)")
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "routerd:", err)
		return 2
	}
	if v, _ := fs.GetBool(config.FlagVersion); v {
		fmt.Fprint(stdout, versionText(buildInfo(), version))
		return 0
	}
	if url, _ := fs.GetString(flagHealthcheck); url != "" {
		return healthcheck(url, stdout, stderr)
	}
	cfg, err := config.Load(fs, environ)
	if err != nil {
		fmt.Fprintf(stderr, "routerd: invalid configuration:\n%v\n", err)
		return 1
	}
	if check, _ := fs.GetBool(config.FlagCheck); check {
		fmt.Fprintln(stdout, "configuration is valid")
		return 0
	}
	log := daemon.NewLogger(cfg.Log, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := daemon.Run(ctx, cfg, log, shutdownTimeout); err != nil {
		log.Error("routerd stopped", "err", err)
		return 1
	}
	log.Info("routerd stopped")
	return 0
}
