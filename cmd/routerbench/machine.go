package main

import (
	"bufio"
	"context"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/stat: 100 on every Linux
// architecture Go runs on.
const clockTicks = 100

// machineCPU is the whole machine's CPU time from /proc/stat, in seconds.
type machineCPU struct {
	busy  float64 // user, nice, system, irq, softirq and steal
	steal float64 // taken by the hypervisor for other guests
}

// readMachineCPU reads /proc/stat; ok is false where there is none (not Linux).
func readMachineCPU() (m machineCPU, ok bool) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return m, false
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil {
		return m, false
	}
	return parseCPULine(line)
}

// parseCPULine reads the aggregate "cpu user nice system idle iowait irq
// softirq steal ..." line.
func parseCPULine(line string) (m machineCPU, ok bool) {
	fields := strings.Fields(line)
	if len(fields) < 9 || fields[0] != "cpu" {
		return m, false
	}
	var v [8]float64
	for i := range v {
		n, err := strconv.ParseUint(fields[i+1], 10, 64)
		if err != nil {
			return m, false
		}
		v[i] = float64(n) / clockTicks
	}
	m.busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
	m.steal = v[7]
	return m, true
}

// machineFigures say how busy the machine was during a measurement: the
// generator and the server share it, and anything else running on it
// (Other) disturbs the figures.
type machineFigures struct {
	Seconds     float64 `json:"seconds"`      // wall time measured
	BusySeconds float64 `json:"busy_seconds"` // CPU time used on the whole machine
	Server      float64 `json:"server_cpu_seconds,omitempty"`
	Generator   float64 `json:"generator_cpu_seconds"`
	Other       float64 `json:"other_cpu_seconds"` // busy − server − generator, when the server's is known
	Steal       float64 `json:"steal_seconds"`
}

func (m *machineFigures) rows(row rowFunc) {
	row("machine cpu", "%.2fs busy in %.2fs: server %.2fs, routerbench %.2fs, other %.2fs, steal %.2fs",
		m.BusySeconds, m.Seconds, m.Server, m.Generator, m.Other, m.Steal)
}

// measurement brackets the measured part of a run: the server's metrics
// (when o.metrics is set), routerbench's own CPU time and the machine's.
type measurement struct {
	server meter
	start  time.Time
	gen    float64
	mach   machineCPU
	machOK bool
}

// startMeasurement takes the first readings; with serverRequired a failed
// scrape of the server's metrics is an error, else it is left out.
func startMeasurement(ctx context.Context, o *options, serverRequired bool) (*measurement, error) {
	ms := &measurement{server: meter{o: o, required: serverRequired}}
	if err := ms.server.start(ctx); err != nil {
		return nil, err
	}
	ms.start, ms.gen = time.Now(), generatorCPU()
	ms.mach, ms.machOK = readMachineCPU()
	return ms, nil
}

// stop takes the second readings into rep.
func (ms *measurement) stop(ctx context.Context, rep *report) error {
	m := &machineFigures{Seconds: time.Since(ms.start).Seconds(), Generator: generatorCPU() - ms.gen}
	if end, ok := readMachineCPU(); ok && ms.machOK {
		m.BusySeconds, m.Steal = end.busy-ms.mach.busy, end.steal-ms.mach.steal
	}
	server, err := ms.server.stop(ctx)
	if err != nil {
		return err
	}
	if server != nil {
		m.Server = server.Increase[cpuSeconds]
	}
	if m.BusySeconds > 0 {
		m.Other = max(m.BusySeconds-m.Server-m.Generator, 0)
	}
	rep.Server, rep.Machine = server, m
	return nil
}

// processCPU is the CPU time process pid has used, user and system, in
// seconds, from /proc/<pid>/stat; 0 where there is none.
func processCPU(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	return parseProcStat(string(b))
}

// parseProcStat reads utime and stime (fields 14 and 15) of a
// /proc/<pid>/stat line; the command name before them may hold spaces.
func parseProcStat(line string) float64 {
	i := strings.LastIndexByte(line, ')')
	if i < 0 {
		return 0
	}
	fields := strings.Fields(line[i+1:])
	if len(fields) < 13 {
		return 0
	}
	var sum float64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return 0
		}
		sum += float64(n) / clockTicks
	}
	return sum
}
