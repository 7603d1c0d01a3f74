package config

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/knadh/koanf/parsers/yaml"
)

func TestPrecedence(t *testing.T) {
	t.Parallel()
	const yamlListen = "http: {listen: \"127.0.0.1:1001\"}\n"
	env := []string{"ROUTER_HTTP_LISTEN=127.0.0.1:1002"}
	flag := []string{"--http.listen", "127.0.0.1:1003"}
	tests := []struct {
		name  string
		yaml  string // "" loads no file
		env   []string
		flags []string
		want  string
	}{
		{name: "defaults", want: "127.0.0.1:8080"},
		{name: "yaml over defaults", yaml: yamlListen, want: "127.0.0.1:1001"},
		{name: "env over yaml", yaml: yamlListen, env: env, want: "127.0.0.1:1002"},
		{name: "env over defaults", env: env, want: "127.0.0.1:1002"},
		{name: "flag over env and yaml", yaml: yamlListen, env: env, flags: flag, want: "127.0.0.1:1003"},
		{name: "flag over defaults", flags: flag, want: "127.0.0.1:1003"},
		{name: "unset flag keeps yaml", yaml: yamlListen, flags: []string{"--log.level", "debug"}, want: "127.0.0.1:1001"},
		{name: "unset flag keeps env", env: env, flags: []string{"--log.level", "debug"}, want: "127.0.0.1:1002"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var (
				cfg Config
				err error
			)
			if tt.yaml != "" {
				cfg, err = loadYAML(t, tt.yaml, tt.env, tt.flags...)
			} else {
				cfg, err = loadArgs(t, tt.env, tt.flags...)
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.HTTP.Listen != tt.want {
				t.Errorf("http.listen = %q, want %q", cfg.HTTP.Listen, tt.want)
			}
		})
	}
}

func TestEnvironment(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string
		env  []string
		got  func(Config) any
		want any
	}{
		{
			name: "underscores inside key names",
			env:  []string{"ROUTER_LIMITS_MAX_FRAME_BYTES=2048"},
			got:  func(c Config) any { return c.Limits.MaxFrameBytes },
			want: 2048,
		},
		{
			name: "nested key",
			env:  []string{"ROUTER_LIMITS_RATE_PER_SECOND=2.5"},
			got:  func(c Config) any { return c.Limits.Rate.PerSecond },
			want: 2.5,
		},
		{
			name: "duration",
			env:  []string{"ROUTER_HTTP_PING_INTERVAL=1m"},
			got:  func(c Config) any { return c.HTTP.PingInterval },
			want: time.Minute,
		},
		{
			name: "bool as 1",
			env:  []string{"ROUTER_NATS_JETSTREAM_ENABLED=1"},
			got:  func(c Config) any { return c.NATS.JetStream.Enabled },
			want: true,
		},
		{
			name: "comma-separated list",
			env:  []string{"ROUTER_NATS_URL=nats://a:4222, nats://b:4222"},
			got:  func(c Config) any { return c.NATS.URL },
			want: []string{"nats://a:4222", "nats://b:4222"},
		},
		{
			name: "list replaces the yaml list",
			yaml: "http: {allowed_origins: [https://a.example, https://b.example]}",
			env:  []string{"ROUTER_HTTP_ALLOWED_ORIGINS=https://c.example"},
			got:  func(c Config) any { return c.HTTP.AllowedOrigins },
			want: []string{"https://c.example"},
		},
		{
			name: "namespace declared in yaml, other case",
			yaml: "namespaces: {Chat: {direct: false, presence_events: true}}",
			env:  []string{"ROUTER_NAMESPACES_CHAT_DIRECT=true"},
			got: func(c Config) any {
				return []bool{c.Namespaces["Chat"].Direct, c.Namespaces["Chat"].PresenceEvents}
			},
			want: []bool{true, true},
		},
		{
			name: "new namespace is lower-cased and gets the defaults",
			env:  []string{"ROUTER_NAMESPACES_TEAM_A_CLIENT_PUBLISH=any"},
			got:  func(c Config) any { return c.Namespaces },
			want: map[string]Namespace{"team_a": func() Namespace {
				ns := DefaultNamespace()
				ns.ClientPublish = PublishAny
				return ns
			}()},
		},
		{
			name: "presence_events is not presence of namespace x_presence",
			yaml: "namespaces: {x: {}}",
			env:  []string{"ROUTER_NAMESPACES_X_PRESENCE_EVENTS=true", "ROUTER_NAMESPACES_X_PRESENCE=false"},
			got: func(c Config) any {
				return []any{len(c.Namespaces), c.Namespaces["x"].PresenceEvents, c.Namespaces["x"].Presence}
			},
			want: []any{1, true, false},
		},
		{
			name: "namespace history keys",
			yaml: "nats: {jetstream: {enabled: true}}\nnamespaces: {feed: {}}",
			env:  []string{"ROUTER_NAMESPACES_FEED_HISTORY_MAX_MSGS=10", "ROUTER_NAMESPACES_FEED_HISTORY_MAX_AGE=1h"},
			got:  func(c Config) any { return *c.Namespaces["feed"].History },
			want: History{MaxMsgs: 10, MaxAge: time.Hour, Replicas: 1},
		},
		{
			name: "variables without the prefix are ignored",
			env:  []string{"HOME=/root", "router_nope=1", "XROUTER_NOPE=1", "NOEQUALS"},
			got:  func(c Config) any { return c.HTTP.Listen },
			want: "127.0.0.1:8080",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := loadYAML(t, tt.yaml, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.got(cfg); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestEnvironmentProblems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  []string
		want []string
	}{
		{
			name: "unknown variable",
			env:  []string{"ROUTER_NOPE=1"},
			want: []string{"ROUTER_NOPE: names no config key"},
		},
		{
			name: "group, not a key",
			env:  []string{"ROUTER_HTTP=x", "ROUTER_LIMITS_RATE=5"},
			want: []string{"ROUTER_HTTP: names no config key", "ROUTER_LIMITS_RATE: names no config key"},
		},
		{
			name: "unknown namespace key",
			env:  []string{"ROUTER_NAMESPACES_CHAT_PUBLIC=true", "ROUTER_NAMESPACES_DIRECT=true"},
			want: []string{
				"ROUTER_NAMESPACES_CHAT_PUBLIC: names no config key",
				"ROUTER_NAMESPACES_DIRECT: names no config key",
			},
		},
		{
			name: "maps are for the file",
			env:  []string{"ROUTER_SOCKETIO_EVENTS_JOIN=join", "ROUTER_SOCKETIO_NAMESPACES=x", "ROUTER_NATS_USERS=a", "ROUTER_NATS_LEAFNODES_REMOTES=x"},
			want: []string{
				"ROUTER_NATS_LEAFNODES_REMOTES: cannot be set from the environment; set nats.leafnodes.remotes in the YAML file",
				"ROUTER_NATS_USERS: cannot be set from the environment; set nats.users in the YAML file",
				"ROUTER_SOCKETIO_EVENTS_JOIN: cannot be set from the environment; set socketio.events in the YAML file",
				"ROUTER_SOCKETIO_NAMESPACES: cannot be set from the environment; set socketio.namespaces in the YAML file",
			},
		},
		{
			name: "bad values carry the key path",
			env: []string{
				"ROUTER_LIMITS_MAX_FRAME_BYTES=big",
				"ROUTER_HTTP_PING_INTERVAL=25",
				"ROUTER_HTTP_PPROF=yes",
				"ROUTER_LIMITS_SEND_QUEUE=0",
			},
			want: []string{
				`http.ping_interval: invalid duration "25": a number needs a unit, e.g. "25s"`,
				`http.pprof: invalid boolean "yes" (use true or false)`,
				`limits.max_frame_bytes: invalid integer "big"`,
				`limits.send_queue: must be between 1 and 1000000`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := loadArgs(t, tt.env)
			if got := problemLines(t, err); !slices.Equal(got, tt.want) {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestFlags(t *testing.T) {
	t.Parallel()
	cfg, err := loadYAML(t, "limits: {max_frame_bytes: 4096}\nnode: {name: from-file}\n",
		[]string{"ROUTER_NODE_NAME=from-env", "ROUTER_LOG_LEVEL=warn"},
		"--node.name=from-flag",
		"--limits.max_frame_bytes", "8192",
		"--http.ping_interval", "3s",
		"--nats.url", "nats://a:4222,nats://b:4222",
		"--nats.jetstream.enabled",
		"--limits.rate.per_second", "7.5",
		"--check",
	)
	if err != nil {
		t.Fatal(err)
	}
	got := []any{cfg.Node.Name, cfg.Log.Level, cfg.Limits.MaxFrameBytes, cfg.HTTP.PingInterval,
		cfg.NATS.URL, cfg.NATS.JetStream.Enabled, cfg.Limits.Rate.PerSecond}
	want := []any{"from-flag", "warn", 8192, 3 * time.Second,
		[]string{"nats://a:4222", "nats://b:4222"}, true, 7.5}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestFlagSet(t *testing.T) {
	t.Parallel()
	fs := NewFlagSet("routerd")
	for _, name := range []string{FlagConfig, FlagCheck, FlagVersion} {
		if fs.Lookup(name) == nil {
			t.Errorf("no --%s flag", name)
		}
	}
	if f := fs.ShorthandLookup("c"); f == nil || f.Name != FlagConfig {
		t.Errorf("-c is %v, want --config", f)
	}
	docs := keyDocs()
	for _, l := range configLeaves() {
		f := fs.Lookup(l.key)
		if f == nil {
			t.Errorf("no flag for key %s", l.key)
			continue
		}
		if f.Usage == "" || f.Usage != docs[l.key].help {
			t.Errorf("flag --%s has usage %q, want the key's help %q", l.key, f.Usage, docs[l.key].help)
		}
	}
	for _, key := range []string{"namespaces", "socketio.namespaces", "socketio.events", "nats.users", "nats.leafnodes.remotes"} {
		if fs.Lookup(key) != nil {
			t.Errorf("map-valued key %s has a flag", key)
		}
	}
	// Parsing no flags and loading yields exactly the defaults.
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(fs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, Default()) {
		t.Errorf("Load with no input = %+v, want Default() %+v", cfg, Default())
	}
}

func TestEnvNames(t *testing.T) {
	t.Parallel()
	m := newEnvMapper(nil, &Problems{})
	seen := map[string]string{}
	for _, l := range configLeaves() {
		name := envName(l.key)
		if other, dup := seen[name]; dup {
			t.Errorf("%s names both %s and %s", name, other, l.key)
		}
		seen[name] = l.key
		if key, _ := m.key(name); key != l.key {
			t.Errorf("%s maps to %q, want %q", name, key, l.key)
		}
	}
	for _, l := range namespaceLeaves() {
		name := envNamespaces + "X_" + strings.ToUpper(strings.ReplaceAll(l.key, ".", "_"))
		if key, _ := m.key(name); key != "namespaces.x."+l.key {
			t.Errorf("%s maps to %q, want namespaces.x.%s", name, key, l.key)
		}
	}
}

func TestLoadDecodesTypes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string
		got  func(Config) any
		want any
	}{
		{"numeric string int", "limits: {max_frame_bytes: \"2048\"}", func(c Config) any { return c.Limits.MaxFrameBytes }, 2048},
		{"integral float int", "limits: {max_frame_bytes: 2048.0}", func(c Config) any { return c.Limits.MaxFrameBytes }, 2048},
		{"int float", "limits: {rate: {per_second: 3}}", func(c Config) any { return c.Limits.Rate.PerSecond }, 3.0},
		{"bool string", "http: {pprof: \"true\"}", func(c Config) any { return c.HTTP.Pprof }, true},
		{"bool 0 string", "namespaces: {a: {presence: \"0\"}}", func(c Config) any { return c.Namespaces["a"].Presence }, false},
		{"duration", "http: {ping_interval: 1h30m}", func(c Config) any { return c.HTTP.PingInterval }, 90 * time.Minute},
		{"zero duration", "nats: {jetstream: {enabled: true}}\nnamespaces: {a: {history: {max_msgs: 1, max_age: 0}}}",
			func(c Config) any { return c.Namespaces["a"].History.MaxAge }, time.Duration(0)},
		{"number as string", "node: {name: 42}", func(c Config) any { return c.Node.Name }, "42"},
		{"url string", "nats: {url: nats://a:4222}", func(c Config) any { return c.NATS.URL }, []string{"nats://a:4222"}},
		{"url list", "nats: {url: [nats://a:4222, b:4222]}", func(c Config) any { return c.NATS.URL }, []string{"nats://a:4222", "b:4222"}},
		{"empty url", "nats: {url: \"\"}", func(c Config) any { return len(c.NATS.URL) }, 0},
		{"null keeps default", "http: {listen: ~}\nlog:", func(c Config) any { return []string{c.HTTP.Listen, c.Log.Level} }, []string{"127.0.0.1:8080", "info"}},
		{"null namespace has defaults", "namespaces: {lobby: ~}", func(c Config) any { return c.Namespaces["lobby"] }, DefaultNamespace()},
		{"no history", "namespaces: {lobby: {history: ~}}", func(c Config) any { return c.Namespaces["lobby"].History }, (*History)(nil)},
		{"user namespaces", "nats: {users: [{user: a, password: b, namespaces: \"x, y-2\"}]}",
			func(c Config) any { return c.NATS.Users }, []User{{User: "a", Password: "b", Namespaces: []string{"x", "y-2"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := loadYAML(t, tt.yaml, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.got(cfg); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestLoadFileErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	tests := []struct {
		name string
		path string
	}{
		{"missing", filepath.Join(dir, "missing.yaml")},
		{"directory", dir},
		{"syntax", write("syntax.yaml", "http:\n  listen: [\n")},
		{"not a map", write("list.yaml", "- a\n")},
		{"duplicate key", write("dup.yaml", "http: {}\nhttp: {}\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := loadArgs(t, nil, "-c", tt.path)
			if err == nil {
				t.Fatal("no error")
			}
			var p *Problems
			if errors.As(err, &p) {
				t.Errorf("error is *Problems, want a load error: %v", err)
			}
			if !strings.Contains(err.Error(), tt.path) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

// TestEveryProblemAtOnce checks that one invalid config reports all of its
// problems, of every kind, not only the first.
func TestEveryProblemAtOnce(t *testing.T) {
	t.Parallel()
	_, err := loadYAML(t, `
node: {name: "bad name"}
http: {ping_interval: abc, ws_path: ws}
nats: {bogus: 1}
limits: {max_frame_bytes: 10}
namespaces: {"bad.name": {}, chat: {auth: magic}}
`, []string{"ROUTER_NOPE=1"})
	want := []string{
		"ROUTER_NOPE: names no config key",
		`http.ping_interval: invalid duration "abc"`,
		`http.ws_path: must start with "/", not "ws"`,
		"limits.max_frame_bytes: must be between 1024 and 16777216",
		`namespaces.bad.name: invalid namespace name "bad.name": want 1 to 64 of [A-Za-z0-9_-], or a glob pattern`,
		`namespaces.chat.auth: must be none, jwt or backend, not "magic"`,
		"nats.bogus: unknown key",
		`node.name: invalid node name "bad name": want 1 to 64 visible ASCII characters, no spaces`,
	}
	got := problemLines(t, err)
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if lines := strings.Split(err.Error(), "\n"); !slices.Equal(lines, want) {
		t.Errorf("Error() lines = %q", lines)
	}
}

// TestRoundTrip dumps a config to YAML and loads it back unchanged.
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	cfg := Default()
	cfg.NATS.JetStream.Enabled = true
	cfg.NATS.Cluster = Cluster{Name: "c", Listen: "127.0.0.1:6222", Routes: []string{"nats-route://127.0.0.1:6223"}}
	cfg.NATS.Users = []User{{User: "a", Password: "b", Namespaces: []string{"x-1"}}}
	chat := DefaultNamespace()
	chat.Direct = true
	chat.History = &History{MaxMsgs: 10, MaxAge: time.Hour, Replicas: 2}
	cfg.Namespaces = map[string]Namespace{"chat": chat, "t-*": DefaultNamespace()}
	cfg.SocketIO.Namespaces = map[string]string{"/": "chat"}
	cfg.SocketIO.Events = map[string]string{"chat message": ActionBroadcastAll}

	b, err := yaml.Parser().Marshal(dump(cfg).(map[string]any))
	if err != nil {
		t.Fatal(err)
	}
	got, err := loadYAML(t, string(b), nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	gotJSON, _ := json.Marshal(dump(got))
	wantJSON, _ := json.Marshal(dump(cfg))
	if string(gotJSON) != string(wantJSON) {
		t.Errorf("round trip:\n got %s\nwant %s", gotJSON, wantJSON)
	}
}

func TestLoadWithoutFlags(t *testing.T) {
	t.Parallel()
	cfg, err := Load(nil, []string{"ROUTER_HTTP_LISTEN=:9000"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTP.Listen != ":9000" {
		t.Errorf("http.listen = %q", cfg.HTTP.Listen)
	}
}

// TestSampleConfig loads the repository's router.yaml, when it exists, as
// `routerd -c router.yaml` would.
func TestSampleConfig(t *testing.T) {
	t.Parallel()
	path := filepath.Join("..", "router.yaml")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("no sample config: %v", err)
	}
	cfg, err := loadArgs(t, nil, "-c", path)
	if err != nil {
		t.Fatalf("%s:\n%v", path, err)
	}
	chat, ok := cfg.Namespace("chat")
	if !ok {
		t.Fatal("namespace chat is not declared")
	}
	if chat.ClientPublish != PublishMembers || !chat.Direct || !chat.PresenceEvents {
		t.Errorf("chat = %+v, want client_publish members, direct, presence_events", chat)
	}
	if len(cfg.NATS.Users) != 0 {
		t.Errorf("sample sets nats.users; the sample is a single-account node")
	}
}
