package daemon_test

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/internal/routertest"
)

// staticTree writes an app directory with hidden files, a directory
// without an index, symbolic links that stay inside and links that lead
// out, and a secret beside it; it returns the app directory.
func staticTree(t *testing.T) string {
	t.Helper()
	base := t.TempDir()
	app := filepath.Join(base, "app")
	files := map[string]string{
		"app/index.html":       "<h1>home</h1>",
		"app/app.js":           "console.log('app')",
		"app/sub/index.html":   "sub home",
		"app/sub/page.html":    "sub page",
		"app/sub/.secret":      "SUB-SECRET",
		"app/nodir/x.txt":      "x",
		"app/.env":             "DB_PASSWORD=ENV-SECRET",
		"app/.git/config":      "[remote] GIT-SECRET",
		"app/.well-known/x":    "WELL-KNOWN",
		"outside/secret.txt":   "OUTSIDE-SECRET",
		"outside/index.html":   "OUTSIDE-INDEX",
		"app/deep/a/b/c/d.txt": "deep",
	}
	for name, body := range files {
		p := filepath.Join(base, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		"app/inlink":       "sub",                                     // a directory inside
		"app/filelink.txt": "app.js",                                  // a file inside
		"app/deep/up.txt":  "../app.js",                               // up, but still inside
		"app/uplink":       "../outside",                              // relative, out
		"app/abslink":      filepath.Join(base, "outside"),            // absolute, out
		"app/absfile.txt":  filepath.Join(base, "outside/secret.txt"), // absolute, out
		"app/absin.js":     filepath.Join(app, "app.js"),              // absolute (refused by os.Root even inside)
		"app/dangling":     "nowhere",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(base, name)); err != nil {
			t.Skipf("no symbolic links here: %v", err)
		}
	}
	return app
}

// staticGet requests path raw (not cleaned, redirects not followed) and
// returns the status, the body and the Location header.
func staticGet(t *testing.T, n *routertest.Node, path string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, n.HTTPURL()+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Opaque = path // as written, ".." and "%2e" included
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, string(b), resp.Header.Get("Location")
}

// TestStaticDir: http.static_dir serves the app's files, directories by
// their index.html, and symbolic links that stay inside; never a name
// starting with ".", a directory listing, or a file outside the directory.
func TestStaticDir(t *testing.T) {
	t.Parallel()
	dir := staticTree(t)
	n := routertest.StartWith(t, func(cfg *config.Config) { cfg.HTTP.StaticDir = dir })
	served := []struct{ path, body string }{
		{"/", "<h1>home</h1>"},
		{"/index.html", "<h1>home</h1>"},
		{"/app.js", "console.log('app')"},
		{"/sub/", "sub home"},
		{"/sub/page.html", "sub page"},
		{"/nodir/x.txt", "x"},
		{"/inlink/page.html", "sub page"},
		{"/inlink/", "sub home"},
		{"/filelink.txt", "console.log('app')"},
		{"/deep/up.txt", "console.log('app')"},
		{"/deep/a/b/c/d.txt", "deep"},
		{"/%61pp.js", "console.log('app')"}, // escaped "a"
	}
	for _, tt := range served {
		if status, body, _ := staticGet(t, n, tt.path); status != http.StatusOK || body != tt.body {
			t.Errorf("GET %s: %d %q, want 200 %q", tt.path, status, body, tt.body)
		}
	}
	refused := []string{
		"/.env", "/.git/config", "/.git/", "/.git", "/sub/.secret", "/.well-known/x",
		"/%2eenv", "/%2Egit/config", "/sub/%2esecret", // escaped dots
		"/nodir/", "/deep/a/", // directories without index.html: no listing
		"/uplink/secret.txt", "/uplink/", "/abslink/secret.txt", "/absfile.txt", "/absin.js",
		"/dangling", "/missing.html",
		"/sub/../../outside/secret.txt", "/%2e%2e/outside/secret.txt", "/sub/..%2f..%2foutside/secret.txt",
		"/..%5coutside%5csecret.txt", "/sub%5c..%5c..%5coutside%5csecret.txt", // backslashes
	}
	for _, path := range refused {
		status, body, loc := staticGet(t, n, path)
		if strings.Contains(body, "SECRET") || strings.Contains(body, "OUTSIDE") || strings.Contains(body, "WELL-KNOWN") {
			t.Errorf("GET %s: %d served %q", path, status, body)
		}
		switch {
		case status == http.StatusNotFound:
		case (status == http.StatusMovedPermanently || status == http.StatusTemporaryRedirect) && loc != "":
			// net/http's mux redirects to the cleaned path: follow once.
			u, err := url.Parse(loc)
			if err != nil {
				t.Fatalf("GET %s: Location %q: %v", path, loc, err)
			}
			to := (&url.URL{Path: path}).ResolveReference(u).EscapedPath()
			if status, body, _ := staticGet(t, n, to); status != http.StatusNotFound || strings.Contains(body, "SECRET") {
				t.Errorf("GET %s, redirected to %s: %d %q, want 404", path, to, status, body)
			}
		default:
			t.Errorf("GET %s: %d %q (Location %q), want 404", path, status, body, loc)
		}
	}
	// A directory without its slash is redirected to it, as by
	// http.FileServer, so that its index.html's relative links work.
	if status, _, loc := staticGet(t, n, "/sub?x=1"); status != http.StatusMovedPermanently || loc != "sub/?x=1" {
		t.Errorf("GET /sub: %d to %q, want 301 to sub/?x=1", status, loc)
	}
	// What a browser needs: the content type, and conditional requests.
	resp, err := http.Get(n.HTTPURL() + "/app.js")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.Contains(ct, "javascript") || resp.Header.Get("Last-Modified") == "" {
		t.Errorf("/app.js: Content-Type %q, Last-Modified %q", ct, resp.Header.Get("Last-Modified"))
	}
	req, _ := http.NewRequest(http.MethodGet, n.HTTPURL()+"/app.js", nil)
	req.Header.Set("If-Modified-Since", resp.Header.Get("Last-Modified"))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNotModified {
		t.Errorf("conditional GET: %v %v, want 304", resp, err)
	} else {
		resp.Body.Close()
	}
}

// TestStaticDirGone: a static_dir removed while the node runs answers 500,
// not a crash or someone else's files.
func TestStaticDirGone(t *testing.T) {
	t.Parallel()
	dir := staticTree(t)
	n := routertest.StartWith(t, func(cfg *config.Config) { cfg.HTTP.StaticDir = dir })
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if status, body, _ := staticGet(t, n, "/app.js"); status != http.StatusInternalServerError {
		t.Errorf("GET /app.js after the directory went: %d %q, want 500", status, body)
	}
}
