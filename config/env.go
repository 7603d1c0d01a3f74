package config

import (
	"cmp"
	"slices"
	"strings"

	"github.com/knadh/koanf/providers/env/v2"
)

// EnvPrefix starts the name of every environment variable routerd reads.
const EnvPrefix = "ROUTER_"

// envNamespaces starts the variables that set namespace policy keys.
const envNamespaces = EnvPrefix + "NAMESPACES_"

// envName returns the environment variable for a static key path:
// ROUTER_ + the path upper-cased with "_" for ".".
func envName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// envMapper maps ROUTER_* variable names to key paths by looking them up in
// the set of known keys, so that underscores inside key names
// (ROUTER_LIMITS_MAX_FRAME_BYTES) are no problem. Variables that name no key
// are recorded as problems.
//
// Namespace keys are dynamic: ROUTER_NAMESPACES_{NAME}_{KEY} sets
// namespaces.{name}.{key}, where {KEY} is a namespace key upper-cased with
// "_" for "." (AUTH, CLIENT_JOIN, ..., HISTORY_MAX_MSGS, ...) and {NAME} is
// matched case-insensitively against the namespaces the YAML file
// declares, else lower-cased. The YAML only keys of the schema (the maps
// socketio.namespaces and socketio.events, the lists of objects nats.users
// and nats.leafnodes.remotes) cannot be set from the environment.
type envMapper struct {
	static   map[string]string // variable name -> key path
	suffixes []envSuffix       // namespace keys, longest suffix first
	yamlOnly []string          // the YAML only keys, lists and maps
	declared []string          // namespaces keys from the file
	probs    *Problems
}

// envSuffix is one namespace key as it ends a variable name.
type envSuffix struct {
	suffix string // "_PRESENCE_EVENTS"
	key    string // "presence_events"
}

// newEnvMapper builds the mapping; declared lists the namespace keys already
// loaded, and problems go to probs.
func newEnvMapper(declared []string, probs *Problems) *envMapper {
	m := &envMapper{static: map[string]string{}, declared: declared, probs: probs}
	for _, l := range configLeaves() {
		m.static[envName(l.key)] = l.key
	}
	for _, l := range namespaceLeaves() {
		m.suffixes = append(m.suffixes, envSuffix{
			suffix: "_" + strings.ToUpper(strings.ReplaceAll(l.key, ".", "_")),
			key:    l.key,
		})
	}
	slices.SortFunc(m.suffixes, func(a, b envSuffix) int {
		return cmp.Or(cmp.Compare(len(b.suffix), len(a.suffix)), cmp.Compare(a.suffix, b.suffix))
	})
	for _, k := range schemaKeys() {
		if k.source == yamlOnly && !strings.Contains(k.path, "[]") {
			m.yamlOnly = append(m.yamlOnly, k.path)
		}
	}
	return m
}

// provider returns the koanf provider reading environ through m.
func (m *envMapper) provider(environ []string) *env.Env {
	return env.Provider(".", env.Opt{
		Prefix:        EnvPrefix,
		TransformFunc: m.transform,
		EnvironFunc:   func() []string { return environ },
	})
}

// transform is the env provider's TransformFunc: it returns the key path for
// a variable, or "" (skip) after recording a problem.
func (m *envMapper) transform(name, value string) (string, any) {
	key, why := m.key(name)
	if key == "" {
		m.probs.add(name, "%s", why)
		return "", nil
	}
	return key, value
}

// key maps a variable name to a key path, or returns "" and the reason.
func (m *envMapper) key(name string) (string, string) {
	if key, ok := m.static[name]; ok {
		return key, ""
	}
	// Maps and lists of objects are set in the YAML file only.
	for _, k := range m.yamlOnly {
		if prefix := envName(k); name == prefix || strings.HasPrefix(name, prefix+"_") {
			return "", "cannot be set from the environment; set " + k + " in the YAML file"
		}
	}
	if rest, ok := strings.CutPrefix(name, envNamespaces); ok {
		if key := m.namespaceKey(rest); key != "" {
			return key, ""
		}
	}
	return "", "names no config key"
}

// namespaceKey maps the part of a variable name after ROUTER_NAMESPACES_ to
// namespaces.{name}.{key}, or returns "".
func (m *envMapper) namespaceKey(rest string) string {
	type candidate struct{ name, key string }
	var fallback *candidate
	for _, s := range m.suffixes {
		mid, ok := strings.CutSuffix(rest, s.suffix)
		if !ok || mid == "" || strings.Contains(mid, ".") {
			continue
		}
		if d := m.declaredAs(mid); d != "" {
			return "namespaces." + d + "." + s.key
		}
		if fallback == nil {
			fallback = &candidate{name: strings.ToLower(mid), key: s.key}
		}
	}
	if fallback == nil {
		return ""
	}
	return "namespaces." + fallback.name + "." + fallback.key
}

// declaredAs returns the declared namespace key that equals mid ignoring
// case, preferring the lower-case spelling, or "".
func (m *envMapper) declaredAs(mid string) string {
	if lower := strings.ToLower(mid); slices.Contains(m.declared, lower) {
		return lower
	}
	for _, d := range m.declared {
		if strings.EqualFold(d, mid) {
			return d
		}
	}
	return ""
}
