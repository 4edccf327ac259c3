package fanout_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/manifest"
)

// TestGCByState runs GC on a file store output that holds a committed job
// with a staged file its committer left, and (the owner record removed, as
// on outputs older than owner records) two jobs of unknown state: one
// that wrote nothing for two days, one written a minute ago. With
// --older-than 1h the old one goes, the recent one stays, and of the
// committed job only the staged leftover goes; nothing else of the output
// changes. A dry run before removes nothing.
func TestGCByState(t *testing.T) {
	t.Parallel()
	in, out := t.TempDir(), t.TempDir()
	writeFiles(t, in, map[string][]byte{"a.txt": []byte("x\ny\n"), "b.txt": []byte("z\n")})
	e := newEngine(t, nil)
	ctx := context.Background()
	res, err := e.Run(ctx, manifest.JobSpec{Inputs: []string{"file://" + in + "/"}, Function: "count",
		Output: "file://" + out + "/", OutputFormat: "jsonl", MaxObjectsPerChunk: 1}.WithDefaults(), fanout.RunOptions{Workers: 2})
	if err != nil || res.State != fanout.StateCommitted {
		t.Fatalf("run: %+v, %v", res, err)
	}
	l := manifest.NewLayout("")
	if err := os.Remove(filepath.Join(out, filepath.FromSlash(l.OwnerKey()))); err != nil {
		t.Fatal(err)
	}
	committedFiles := files(t, out)
	const oldJob, newJob = "j00000000000000000001", "j00000000000000000002"
	leftover := l.StagingPrefix(res.Job, "c00000000", 3) + "part.jsonl.staged"
	writeFiles(t, out, map[string][]byte{
		l.MarkerKey(oldJob, "c00000000"):                                []byte("{}"),
		l.StagingPrefix(oldJob, "c00000000", 1) + "x/part.jsonl.staged": []byte("old"),
		l.MarkerKey(newJob, "c00000000"):                                []byte("{}"),
		leftover:                                                        []byte("left by a crashed committer"),
	})
	twoDays := time.Now().Add(-48 * time.Hour)
	filepath.WalkDir(filepath.Join(out, filepath.FromSlash(l.JobPrefix(oldJob))), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			err = os.Chtimes(p, twoDays, twoDays)
		}
		return err
	})
	before := files(t, out)

	dry, err := e.GC(ctx, "file://"+out+"/", fanout.GCOptions{DryRun: true, OlderThan: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if diff := diffFiles(before, files(t, out)); diff != "" {
		t.Fatalf("a dry run changed the output:\n%s", diff)
	}
	info, err := e.GC(ctx, "file://"+out+"/", fanout.GCOptions{OlderThan: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{oldJob: fanout.GCRemoved, newJob: fanout.GCKept, res.Job: fanout.GCRemoved}
	wantDry := map[string]string{oldJob: fanout.GCWouldRemove, newJob: fanout.GCKept, res.Job: fanout.GCWouldRemove}
	for name, got := range map[string]fanout.GCInfo{"dry run": dry, "gc": info} {
		w := want
		if name == "dry run" {
			w = wantDry
		}
		if len(got.Jobs) != len(w) || got.Objects != 3 {
			t.Errorf("%s: %+v; want jobs %v and 3 objects", name, got, w)
		}
		for _, j := range got.Jobs {
			if j.Action != w[j.Job] {
				t.Errorf("%s: job %s %s (%s), want %s", name, j.Job, j.Action, j.Why, w[j.Job])
			}
		}
	}
	after := files(t, out)
	for k := range committedFiles {
		if _, ok := after[k]; !ok {
			t.Errorf("gc removed %s of the committed job", k)
		}
	}
	for k := range after {
		if strings.Contains(k, oldJob) || k == leftover {
			t.Errorf("gc left %s", k)
		}
	}
	if _, ok := after[l.MarkerKey(newJob, "c00000000")]; !ok {
		t.Errorf("gc removed the recent job %s of unknown state", newJob)
	}
}

// files maps every file under dir (slash-separated, relative) to its bytes.
func files(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.Contains(p, ".fanout") {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		m[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func diffFiles(a, b map[string]string) string {
	var d strings.Builder
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			d.WriteString("- " + k + "\n")
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			d.WriteString("+ " + k + "\n")
		}
	}
	return d.String()
}

// TestGCOfAnOwnerWhosePlanFailed: a job whose planning failed (a misspelt
// partition column) owns its output in state failed with no manifest.
// GC keeps what it left (the same command run again plans it) and says
// why truthfully: before, it said that fanout redrive needed it, but a
// job without a manifest cannot be redriven.
func TestGCOfAnOwnerWhosePlanFailed(t *testing.T) {
	t.Parallel()
	in, out := t.TempDir(), t.TempDir()
	writeFiles(t, in, map[string][]byte{"a.txt": []byte("x\ny\n")})
	e := newEngine(t, nil)
	ctx := context.Background()
	_, err := e.Run(ctx, manifest.JobSpec{Inputs: []string{"file://" + in + "/"}, Function: "grep", Args: map[string]string{"pattern": "x"},
		Output: "file://" + out + "/", OutputFormat: "jsonl", PartitionBy: []string{"lien"}}.WithDefaults(), fanout.RunOptions{Workers: 1})
	if err == nil {
		t.Fatal("a job partitioned by a column its function does not write ran")
	}
	info, err := e.GC(ctx, "file://"+out+"/", fanout.GCOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if info.OwnerState != manifest.OwnerFailed {
		t.Errorf("owner state %q, want failed", info.OwnerState)
	}
	for _, j := range info.Jobs {
		if j.Action != fanout.GCKept || strings.Contains(j.Why, "redrive") || !strings.Contains(j.Why, "planning failed") {
			t.Errorf("job %s: %s (%s); want kept, saying its planning failed, not that a redrive needs it", j.Job, j.Action, j.Why)
		}
	}
}
