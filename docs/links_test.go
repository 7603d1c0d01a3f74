// Package docs holds routerd's documentation; its test checks that the
// documents hold together: every relative link in every Markdown file of the
// repository names a file that exists, and every #fragment a heading (or an
// explicit anchor) of the document it points to, as GitHub renders them.
package docs

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// TestLinks follows every relative Markdown link of the repository.
func TestLinks(t *testing.T) {
	root := ".."
	files := markdownFiles(t, root)
	if len(files) < 10 {
		t.Fatalf("found %d Markdown files under %s; is the test run from docs/?", len(files), root)
	}
	anchors := map[string]map[string]bool{}
	anchorsOf := func(path string) map[string]bool {
		if a, ok := anchors[path]; ok {
			return a
		}
		a := documentAnchors(t, path)
		anchors[path] = a
		return a
	}
	checked := 0
	for _, file := range files {
		for _, l := range documentLinks(t, file) {
			target, frag, _ := strings.Cut(l.target, "#")
			path := file
			if target != "" {
				path = filepath.Join(filepath.Dir(file), filepath.FromSlash(target))
				st, err := os.Stat(path)
				if err != nil {
					t.Errorf("%s:%d: link %q: %v", file, l.line, l.target, err)
					continue
				}
				if st.IsDir() {
					path = filepath.Join(path, "README.md")
				}
			}
			checked++
			if frag == "" {
				continue
			}
			if !strings.HasSuffix(path, ".md") {
				t.Errorf("%s:%d: link %q: a fragment on a file that is not Markdown", file, l.line, l.target)
				continue
			}
			if !anchorsOf(path)[frag] {
				t.Errorf("%s:%d: link %q: %s has no heading or anchor %q", file, l.line, l.target, path, frag)
			}
		}
	}
	if checked < 100 {
		t.Errorf("checked only %d links; the link pattern no longer matches the documents", checked)
	}
}

// TestSlug pins the GitHub heading anchors the links rely on.
func TestSlug(t *testing.T) {
	for in, want := range map[string]string{
		"WebSocket protocol (v1)":           "websocket-protocol-v1",
		"Socket.IO Admin UI":                "socketio-admin-ui",
		"The browser client (`/client.js`)": "the-browser-client-clientjs",
		"Bounds *(extensions)*":             "bounds-extensions",
		"Tenants: one NATS account each":    "tenants-one-nats-account-each",
		"routerd's Socket.IO endpoint":      "routerds-socketio-endpoint",
		"`routerbench chaos`":               "routerbench-chaos",
		"Several nodes, no sticky sessions": "several-nodes-no-sticky-sessions",
	} {
		if got := slug(in); got != want {
			t.Errorf("slug(%q) = %q, want %q", in, got, want)
		}
	}
}

// markdownFiles lists the repository's Markdown files, without
// dependencies (node_modules) and hidden directories.
func markdownFiles(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(name, ".md") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// link is one relative link of a document.
type link struct {
	line   int
	target string
}

var (
	// linkRE matches [text](target) and ![alt](target); the target has no
	// spaces (a title after it is not used in these documents).
	linkRE = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	// codeSpanRE matches inline code, where brackets are not links.
	codeSpanRE = regexp.MustCompile("`[^`]*`")
	// anchorRE matches explicit anchors: <a id="x"> or <a name="x">.
	anchorRE = regexp.MustCompile(`<a (?:id|name)="([^"]+)"`)
	// headingRE matches an ATX heading.
	headingRE = regexp.MustCompile(`^#{1,6}\s+(.*?)\s*#*\s*$`)
)

// documentLinks returns the relative links of the document at path,
// outside fenced code blocks and code spans.
func documentLinks(t *testing.T, path string) []link {
	t.Helper()
	var links []link
	eachProseLine(t, path, func(n int, line string) {
		for _, m := range linkRE.FindAllStringSubmatch(codeSpanRE.ReplaceAllString(line, ""), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			links = append(links, link{line: n, target: target})
		}
	})
	return links
}

// documentAnchors returns the fragments the document at path answers to:
// its headings' slugs, numbered as GitHub numbers repeated ones, and its
// explicit anchors.
func documentAnchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	anchors := map[string]bool{}
	seen := map[string]int{}
	eachProseLine(t, path, func(_ int, line string) {
		for _, m := range anchorRE.FindAllStringSubmatch(line, -1) {
			anchors[m[1]] = true
		}
		if m := headingRE.FindStringSubmatch(line); m != nil {
			s := slug(anchorRE.ReplaceAllString(m[1], ""))
			if n := seen[s]; n > 0 {
				anchors[s+"-"+strconv.Itoa(n)] = true
			} else {
				anchors[s] = true
			}
			seen[s]++
		}
	})
	return anchors
}

// eachProseLine calls fn with each line of the document at path that is
// not inside a fenced code block, numbered from 1.
func eachProseLine(t *testing.T, path string, fn func(n int, line string)) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	fenced := false
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if !fenced {
			fn(n, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// slug is GitHub's anchor for a heading: lower case, punctuation other
// than '-' and '_' removed, spaces turned into '-'.
func slug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}
