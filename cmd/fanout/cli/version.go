package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// buildVersion describes this binary from its build info: the module
// version (or "(devel)"), the VCS commit and time it was built from (and
// whether the tree had changes), the Go version and the platform.
func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return fmt.Sprintf("(no build info; %s %s/%s)", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, when, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = ", modified"
			}
		}
	}
	if rev != "" {
		v += fmt.Sprintf(" (commit %.12s, %s%s)", rev, when, modified)
	}
	return fmt.Sprintf("%s; %s %s/%s", v, bi.GoVersion, runtime.GOOS, runtime.GOARCH)
}
