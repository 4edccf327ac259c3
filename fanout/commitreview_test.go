package fanout_test

import (
	"context"
	"errors"
	"path"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/objstore"
)

// TestRedriveRefusesACommittingJob: once a commit has fenced the output
// (owner record committing) the job's markers are what it publishes; a
// redrive would delete failed markers, and for an aggregating job the
// shuffle index and every reduce marker, under the commit (a reduce stage
// run again writes uploads of the same final keys, which the next commit
// would complete beside or over what the first one completed). A commit
// stopped after its fence (here: its first completion fails) leaves the
// record committing: the redrive is refused, and the next commit finishes
// the job exactly.
func TestRedriveRefusesACommittingJob(t *testing.T) {
	ctx := context.Background()
	r := newFaultRig(t, 3, 60)
	info := finishedUploadJob(t, r, "out/")
	errCut := errors.New("injected: the committer stops at its first completion")
	cut := r.engine(engineOptions{name: "cut", store: func(b objstore.Bucket) objstore.Bucket {
		return &uploadHooks{Bucket: b, before: func(op, _ string, _ *objstore.PutOptions) error {
			if op == "complete" {
				return errCut
			}
			return nil
		}}
	}})
	if _, err := cut.TryCommit(ctx, info.Manifest.Spec.Output, info.Job); !errors.Is(err, errCut) {
		t.Fatalf("the cut commit: got %v, want the injected stop", err)
	}
	e := r.engine(engineOptions{name: "redriver"})
	if _, err := e.Redrive(ctx, info.Manifest.Spec.Output, info.Job); err == nil {
		t.Fatal("redrive of a job whose commit has fenced the output was accepted")
	} else if !strings.Contains(err.Error(), "committing") {
		t.Errorf("redrive refused with %q, want it to say the job is committing", err)
	}
	res, err := e.TryCommit(ctx, info.Manifest.Spec.Output, info.Job)
	if err != nil || res.State != fanout.StateCommitted {
		t.Fatalf("the commit after the refused redrive: %v, %+v", err, res)
	}
	r.check("out/", info.Job)
}

// TestLateUploadAfterTheCommitStaysInvisible: an attempt still running
// when its job commits (a backup, a paused loser) starts its uploads after
// the commit's sweep of the job's open uploads: one of a committed file's
// key, one of a key the commit never named. Neither changes what a reader
// sees (the oracle finds the committed files exact and no other data
// file), nobody can complete them, and gc, finding the owner committed,
// aborts both while the committed output stays exact.
func TestLateUploadAfterTheCommitStaysInvisible(t *testing.T) {
	ctx := context.Background()
	r := newFaultRig(t, 3, 60)
	info := finishedUploadJob(t, r, "out/")
	e := r.engine(engineOptions{name: "committer"})
	if res, err := e.TryCommit(ctx, info.Manifest.Spec.Output, info.Job); err != nil || res.State != fanout.StateCommitted {
		t.Fatalf("commit: %v, %+v", err, res)
	}
	c := r.check("out/", info.Job)
	if ups := openUploads(t, r, "out/", info.Job); len(ups) != 0 {
		t.Fatalf("open uploads after the commit: %+v", ups)
	}
	committed := c.Files[0]
	unnamed := path.Dir(committed) + "/part-" + info.Job + "-c99999999-0000.jsonl"
	for _, key := range []string{committed, unnamed} {
		orphanUpload(t, r, key)
	}
	r.check("out/", info.Job)
	if _, err := r.store.Stat(ctx, unnamed); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("stat of the late upload's key %s: %v, want not found", unnamed, err)
	}
	if got := len(openUploads(t, r, "out/", info.Job)); got != 2 {
		t.Fatalf("%d open uploads of the job, want the 2 late ones", got)
	}
	gc, err := e.GC(ctx, info.Manifest.Spec.Output, fanout.GCOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if gc.Uploads != 2 {
		t.Errorf("gc aborted %d uploads, want 2: %+v", gc.Uploads, gc)
	}
	if ups := openUploads(t, r, "out/", info.Job); len(ups) != 0 {
		t.Errorf("open uploads after gc: %+v", ups)
	}
	r.check("out/", info.Job)
}
