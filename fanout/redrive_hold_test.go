package fanout_test

// A redrive that stops on an error gives its hold of the job up, and a
// commit that read the markers before a redrive does not report the
// redriven job failed. Real MinIO and Redis.

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
)

// getFault runs before each Get; an error from it is the Get's.
type getFault struct {
	objstore.Bucket
	keepUploads
	before func(key string) error
}

func (s *getFault) Get(ctx context.Context, key string, opts *objstore.GetOptions) (io.ReadCloser, objstore.ObjectInfo, error) {
	if err := s.before(key); err != nil {
		return nil, objstore.ObjectInfo{}, err
	}
	return s.Bucket.Get(ctx, key, opts)
}

// ownerRecord reads the owner record of the rig's output out.
func ownerRecord(t *testing.T, r *faultRig, out string) *manifest.Owner {
	t.Helper()
	rc, _, err := r.store.Get(context.Background(), ownerKey(out), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	body, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	o, err := manifest.DecodeOwner(body)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// redriveFailingAfterFinish redrives f's job with an engine whose Gets
// of keys that fail matches fail once the queue forgot the job (after
// Redrive's Finish), and checks that the redrive returns the injected
// error, gives its hold up, and that a redrive run again then lets the
// job commit every record once.
func redriveFailingAfterFinish(t *testing.T, f *toleratedFailure, fail func(key string) bool) {
	t.Helper()
	var armed, failed atomic.Bool
	admin := func(a fanout.QueueAdmin) fanout.QueueAdmin {
		return &finishHook{QueueAdmin: a, before: func() { armed.Store(true) }}
	}
	e := f.r.engine(engineOptions{name: "redriver", functions: f.reg, admin: admin, store: func(b objstore.Bucket) objstore.Bucket {
		return &getFault{Bucket: b, keepUploads: uploadsOf(b), before: func(key string) error {
			if armed.Load() && fail(key) && failed.CompareAndSwap(false, true) {
				return errCrash
			}
			return nil
		}}
	}})
	if _, err := e.Redrive(context.Background(), f.spec.Output, f.job); !errors.Is(err, errCrash) {
		t.Fatalf("the redrive: %v, want %v", err, errCrash)
	}
	if !failed.Load() {
		t.Fatal("the fault never fired")
	}
	if o := ownerRecord(t, f.r, "out/"); o.Redriving != "" || o.Job != f.job {
		t.Fatalf("owner record after the failed redrive: %+v, want the job's without a redrive's hold", o)
	}
	if _, err := f.r.engine(engineOptions{name: "redriver2", functions: f.reg}).Redrive(context.Background(), f.spec.Output, f.job); err != nil {
		t.Fatalf("redrive again: %v", err)
	}
	if res := f.wait(t); len(res.Failed) != 0 {
		t.Errorf("committed with failed chunks %+v, want none", res.Failed)
	}
	f.r.check("out/", f.job)
}

// TestRedriveFailingToReadTheManifestAgainReleasesItsHold fails the
// redrive's second read of the job's manifest, at its end. Before, the
// failed read replaced the job's state with nil and the deferred release
// of the hold panicked on it, leaving the hold set.
func TestRedriveFailingToReadTheManifestAgainReleasesItsHold(t *testing.T) {
	f := newToleratedFailure(t)
	redriveFailingAfterFinish(t, f, func(key string) bool { return strings.HasSuffix(key, "/manifest.json") })
}

// TestRedriveFailingToReadTheOwnerReleasesItsHold fails the redrive's
// read of the owner record before it resets anything. Before, any error
// of that check counted as "another redrive took over" and the hold was
// kept: every commit of the job published nothing until a person ran the
// redrive again.
func TestRedriveFailingToReadTheOwnerReleasesItsHold(t *testing.T) {
	f := newToleratedFailure(t)
	redriveFailingAfterFinish(t, f, func(key string) bool { return strings.HasSuffix(key, "_fanout/OWNER") })
}

// TestCommitFailedBeforeARedriveIsNotAFailure runs a whole redrive after
// a commit read the markers of a job that failed (--max-failed 0, one
// chunk failed) and before it records the failure in the owner record.
// Before, the commit still returned its *JobFailedError and the job was
// reported failed although it had just been redriven. Now the commit
// says the job is not finished, and the job then commits every record.
func TestCommitFailedBeforeARedriveIsNotAFailure(t *testing.T) {
	f := newPoisonedJob(t, "0")
	redriver := f.r.engine(engineOptions{name: "redriver", functions: f.reg})
	var markersRead, redriven atomic.Bool
	var rerr error
	committer := f.r.engine(engineOptions{name: "committer", functions: f.reg, store: func(b objstore.Bucket) objstore.Bucket {
		return &getFault{Bucket: b, keepUploads: uploadsOf(b), before: func(key string) error {
			if strings.Contains(key, "/chunks/") {
				markersRead.Store(true)
			} else if markersRead.Load() && strings.HasSuffix(key, "_fanout/OWNER") && redriven.CompareAndSwap(false, true) {
				_, rerr = redriver.Redrive(context.Background(), f.spec.Output, f.job)
			}
			return nil
		}}
	}})
	res, err := committer.TryCommit(context.Background(), f.spec.Output, f.job)
	if !redriven.Load() {
		t.Fatal("the commit never read the owner record after the markers: no redrive ran")
	}
	if rerr != nil {
		t.Fatalf("redrive: %v", rerr)
	}
	var jf *fanout.JobFailedError
	if errors.As(err, &jf) || res.State == fanout.StateFailed || res.State == fanout.StateCommitted {
		t.Fatalf("the commit that read the markers before the redrive: %v, %+v; want the job neither failed nor committed", err, res)
	}
	if res := f.wait(t); len(res.Failed) != 0 {
		t.Errorf("committed with failed chunks %+v, want none (the redrive ran the chunk again)", res.Failed)
	}
	f.r.check("out/", f.job)
}
