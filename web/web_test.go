package web

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

// TestHandler checks that the chat page is served at / and the browser
// client as JavaScript (browsers refuse ES modules of another type), with
// its TypeScript declarations beside it.
func TestHandler(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()

	tests := []struct {
		path        string
		contentType string // prefix
		body        string // substring
		types       string // X-TypeScript-Types
	}{
		{"/", "text/html", "<title>routerd chat</title>", ""},
		{"/client.js", "", "export class RouterClient", "./client.d.ts"},
		{"/client.d.ts", "application/typescript", "export class RouterClient", ""},
		{"/chat.js", "", `from "./client.js"`, ""},
		{"/answers.js", "", "export class Answers", ""},
		{"/chat.css", "text/css", ":root", ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			res, err := http.Get(srv.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			body, err := io.ReadAll(res.Body)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200", res.StatusCode)
			}
			ct := res.Header.Get("Content-Type")
			if tt.contentType != "" && !strings.HasPrefix(ct, tt.contentType) {
				t.Errorf("Content-Type %q, want %s", ct, tt.contentType)
			}
			if strings.HasSuffix(tt.path, ".js") && !isJavaScript(ct) {
				t.Errorf("Content-Type %q, want a JavaScript type", ct)
			}
			if got := res.Header.Get("X-TypeScript-Types"); got != tt.types {
				t.Errorf("X-TypeScript-Types %q, want %q", got, tt.types)
			}
			if !strings.Contains(string(body), tt.body) {
				t.Errorf("body does not contain %q", tt.body)
			}
		})
	}
}

// TestEmbedded checks that every file of static/ is served but
// package.json, which is there for npm.
func TestEmbedded(t *testing.T) {
	entries, err := os.ReadDir("static")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() || e.Name() == "package.json" {
			continue
		}
		if _, err := fs.Stat(static, "static/"+e.Name()); err != nil {
			t.Errorf("static/%s is not embedded: add a pattern to the go:embed line of web.go", e.Name())
		}
	}

	srv := httptest.NewServer(Handler())
	defer srv.Close()
	res, err := http.Get(srv.URL + "/package.json")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("/package.json: status %d, want 404", res.StatusCode)
	}
}

// isJavaScript reports whether a Content-Type is one browsers run as a module.
func isJavaScript(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	return mt == "text/javascript" || mt == "application/javascript"
}
