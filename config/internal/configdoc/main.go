// Command configdoc rewrites the generated part of the configuration
// reference, the tables of every key, from the config package's schema:
//
//	go run ./internal/configdoc ../docs/configuration.md
//
// It runs from `go generate ./config`; the text around the generated part
// is kept. The file is written only when it changes.
package main

import (
	"bytes"
	"fmt"
	"os"

	"github.com/routerd/routerd/config"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: configdoc FILE")
		os.Exit(2)
	}
	if err := update(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "configdoc:", err)
		os.Exit(1)
	}
}

// update rewrites the generated part of the reference at path.
func update(path string) error {
	doc, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := config.UpdateReference(doc)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if bytes.Equal(out, doc) {
		return nil
	}
	return os.WriteFile(path, out, 0o644)
}
