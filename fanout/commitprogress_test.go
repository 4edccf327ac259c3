package fanout_test

// The commit progress a committer shares in the queue
// (fanout.CommitProgressSharer) is there while it commits and gone once
// its commit ends, committed or refused: before cda6983 it stayed for
// the lease's 30 s, so every other process watching showed a finished
// (or refused) commit's last step that long. cda6983 then shared an
// empty step with a TTL of 1ms to drop it: read within that millisecond
// it showed a commit of no step (this test saw it); an empty step now
// deletes it.

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/localstack"
	"github.com/fanout-dev/fanout/objstore"
)

// TestSharedCommitProgressEndsWithItsCommit holds a commit at one of its
// writes until the queue (Redis, read by another client, as another
// process reads it) shows its step, then lets it go on: once the commit
// has returned, the queue must know of no commit of the job.
func TestSharedCommitProgressEndsWithItsCommit(t *testing.T) {
	for _, c := range []struct {
		name string
		// at says whether the commit's write of key is the one held;
		// step is what the queue must show then.
		at   func(key string, opts *objstore.PutOptions) bool
		step string
		// fail is what the held write then returns (nil: it goes on).
		fail error
	}{
		{"committed", func(key string, _ *objstore.PutOptions) bool { return strings.HasSuffix(key, "/_SUCCESS") }, "writing _SUCCESS", nil},
		// The fence is refused: the commit publishes nothing and fails.
		{"refused", func(key string, opts *objstore.PutOptions) bool {
			return strings.HasSuffix(key, "_fanout/OWNER") && opts != nil && opts.IfMatch != ""
		}, "reading chunk markers", errNoCommit},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newFaultRig(t, 3, 60)
			info := finishedUploadJob(t, r, "out/")
			q := r.queue()
			shared := func() (fanout.CommitProgress, bool) {
				p, ok, err := q.SharedCommitProgress(context.Background(), info.Job)
				if err != nil {
					t.Fatal(err)
				}
				return p, ok
			}
			// The worker that ran the chunks tried to commit them and was
			// refused (finishedUploadJob): that commit ended too.
			if p, ok := shared(); ok {
				t.Fatalf("before the test's commit the queue shows %+v, left by the refused commits of the worker that ran the chunks", p)
			}
			held := make(chan struct{}, 1)
			letGo := make(chan struct{})
			committer := r.engine(engineOptions{name: "committer", store: func(b objstore.Bucket) objstore.Bucket {
				return &uploadHooks{Bucket: b, before: func(op, key string, opts *objstore.PutOptions) error {
					if op == "put" && c.at(key, opts) {
						select {
						case held <- struct{}{}:
							<-letGo
							return c.fail
						default:
						}
					}
					return nil
				}}
			}})
			type result struct {
				res fanout.Result
				err error
			}
			done := make(chan result, 1)
			go func() {
				res, err := committer.TryCommit(context.Background(), info.Manifest.Spec.Output, info.Job)
				done <- result{res, err}
			}()
			released := false
			defer func() {
				if !released {
					close(letGo)
				}
			}()
			select {
			case <-held:
			case got := <-done:
				t.Fatalf("the commit ended before the held write: %v, %+v", got.err, got.res)
			}
			// Shared about once a second while the commit is held.
			localstack.Poll(t, 30*time.Second, "the queue to show the held commit's step "+c.step, func() bool {
				p, ok := shared()
				return ok && p.Step == c.step
			})
			close(letGo)
			released = true
			var got result
			select {
			case got = <-done:
			case <-time.After(2 * time.Minute):
				t.Fatal("the commit did not end after its held write went on")
			}
			if c.fail == nil {
				if got.err != nil || got.res.State != fanout.StateCommitted {
					t.Fatalf("commit: %v, %+v; want committed", got.err, got.res)
				}
				r.check("out/", info.Job)
			} else if !errors.Is(got.err, c.fail) && got.res.State == fanout.StateCommitted {
				t.Fatalf("commit with its fence refused: %v, %+v; want it not committed", got.err, got.res)
			}
			// The commit has returned: what it shared is gone, not left to
			// expire with the lease's TTL. (A committed job's queue keys go
			// with it as it is finished in the queue; a refused commit's
			// job stays, and only the committer's clearing drops it.)
			if p, ok := shared(); ok {
				t.Errorf("after the commit ended the queue still shows its progress %+v", p)
			}
			if p, ok := committer.CommitProgress(info.Job); ok {
				t.Errorf("after the commit ended the committer reports its progress %+v", p)
			}
		})
	}
}
