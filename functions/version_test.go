package functions

import (
	"runtime/debug"
	"strings"
	"testing"
)

// TestModuleVersion: a function's default version is the version of the
// module its package comes from, as the build information records it
// (the longest module path holding the package; a replacement's own;
// the main module's VCS revision, "+dirty" for a modified tree, or
// "(devel)" without one), and "unknown" without build information.
func TestModuleVersion(t *testing.T) {
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	deps := []*debug.Module{
		{Path: "github.com/fanout-dev/fanout", Version: "v1.4.0"},
		{Path: "example.com/lib", Version: "v0.3.1"},
		{Path: "example.com/lib/sub", Version: "v2.0.0"},
		{Path: "example.com/forked", Version: "v1.0.0", Replace: &debug.Module{Path: "example.com/fork", Version: "v1.0.1"}},
		{Path: "example.com/local", Version: "v1.0.0", Replace: &debug.Module{Path: "../local"}},
	}
	main := debug.Module{Path: "example.com/app", Version: "(devel)"}
	for _, c := range []struct {
		name string
		bi   *debug.BuildInfo
		pkg  string
		want string
	}{
		{"no build information", nil, "example.com/app/fn", "unknown"},
		{"a dependency", &debug.BuildInfo{Main: main, Deps: deps}, "github.com/fanout-dev/fanout/functions/builtin", "github.com/fanout-dev/fanout@v1.4.0"},
		{"the longest module holding the package", &debug.BuildInfo{Main: main, Deps: deps}, "example.com/lib/sub/x", "example.com/lib/sub@v2.0.0"},
		{"a module path is not a package prefix", &debug.BuildInfo{Main: main, Deps: deps}, "example.com/library", "example.com/app@(devel)"},
		{"a replacement's version", &debug.BuildInfo{Main: main, Deps: deps}, "example.com/forked/x", "example.com/fork@v1.0.1"},
		{"a local replacement has none", &debug.BuildInfo{Main: main, Deps: deps}, "example.com/local", "../local@"},
		{"package main, no VCS", &debug.BuildInfo{Main: main, Deps: deps}, "main", "example.com/app@(devel)"},
		{"main module, clean tree", &debug.BuildInfo{Main: main, Settings: vcs("0123abcd", "false")}, "example.com/app/fn", "example.com/app@0123abcd"},
		{"main module, modified tree", &debug.BuildInfo{Main: main, Settings: vcs("0123abcd", "true")}, "main", "example.com/app@0123abcd+dirty"},
		{"main module with a pseudo-version", &debug.BuildInfo{Main: debug.Module{Path: "example.com/app", Version: "v0.0.0-20261207093000-0123abcd4567+dirty"}, Settings: vcs("0123abcd4567", "true")},
			"example.com/app/fn", "example.com/app@v0.0.0-20261207093000-0123abcd4567+dirty"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := moduleVersion(c.bi, c.pkg); got != c.want {
				t.Errorf("moduleVersion(%q) = %q, want %q", c.pkg, got, c.want)
			}
		})
	}
}

type versioned struct{ plain }

func (versioned) Version() string { return "2026-12-07" }

type plain struct{}

func (plain) Name() string                 { return "plain" }
func (plain) Describe() string             { return "" }
func (plain) Prepare(Params) (Task, error) { return nil, nil }

// TestVersionOf: a Versioner's own version wins; otherwise this test
// binary's module, where this package lives, by value or pointer.
func TestVersionOf(t *testing.T) {
	if got := VersionOf(versioned{}); got != "2026-12-07" {
		t.Errorf("VersionOf(a Versioner) = %q, want its Version()", got)
	}
	v, p := VersionOf(plain{}), VersionOf(&plain{})
	if !strings.HasPrefix(v, "github.com/fanout-dev/fanout@") || p != v {
		t.Errorf("VersionOf(plain{}) = %q, of &plain{} %q; want this module's version (github.com/fanout-dev/fanout@...), the same for both", v, p)
	}
}
