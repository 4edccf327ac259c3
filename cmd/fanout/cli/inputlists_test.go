package cli

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/functions/builtin"
	"github.com/fanout-dev/fanout/manifest"
)

// TestInputListFlags: --in-inventory and --in-keys reach the spec (a
// local key list as a file URL), each stands in for --in, and an
// inventory URL that is not a manifest.json is a usage error naming the
// flag; --list-dirs reaches the spec without changing the job's ID.
func TestInputListFlags(t *testing.T) {
	base := func() jobFlags {
		return jobFlags{functions: builtin.Registry(), fn: "grep", out: "file:///out/", maxFailed: "0",
			chunkSize: "64MiB", maxRecord: "64MiB", maxInflate: "64GiB", onError: "fail", schemaMode: "union"}
	}
	f := base()
	f.inventories = []string{"s3://inv/src/cfg/2026-12-06T00-00Z/manifest.json"}
	f.keyLists = []string{"keys.txt.gz"}
	spec, err := f.spec()
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs("keys.txt.gz")
	if len(spec.Inputs) != 0 || !slices.Equal(spec.Inventories, f.inventories) || !slices.Equal(spec.KeyLists, []string{"file://" + abs}) {
		t.Errorf("spec inputs %q, inventories %q, key lists %q; want none, %q, [file://%s]", spec.Inputs, spec.Inventories, spec.KeyLists, f.inventories, abs)
	}
	f = base()
	f.inventories = []string{"s3://inv/src/cfg/2026-12-06T00-00Z/"}
	if _, err := f.spec(); err == nil || !strings.Contains(err.Error(), "--in-inventory") {
		t.Errorf("an inventory prefix: got %v, want an error naming --in-inventory", err)
	}
	f = base()
	f.inputs = []string{"s3://src/in/"}
	plain, err := f.spec()
	if err != nil {
		t.Fatal(err)
	}
	f.listDirs = true
	byDir, err := f.spec()
	if err != nil {
		t.Fatal(err)
	}
	if plain.ListDirs || !byDir.ListDirs {
		t.Errorf("--list-dirs: ListDirs %v, without it %v; want true and false", byDir.ListDirs, plain.ListDirs)
	}
	if a, b := manifest.JobID(plain, "d"), manifest.JobID(byDir, "d"); a != b {
		t.Errorf("--list-dirs changed the job ID: %s, %s without it", b, a)
	}
	f = base()
	if _, err := f.spec(); err == nil || !strings.Contains(err.Error(), "--in is required (or --in-inventory, --in-keys)") {
		t.Errorf("no input: got %v, want --in is required", err)
	}
}
