package main

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
)

// TestMain lets the test binary play the floor scenario's child server,
// which runFloor starts as its own executable with floorServeArg.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == floorServeArg {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func TestFloor(t *testing.T) {
	var out, errs bytes.Buffer
	if code := run([]string{"floor", "-members", "20", "-messages", "5", "-rate", "200", "-json"}, &out, &errs); code != 0 {
		t.Fatalf("floor fanout: exit %d: %s", code, errs.String())
	}
	var rep report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	tr := rep.Traffic
	if rep.Proto != "tcp" || tr == nil || tr.Expected != 100 || tr.Received != 100 || tr.Lost != 0 || tr.Latency.Count != 100 {
		t.Fatalf("floor fanout report %s", out.String())
	}
	if rep.Machine == nil {
		t.Errorf("floor fanout: no machine figures in %s", out.String())
	}

	out.Reset()
	if code := run([]string{"floor", "-workload", "connect", "-conns", "30", "-concurrency", "4", "-json"}, &out, &errs); code != 0 {
		t.Fatalf("floor connect: exit %d: %s", code, errs.String())
	}
	rep = report{}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if rep.Connections != 30 || rep.Connect == nil || rep.Connect.PerSecond <= 0 || rep.Connect.Latency.Count != 30 {
		t.Fatalf("floor connect report %s", out.String())
	}

	if code := run([]string{"floor", "-workload", "storm"}, &out, &errs); code != 1 {
		t.Errorf("an unknown workload: exit %d, want 1", code)
	}
}
