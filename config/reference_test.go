package config

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/knadh/koanf/parsers/yaml"
)

// referencePath is the configuration reference, relative to the package.
var referencePath = filepath.Join("..", "docs", "configuration.md")

// TestConfigurationDocUpToDate regenerates the tables of
// docs/configuration.md in memory and fails when the file differs.
func TestConfigurationDocUpToDate(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(referencePath)
	if err != nil {
		t.Fatal(err)
	}
	want, err := UpdateReference(doc)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(doc, want) {
		return
	}
	got, exp := strings.Split(string(doc), "\n"), strings.Split(string(want), "\n")
	line := 0
	for line < len(got) && line < len(exp) && got[line] == exp[line] {
		line++
	}
	have, should := "(end of file)", "(end of file)"
	if line < len(got) {
		have = got[line]
	}
	if line < len(exp) {
		should = exp[line]
	}
	t.Errorf("%s is out of date: run go generate ./config\nfirst difference, line %d:\n  file:      %s\n  generated: %s",
		referencePath, line+1, have, should)
}

func TestUpdateReference(t *testing.T) {
	t.Parallel()
	doc := "# Title\n\nprose\n\n" + referenceBegin + "\nstale\n" + referenceEnd + "\n\nmore prose\n"
	out, err := UpdateReference([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	if !strings.HasPrefix(s, "# Title\n\nprose\n\n"+referenceBegin+"\n") || !strings.HasSuffix(s, "\n"+referenceEnd+"\n\nmore prose\n") {
		t.Errorf("the text around the generated part changed:\n%s", s)
	}
	if strings.Contains(s, "stale") {
		t.Error("the old generated part is still there")
	}
	for _, want := range []string{
		"\n### http\n\n| key | type | default | description |\n|---|---|---|---|\n",
		"| `http.listen` | string | `127.0.0.1:8080` | HTTP and WebSocket listen address (host:port); ",
		"| `http.chat_page` | bool | `false` | ",
		"| `node.name` | string | host name | ",
		"| `nats.users` | list, YAML only | — | ",
		"| `nats.users[].user` | string, YAML only | — | ",
		"| `socketio.recovery.max_disconnection` | duration | `2m` | ",
		"| `namespaces.<name>.history.max_msgs` | int | none, required | ",
		"| `namespaces.<name>.client_publish` | string | `members` | ",
		"(extension)*",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("generated part lacks %q", want)
		}
	}
	again, err := UpdateReference(out)
	if err != nil || !bytes.Equal(again, out) {
		t.Errorf("a second update changes the document (err %v)", err)
	}

	for _, bad := range []string{
		"no markers\n",
		referenceBegin + "\n",
		referenceEnd + "\n" + referenceBegin + "\n",
	} {
		if _, err := UpdateReference([]byte(bad)); err == nil {
			t.Errorf("UpdateReference(%q): no error", bad)
		}
	}
}

// TestKeysDocumented checks that every key has a description and that
// every description is of a key.
func TestKeysDocumented(t *testing.T) {
	t.Parallel()
	docs := keyDocs()
	keys := schemaKeys()
	for _, k := range keys {
		d, ok := docs[k.path]
		switch {
		case !ok:
			t.Errorf("%s: not in keyDocs", k.path)
			continue
		case d.help == "":
			t.Errorf("%s: empty help", k.path)
		case strings.ContainsAny(d.help, "`\n") || strings.HasSuffix(d.help, "."):
			t.Errorf("%s: help %q is not one line of plain text without a final period", k.path, d.help)
		}
		if strings.Contains(d.more, "\n") || strings.HasSuffix(d.more, ".") {
			t.Errorf("%s: more %q is not one line without a final period", k.path, d.more)
		}
		delete(docs, k.path)
	}
	for path := range docs {
		t.Errorf("keyDocs describes %s, which is no key", path)
	}

	// The walk finds every key the decoder knows.
	paths := map[string]bool{}
	for _, k := range keys {
		paths[k.path] = true
	}
	for _, l := range configLeaves() {
		if !paths[l.key] {
			t.Errorf("schemaKeys lacks %s", l.key)
		}
	}
	for _, l := range namespaceLeaves() {
		if !paths["namespaces.<name>."+l.key] {
			t.Errorf("schemaKeys lacks namespaces.<name>.%s", l.key)
		}
	}
	for _, p := range []string{"nats.users", "nats.users[].account", "nats.leafnodes.remotes", "nats.leafnodes.remotes[].tls.ca_file",
		"socketio.namespaces", "socketio.events", "namespaces", "namespaces.<name>.history"} {
		if !paths[p] {
			t.Errorf("schemaKeys lacks %s", p)
		}
	}
}

// TestSchemaDefaults checks that the schema's defaults are Default()'s and
// how values are written.
func TestSchemaDefaults(t *testing.T) {
	t.Parallel()
	want := map[string]string{
		"http.listen":                          Default().HTTP.Listen,
		"http.ping_interval":                   "25s",
		"http.allowed_origins":                 "",
		"limits.rate.per_second":               "100",
		"socketio.recovery.max_disconnection":  "2m",
		"socketio.recovery.max_buffer_bytes":   "524288",
		"namespaces.<name>.client_join":        "true",
		"namespaces.<name>.history.replicas":   "1",
		"namespaces.<name>.history.max_age":    "0",
		"nats.leafnodes.remotes[].tls.ca_file": "",
	}
	for _, k := range schemaKeys() {
		if w, ok := want[k.path]; ok && k.def != w {
			t.Errorf("%s: default %q, want %q", k.path, k.def, w)
		}
	}
	def := reflect.ValueOf(Default())
	for _, k := range schemaKeys() {
		if k.source == setByFlag && k.def != defaultText(fieldByKey(def, k.path)) {
			t.Errorf("%s: default %q is not Default()'s", k.path, k.def)
		}
	}
	for d, want := range map[time.Duration]string{
		0: "0", 90 * time.Second: "1m30s", 2 * time.Minute: "2m", 24 * time.Hour: "24h",
		90 * time.Minute: "1h30m", 500 * time.Millisecond: "500ms", time.Hour + time.Second: "1h0m1s",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
	}
	if got := defaultText(reflect.ValueOf([]string{"a", "b"})); got != "a,b" {
		t.Errorf("defaultText([a b]) = %q", got)
	}
}

// TestSampleConfigKeys checks that every key the sample configurations
// set is a key of the schema, and so documented.
func TestSampleConfigKeys(t *testing.T) {
	t.Parallel()
	var files []string
	for _, pattern := range []string{"../router.yaml", "../packaging/*/router.yaml", "../examples/*/*.yaml", "../bench/*.yaml"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if !slices.Contains(files, "../router.yaml") {
		t.Fatalf("no ../router.yaml among %v", files)
	}
	known := map[string]bool{}
	for _, k := range schemaKeys() {
		known[k.path] = true
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := yaml.Parser().Unmarshal(b)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, path := range unknownKeys("", raw, known) {
			t.Errorf("%s: %s is no configuration key", file, path)
		}
	}

	bad := unknownKeys("", map[string]any{
		"http":       map[string]any{"listen": ":80", "bogus": 1},
		"nope":       map[string]any{},
		"namespaces": map[string]any{"chat": map[string]any{"history": map[string]any{"max_msgs": 1, "x": 2}}},
		"nats":       map[string]any{"users": []any{map[string]any{"user": "a", "pass": "b"}}},
		"socketio":   map[string]any{"events": map[string]any{"anything": "join"}},
	}, known)
	slices.Sort(bad)
	want := []string{"http.bogus", "namespaces.<name>.history.x", "nats.users[].pass", "nope"}
	if !slices.Equal(bad, want) {
		t.Errorf("unknownKeys = %v, want %v", bad, want)
	}
}

// unknownKeys returns the paths, written as schemaKeys writes them, of the
// keys in the YAML tree raw (at path prefix) that are no known key.
func unknownKeys(prefix string, raw map[string]any, known map[string]bool) []string {
	// parent reports whether a known key is below path.
	parent := func(path string) bool {
		for k := range known {
			if strings.HasPrefix(k, path+".") || strings.HasPrefix(k, path+"[].") {
				return true
			}
		}
		return false
	}
	var bad []string
	for name, v := range raw {
		path := joinKey(prefix, name)
		if parent(joinKey(prefix, namespaceName)) {
			path = joinKey(prefix, namespaceName)
		}
		m, isMap := asMap(v)
		list, isList := v.([]any)
		switch {
		case isList && known[path] && parent(path):
			for _, item := range list {
				if m, ok := asMap(item); ok {
					bad = append(bad, unknownKeys(path+"[]", m, known)...)
				}
			}
		case isMap && parent(path):
			bad = append(bad, unknownKeys(path, m, known)...)
		case !known[path]:
			bad = append(bad, path)
		}
	}
	return bad
}

// TestUsage checks that --help lists the flags that are no keys and every
// key, with its default and help.
func TestUsage(t *testing.T) {
	t.Parallel()
	fs := NewFlagSet("routerd")
	fs.String("extra", "", "a flag the caller added")
	var out bytes.Buffer
	fs.SetOutput(&out)
	fs.Usage()
	help := out.String()
	for _, want := range []string{
		"Usage: routerd [flags]\n",
		"-c, --config string",
		"--check",
		"--version",
		"--extra string",
		"docs/configuration.md",
		"\n  --http.listen string (default 127.0.0.1:8080)\n      HTTP and WebSocket listen address (host:port)\n",
		"\n  --node.name string (default: host name)\n",
		"\nhttp\n  --http.listen string",
		"\n  --http.handshake_timeout duration (default 10s)\n      bound on sending the upgrade request's headers and completing the\n      WebSocket upgrade\n",
		"\n  nats.users list (YAML only)\n",
		"\n  namespaces.<name>.auth string (default none)\n",
	} {
		if !strings.Contains(help, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
	for _, k := range schemaKeys() {
		name := k.path
		if k.source == setByFlag {
			name = "--" + name
		}
		if !strings.Contains(help, "\n  "+name+" "+k.typ) {
			t.Errorf("--help lacks key %s", k.path)
		}
	}
	for _, line := range strings.Split(help, "\n") {
		if len(line) > 80 && !strings.Contains(line, "--") {
			t.Errorf("help line longer than 80 columns: %q", line)
		}
	}
	if strings.Count(help, "\n  --http.listen ") != 1 {
		t.Errorf("--http.listen is listed more than once:\n%s", help)
	}
}

func TestWrap(t *testing.T) {
	t.Parallel()
	tests := []struct {
		text string
		want string
	}{
		{"", "  \n"},
		{"one two", "  one two\n"},
		{" one  two three ", "  one two\n  three\n"},
		{"aaaaaaaaaaaa b", "  aaaaaaaaaaaa\n  b\n"},
	}
	for _, tt := range tests {
		if got := wrap(tt.text, "  ", 10); got != tt.want {
			t.Errorf("wrap(%q) = %q, want %q", tt.text, got, tt.want)
		}
	}
}
