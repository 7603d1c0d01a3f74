package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"
)

//go:generate go run ./internal/configdoc ../docs/configuration.md

// The lines that enclose the generated part of docs/configuration.md.
const (
	referenceBegin = "<!-- BEGIN GENERATED KEYS: go generate ./config writes this part from the config package (keydoc.go, defaults.go); do not edit it here. -->"
	referenceEnd   = "<!-- END GENERATED KEYS -->"
)

// UpdateReference returns doc, the configuration reference
// (docs/configuration.md), with the part between its BEGIN GENERATED KEYS
// and END GENERATED KEYS lines replaced by the current tables of every
// key; the text around them is kept as it is.
func UpdateReference(doc []byte) ([]byte, error) {
	begin := bytes.Index(doc, []byte(referenceBegin+"\n"))
	end := bytes.Index(doc, []byte(referenceEnd+"\n"))
	if begin < 0 || end < begin {
		return nil, errors.New("config: the reference lacks the lines " + referenceBegin + " and " + referenceEnd + ", in this order")
	}
	var b bytes.Buffer
	b.Write(doc[:begin+len(referenceBegin)+1])
	writeReference(&b)
	b.Write(doc[end:])
	return b.Bytes(), nil
}

// writeReference writes one Markdown table of keys per top-level key
// (node, log, ..., socketio): key, type, default and description.
func writeReference(w *bytes.Buffer) {
	section := ""
	for _, k := range schemaKeys() {
		if top, _, _ := strings.Cut(k.path, "."); top != section {
			section = top
			fmt.Fprintf(w, "\n### %s\n\n| key | type | default | description |\n|---|---|---|---|\n", section)
		}
		typ := k.typ
		if k.source == yamlOnly {
			typ += ", YAML only"
		}
		def := "—"
		switch {
		case k.doc.def != "":
			def = k.doc.def
		case k.def != "":
			def = "`" + k.def + "`"
		}
		desc := k.doc.help
		if k.doc.more != "" {
			desc += "; " + k.doc.more
		}
		if k.doc.ext {
			desc += " *(extension)*"
		}
		fmt.Fprintf(w, "| `%s` | %s | %s | %s |\n", k.path, typ, cell(def), cell(desc))
	}
	w.WriteString("\n")
}

// cell escapes the pipes of a Markdown table cell.
func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// usage returns the Usage function of fs, the flag set NewFlagSet made:
// the flags that are no keys as pflag writes them, then every key with its
// type, default and meaning, as keyUsage writes them.
func usage(fs *pflag.FlagSet) func() {
	return func() {
		keys := map[string]bool{}
		for _, l := range configLeaves() {
			keys[l.key] = true
		}
		other := pflag.NewFlagSet(fs.Name(), pflag.ContinueOnError)
		fs.VisitAll(func(f *pflag.Flag) {
			if !keys[f.Name] {
				other.AddFlag(f)
			}
		})
		w := fs.Output()
		fmt.Fprintf(w, "Usage: %s [flags]\n\nFlags:\n%s\n", fs.Name(), other.FlagUsages())
		keyUsage(w)
	}
}

// keyUsage writes every key, grouped by its top-level key: its name (as a
// flag, for the keys that have one), type and default on one line, then
// its help wrapped to fit 80 columns.
func keyUsage(w io.Writer) {
	fmt.Fprint(w, `Configuration keys. Precedence: built-in defaults < YAML file (-c) < ROUTER_*
environment < flags. A key marked -- is also a flag (--http.listen=:8080) and
a variable: ROUTER_ and the key upper-cased, "_" for "." (ROUTER_HTTP_LISTEN);
lists are comma-separated there. Namespace keys are the variables
ROUTER_NAMESPACES_<NAME>_<KEY>; YAML only keys go in the file.
Reference: docs/configuration.md.
`)
	section := ""
	for _, k := range schemaKeys() {
		if top, _, _ := strings.Cut(k.path, "."); top != section {
			section = top
			fmt.Fprintf(w, "\n%s\n", section)
		}
		name := k.path
		var notes []string
		switch k.source {
		case setByFlag:
			name = "--" + name
		case yamlOnly:
			notes = append(notes, "YAML only")
		}
		switch {
		case k.doc.def != "":
			notes = append(notes, "default: "+k.doc.def)
		case k.def != "":
			notes = append(notes, "default "+k.def)
		}
		line := "  " + name + " " + k.typ
		if len(notes) > 0 {
			line += " (" + strings.Join(notes, "; ") + ")"
		}
		fmt.Fprintf(w, "%s\n%s", line, wrap(k.doc.help, "      ", 80))
	}
}

// wrap breaks text into lines of at most width bytes where it can, each
// starting with indent and ending with a newline.
func wrap(text, indent string, width int) string {
	var b strings.Builder
	line := indent
	for _, word := range strings.Fields(text) {
		if line != indent && len(line)+1+len(word) > width {
			b.WriteString(line + "\n")
			line = indent
		}
		if line != indent {
			line += " "
		}
		line += word
	}
	b.WriteString(line + "\n")
	return b.String()
}
