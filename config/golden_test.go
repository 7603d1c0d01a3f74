package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// update rewrites the .golden files from the current results:
// go test ./config -run Golden -update
var update = flag.Bool("update", false, "rewrite testdata/**/*.golden")

// TestGoldenValid loads every testdata/valid/*.yaml and compares the
// resulting Config, dumped as JSON by key path, with the .golden file beside
// it. A default node name (the host name) is written as "$HOSTNAME".
func TestGoldenValid(t *testing.T) {
	t.Parallel()
	eachGolden(t, "valid", func(t *testing.T, path string) []byte {
		cfg, err := loadArgs(t, nil, "-c", path)
		if err != nil {
			t.Fatalf("load %s:\n%v", path, err)
		}
		if cfg.Node.Name == hostNodeName() {
			cfg.Node.Name = "$HOSTNAME"
		}
		b, err := json.MarshalIndent(dump(cfg), "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		return append(b, '\n')
	})
}

// TestGoldenInvalid loads every testdata/invalid/*.yaml and compares the
// problems, one per line, with the .golden file beside it. An error that is
// not a *Problems (a file that does not parse) is written as "error: ...".
func TestGoldenInvalid(t *testing.T) {
	t.Parallel()
	eachGolden(t, "invalid", func(t *testing.T, path string) []byte {
		_, err := loadArgs(t, nil, "-c", path)
		if err == nil {
			t.Fatalf("load %s: no error", path)
		}
		var p *Problems
		if !errors.As(err, &p) {
			return []byte("error: " + err.Error() + "\n")
		}
		return []byte(p.Error() + "\n")
	})
}

// eachGolden runs got on every testdata/dir/*.yaml in a parallel subtest and
// compares (or, with -update, writes) the .golden file.
func eachGolden(t *testing.T, dir string, got func(t *testing.T, path string) []byte) {
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no testdata/%s/*.yaml", dir)
	}
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".yaml")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			out := got(t, path)
			golden := strings.TrimSuffix(path, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, out, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(out, want) {
				t.Errorf("%s differs from %s:\n--- got\n%s--- want\n%s", path, golden, out, want)
			}
		})
	}
}
