package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/internal/routertest"
)

func TestVersionText(t *testing.T) {
	t.Parallel()
	const rev = "0123456789abcdef0123456789abcdef01234567"
	stamped := func(version string, settings ...string) *debug.BuildInfo {
		bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/routerd/routerd", Version: version}}
		for i := 0; i+1 < len(settings); i += 2 {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
		}
		return bi
	}
	here := runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
	tests := []struct {
		name     string
		bi       *debug.BuildInfo
		override string
		want     string
	}{
		{"go install of a tag (no VCS stamp)", stamped("v1.2.3", "GOOS", "linux", "GOARCH", "arm64"), "",
			"routerd v1.2.3\ncommit: unknown\ndate:   unknown\ngo:     go1.26.8 linux/arm64\n"},
		{"go build in a clean checkout", stamped("v0.0.0-20261125214413-0123456789ab", "GOOS", "linux", "GOARCH", "amd64",
			"vcs", "git", "vcs.revision", rev, "vcs.time", "2026-11-25T21:44:13Z", "vcs.modified", "false"), "",
			"routerd v0.0.0-20261125214413-0123456789ab\ncommit: " + rev + "\ndate:   2026-11-25T21:44:13Z\ngo:     go1.26.8 linux/amd64\n"},
		{"go build with uncommitted changes", stamped("v0.0.0-20261125214413-0123456789ab+dirty", "GOOS", "darwin", "GOARCH", "arm64",
			"vcs.revision", rev, "vcs.time", "2026-11-25T21:44:13Z", "vcs.modified", "true"), "",
			"routerd v0.0.0-20261125214413-0123456789ab+dirty\ncommit: " + rev + " (dirty)\ndate:   2026-11-25T21:44:13Z\ngo:     go1.26.8 darwin/arm64\n"},
		{"no module version, no VCS", stamped("(devel)", "GOOS", "windows", "GOARCH", "amd64"), "",
			"routerd (devel)\ncommit: unknown\ndate:   unknown\ngo:     go1.26.8 windows/amd64\n"},
		{"empty module version", stamped("", "GOOS", "linux", "GOARCH", "amd64"), "",
			"routerd (devel)\ncommit: unknown\ndate:   unknown\ngo:     go1.26.8 linux/amd64\n"},
		{"link-time version", stamped("(devel)", "GOOS", "linux", "GOARCH", "amd64"), "v1.2.3",
			"routerd v1.2.3\ncommit: unknown\ndate:   unknown\ngo:     go1.26.8 linux/amd64\n"},
		{"no build information", nil, "",
			"routerd (devel)\ncommit: unknown\ndate:   unknown\ngo:     " + here + "\n"},
	}
	for _, tt := range tests {
		if got := versionText(tt.bi, tt.override); got != tt.want {
			t.Errorf("%s:\ngot\n%s\nwant\n%s", tt.name, got, tt.want)
		}
	}
}

// goVersionM returns the main module's version and the build settings of
// bin, as `go version -m` reads them.
func goVersionM(t *testing.T, bin string) (version string, settings map[string]string) {
	t.Helper()
	out, err := exec.Command("go", "version", "-m", bin).CombinedOutput()
	if err != nil {
		t.Fatalf("go version -m: %v\n%s", err, out)
	}
	settings = map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(strings.TrimSpace(line), "\t")
		switch {
		case len(f) >= 3 && f[0] == "mod":
			version = f[2]
		case len(f) == 2 && f[0] == "build":
			if k, v, ok := strings.Cut(f[1], "="); ok {
				settings[k] = v
			}
		}
	}
	return version, settings
}

// TestVersionBinary builds routerd as a user would and checks that
// --version reports what the Go toolchain stamped into the binary.
func TestVersionBinary(t *testing.T) {
	t.Parallel()
	bin := binary(t) // go build -o … . (cluster_test.go)
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("--version: %v\n%s", err, out)
	}
	got := string(out)
	modVersion, settings := goVersionM(t, bin)
	if modVersion == "" {
		modVersion = "(devel)"
	}
	commit := "unknown"
	if rev := settings["vcs.revision"]; rev != "" {
		commit = rev
		if settings["vcs.modified"] == "true" {
			commit += " (dirty)"
		}
	}
	date := settings["vcs.time"]
	if date == "" {
		date = "unknown"
	}
	want := fmt.Sprintf("routerd %s\ncommit: %s\ndate:   %s\ngo:     %s %s/%s\n",
		modVersion, commit, date, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if got != want {
		t.Fatalf("--version:\n%s\nwant (from go version -m):\n%s", got, want)
	}
	t.Log("\n" + got)
}

// TestVersionVCS builds routerd in the git checkout with VCS stamping on
// (whatever GOFLAGS says) and checks that --version names the checked-out
// commit, its time and a version made of it.
func TestVersionVCS(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("git", "log", "-1", "--format=%H %ct").Output()
	if err != nil {
		t.Skipf("not in a git checkout: %v", err)
	}
	var head string
	var unix int64
	if _, err := fmt.Sscan(string(out), &head, &unix); err != nil {
		t.Fatalf("git log %q: %v", out, err)
	}
	bin := filepath.Join(t.TempDir(), "routerd")
	if out, err := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	out, err = exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("--version: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("--version: want 4 lines:\n%s", out)
	}
	ver := strings.TrimPrefix(lines[0], "routerd ")
	dirty := strings.HasSuffix(ver, "+dirty")
	wantCommit := "commit: " + head
	if dirty {
		wantCommit += " (dirty)"
	}
	if lines[1] != wantCommit {
		t.Errorf("got %q, want %q", lines[1], wantCommit)
	}
	if want := "date:   " + time.Unix(unix, 0).UTC().Format(time.RFC3339); lines[2] != want {
		t.Errorf("got %q, want %q (the commit's time)", lines[2], want)
	}
	tags, _ := exec.Command("git", "tag", "--points-at", "HEAD").Output()
	base := strings.TrimSuffix(ver, "+dirty")
	if !strings.HasSuffix(base, "-"+head[:12]) && !slices.Contains(strings.Fields(string(tags)), base) {
		t.Errorf("version %q is neither a pseudo-version of %s nor a tag of HEAD (%q)", ver, head[:12], tags)
	}
	t.Log("\n" + string(out))
}

// TestVersionNoVCS builds without VCS information and with a link-time
// version, as the container image does.
func TestVersionNoVCS(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "routerd")
	build := exec.Command("go", "build", "-buildvcs=false", "-ldflags", "-X main.version=v9.8.7-test", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("--version: %v\n%s", err, out)
	}
	want := fmt.Sprintf("routerd v9.8.7-test\ncommit: unknown\ndate:   unknown\ngo:     %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if string(out) != want {
		t.Fatalf("--version:\n%s\nwant\n%s", out, want)
	}
}

func TestHealthcheck(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.Error(w, "not connected to NATS", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	}))
	defer srv.Close()
	tests := []struct {
		name string
		url  string
		code int
		out  string
	}{
		{"ready", srv.URL + "/readyz", 0, "200 OK: ready"},
		{"not ready", srv.URL + "/other", 1, "503 Service Unavailable: not connected to NATS"},
		{"nobody listening", fmt.Sprintf("http://127.0.0.1:%d/readyz", routertest.FreePort(t)), 1, "connection refused"},
		{"not a URL", "127.0.0.1:8080/readyz", 2, "want an http:// or https:// URL"},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		// No -c: a health check reads no config.
		code := run([]string{"--healthcheck", tt.url}, nil, &out, &out)
		if code != tt.code || !strings.Contains(out.String(), tt.out) {
			t.Errorf("%s: exit %d, want %d; output %q lacks %q", tt.name, code, tt.code, out.String(), tt.out)
		}
	}
}
