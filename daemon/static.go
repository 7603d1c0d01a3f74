package daemon

import (
	"log/slog"
	"net/http"
	"os"
	"path"
	"strings"
)

// staticFiles returns the handler of http.static_dir: the regular files
// under dir, at their paths. It serves no name starting with "." (.env,
// .git/), no directory listing (a directory serves its index.html, or
// 404), and nothing outside dir: it opens files through an os.Root, which
// refuses any path, symbolic links included, that leads out of dir (a
// symbolic link within dir works when its target is relative and stays
// in dir). Refusals are 404, as for a file that is not there.
func staticFiles(dir string, log *slog.Logger) http.Handler {
	return &staticDir{dir: dir, log: log.With("component", "static")}
}

// staticDir is the handler staticFiles returns.
type staticDir struct {
	dir string
	log *slog.Logger
}

// ServeHTTP serves the file at the request's path, with net/http's
// conditional and range requests.
func (s *staticDir) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, ok := staticName(r.URL.Path)
	if !ok {
		http.NotFound(w, r)
		return
	}
	// The directory is opened for each request, as http.Dir does: no
	// descriptor to close at shutdown, and a directory replaced (a
	// deployment switching a symbolic link) is served at once.
	root, err := os.OpenRoot(s.dir)
	if err != nil {
		s.log.Warn("http.static_dir cannot be opened", "err", err)
		http.Error(w, "static files unavailable", http.StatusInternalServerError)
		return
	}
	defer root.Close()
	fi, err := root.Stat(name)
	if err == nil && fi.IsDir() {
		if !strings.HasSuffix(r.URL.Path, "/") {
			// Relative links in the directory's index.html need the
			// slash. The Location is relative, as http.FileServer's, so
			// that it holds behind a proxy that strips a path prefix.
			target := path.Base(r.URL.Path) + "/"
			if r.URL.RawQuery != "" {
				target += "?" + r.URL.RawQuery
			}
			w.Header().Set("Location", target)
			w.WriteHeader(http.StatusMovedPermanently)
			return
		}
		name = path.Join(name, "index.html")
		fi, err = root.Stat(name)
	}
	if err != nil || !fi.Mode().IsRegular() { // no FIFO, device or listing
		http.NotFound(w, r)
		return
	}
	f, err := root.Open(name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil || !fi.Mode().IsRegular() { // replaced since the Stat
		http.NotFound(w, r)
		return
	}
	http.ServeContent(w, r, path.Base(name), fi.ModTime(), f)
}

// staticName returns the name in the static directory for a URL path, or
// false when a segment of the path starts with "." (a hidden file, or a
// way up). Backslashes separate segments too, as they do on Windows.
func staticName(urlPath string) (string, bool) {
	for _, seg := range strings.FieldsFunc(urlPath, func(c rune) bool { return c == '/' || c == '\\' }) {
		if strings.HasPrefix(seg, ".") {
			return "", false
		}
	}
	name := strings.TrimPrefix(path.Clean("/"+urlPath), "/")
	if name == "" {
		name = "."
	}
	return name, true
}
