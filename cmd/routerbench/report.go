package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// report is the outcome of one run: one JSON object with -json, else a table.
type report struct {
	Scenario     string            `json:"scenario"`
	Proto        string            `json:"proto"`
	URL          string            `json:"url"`
	Date         time.Time         `json:"date"`
	Params       map[string]string `json:"params"` // every flag's value
	Connections  int               `json:"connections"`
	SetupSeconds float64           `json:"setup_seconds"` // dialling, attaching and joining them all

	Traffic *trafficFigures `json:"traffic,omitempty"`
	Connect *connectFigures `json:"connect,omitempty"`
	Idle    *idleFigures    `json:"idle,omitempty"`
	Chaos   *chaosFigures   `json:"chaos,omitempty"`
	Soak    *soakFigures    `json:"soak,omitempty"`
	Server  *serverFigures  `json:"server,omitempty"`
	Machine *machineFigures `json:"machine,omitempty"`

	Errors map[string]int `json:"errors,omitempty"` // error frames received, by code
	Ended  map[string]int `json:"ended,omitempty"`  // connections the server ended, by how

	// Failures are the checks a chaos or soak run failed (exit status 1).
	Failures []string `json:"failures,omitempty"`
}

// collect adds what the connections' readers saw (once they have ended).
func (r *report) collect(conns []*conn) {
	r.Connections = len(conns)
	for _, c := range conns {
		for code, n := range c.errors {
			if r.Errors == nil {
				r.Errors = map[string]int{}
			}
			r.Errors[code] += n
		}
		if c.ended != "" {
			if r.Ended == nil {
				r.Ended = map[string]int{}
			}
			r.Ended[c.ended]++
		}
	}
}

func (r *report) writeJSON(w io.Writer) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// writeTable prints the figures as aligned "name  value" rows.
func (r *report) writeTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(name, format string, args ...any) {
		fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{name}, args...)...)
	}
	row("scenario", "%s (%s, %s)", r.Scenario, r.Proto, r.URL)
	row("date", "%s", r.Date.Format(time.RFC3339))
	row("flags", "%s", flagLine(r.Params))
	row("connections", "%d (set up in %.2fs)", r.Connections, r.SetupSeconds)
	if t := r.Traffic; t != nil {
		t.rows(row)
	}
	if c := r.Connect; c != nil {
		c.rows(row)
	}
	if i := r.Idle; i != nil {
		i.rows(row)
	}
	if c := r.Chaos; c != nil {
		c.rows(row)
	}
	if s := r.Soak; s != nil {
		s.rows(row)
	}
	if s := r.Server; s != nil {
		s.rows(row)
	}
	if m := r.Machine; m != nil {
		m.rows(row)
	}
	if len(r.Errors) > 0 {
		row("error frames", "%s", countLine(r.Errors))
	}
	if len(r.Ended) > 0 {
		row("ended by server", "%s", countLine(r.Ended))
	}
	if r.Chaos != nil || r.Soak != nil {
		verdict := "PASS"
		if len(r.Failures) > 0 {
			verdict = "FAIL: " + strings.Join(r.Failures, "; ")
		}
		row("checks", "%s", verdict)
	}
	return tw.Flush()
}

// rowFunc prints one table row.
type rowFunc func(name, format string, args ...any)

func (l latency) rows(row rowFunc, what string) {
	row(what, "p50 %.2fms  p90 %.2fms  p99 %.2fms  p99.9 %.2fms  max %.2fms  (mean %.2fms, n=%d)",
		l.P50, l.P90, l.P99, l.P999, l.Max, l.Mean, l.Count)
}

func (s *serverFigures) rows(row rowFunc) {
	for _, g := range slices.Sorted(maps.Keys(s.After)) {
		row("server "+g, "%s -> %s", bytesOrCount(g, s.Before[g]), bytesOrCount(g, s.After[g]))
	}
	for _, c := range slices.Sorted(maps.Keys(s.Increase)) {
		row("server "+c, "+%.6g", s.Increase[c])
	}
}

// bytesOrCount formats a gauge: sizes in MiB, anything else as is.
func bytesOrCount(name string, v float64) string {
	if strings.HasSuffix(name, "_bytes") {
		return fmt.Sprintf("%.1f MiB", v/(1<<20))
	}
	return fmt.Sprintf("%.6g", v)
}

// flagLine is the flags as "-name=value", sorted.
func flagLine(p map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(p)) {
		parts = append(parts, "-"+k+"="+p[k])
	}
	return strings.Join(parts, " ")
}

// countLine is counts as "key n, key n", sorted by key.
func countLine(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
