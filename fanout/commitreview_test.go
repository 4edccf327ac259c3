package fanout_test

import (
	"context"
	"errors"
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
