package fanout_test

// Cancelling a job (cancel.go) against its commit's fence, on real MinIO
// and Redis: the owner record's conditional writes let exactly one of the
// two win, and the oracle checks what the output then holds.

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/manifest"
)

// TestCancelRacesTheCommitFence pauses a finished job's committer just
// before its fence (the owner record's If-Match write) and just after it
// (at its first copy), and cancels the job meanwhile. Before the fence:
// the cancel wins, the committer, resumed, publishes nothing and reports
// the job cancelled, and another job then takes the output without
// --rerun. After the fence: the cancel is refused naming the committing
// state, and the job commits exactly (the oracle).
func TestCancelRacesTheCommitFence(t *testing.T) {
	r := newFaultRig(t, 4, 150)
	for _, after := range []bool{false, true} {
		name := map[bool]string{false: "paused before its fence", true: "paused after its fence"}[after]
		t.Run(name, func(t *testing.T) {
			out := map[bool]string{false: "before/", true: "after/"}[after]
			job := finishedJob(t, r, out)
			paused, release := make(chan struct{}), make(chan struct{})
			committer := r.engine(engineOptions{name: "committer", store: pausedFence(after, paused, release)})
			done := make(chan error, 1)
			go func() {
				_, err := committer.TryCommit(context.Background(), job.Manifest.Spec.Output, job.Job)
				done <- err
			}()
			select {
			case <-paused:
			case <-time.After(30 * time.Second):
				t.Fatal("the committer never reached its fence")
			}
			canceller := r.engine(engineOptions{name: "canceller"})
			info, cerr := canceller.Cancel(context.Background(), job.Manifest.Spec.Output, job.Job, fanout.CancelOptions{Reason: "test"})
			close(release)
			commitErr := <-done
			if after {
				var refused *fanout.CancelRefusedError
				if !errors.As(cerr, &refused) || refused.State != manifest.OwnerCommitting || refused.Job != job.Job {
					t.Fatalf("cancel after the fence: got %v, %+v; want *CancelRefusedError naming state committing", cerr, info)
				}
				if commitErr != nil {
					t.Fatalf("the committer: %v", commitErr)
				}
				c := r.check(out, job.Job)
				t.Logf("the fence came first: the cancel was refused (%v); the job committed %d records once", cerr, c.Records)
				return
			}
			if cerr != nil || info.Already || info.State != fanout.StateCancelled {
				t.Fatalf("cancel before the fence: got %v, %+v", cerr, info)
			}
			var jc *fanout.JobCancelledError
			if !errors.As(commitErr, &jc) || jc.Job != job.Job || !functions.IsPermanent(commitErr) {
				t.Fatalf("the committer: got %v, want a permanent *JobCancelledError", commitErr)
			}
			for key := range snapshotStore(t, r.store, out) {
				if !strings.HasPrefix(key, out+"_fanout/") {
					t.Errorf("the cancelled job published %s", key)
				}
			}
			if !r.exists(out + "_fanout/" + job.Job + "/_CANCELLED") {
				t.Error("no cancel record")
			}
			st, err := canceller.Status(context.Background(), job.Manifest.Spec.Output, job.Job)
			if err != nil || st.State != fanout.StateCancelled {
				t.Errorf("status of the cancelled job: %v, %+v; want state cancelled", err, st)
			}
			// Cancelled again: nothing changes, it says so.
			again, err := canceller.Cancel(context.Background(), job.Manifest.Spec.Output, job.Job, fanout.CancelOptions{})
			if err != nil || !again.Already {
				t.Errorf("second cancel: %v, %+v; want Already", err, again)
			}
			// The same spec is the same, cancelled job: refused, with the way out.
			_, err = canceller.Submit(context.Background(), job.Manifest.Spec)
			if !errors.As(err, &jc) || !strings.Contains(err.Error(), "--rerun") {
				t.Errorf("the cancelled spec submitted again: got %v, want *JobCancelledError naming --rerun", err)
			}
			if _, err := canceller.Resume(context.Background(), job.Manifest.Spec.Output, job.Job); !errors.As(err, &jc) {
				t.Errorf("resume of the cancelled job: got %v, want *JobCancelledError", err)
			}
			// The output was given back: another job takes it without --rerun.
			other := job.Manifest.Spec
			other.MaxObjectsPerChunk = 2
			res, err := r.engine(engineOptions{name: "other"}).Run(context.Background(), other, fanout.RunOptions{Workers: 2})
			if err != nil || res.State != fanout.StateCommitted {
				t.Fatalf("another job on the cancelled job's output: %v, %+v", err, res)
			}
			c := r.check(out, res.Job)
			t.Logf("the cancel came first: the committer was fenced (%v); another job then committed %d records once", commitErr, c.Records)
		})
	}
}

// TestCancelStopsRunningWorkers cancels a job while workers hold its
// chunks (their function blocks until its context ends): every running
// attempt stops at its next heartbeat, no chunk is claimed afterwards,
// and the driver waiting on the job returns *JobCancelledError.
func TestCancelStopsRunningWorkers(t *testing.T) {
	r := newFaultRig(t, 6, 50)
	started := make(chan string, 16)
	blocking := registryWith(copyFn{hook: func(ctx context.Context, first *functions.Record) error {
		started <- first.Object
		<-ctx.Done() // runs until its lease is lost
		return context.Cause(ctx)
	}})
	spec := r.spec("out/", 600*time.Millisecond, "copy")
	w := r.engine(engineOptions{name: "w", functions: blocking})
	info, err := w.Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	stats := &fanout.WorkStats{}
	stop := work(t, w, info.Job, 2, stats)
	waited := make(chan error, 1)
	go func() {
		_, err := r.engine(engineOptions{name: "driver", functions: blocking}).Wait(context.Background(), spec.Output, info.Job, fanout.RunOptions{})
		waited <- err
	}()
	for range 2 {
		select {
		case <-started:
		case <-time.After(30 * time.Second):
			t.Fatal("the workers never started")
		}
	}
	ci, err := r.engine(engineOptions{name: "canceller", functions: blocking}).Cancel(context.Background(), spec.Output, info.Job, fanout.CancelOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ci.Stopping != 2 || ci.Dropped != 4 {
		t.Errorf("cancel: %+v; want 2 running attempts stopping and 4 pending chunks dropped", ci)
	}
	deadline := time.Now().Add(30 * time.Second)
	for stats.LeasesLost.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond) // polling a condition, with a deadline
	}
	if n := stats.LeasesLost.Load(); n != 2 {
		t.Fatalf("%d attempts noticed the cancel, want 2", n)
	}
	select {
	case err := <-waited:
		var jc *fanout.JobCancelledError
		if !errors.As(err, &jc) {
			t.Fatalf("wait: got %v, want *JobCancelledError", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("wait did not return after the cancel")
	}
	stop()
	select {
	case o := <-started:
		t.Errorf("a chunk (%s) was claimed after the cancel", o)
	default:
	}
	for key := range snapshotStore(t, r.store, "out/") {
		if strings.Contains(key, "/chunks/") || !strings.HasPrefix(key, "out/_fanout/") {
			t.Errorf("the cancelled job left %s", key)
		}
	}
}
