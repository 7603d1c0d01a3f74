package config

import (
	"fmt"
	"strings"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"
)

// Load builds the configuration from, in increasing precedence, Default(),
// the YAML file named by the --config flag (if any), the ROUTER_* variables
// in environ (as os.Environ returns them) and the key flags set on the
// command line of fs, which must be parsed already (fs is one NewFlagSet
// returned; nil means no flags). It then validates the result.
//
// A file that cannot be read or parsed is a plain error. Every other problem
// (unknown keys and variables, values of the wrong type, failed validation)
// is collected into one *Problems error, so that all of them are reported at
// once. On error Load returns the zero Config.
func Load(fs *pflag.FlagSet, environ []string) (Config, error) {
	ko := koanf.New(".")
	if fs != nil {
		if path, err := fs.GetString(FlagConfig); err == nil && path != "" {
			if err := ko.Load(file.Provider(path), yaml.Parser()); err != nil {
				return Config{}, fmt.Errorf("config: load %s: %w", path, err)
			}
		}
	}

	probs := &Problems{}
	envs := newEnvMapper(declaredNamespaces(ko), probs)
	if err := ko.Load(envs.provider(environ), nil); err != nil {
		return Config{}, fmt.Errorf("config: load environment: %w", err)
	}
	if fs != nil {
		if err := ko.Load(flagProvider(fs, ko), nil); err != nil {
			return Config{}, fmt.Errorf("config: load flags: %w", err)
		}
	}

	cfg := Default()
	decoded := &Problems{}
	decode(ko.Raw(), &cfg, decoded)
	probs.List = append(probs.List, decoded.List...)
	if err := cfg.Validate(); err != nil {
		probs.List = append(probs.List, uncovered(err.(*Problems).List, decoded.List)...)
	}
	if err := probs.err(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// declaredNamespaces returns the keys under namespaces loaded so far.
func declaredNamespaces(ko *koanf.Koanf) []string {
	m, ok := asMap(ko.Raw()["namespaces"])
	if !ok {
		return nil
	}
	return sortedKeys(m)
}

// uncovered returns the validation problems that are not about a key whose
// value failed to decode (or a key below it): such a key holds its default
// or a zero value, and its validation problems would only repeat the
// decoding problem.
func uncovered(validation, decoding []Problem) []Problem {
	var out []Problem
	for _, v := range validation {
		covered := false
		for _, d := range decoding {
			if rest, ok := strings.CutPrefix(v.Key, d.Key); ok && (rest == "" || rest[0] == '.' || rest[0] == '[') {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, v)
		}
	}
	return out
}
