package functions

import (
	"reflect"
	"runtime/debug"
	"strings"
	"sync"
)

// Versioner is implemented by a Function that names its own version. A
// job records the version of its function when it is planned, and only
// workers that have the function at that version run its chunks, so
// that two builds of one function never write into one job's output
// (unless the job says any version will do: manifest.JobSpec's
// AnyFunctionVersion). Give a version when the function's results must
// stay comparable across rebuilds that do not change it, or differ
// between builds that the build information cannot tell apart.
type Versioner interface {
	// Version is a short string (a release, a date, a hash of the
	// function's logic); jobs compare it for equality only.
	Version() string
}

// VersionOf returns f's version: f.Version() when f is a Versioner,
// otherwise the version of the Go module f's type comes from, as the
// binary's build information records it: module@version, where a module
// built from a working tree carries its VCS revision (and "+dirty" when
// the tree had changes; Go puts both into a main module's pseudo-version).
// A main module built without VCS information (outside a repository,
// go run, -buildvcs=false) is "(devel)", and a module replaced by a local
// directory has no version of its own (its path is used): such builds
// cannot be told apart from one another, so give their functions a
// Version when they change. (A hash of the executable would tell them
// apart, but also a program's CLI from its own Lambda bootstrap, which
// must run each other's jobs.) A binary without build information gives
// "unknown".
func VersionOf(f Function) string {
	if v, ok := f.(Versioner); ok {
		return v.Version()
	}
	t := reflect.TypeOf(f)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	pkg := ""
	if t != nil {
		pkg = t.PkgPath()
	}
	return buildVersion(pkg)
}

// buildInfo is the binary's build information, read once: it cannot
// change while the process runs.
var buildInfo = sync.OnceValue(func() *debug.BuildInfo {
	bi, _ := debug.ReadBuildInfo()
	return bi
})

// buildVersion returns module@version of the module holding package pkg
// in this binary.
func buildVersion(pkg string) string { return moduleVersion(buildInfo(), pkg) }

// moduleVersion returns module@version of the module holding package pkg
// as build information bi records it.
func moduleVersion(bi *debug.BuildInfo, pkg string) string {
	if bi == nil {
		return "unknown"
	}
	mods := append([]*debug.Module{&bi.Main}, bi.Deps...)
	var best *debug.Module
	for _, m := range mods {
		if m.Path != "" && (pkg == m.Path || strings.HasPrefix(pkg, m.Path+"/")) && (best == nil || len(m.Path) > len(best.Path)) {
			best = m
		}
	}
	if best == nil {
		best = &bi.Main
	}
	if best.Replace != nil {
		best = best.Replace
	}
	v := best.Version
	if best == &bi.Main && (v == "" || v == "(devel)") {
		v = mainRevision(bi)
	}
	return best.Path + "@" + v
}

// mainRevision is the main module's VCS revision from the build settings
// ("+dirty" when modified), or "(devel)" when the build recorded none.
func mainRevision(bi *debug.BuildInfo) string {
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "(devel)"
	}
	if dirty {
		rev += "+dirty"
	}
	return rev
}
