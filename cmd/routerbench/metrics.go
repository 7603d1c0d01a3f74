package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// cpuSeconds is the server's CPU time counter in its /metrics.
const cpuSeconds = "process_cpu_seconds_total"

// Series read from the server's /metrics. Gauges are reported as they were
// before and after the measurement, counters as their increase. routerd
// exports the Go and process collectors; bench/socketio/server.js exports
// the process ones and Node's heap under the names prom-client uses.
var (
	watchedGauges = []string{
		"process_resident_memory_bytes",
		"go_memstats_heap_inuse_bytes",
		"go_memstats_sys_bytes",
		"go_memstats_stack_inuse_bytes",
		"go_goroutines",
		"nodejs_heap_size_used_bytes",
	}
	watchedCounters = []string{
		cpuSeconds,
		"routerd_deliveries_total",
		"routerd_dropped_total",
		"routerd_closes_total",
		"routerd_history_replays_total",
	}
)

// scrapeTimeout bounds one read of /metrics: a server still working off a
// backlog (Node's event loop) may answer late.
const scrapeTimeout = 30 * time.Second

// serverFigures are the server's own figures around a measurement.
type serverFigures struct {
	Before   map[string]float64 `json:"before"`   // watched gauges
	After    map[string]float64 `json:"after"`    // watched gauges
	Increase map[string]float64 `json:"increase"` // watched counters, by series
}

// scrape reads the Prometheus text exposition at url into series → value,
// a series being the metric name with its labels as written.
func scrape(ctx context.Context, url string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, scrapeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics %s: HTTP %s", url, resp.Status)
	}
	return parseMetrics(resp.Body)
}

// parseMetrics reads the Prometheus text format: "series value [timestamp]"
// lines; comments and lines it cannot read are skipped.
func parseMetrics(r io.Reader) (map[string]float64, error) {
	m := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		end := strings.IndexByte(line, ' ')
		if brace := strings.IndexByte(line, '{'); brace >= 0 && (end < 0 || brace < end) {
			end = strings.LastIndexByte(line, '}') + 1
		}
		if end <= 0 || end >= len(line) {
			continue
		}
		fields := strings.Fields(line[end:])
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		m[line[:end]] = v
	}
	return m, sc.Err()
}

// metricName is the name part of a series.
func metricName(series string) string {
	if i := strings.IndexByte(series, '{'); i >= 0 {
		return series[:i]
	}
	return series
}

// compare picks the watched series out of two scrapes.
func compare(before, after map[string]float64) *serverFigures {
	f := &serverFigures{Before: map[string]float64{}, After: map[string]float64{}, Increase: map[string]float64{}}
	for _, g := range watchedGauges {
		b, okB := before[g]
		a, okA := after[g]
		if okB && okA {
			f.Before[g], f.After[g] = b, a
		}
	}
	for series, a := range after {
		name := metricName(series)
		for _, c := range watchedCounters {
			if name == c {
				if d := a - before[series]; d != 0 || series == c {
					f.Increase[series] = d
				}
			}
		}
	}
	return f
}

// perConnection is the growth of every gauge divided by n.
func (f *serverFigures) perConnection(n int) map[string]float64 {
	p := map[string]float64{}
	for g, a := range f.After {
		p[g] = (a - f.Before[g]) / float64(n)
	}
	return p
}

// meter scrapes the server's metrics around a measurement, when o.metrics
// is set. A failed scrape is reported and leaves the server figures out,
// unless required.
type meter struct {
	o        *options
	required bool
	before   map[string]float64
}

// start takes the first scrape.
func (m *meter) start(ctx context.Context) error {
	if m.o.metrics == "" {
		if m.required {
			return fmt.Errorf("this scenario reads the server's memory: set -metrics")
		}
		return nil
	}
	b, err := scrape(ctx, m.o.metrics)
	if err != nil {
		if m.required {
			return err
		}
		m.o.logf("server figures left out: %v", err)
		return nil
	}
	m.before = b
	return nil
}

// stop takes the second scrape and compares (nil when there is none).
func (m *meter) stop(ctx context.Context) (*serverFigures, error) {
	if m.before == nil {
		return nil, nil
	}
	a, err := scrape(ctx, m.o.metrics)
	if err != nil {
		if m.required {
			return nil, err
		}
		m.o.logf("server figures left out: %v", err)
		return nil, nil
	}
	return compare(m.before, a), nil
}
