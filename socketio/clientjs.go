package socketio

import (
	"bytes"
	"embed"
	"net/http"
	"time"
)

// The socket.io-client 4.8.1 browser bundles (MIT, client/LICENSE), served
// like a Socket.IO server's serveClient does: pages that load
// {socketio.path}socket.io.js from the server keep working when routerd
// serves that path.
//
//go:embed client/socket.io.min.js client/socket.io.esm.min.js client/LICENSE
var clientFiles embed.FS

// clientVersion is the version of the embedded bundles, their ETag.
const clientVersion = "4.8.1"

// clientBundles maps the file names a Socket.IO server serves to the
// embedded bundle (the minified one stands for socket.io.js too).
var clientBundles = map[string]string{
	"socket.io.js":         "client/socket.io.min.js",
	"socket.io.min.js":     "client/socket.io.min.js",
	"socket.io.esm.min.js": "client/socket.io.esm.min.js",
}

// serveClient answers a request for name under socketio.path: a bundle, or
// 404.
func serveClient(w http.ResponseWriter, r *http.Request, name string) {
	file, ok := clientBundles[name]
	if !ok || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		http.NotFound(w, r)
		return
	}
	b, err := clientFiles.ReadFile(file)
	if err != nil {
		http.Error(w, "client bundle missing", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/javascript; charset=utf-8")
	w.Header().Set("ETag", `"`+clientVersion+`"`)
	w.Header().Set("Cache-Control", "public, max-age=0")
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
}
