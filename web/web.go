// Package web serves routerd's browser side: the chat example page at / and
// the reusable browser client, an ES module, at /client.js, with its
// TypeScript declarations at /client.d.ts. The files are embedded in the
// binary; nothing is fetched from elsewhere.
package web

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

// static holds what browsers get. The patterns leave out static/package.json,
// which makes the directory the client's npm package (@routerd/client): a
// file of another kind added to static/ needs a pattern here
// (TestEmbedded fails until it has one).
//
//go:embed static/*.html static/*.css static/*.js static/*.d.ts
var static embed.FS

// Handler serves the embedded files. TypeScript declarations go out as
// application/typescript (Go's own table has no type for .ts, and systems'
// mime.types give it to other formats: MPEG streams, Qt translations), and
// /client.js names its declarations in X-TypeScript-Types, where Deno looks
// for them.
func Handler() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree always has static/
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, ".d.ts"):
			w.Header().Set("Content-Type", "application/typescript; charset=utf-8")
		case r.URL.Path == "/client.js":
			w.Header().Set("X-TypeScript-Types", "./client.d.ts")
		}
		files.ServeHTTP(w, r)
	})
}
