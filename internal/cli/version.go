package cli

import (
	"fmt"
	"runtime/debug"
)

// Version is the line of ebb --version: "ebb 0.1.0 (commit 1a2b3c4d5e6f,
// modified; go1.26.8)". v and rev are what the build set (the package's
// version and commit); empty ones come from the build info (a go build in
// a git checkout records the commit), else "devel" and "unknown".
func Version(v, rev string) string {
	info, ok := debug.ReadBuildInfo()
	if v == "" && ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		v = info.Main.Version
	}
	if v == "" {
		v = "devel"
	}
	modified, goVersion := false, "unknown"
	if ok {
		goVersion = info.GoVersion
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				if rev == "" {
					rev = s.Value
				}
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if rev == "" {
		rev = "unknown"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if modified {
		rev += ", modified"
	}
	return fmt.Sprintf("ebb %s (commit %s; %s)", v, rev, goVersion)
}
