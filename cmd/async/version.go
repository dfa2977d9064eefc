package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Stamped by the Makefile (go build -ldflags "-X main.version=... -X
// main.commit=..."): the release tag or `git describe`, and the full
// commit. A build without them (go install, go build) reads its module
// version and VCS information from the build info instead.
var (
	version = ""
	commit  = ""
)

// versionLine describes the build for -A: "async VERSION (commit HASH)
// GOVERSION OS/ARCH".
func versionLine() string {
	var bi *debug.BuildInfo
	if version == "" || commit == "" { // a stamped build needs none of it
		bi, _ = debug.ReadBuildInfo()
	}
	return describeBuild(version, commit, bi)
}

// describeBuild writes the version line from the stamped version and
// commit, falling back on the build info: the main module's version (a
// release tag with go install module@version, a pseudo-version with VCS
// stamping, "(devel)" otherwise) and the vcs.revision and vcs.modified
// settings.
func describeBuild(stampVersion, stampCommit string, bi *debug.BuildInfo) string {
	v, rev, modified := stampVersion, stampCommit, false
	goVersion := runtime.Version()
	if bi != nil {
		if bi.GoVersion != "" {
			goVersion = bi.GoVersion
		}
		if v == "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && rev == "":
				rev = s.Value
			case s.Key == "vcs.modified" && stampCommit == "":
				modified = s.Value == "true"
			}
		}
	}
	if v == "" {
		v = "devel"
	}
	c := "commit unknown"
	if rev != "" {
		c = "commit " + rev
		if modified && !strings.HasSuffix(v, "dirty") {
			c += ", modified"
		}
	}
	return fmt.Sprintf("async %s (%s) %s %s/%s", v, c, goVersion, runtime.GOOS, runtime.GOARCH)
}
