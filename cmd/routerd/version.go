package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// version, when set at link time (-ldflags "-X main.version=v1.2.3"),
// replaces the module version of the build information in --version. Only
// for builds that have none, such as a container image built without .git;
// go install and go build in a checkout stamp the real one.
var version string

// versionText returns what --version prints for the build described by bi
// (nil: the binary carries no build information) with the link-time
// version override (empty: none):
//
//	routerd v1.2.3
//	commit: 0123456789abcdef0123456789abcdef01234567 (dirty)
//	date:   2026-11-25T21:44:13Z
//	go:     go1.26.8 linux/amd64
//
// The version is the main module's (a release tag for go install …@v1.2.3,
// a pseudo-version such as v0.0.0-20261125214413-0123456789ab+dirty for
// go build in a git checkout), else "(devel)". The commit, its dirty flag
// (built with uncommitted changes) and the date, which is the commit's time
// (vcs.time, so a rebuild of the same commit reports the same), come from
// the VCS stamp go build adds in a checkout; without one they are
// "unknown".
func versionText(bi *debug.BuildInfo, override string) string {
	ver, commit, date := "", "unknown", "unknown"
	goVersion, goos, goarch := runtime.Version(), runtime.GOOS, runtime.GOARCH
	dirty := false
	if bi != nil {
		ver = bi.Main.Version
		if bi.GoVersion != "" {
			goVersion = bi.GoVersion
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.time":
				date = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			case "GOOS":
				goos = s.Value
			case "GOARCH":
				goarch = s.Value
			}
		}
	}
	if override != "" {
		ver = override
	}
	if ver == "" {
		ver = "(devel)"
	}
	if dirty && commit != "unknown" {
		commit += " (dirty)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "routerd %s\n", ver)
	fmt.Fprintf(&b, "commit: %s\n", commit)
	fmt.Fprintf(&b, "date:   %s\n", date)
	fmt.Fprintf(&b, "go:     %s %s/%s\n", goVersion, goos, goarch)
	return b.String()
}

// buildInfo returns the running binary's build information, or nil.
func buildInfo() *debug.BuildInfo {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return nil
	}
	return bi
}
