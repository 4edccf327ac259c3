package adhoc_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/fanout/adhoc"
)

// TestRunRefusesAnIncompleteJob: a Job without its function, input or
// output, with an unknown format or an unusable Redis URL fails before
// any work with an error naming what is wrong, and writes nothing.
func TestRunRefusesAnIncompleteJob(t *testing.T) {
	dir := t.TempDir()
	in, out := "file://"+dir+"/in/", "file://"+dir+"/out/"
	if err := os.MkdirAll(filepath.Join(dir, "in"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "in", "a.txt"), []byte("a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		job  adhoc.Job
		want string
	}{
		{"no function", adhoc.Job{In: in, Out: out}, "Job.Function is required"},
		{"no input", adhoc.Job{Function: shout{}, Out: out}, "Job.In is required"},
		{"no output", adhoc.Job{Function: shout{}, In: in}, "Job.Out is required"},
		{"unknown format", adhoc.Job{Function: shout{}, In: in, Out: out, Format: "yaml"}, "yaml"},
		{"bad redis url", adhoc.Job{Function: shout{}, In: in, Out: out, Redis: "ftp://nowhere"}, "ftp"},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := adhoc.Run(context.Background(), c.job)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Run: %v; want an error naming %q", err, c.want)
			}
			if res.State != fanout.StateFailed {
				t.Errorf("result state %q, want %q", res.State, fanout.StateFailed)
			}
			if _, err := os.Stat(filepath.Join(dir, "out")); !os.IsNotExist(err) {
				t.Errorf("the output directory exists (%v): a refused job wrote to it", err)
			}
		})
	}
}
