package main

import (
	"os"
	"runtime"
	"testing"
	"time"
)

func TestParseCPULine(t *testing.T) {
	m, ok := parseCPULine("cpu  228619 2257 68053 208613 687 100 7511 1537 0 0\n")
	if !ok {
		t.Fatal("not parsed")
	}
	if want := (228619.0 + 2257 + 68053 + 100 + 7511 + 1537) / 100; m.busy != want || m.steal != 15.37 {
		t.Errorf("busy %v steal %v, want %v and 15.37", m.busy, m.steal, want)
	}
	for _, bad := range []string{"cpu0 1 2 3 4 5 6 7 8", "cpu 1 2 3", "cpu 1 2 x 4 5 6 7 8", ""} {
		if _, ok := parseCPULine(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestParseProcStat(t *testing.T) {
	// A command name with a space and a parenthesis; utime 250, stime 50.
	line := "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 12 0 100 1000000 500\n"
	if got := parseProcStat(line); got != 3 {
		t.Errorf("parseProcStat = %v, want 3 (300 ticks)", got)
	}
	for _, bad := range []string{"", "4242 (x) S 1 2", "4242 (x) S 1 2 3 4 5 6 7 8 9 10 x 0"} {
		if got := parseProcStat(bad); got != 0 {
			t.Errorf("parseProcStat(%q) = %v, want 0", bad, got)
		}
	}
	if runtime.GOOS != "linux" {
		return
	}
	// The kernel counts CPU in ticks (10 ms): a test process that has not
	// used one yet reads 0, so it works until it has, for 5 s at most.
	for deadline := time.Now().Add(5 * time.Second); processCPU(os.Getpid()) <= 0 && time.Now().Before(deadline); {
		for spin := time.Now().Add(20 * time.Millisecond); time.Now().Before(spin); {
		}
	}
	if processCPU(os.Getpid()) <= 0 {
		t.Error("processCPU of the test process is not positive after 5 s of work")
	}
}
