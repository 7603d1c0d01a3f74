package daemon_test

// Tests of the observability kit in docs/observability: the Grafana
// dashboard and the Prometheus alert rules parse with the structure Grafana
// and Prometheus expect, and every metric their PromQL uses is one a node
// exposes on /metrics, used as its type allows (a histogram through its
// _bucket, _sum and _count series, a counter inside rate or increase, a
// gauge bare). The metric families come from the live registry, never from
// a list kept here: the descriptors of every collector metrics.New
// registers (so vectors that have no series yet count too), and the
// families a real node, exercised a little, serves on /metrics (the Go and
// process collectors, and the types of the vectors the exercise fills).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/template"

	koanfyaml "github.com/knadh/koanf/parsers/yaml"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/internal/relay"
	"github.com/routerd/routerd/internal/routertest"
	"github.com/routerd/routerd/metrics"
)

const (
	obsDashboardFile = "../docs/observability/grafana-dashboard.json"
	obsAlertsFile    = "../docs/observability/alerts.yaml"
)

// TestObservabilityMetricsExist checks every metric the dashboard and the
// alert rules use against what a node exposes.
func TestObservabilityMetricsExist(t *testing.T) {
	t.Parallel()
	fams := obsRegisteredFamilies(t)
	obsScrapeExercisedNode(t, fams)

	var exprs []obsExpr
	exprs = append(exprs, obsDashboardExprs(t, obsLoadDashboard(t))...)
	exprs = append(exprs, obsAlertExprs(obsLoadAlerts(t))...)
	used := map[string]bool{}
	for _, e := range exprs {
		for _, err := range obsCheckExpr(e, fams, used) {
			t.Errorf("%s: %v\n\t%s", e.where, err, e.expr)
		}
	}
	if !used["routerd_nats_connected"] || !used["routerd_nodes_lost_total"] {
		t.Errorf("the kit does not use routerd_nats_connected and routerd_nodes_lost_total (used: %v)", obsSorted(used))
	}
	var unused []string
	for name := range fams {
		if strings.HasPrefix(name, "routerd_") && !used[name] {
			unused = append(unused, name)
		}
	}
	if len(unused) > 0 { // new metrics are welcome before the kit shows them
		slices.Sort(unused)
		t.Logf("routerd metrics on /metrics that docs/observability does not use yet: %v", unused)
	}
}

// TestObservabilityDashboardJSON checks the dashboard's structure: a
// datasource variable and a node variable, one row per theme, panels that
// query the selected data source and do not overlap.
func TestObservabilityDashboardJSON(t *testing.T) {
	t.Parallel()
	d := obsLoadDashboard(t)
	if d.UID == "" || d.Title == "" || d.SchemaVersion < 36 {
		t.Errorf("uid %q, title %q, schemaVersion %d: want a uid, a title and schemaVersion >= 36", d.UID, d.Title, d.SchemaVersion)
	}
	vars := map[string]obsVariable{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v
	}
	if v := vars["datasource"]; v.Type != "datasource" || obsVarQuery(t, v) != "prometheus" {
		t.Errorf("datasource variable: %+v, want type datasource with query prometheus", v)
	}
	for _, name := range []string{"job", "instance"} {
		v := vars[name]
		if v.Type != "query" || !strings.HasPrefix(obsVarQuery(t, v), "label_values(routerd_") || v.Datasource == nil || v.Datasource.UID != "${datasource}" {
			t.Errorf("%s variable: %+v, want a label_values query of a routerd metric on ${datasource}", name, v)
		}
	}

	var rows []string
	ids := map[int]string{}
	var boxes []obsPanel
	for _, p := range obsAllPanels(d.Panels) {
		if prev, dup := ids[p.ID]; dup || p.ID <= 0 {
			t.Errorf("panel %q: id %d (already %q)", p.Title, p.ID, prev)
		}
		ids[p.ID] = p.Title
		g := p.GridPos
		if g.W < 1 || g.H < 1 || g.X < 0 || g.Y < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v outside the 24-column grid", p.Title, g)
		}
		for _, q := range boxes {
			if q.GridPos.X < g.X+g.W && g.X < q.GridPos.X+q.GridPos.W && q.GridPos.Y < g.Y+g.H && g.Y < q.GridPos.Y+q.GridPos.H {
				t.Errorf("panels %q and %q overlap", q.Title, p.Title)
			}
		}
		boxes = append(boxes, p)
		switch p.Type {
		case "row":
			rows = append(rows, p.Title)
			continue
		case "timeseries", "stat":
		default:
			t.Errorf("panel %q: type %q, want timeseries or stat", p.Title, p.Type)
		}
		if p.Title == "" || p.Description == "" {
			t.Errorf("panel %d: title %q, description %q: want both", p.ID, p.Title, p.Description)
		}
		if !p.Datasource.selected() || len(p.Targets) == 0 {
			t.Errorf("panel %q: datasource %+v, %d targets: want ${datasource} and a query", p.Title, p.Datasource, len(p.Targets))
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if tg.Expr == "" || tg.RefID == "" || refs[tg.RefID] || !tg.Datasource.selected() {
				t.Errorf("panel %q: target %+v: want an expr, a unique refId and ${datasource}", p.Title, tg)
			}
			refs[tg.RefID] = true
		}
	}
	for _, theme := range []string{"Clients", "Delivery", "NATS & cluster", "History", "Socket.IO", "Process"} {
		if !slices.Contains(rows, theme) {
			t.Errorf("no row %q (rows: %q)", theme, rows)
		}
	}
}

// TestObservabilityAlertRules checks alerts.yaml: Prometheus rule groups
// whose alerts have a for duration, a severity and a summary and
// description that are valid templates; and the alerts issue 19 asks for.
func TestObservabilityAlertRules(t *testing.T) {
	t.Parallel()
	f := obsLoadAlerts(t)
	if len(f.Groups) == 0 {
		t.Fatal("no rule groups")
	}
	groups, alerts := map[string]bool{}, map[string]bool{}
	for _, g := range f.Groups {
		if g.Name == "" || groups[g.Name] || len(g.Rules) == 0 {
			t.Errorf("group %q: want a unique name and rules", g.Name)
		}
		groups[g.Name] = true
		for _, r := range g.Rules {
			if r.Alert == "" || alerts[r.Alert] {
				t.Errorf("group %s: alert %q: want a unique name (this file has no recording rules)", g.Name, r.Alert)
			}
			alerts[r.Alert] = true
			if strings.TrimSpace(r.Expr) == "" {
				t.Errorf("%s: no expr", r.Alert)
			}
			if !obsDuration.MatchString(r.For) {
				t.Errorf("%s: for %q, want a Prometheus duration such as 5m", r.Alert, r.For)
			}
			if s := r.Labels["severity"]; s != "critical" && s != "warning" {
				t.Errorf("%s: severity %q, want critical or warning", r.Alert, s)
			}
			for _, k := range []string{"summary", "description"} {
				if err := obsTemplate(r.Annotations[k]); err != nil {
					t.Errorf("%s: annotation %s %q: %v", r.Alert, k, r.Annotations[k], err)
				}
			}
		}
	}
	// slow consumers, NATS disconnected, node lost, ack timeouts
	for _, want := range []string{"RouterdSlowConsumers", "RouterdNATSSlowConsumer", "RouterdNATSDisconnected", "RouterdNodeLost", "RouterdServerRequestTimeouts", "RouterdClientAckTimeouts"} {
		if !alerts[want] {
			t.Errorf("no alert %s", want)
		}
	}
}

// TestObservabilityNodeLost checks the metric of the RouterdNodeLost alert:
// routerd_nodes_lost_total counts a node found lost (here one that came
// back under its name with a new instance id, without leaving), and not one
// that leaves. The other node is played by heartbeats on the node-to-node
// subject.
func TestObservabilityNodeLost(t *testing.T) {
	t.Parallel()
	n := routertest.StartWith(t, nil)
	nc := n.Backend()
	hb := relay.NewNames(n.Cfg.NATS.Prefix).Heartbeat()
	beat := func(body string) {
		t.Helper()
		routertest.Publish(t, nc, hb, []byte(body), nil)
	}
	wantMetrics := func(what, nodes, lost string) {
		t.Helper()
		routertest.Eventually(t, what, func() error {
			if got := routertest.Metric(t, n, "routerd_nodes"); got != nodes {
				return fmt.Errorf("routerd_nodes %q, want %s", got, nodes)
			}
			if got := routertest.Metric(t, n, "routerd_nodes_lost_total"); got != lost {
				return fmt.Errorf("routerd_nodes_lost_total %q, want %s", got, lost)
			}
			return nil
		})
	}
	wantMetrics("a node alone", "1", "0")
	beat(`{"id":"obs-ghost-1","node":"ghost"}`)
	wantMetrics("ghost joined", "2", "0")
	beat(`{"id":"obs-ghost-2","node":"ghost"}`) // restarted: its first instance is lost
	wantMetrics("ghost's first instance lost", "2", "1")
	beat(`{"id":"obs-ghost-2","node":"ghost","leaving":true}`)
	wantMetrics("ghost left", "1", "1")
}

// obsFamilies maps a metric family's name to its type as the exposition
// format names it (counter, gauge, histogram, summary, untyped), or "" for
// a family known by its descriptor only (a vector with no series yet).
type obsFamilies map[string]string

// add records family name of type typ, failing on a type that contradicts
// what was seen before.
func (f obsFamilies) add(t *testing.T, name, typ, source string) {
	t.Helper()
	if old := f[name]; old != "" && typ != "" && old != typ {
		t.Errorf("%s: %s is a %s, but was a %s", source, name, typ, old)
		return
	}
	if typ != "" || f[name] == "" {
		f[name] = typ
	}
}

// resolve returns the family a series name belongs to and whether it is a
// counter's series (to be read through rate or increase): the family itself
// (a counter, gauge, summary quantile or untyped), or a histogram's
// name_bucket, name_sum, name_count, or a summary's name_sum, name_count.
func (f obsFamilies) resolve(series string) (family string, counter bool, err error) {
	if typ, ok := f[series]; ok {
		switch typ {
		case "histogram":
			return "", false, fmt.Errorf("%s is a histogram: use its _bucket, _sum or _count series", series)
		case "counter":
			return series, true, nil
		case "":
			return series, strings.HasSuffix(series, "_total"), nil // routerd names counters *_total
		}
		return series, false, nil
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(series, suffix)
		if !ok {
			continue
		}
		switch typ, ok := f[base]; {
		case !ok:
		case typ == "histogram", typ == "summary" && suffix != "_bucket":
			return base, true, nil
		case typ == "":
			return "", false, fmt.Errorf("%s: %s has no series on the exercised node, so its type is unknown: exercise it in this test", series, base)
		default:
			return "", false, fmt.Errorf("%s: %s is a %s, which has no %s series", series, base, typ, suffix)
		}
	}
	return "", false, fmt.Errorf("%s is not exposed on /metrics", series)
}

// obsRecorder is a registry that remembers the collectors registered on it.
type obsRecorder struct {
	*prometheus.Registry
	collectors []prometheus.Collector
}

func (r *obsRecorder) Register(c prometheus.Collector) error {
	r.collectors = append(r.collectors, c)
	return r.Registry.Register(c)
}

func (r *obsRecorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

var obsFQName = regexp.MustCompile(`^Desc\{fqName: "([^"]+)"`)

// obsRegisteredFamilies returns every family metrics.New registers, from
// the collectors' descriptors, with the types of those that have series on
// a fresh registry (the ones that are not vectors).
func obsRegisteredFamilies(t *testing.T) obsFamilies {
	t.Helper()
	reg := &obsRecorder{Registry: prometheus.NewPedanticRegistry()}
	metrics.New(reg)
	fams := obsFamilies{}
	descs := make(chan *prometheus.Desc)
	go func() {
		for _, c := range reg.collectors {
			c.Describe(descs)
		}
		close(descs)
	}()
	for d := range descs {
		m := obsFQName.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("descriptor %s: no fqName", d)
		}
		fams.add(t, m[1], "", "metrics.New")
	}
	gathered, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather metrics.New's collectors: %v", err)
	}
	for _, mf := range gathered {
		fams.add(t, mf.GetName(), strings.ToLower(mf.GetType().String()), "metrics.New")
	}
	if len(fams) < 20 || fams["routerd_connections"] != "gauge" || fams["routerd_ack_roundtrip_seconds"] != "histogram" || fams["routerd_sockets"] != "" {
		t.Fatalf("metrics.New's families look wrong: %v", fams)
	}
	return fams
}

// obsScrapeExercisedNode starts a node, exercises it (clients in a room,
// an emit, a server-bound request no backend serves, a join with since on a
// history room, an unknown frame) and adds the families of its /metrics to
// fams: the Go and process collectors, and the types of the vectors now
// filled. Every family metrics.New gave a type must be served with that
// type, and every series served must resolve to its family.
func obsScrapeExercisedNode(t *testing.T, fams obsFamilies) {
	t.Helper()
	n := routertest.StartWith(t, func(cfg *config.Config) {
		cfg.NATS.JetStream.Enabled = true
		cfg.NATS.JetStream.StoreDir = t.TempDir()
		ns := config.DefaultNamespace()
		h := config.DefaultHistory()
		h.MaxMsgs = 10
		ns.History = &h
		cfg.Namespaces["hist"] = ns
	})
	a, b := n.Dial(), n.Dial()
	a.Connect("chat")
	b.Connect("chat")
	a.Join("chat", "lobby")
	b.Join("chat", "lobby")
	a.Send(map[string]any{"type": "emit", "ns": "chat", "room": "lobby", "event": "m", "data": 1})
	b.Next(routertest.IsEvent("m"))
	if code := a.ErrorCode(map[string]any{"type": "emit", "ns": "chat", "event": "nobody-serves-this", "data": 1}); code != "no_responders" {
		t.Fatalf("server-bound request with no backend: %s, want no_responders", code)
	}
	a.ErrorCode(map[string]any{"type": "nope"})
	a.Connect("hist")
	a.MustAck(map[string]any{"type": "join", "ns": "hist", "room": "r", "since": 0})

	filled := []string{"routerd_sockets", "routerd_frames_in_total", "routerd_errors_total", "routerd_published_total", "routerd_history_replays_total"}
	var types map[string]string
	var series []string
	routertest.Eventually(t, "the exercised vectors on /metrics", func() error {
		types, series = obsScrape(t, n.HTTPURL()+"/metrics")
		for _, name := range filled {
			if types[name] != "counter" && types[name] != "gauge" {
				return fmt.Errorf("%s: type %q on /metrics", name, types[name])
			}
		}
		return nil
	})
	for name, typ := range fams {
		if typ != "" && types[name] != typ {
			t.Errorf("metrics.New registers %s, a %s; /metrics serves it as %q", name, typ, types[name])
		}
	}
	for name, typ := range types {
		fams.add(t, name, typ, "/metrics")
	}
	for _, s := range series {
		if _, _, err := fams.resolve(s); err != nil {
			t.Errorf("series %s on /metrics: %v", s, err)
		}
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if fams[name] == "" {
			t.Errorf("%s not on /metrics", name)
		}
	}
}

// obsScrape reads a /metrics page in the text format: the type of each
// family and the name of each series.
func obsScrape(t *testing.T, url string) (types map[string]string, series []string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d, %v", url, resp.StatusCode, err)
	}
	types = map[string]string{}
	for _, line := range strings.Split(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			if name, typ, ok := strings.Cut(rest, " "); ok {
				types[name] = typ
			}
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			series = append(series, line[:i])
		}
	}
	return types, series
}

// obsExpr is one PromQL expression of the kit and where it is.
type obsExpr struct {
	where string
	expr  string
	// panel: a dashboard panel's query, whose selectors must apply the
	// job and node variables.
	panel bool
}

// obsMetricRef finds the names of routerd's metrics and of the standard
// Go and process collectors' in PromQL (not inside a longer name or a
// quoted label value).
var obsMetricRef = regexp.MustCompile(`(?:^|[^A-Za-z0-9_:"])((?:routerd|go|process)_[A-Za-z0-9_:]+)`)

// obsCheckExpr checks one expression: balanced brackets; every metric it
// names exposed (see obsFamilies.resolve); counters' series, and only
// they, read through rate, irate or increase over a range; histogram
// buckets inside histogram_quantile by le; in a panel, every selector with
// the job and instance variables. It adds the families used to used.
func obsCheckExpr(e obsExpr, fams obsFamilies, used map[string]bool) []error {
	var errs []error
	if err := obsBalanced(e.expr); err != nil {
		errs = append(errs, err)
	}
	for _, m := range obsMetricRef.FindAllStringSubmatchIndex(e.expr, -1) {
		name, start, end := e.expr[m[2]:m[3]], m[2], m[3]
		family, counter, err := fams.resolve(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		used[family] = true
		before := strings.TrimRight(e.expr[:start], " ")
		inRate := strings.HasSuffix(before, "rate(") || strings.HasSuffix(before, "increase(") // rate( covers irate(
		selector, after := "", e.expr[end:]
		if strings.HasPrefix(after, "{") {
			if i := strings.Index(after, "}"); i > 0 {
				selector, after = after[:i+1], after[i+1:]
			}
		}
		switch {
		case counter && !inRate:
			errs = append(errs, fmt.Errorf("%s is a counter's series: read it through rate or increase", name))
		case !counter && inRate:
			errs = append(errs, fmt.Errorf("%s is no counter: rate and increase do not apply", name))
		case inRate && !strings.HasPrefix(after, "["):
			errs = append(errs, fmt.Errorf("%s: rate or increase without a range", name))
		}
		if strings.HasSuffix(name, "_bucket") && (!strings.Contains(e.expr, "histogram_quantile(") || !obsByLe.MatchString(e.expr)) {
			errs = append(errs, fmt.Errorf("%s: buckets outside histogram_quantile(q, sum by (le, ...) (...))", name))
		}
		if e.panel && (!strings.Contains(selector, `job=~"$job"`) || !strings.Contains(selector, `instance=~"$instance"`)) {
			errs = append(errs, fmt.Errorf("%s%s: the selector must apply $job and $instance", name, selector))
		}
	}
	return errs
}

var obsByLe = regexp.MustCompile(`by \([^)]*\ble\b[^)]*\)`)

// obsBalanced checks that (), [] and {} pair up outside quoted strings.
func obsBalanced(expr string) error {
	var stack []rune
	pairs := map[rune]rune{')': '(', ']': '[', '}': '{'}
	quoted := false
	for i, c := range expr {
		switch {
		case c == '"' && (i == 0 || expr[i-1] != '\\'):
			quoted = !quoted
		case quoted:
		case c == '(' || c == '[' || c == '{':
			stack = append(stack, c)
		case pairs[c] != 0:
			if len(stack) == 0 || stack[len(stack)-1] != pairs[c] {
				return fmt.Errorf("unbalanced %q at %d", c, i)
			}
			stack = stack[:len(stack)-1]
		}
	}
	if quoted || len(stack) > 0 {
		return fmt.Errorf("unclosed %q", stack)
	}
	return nil
}

// The dashboard, as far as these tests read it.
type obsDashboard struct {
	UID           string `json:"uid"`
	Title         string `json:"title"`
	SchemaVersion int    `json:"schemaVersion"`
	Templating    struct {
		List []obsVariable `json:"list"`
	} `json:"templating"`
	Panels []obsPanel `json:"panels"`
}

type obsVariable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"` // a string, or {"query": string, ...}
	Datasource *obsDatasource  `json:"datasource"`
}

type obsDatasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// selected reports whether ds is the dashboard's datasource variable.
func (ds *obsDatasource) selected() bool {
	return ds != nil && ds.Type == "prometheus" && ds.UID == "${datasource}"
}

type obsPanel struct {
	ID          int    `json:"id"`
	Type        string `json:"type"`
	Title       string `json:"title"`
	Description string `json:"description"`
	GridPos     struct {
		H int `json:"h"`
		W int `json:"w"`
		X int `json:"x"`
		Y int `json:"y"`
	} `json:"gridPos"`
	Datasource *obsDatasource `json:"datasource"`
	Targets    []struct {
		Expr       string         `json:"expr"`
		RefID      string         `json:"refId"`
		Datasource *obsDatasource `json:"datasource"`
	} `json:"targets"`
	Panels []obsPanel `json:"panels"` // of a collapsed row
}

func obsLoadDashboard(t *testing.T) obsDashboard {
	t.Helper()
	b, err := os.ReadFile(obsDashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d obsDashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", obsDashboardFile, err)
	}
	return d
}

// obsAllPanels lists the panels, those inside collapsed rows included.
func obsAllPanels(ps []obsPanel) []obsPanel {
	var all []obsPanel
	for _, p := range ps {
		all = append(all, p)
		all = append(all, obsAllPanels(p.Panels)...)
	}
	return all
}

// obsVarQuery returns a template variable's query.
func obsVarQuery(t *testing.T, v obsVariable) string {
	t.Helper()
	var s string
	if json.Unmarshal(v.Query, &s) == nil {
		return s
	}
	var q struct {
		Query string `json:"query"`
	}
	if err := json.Unmarshal(v.Query, &q); err != nil {
		t.Errorf("variable %s: query %s: %v", v.Name, v.Query, err)
	}
	return q.Query
}

// obsDashboardExprs returns the PromQL of every panel target and query
// variable.
func obsDashboardExprs(t *testing.T, d obsDashboard) []obsExpr {
	t.Helper()
	var exprs []obsExpr
	for _, v := range d.Templating.List {
		if v.Type == "query" {
			exprs = append(exprs, obsExpr{where: "dashboard variable " + v.Name, expr: obsVarQuery(t, v)})
		}
	}
	for _, p := range obsAllPanels(d.Panels) {
		for _, tg := range p.Targets {
			exprs = append(exprs, obsExpr{where: fmt.Sprintf("dashboard panel %q %s", p.Title, tg.RefID), expr: tg.Expr, panel: true})
		}
	}
	if len(exprs) < 20 {
		t.Fatalf("only %d queries in %s", len(exprs), obsDashboardFile)
	}
	return exprs
}

// The alert rules file, as far as these tests read it.
type obsRuleFile struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Alert       string            `json:"alert"`
			Expr        string            `json:"expr"`
			For         string            `json:"for"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"rules"`
	} `json:"groups"`
}

// obsLoadAlerts parses alerts.yaml (the YAML parser routerd reads its
// config with) into the rule file structure, refusing unknown keys.
func obsLoadAlerts(t *testing.T) obsRuleFile {
	t.Helper()
	b, err := os.ReadFile(obsAlertsFile)
	if err != nil {
		t.Fatal(err)
	}
	m, err := koanfyaml.Parser().Unmarshal(b)
	if err != nil {
		t.Fatalf("%s: %v", obsAlertsFile, err)
	}
	j, err := json.Marshal(m)
	if err != nil {
		t.Fatalf("%s: %v", obsAlertsFile, err)
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	var f obsRuleFile
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("%s: not Prometheus rule groups: %v", obsAlertsFile, err)
	}
	return f
}

func obsAlertExprs(f obsRuleFile) []obsExpr {
	var exprs []obsExpr
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			exprs = append(exprs, obsExpr{where: "alert " + r.Alert, expr: r.Expr})
		}
	}
	return exprs
}

var obsDuration = regexp.MustCompile(`^([0-9]+(ms|s|m|h|d|w|y))+$`)

// obsTemplate checks an annotation as Prometheus expands it: a non-empty
// Go template over $labels and $value with Prometheus' functions.
func obsTemplate(text string) error {
	if strings.TrimSpace(text) == "" {
		return fmt.Errorf("empty")
	}
	stub := func(v any) string { return fmt.Sprint(v) }
	funcs := template.FuncMap{"humanize": stub, "humanizePercentage": stub, "humanizeDuration": stub, "title": stub, "toUpper": stub}
	tmpl, err := template.New("annotation").Option("missingkey=error").Funcs(funcs).
		Parse("{{$labels := .Labels}}{{$value := .Value}}" + text)
	if err != nil {
		return err
	}
	data := map[string]any{"Labels": map[string]string{"job": "routerd", "instance": "n1:8080"}, "Value": 0.5}
	return tmpl.Execute(io.Discard, data)
}

func obsSorted(m map[string]bool) []string {
	var s []string
	for k := range m {
		s = append(s, k)
	}
	slices.Sort(s)
	return s
}
