package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestHandler checks that the chat page is served at / and the browser
// client as JavaScript (browsers refuse ES modules of another type).
func TestHandler(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()

	tests := []struct {
		path        string
		contentType string // prefix
		body        string // substring
	}{
		{"/", "text/html", "<title>routerd chat</title>"},
		{"/client.js", "", "export class RouterClient"},
		{"/chat.js", "", `from "./client.js"`},
		{"/chat.css", "text/css", ":root"},
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
			if !strings.Contains(string(body), tt.body) {
				t.Errorf("body does not contain %q", tt.body)
			}
		})
	}
}

// isJavaScript reports whether a Content-Type is one browsers run as a module.
func isJavaScript(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	return mt == "text/javascript" || mt == "application/javascript"
}
