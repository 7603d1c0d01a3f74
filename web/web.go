// Package web serves routerd's browser side: the chat example page at / and
// the reusable browser client, an ES module, at /client.js. The files are
// embedded in the binary; nothing is fetched from elsewhere.
package web

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// Handler serves the embedded files.
func Handler() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree always has static/
	}
	return http.FileServerFS(sub)
}
