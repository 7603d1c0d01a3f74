package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// loadYAML writes snippet to a file and loads it with environ and the extra
// command-line args.
func loadYAML(t *testing.T, snippet string, environ []string, args ...string) (Config, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "router.yaml")
	if err := os.WriteFile(path, []byte(snippet), 0o600); err != nil {
		t.Fatal(err)
	}
	return loadArgs(t, environ, append([]string{"-c", path}, args...)...)
}

// loadArgs parses args with NewFlagSet and loads with environ.
func loadArgs(t *testing.T, environ []string, args ...string) (Config, error) {
	t.Helper()
	fs := NewFlagSet("routerd")
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	return Load(fs, environ)
}

// problemLines returns the problems in err as "key: message" lines, nil
// for a nil error; other errors fail the test.
func problemLines(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var p *Problems
	if !errors.As(err, &p) {
		t.Fatalf("error %v (%T) is not *Problems", err, err)
	}
	return p.Strings()
}

// dump turns a Config into a tree keyed by key path names, with durations
// as strings, for golden files and round trips.
func dump(cfg Config) any {
	return dumpValue(reflect.ValueOf(cfg))
}

func dumpValue(v reflect.Value) any {
	t := v.Type()
	switch {
	case t == durationType:
		return v.Interface().(interface{ String() string }).String()
	case t.Kind() == reflect.Struct:
		m := map[string]any{}
		for i := 0; i < t.NumField(); i++ {
			if tag := t.Field(i).Tag.Get("koanf"); tag != "" {
				m[tag] = dumpValue(v.Field(i))
			}
		}
		return m
	case t.Kind() == reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		return dumpValue(v.Elem())
	case t.Kind() == reflect.Map:
		m := map[string]any{}
		iter := v.MapRange()
		for iter.Next() {
			m[iter.Key().String()] = dumpValue(iter.Value())
		}
		return m
	case t.Kind() == reflect.Slice:
		out := make([]any, v.Len())
		for i := range out {
			out[i] = dumpValue(v.Index(i))
		}
		return out
	}
	return v.Interface()
}
