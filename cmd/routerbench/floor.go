package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The floor scenario measures what this machine can do for the fanout and
// connect workloads with no WebSocket, no JSON and no router at all: plain
// TCP between routerbench and a child routerbench process (floorServeArg)
// that plays the server the way a Go server does, one goroutine per
// connection. Whatever routerd adds is above this floor.
const floorServeArg = "floor-server"

// First byte of a floor connection: what it is for.
const (
	floorMember    = 'm' // fan-out member: receives every message
	floorPublisher = 'p' // control: starts the schedule, told when it is sent
	floorConnect   = 'c' // connect workload: the handshake exchanges
)

// The connect workload's exchanges, client bytes then server bytes, with
// the sizes of routerd's v1 handshake as routerbench does it: the upgrade
// request, then the 101 response and hello; connect, connected; join, ack.
var floorHandshake = [][2]int{{250, 230}, {60, 60}, {60, 20}}

// floorMinSize holds a message's send time and number.
const floorMinSize = 12

func floorFlags(fs *flag.FlagSet) runFunc {
	workload := fs.String("workload", "fanout", "fanout (paced messages to every member) or connect (connect and the handshake's exchanges)")
	members := fs.Int("members", 1000, "fanout: connections receiving every message")
	rate := fs.Float64("rate", 50, "fanout: messages per second (each to every member)")
	messages := fs.Int("messages", 50, "fanout: messages")
	size := fs.Int("size", 100, fmt.Sprintf("fanout: bytes per delivery (at least %d)", floorMinSize))
	conns := fs.Int("conns", 5000, "connect: connections to open")
	wait := fs.Duration("timeout", 30*time.Second, "fanout: how long to wait for missing deliveries after the last send")
	return func(ctx context.Context, o *options) (*report, error) {
		switch *workload {
		case "fanout":
			if err := positive(map[string]int{"members": *members, "messages": *messages}); err != nil {
				return nil, err
			}
			if *rate <= 0 || *size < floorMinSize {
				return nil, fmt.Errorf("-rate must be positive and -size at least %d", floorMinSize)
			}
			return runFloor(ctx, o, func(ctx context.Context, addr string, rep *report) error {
				return floorFanout(ctx, o, addr, *members, *messages, *size, *rate, *wait, rep)
			})
		case "connect":
			if err := positive(map[string]int{"conns": *conns}); err != nil {
				return nil, err
			}
			return runFloor(ctx, o, func(ctx context.Context, addr string, rep *report) error {
				return floorConnects(ctx, o, addr, *conns, rep)
			})
		}
		return nil, fmt.Errorf("-workload %q: want fanout or connect", *workload)
	}
}

// runFloor starts the child server, runs the workload against it and adds
// the child's CPU time to the machine figures.
func runFloor(ctx context.Context, o *options, workload func(ctx context.Context, addr string, rep *report) error) (*report, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("floor: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(ctx, self, floorServeArg)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe() // the child ends when this closes
	if err != nil {
		return nil, fmt.Errorf("floor: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("floor: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("floor: start the server: %w", err)
	}
	defer func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	}()
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("floor: the server did not say its address: %w", err)
	}
	rep := &report{Proto: "tcp", URL: "tcp://" + strings.TrimSpace(addr)}
	o.metrics = "" // no routerd to ask
	serverCPU := func() float64 { return processCPU(cmd.Process.Pid) }
	ms, err := startMeasurement(ctx, o, false)
	if err != nil {
		return nil, err
	}
	before := serverCPU()
	if err := workload(ctx, strings.TrimSpace(addr), rep); err != nil {
		return nil, err
	}
	server := serverCPU() - before
	if err := ms.stop(ctx, rep); err != nil {
		return nil, err
	}
	rep.Machine.Server = server
	rep.Machine.Other = max(rep.Machine.BusySeconds-server-rep.Machine.Generator, 0)
	return rep, nil
}

// floorDial opens a floor connection for kind.
func floorDial(ctx context.Context, addr string, kind byte) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("floor: %w", err)
	}
	if _, err := c.Write([]byte{kind}); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("floor: %w", err)
	}
	return c, nil
}

// floorFanout connects the members, has the server send messages to each
// at rate, and measures send-to-read latency as the fanout scenario does.
func floorFanout(ctx context.Context, o *options, addr string, members, messages, size int, rate float64, wait time.Duration, rep *report) error {
	conns := make([]net.Conn, 0, members)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for range members {
		c, err := floorDial(ctx, addr, floorMember)
		if err != nil {
			return err
		}
		conns = append(conns, c)
	}
	ctl, err := floorDial(ctx, addr, floorPublisher)
	if err != nil {
		return err
	}
	defer ctl.Close()
	// The server answers once it holds every member.
	var req [16]byte
	binary.BigEndian.PutUint32(req[0:], uint32(members))
	binary.BigEndian.PutUint32(req[4:], uint32(messages))
	binary.BigEndian.PutUint32(req[8:], uint32(size))
	binary.BigEndian.PutUint32(req[12:], uint32(rate*1000))
	if _, err := ctl.Write(req[:]); err != nil {
		return fmt.Errorf("floor: %w", err)
	}
	var ready [1]byte
	if _, err := io.ReadFull(ctl, ready[:]); err != nil {
		return fmt.Errorf("floor: the server did not take the members: %w", err)
	}
	expected := int64(members) * int64(messages)
	var received atomic.Int64
	all := make(chan struct{})
	hists := make([]histogram, members)
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() {
			buf := make([]byte, size)
			for range messages {
				if _, err := io.ReadFull(c, buf); err != nil {
					return
				}
				hists[i].record(time.Since(time.Unix(0, int64(binary.BigEndian.Uint64(buf)))))
				if received.Add(1) == expected {
					close(all)
				}
			}
		})
	}
	start := time.Now()
	if _, err := ctl.Write([]byte{'s'}); err != nil {
		return fmt.Errorf("floor: %w", err)
	}
	if _, err := io.ReadFull(ctl, ready[:]); err != nil {
		return fmt.Errorf("floor: the server did not send its messages: %w", err)
	}
	sent := time.Since(start)
	timedOut := false
	select {
	case <-all:
	case <-time.After(wait):
		timedOut = true
	case <-ctx.Done():
		return ctx.Err()
	}
	elapsed := time.Since(start)
	for _, c := range conns {
		_ = c.Close()
	}
	wg.Wait()
	var h histogram
	for i := range hists {
		h.merge(&hists[i])
	}
	got := received.Load()
	rep.Connections = members
	rep.Traffic = &trafficFigures{
		Sent: int64(messages), Expected: expected, Received: got, Lost: max(expected-got, 0), TimedOut: timedOut,
		SendSeconds: sent.Seconds(), Seconds: elapsed.Seconds(),
		SentPerSecond: float64(messages) / sent.Seconds(), DeliveriesPerSec: float64(got) / elapsed.Seconds(),
		Latency: h.summary(),
	}
	return nil
}

// floorConnects opens conns connections, o.concurrency at a time, each
// going through the handshake's exchanges, as the connect scenario does.
func floorConnects(ctx context.Context, o *options, addr string, conns int, rep *report) error {
	var (
		next  atomic.Int64
		mu    sync.Mutex
		open  []net.Conn
		took  = make([]time.Duration, conns)
		first error
		wg    sync.WaitGroup
	)
	defer func() {
		for _, c := range open {
			_ = c.Close()
		}
	}()
	start := time.Now()
	for range min(o.concurrency, conns) {
		wg.Go(func() {
			buf := make([]byte, 256)
			for {
				i := next.Add(1) - 1
				if i >= int64(conns) {
					return
				}
				began := time.Now()
				c, err := floorHandshakeOnce(ctx, addr, buf)
				mu.Lock()
				if c != nil {
					open = append(open, c)
				}
				if err != nil && first == nil {
					first = err
				}
				mu.Unlock()
				if err != nil {
					return
				}
				took[i] = time.Since(began)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if first != nil {
		return first
	}
	var h histogram
	for _, d := range took {
		h.record(d)
	}
	rep.Connections = conns
	rep.SetupSeconds = elapsed.Seconds()
	rep.Connect = &connectFigures{PerSecond: float64(conns) / elapsed.Seconds(), Latency: h.summary()}
	return nil
}

// floorHandshakeOnce dials and goes through floorHandshake.
func floorHandshakeOnce(ctx context.Context, addr string, buf []byte) (net.Conn, error) {
	c, err := floorDial(ctx, addr, floorConnect)
	if err != nil {
		return nil, err
	}
	for i, x := range floorHandshake {
		send := x[0]
		if i == 0 {
			send-- // the kind byte was the first
		}
		if _, err := c.Write(buf[:send]); err != nil {
			return c, fmt.Errorf("floor: %w", err)
		}
		if _, err := io.ReadFull(c, buf[:x[1]]); err != nil {
			return c, fmt.Errorf("floor: %w", err)
		}
	}
	return c, nil
}

// serveFloor is the child process of the floor scenario: it listens on a
// loopback port, prints the address and serves until its stdin closes.
func serveFloor(stdout io.Writer) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		_ = ln.Close()
	}()
	fmt.Fprintln(stdout, ln.Addr())
	var s floorServer
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		go s.serve(c)
	}
}

// floorServer holds the fan-out members: each has a writer goroutine fed
// by a channel, as a Go server with a writer per connection has.
type floorServer struct {
	mu      sync.Mutex
	members []chan []byte
}

func (s *floorServer) serve(c net.Conn) {
	var kind [1]byte
	if _, err := io.ReadFull(c, kind[:]); err != nil {
		_ = c.Close()
		return
	}
	switch kind[0] {
	case floorMember:
		ch := make(chan []byte, 64)
		s.mu.Lock()
		s.members = append(s.members, ch)
		s.mu.Unlock()
		for msg := range ch {
			if _, err := c.Write(msg); err != nil {
				break
			}
		}
		_ = c.Close()
	case floorPublisher:
		s.publish(c)
	case floorConnect:
		buf := make([]byte, 256)
		for i, x := range floorHandshake {
			want := x[0]
			if i == 0 {
				want--
			}
			if _, err := io.ReadFull(c, buf[:want]); err != nil {
				_ = c.Close()
				return
			}
			if _, err := c.Write(buf[:x[1]]); err != nil {
				_ = c.Close()
				return
			}
		}
		// Held open, as the connect scenario's connections are.
		_, _ = io.Copy(io.Discard, c)
		_ = c.Close()
	default:
		_ = c.Close()
	}
}

// publish reads the schedule, waits for the members, says so, and on the
// start byte sends every message to every member at its due time, stamped
// with that time, then says it is done.
func (s *floorServer) publish(c net.Conn) {
	defer c.Close()
	var req [16]byte
	if _, err := io.ReadFull(c, req[:]); err != nil {
		return
	}
	members := int(binary.BigEndian.Uint32(req[0:]))
	messages := int(binary.BigEndian.Uint32(req[4:]))
	size := int(binary.BigEndian.Uint32(req[8:]))
	interval := time.Duration(float64(time.Second) * 1000 / float64(binary.BigEndian.Uint32(req[12:])))
	var chans []chan []byte
	for {
		s.mu.Lock()
		chans = s.members
		s.mu.Unlock()
		if len(chans) >= members {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := c.Write([]byte{'r'}); err != nil {
		return
	}
	var start [1]byte
	if _, err := io.ReadFull(c, start[:]); err != nil {
		return
	}
	t0 := time.Now()
	for i := range messages {
		due := t0.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(due))
		msg := make([]byte, size)
		binary.BigEndian.PutUint64(msg, uint64(due.UnixNano()))
		binary.BigEndian.PutUint32(msg[8:], uint32(i))
		for _, ch := range chans {
			ch <- msg
		}
	}
	_, _ = c.Write([]byte{'d'})
}
