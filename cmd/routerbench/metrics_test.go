package main

import (
	"strings"
	"testing"
)

const sampleMetrics = `# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 2.5e+07
process_cpu_seconds_total 1.5
go_memstats_heap_inuse_bytes 1048576
routerd_dropped_total{reason="nats_slow_consumer"} 3
routerd_dropped_total{reason="a b"} 1 1700000000000
routerd_closes_total{reason="slow_consumer"} 0
unrelated_total 9
bad line
`

func TestParseMetrics(t *testing.T) {
	m, err := parseMetrics(strings.NewReader(sampleMetrics))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		"process_resident_memory_bytes":                      25e6,
		"process_cpu_seconds_total":                          1.5,
		"go_memstats_heap_inuse_bytes":                       1 << 20,
		`routerd_dropped_total{reason="nats_slow_consumer"}`: 3,
		`routerd_dropped_total{reason="a b"}`:                1,
		`routerd_closes_total{reason="slow_consumer"}`:       0,
		"unrelated_total":                                    9,
	}
	if len(m) != len(want) {
		t.Errorf("got %v", m)
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
}

func TestCompare(t *testing.T) {
	before, _ := parseMetrics(strings.NewReader(sampleMetrics))
	after := map[string]float64{
		"process_resident_memory_bytes":                      35e6,
		"process_cpu_seconds_total":                          4,
		"go_memstats_heap_inuse_bytes":                       2 << 20,
		`routerd_dropped_total{reason="nats_slow_consumer"}`: 3,
		`routerd_closes_total{reason="slow_consumer"}`:       2,
		"unrelated_total":                                    10,
	}
	f := compare(before, after)
	if len(f.Before) != 2 || f.After["process_resident_memory_bytes"] != 35e6 {
		t.Errorf("gauges: before %v after %v", f.Before, f.After)
	}
	wantInc := map[string]float64{"process_cpu_seconds_total": 2.5, `routerd_closes_total{reason="slow_consumer"}`: 2}
	if len(f.Increase) != len(wantInc) {
		t.Errorf("increase = %v, want %v", f.Increase, wantInc)
	}
	for k, v := range wantInc {
		if f.Increase[k] != v {
			t.Errorf("increase %s = %v, want %v", k, f.Increase[k], v)
		}
	}
	if p := f.perConnection(1000); p["process_resident_memory_bytes"] != 10000 || p["go_memstats_heap_inuse_bytes"] != 1048.576 {
		t.Errorf("per connection = %v", p)
	}
}
