// Command routerbench is a load generator for routerd's v1 WebSocket
// protocol and, for comparison, for Socket.IO 4 (bench/socketio). Each run
// is one scenario:
//
//	routerbench fanout  [-members 1000 -publishers 10 -messages 1000 -rate 0 -size 64]
//	routerbench rooms   [-rooms 100 -per-room 10 -publishers 1 -messages 1000]
//	routerbench connect [-conns 5000 -concurrency 50]
//	routerbench idle    [-conns 10000]
//	routerbench floor   [-workload fanout|connect]
//	routerbench chaos   -routerd BIN [-nats-server BIN -duration 2m -every 15s]
//	routerbench soak    [-conns 5000 -rooms 500 -rate 20000 -duration 10m]
//
// and prints a table of its figures, or with -json one JSON object holding
// every figure; chaos and soak also check what they measure and exit with
// status 1 when a check fails. docs/performance.md describes the scenarios and how to run
// routerd for them (without its per-connection rate limit).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"
)

// runFunc runs one scenario with the shared options.
type runFunc func(ctx context.Context, o *options) (*report, error)

// scenario is one kind of run.
type scenario struct {
	about string
	// setup registers the scenario's own flags on fs and returns its run.
	setup func(fs *flag.FlagSet) runFunc
}

var (
	scenarios = map[string]scenario{
		"fanout":  {"members in one room, some publishing; deliveries/s and latency", fanoutFlags},
		"rooms":   {"many small rooms, each with publishers; deliveries/s and latency", roomsFlags},
		"connect": {"connection storm; connect+join per second and time per connect+join", connectFlags},
		"idle":    {"hold connections; the server's memory per connection", idleFlags},
		"chaos":   {"three routerd processes with history rooms, one killed (-9) and restarted every 15s; checks nothing lost or duplicated, presence, leaks (it starts the nodes: of the shared flags, -room, -json, -out and -cpuprofile apply)", chaosFlags},
		"soak":    {"one node, history rooms, steady traffic and reconnects for a long time; checks nothing lost and no growth of RSS or goroutines", soakFlags},
		"floor":   {"the machine's floor for fanout and connect: plain TCP to a child process, no WebSocket, no routerd (of the shared flags, -concurrency, -json, -out and -cpuprofile apply)", floorFlags},
	}
	scenarioOrder = []string{"fanout", "rooms", "connect", "idle", "chaos", "soak", "floor"}
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main with its inputs and outputs passed in; it returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	name := args[0]
	if name == floorServeArg {
		if err := serveFloor(stdout); err != nil {
			fmt.Fprintf(stderr, "routerbench %s: %v\n", name, err)
			return 1
		}
		return 0
	}
	sc, ok := scenarios[name]
	if !ok {
		fmt.Fprintf(stderr, "routerbench: unknown scenario %q\n", name)
		usage(stderr)
		return 2
	}
	fs := flag.NewFlagSet("routerbench "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := commonFlags(fs)
	exec := sc.setup(fs)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "routerbench %s: unexpected arguments %q\n", name, fs.Args())
		return 2
	}
	if err := o.resolve(fs); err != nil {
		fmt.Fprintf(stderr, "routerbench %s: %v\n", name, err)
		return 2
	}
	o.progress = stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.cpuProfile != "" {
		stopProfile, err := startProfile(o.cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "routerbench %s: %v\n", name, err)
			return 1
		}
		defer stopProfile()
	}
	started := time.Now()
	rep, err := exec(ctx, o)
	if err != nil {
		fmt.Fprintf(stderr, "routerbench %s: %v\n", name, err)
		return 1
	}
	rep.Scenario, rep.Date, rep.Params = name, started.UTC(), params(fs)
	if rep.Proto == "" { // the floor scenario says its own
		rep.Proto, rep.URL = o.protoName, o.url
	}
	if err := o.write(rep, stdout); err != nil {
		fmt.Fprintf(stderr, "routerbench %s: %v\n", name, err)
		return 1
	}
	if len(rep.Failures) > 0 {
		return 1
	}
	return 0
}

// write prints rep as a table, or as JSON with -json, and appends the JSON
// to the -out file.
func (o *options) write(rep *report, stdout io.Writer) error {
	var err error
	if o.json {
		err = rep.writeJSON(stdout)
	} else {
		err = rep.writeTable(stdout)
	}
	if err == nil && o.out != "" {
		err = appendJSON(o.out, rep)
	}
	return err
}

// appendJSON appends rep to the file at path as one line.
func appendJSON(path string, rep *report) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if err := rep.writeJSON(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// startProfile starts a CPU profile written to path; the returned func ends it.
func startProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: routerbench SCENARIO [flags]   (routerbench SCENARIO -h lists its flags)")
	fmt.Fprintln(w, "scenarios:")
	for _, name := range scenarioOrder {
		fmt.Fprintf(w, "  %-8s %s\n", name, scenarios[name].about)
	}
}
