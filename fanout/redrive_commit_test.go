package fanout_test

// A redrive racing a commit of the same job: a job within --max-failed
// is ready to commit with one failed chunk while `fanout redrive` runs it
// again. Exactly one of them may go ahead: the commit publishes what the
// markers said when it read them and the redrive refuses, or the redrive
// runs the chunk again and that commit publishes nothing. Real MinIO and
// Redis; each ends in the oracle.

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/fanout/faulttest"
	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
)

// toleratedFailure is a copy job of four chunks with --max-failed 1
// whose chunk of in/part-02.jsonl failed for good: every chunk has its
// marker, nothing is committed (its workers' commits fail their fence).
// Its poison is gone by the time it returns.
type toleratedFailure struct {
	r    *faultRig
	reg  *functions.Registry
	spec manifest.JobSpec
	job  string
}

func newToleratedFailure(t *testing.T) *toleratedFailure {
	t.Helper()
	return newPoisonedJob(t, "1")
}

// newPoisonedJob is newToleratedFailure with --max-failed maxFailed.
func newPoisonedJob(t *testing.T, maxFailed string) *toleratedFailure {
	t.Helper()
	r := newFaultRig(t, 4, 100)
	var poisoned atomic.Bool
	poisoned.Store(true)
	reg := registryWith(copyFn{hook: func(_ context.Context, first *functions.Record) error {
		if poisoned.Load() && first.Object == "in/part-02.jsonl" {
			return functions.Permanent(errors.New("poison"))
		}
		return nil
	}})
	spec := r.spec("out/", 10*time.Second, "copy")
	spec.MaxFailed = maxFailed
	e := r.engine(engineOptions{name: "worker", functions: reg, store: uploadsNoCommit})
	info, err := e.Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	var jf *fanout.JobFailedError
	if err := e.Work(context.Background(), fanout.WorkOptions{Concurrency: 2, Job: info.Job, ExitWhenIdle: true}); err != nil && !errors.As(err, &jf) {
		t.Fatal(err)
	}
	if n := len(snapshotStore(t, r.store, "out/_fanout/"+info.Job+"/chunks/")); n != 4 {
		t.Fatalf("%d markers, want 4 (3 done, 1 failed)", n)
	}
	if r.exists("out/_fanout/" + info.Job + "/_COMMITTED") {
		t.Fatal("the job committed while its chunks ran")
	}
	poisoned.Store(false)
	return &toleratedFailure{r: r, reg: reg, spec: spec, job: info.Job}
}

// withoutPoisoned is the oracle of a commit that left the poisoned chunk
// out: every record but those of in/part-02.jsonl (ids 200 to 299).
func (f *toleratedFailure) withoutPoisoned() []string {
	return slices.DeleteFunc(slices.Clone(f.r.ids), func(id string) bool { return id >= "r000200" && id < "r000300" })
}

// wait resumes the job with workers until it ends.
func (f *toleratedFailure) wait(t *testing.T) fanout.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := f.r.engine(engineOptions{name: "after", functions: f.reg}).Wait(ctx, f.spec.Output, f.job, fanout.RunOptions{Workers: 2})
	if err != nil || res.State != fanout.StateCommitted {
		t.Fatalf("resumed: %v, %+v", err, res)
	}
	return res
}

// getHook runs after each successful Get.
type getHook struct {
	objstore.Bucket
	keepUploads
	after func(key string)
}

func (s *getHook) Get(ctx context.Context, key string, opts *objstore.GetOptions) (io.ReadCloser, objstore.ObjectInfo, error) {
	rc, info, err := s.Bucket.Get(ctx, key, opts)
	if err == nil {
		s.after(key)
	}
	return rc, info, err
}

// TestCommitFencingDuringARedriveLook lets a commit fence the output
// between the redrive's read of the owner record (not committing) and
// its write on it, and crashes that commit after it published one file.
// Before, the redrive's update found the record committing and did
// nothing, silently: it raised the generation and enqueued the failed
// chunk again, and the next commit found the failed marker stale, ran
// the chunk and published a different set of files than the crashed
// commit had started. Now the redrive refuses (the commit holds the
// output), and the next commit finishes the crashed one: the poisoned
// chunk failed, every other record once.
func TestCommitFencingDuringARedriveLook(t *testing.T) {
	f := newToleratedFailure(t)
	var completes atomic.Int64
	committer := f.r.engine(engineOptions{name: "committer", functions: f.reg, store: func(b objstore.Bucket) objstore.Bucket {
		return &uploadHooks{Bucket: b, before: func(op, key string, _ *objstore.PutOptions) error {
			if op == "complete" && completes.Add(1) > 1 {
				return errCrash // the committer dies after its first file
			}
			return nil
		}}
	}})
	var ownerReads atomic.Int64
	var commitErr error
	redriver := f.r.engine(engineOptions{name: "redriver", functions: f.reg, store: func(b objstore.Bucket) objstore.Bucket {
		return &getHook{Bucket: b, keepUploads: uploadsOf(b), after: func(key string) {
			// The first read is its check that the job was not
			// cancelled; the second, the look before its update.
			if strings.HasSuffix(key, "_fanout/OWNER") && ownerReads.Add(1) == 2 {
				_, commitErr = committer.TryCommit(context.Background(), f.spec.Output, f.job)
			}
		}}
	}})
	_, err := redriver.Redrive(context.Background(), f.spec.Output, f.job)
	if ownerReads.Load() < 2 {
		t.Fatalf("the redrive read the owner record %d time(s): the commit never ran", ownerReads.Load())
	}
	if !errors.Is(commitErr, errCrash) {
		t.Fatalf("the commit during the redrive's look: %v, want it crashed after its first file", commitErr)
	}
	if err == nil || !strings.Contains(err.Error(), "committing") {
		t.Fatalf("the redrive of a job whose commit fenced under it: %v, want a refusal naming the commit", err)
	}
	res := f.wait(t)
	if len(res.Failed) != 1 {
		t.Errorf("committed with %d failed chunks (%+v), want the poisoned one: the crashed commit's set", len(res.Failed), res.Failed)
	}
	faulttest.CheckCommitted(t, f.r.store, "out/", f.job, faulttest.JSONField("id"), f.withoutPoisoned())
}

// TestCommitDuringARedrive runs a commit of the job while the redrive
// holds it (before the queue forgets the job): before, that commit read
// the failed marker as current and published the job with the chunk
// failed, under the redrive that then ran it again for nothing. Now the
// commit publishes nothing; after the redrive the chunk runs again and
// the job commits with every record once.
func TestCommitDuringARedrive(t *testing.T) {
	f := newToleratedFailure(t)
	committer := f.r.engine(engineOptions{name: "committer", functions: f.reg})
	var during fanout.Result
	var duringErr error
	admin := func(a fanout.QueueAdmin) fanout.QueueAdmin {
		return &finishHook{QueueAdmin: a, before: func() {
			during, duringErr = committer.TryCommit(context.Background(), f.spec.Output, f.job)
		}}
	}
	if _, err := f.r.engine(engineOptions{name: "redriver", functions: f.reg, admin: admin}).Redrive(context.Background(), f.spec.Output, f.job); err != nil {
		t.Fatal(err)
	}
	if duringErr != nil || during.State == fanout.StateCommitted || f.r.exists("out/_fanout/"+f.job+"/_COMMITTED") {
		t.Fatalf("a commit during the redrive: %v, %+v; want nothing published", duringErr, during)
	}
	if res := f.wait(t); len(res.Failed) != 0 {
		t.Errorf("committed with failed chunks %+v, want none (the redrive ran the chunk again)", res.Failed)
	}
	f.r.check("out/", f.job)
}

// TestCommitReadBeforeARedriveFencesAfterIt holds a commit just before
// its fence (it has read every marker, the failed one current) while a
// whole redrive runs, then lets it go. Before, its fence went through and
// it published the job with the chunk failed, although the redrive had
// run it again. Now the fence refuses (the job was redriven since the
// commit read its markers), nothing is published, and the next commit
// publishes every record once.
func TestCommitReadBeforeARedriveFencesAfterIt(t *testing.T) {
	f := newToleratedFailure(t)
	held, release := make(chan struct{}), make(chan struct{})
	var once atomic.Bool
	committer := f.r.engine(engineOptions{name: "committer", functions: f.reg, store: func(b objstore.Bucket) objstore.Bucket {
		return &uploadHooks{Bucket: b, before: func(op, key string, opts *objstore.PutOptions) error {
			if op == "put" && strings.HasSuffix(key, "_fanout/OWNER") && opts != nil && opts.IfMatch != "" && once.CompareAndSwap(false, true) {
				close(held)
				<-release
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
		res, err := committer.TryCommit(context.Background(), f.spec.Output, f.job)
		done <- result{res, err}
	}()
	select {
	case <-held:
	case <-time.After(time.Minute):
		t.Fatal("the commit never reached its fence")
	}
	_, rerr := f.r.engine(engineOptions{name: "redriver", functions: f.reg}).Redrive(context.Background(), f.spec.Output, f.job)
	close(release)
	c := <-done
	if rerr != nil {
		t.Fatalf("redrive: %v", rerr)
	}
	if c.err != nil || c.res.State == fanout.StateCommitted || f.r.exists("out/_fanout/"+f.job+"/_COMMITTED") {
		t.Fatalf("the commit read before the redrive: %v, %+v; want nothing published", c.err, c.res)
	}
	if res := f.wait(t); len(res.Failed) != 0 {
		t.Errorf("committed with failed chunks %+v, want none (the redrive ran the chunk again)", res.Failed)
	}
	f.r.check("out/", f.job)
}

// TestKilledRedriveHoldsTheCommit kills a redrive after it took hold of
// the job (its process dies while the queue forgets the job: none of its
// requests reaches the store afterwards): the job's commit publishes
// nothing while the redrive is unfinished, and running the redrive again
// finishes it; the job then commits with every record once. (A redrive
// that stops on an error gives its hold up itself:
// TestRedriveKilledBeforeTheReduceStageRestarts.)
func TestKilledRedriveHoldsTheCommit(t *testing.T) {
	f := newToleratedFailure(t)
	var dead atomic.Bool
	admin := func(a fanout.QueueAdmin) fanout.QueueAdmin {
		return &finishHook{QueueAdmin: a, before: func() { dead.Store(true) }}
	}
	killed := f.r.engine(engineOptions{name: "redriver", functions: f.reg, admin: admin, store: func(b objstore.Bucket) objstore.Bucket {
		return &deadStore{Bucket: b, keepUploads: uploadsOf(b), dead: &dead}
	}})
	if _, err := killed.Redrive(context.Background(), f.spec.Output, f.job); !errors.Is(err, errCrash) {
		t.Fatalf("the killed redrive: %v, want %v", err, errCrash)
	}
	committer := f.r.engine(engineOptions{name: "committer", functions: f.reg})
	res, err := committer.TryCommit(context.Background(), f.spec.Output, f.job)
	if err != nil || res.State == fanout.StateCommitted || f.r.exists("out/_fanout/"+f.job+"/_COMMITTED") {
		t.Fatalf("a commit after a killed redrive: %v, %+v; want nothing published", err, res)
	}
	// Status and the dashboard's overview say who holds the job and what
	// to do.
	st, err := committer.Status(context.Background(), f.spec.Output, f.job)
	if h := st.RedriveHold; err != nil || h == nil || h.By != "redriver" || h.Since.IsZero() || !strings.Contains(h.Hint, "fanout redrive "+f.job) {
		t.Errorf("status after a killed redrive: %v, hold %+v; want held by redriver, since when, and the redrive to run again", err, h)
	}
	if ov, err := committer.OverviewAt(context.Background(), f.spec.Output, f.job); err != nil || ov.RedriveHold == nil || ov.RedriveHold.By != "redriver" {
		t.Errorf("overview after a killed redrive: %v, hold %+v; want held by redriver", err, ov.RedriveHold)
	}
	if _, err := f.r.engine(engineOptions{name: "redriver2", functions: f.reg}).Redrive(context.Background(), f.spec.Output, f.job); err != nil {
		t.Fatalf("redrive again: %v", err)
	}
	if st, err := committer.Status(context.Background(), f.spec.Output, f.job); err != nil || st.RedriveHold != nil {
		t.Errorf("status after the redrive ran again: %v, hold %+v; want none", err, st.RedriveHold)
	}
	if res := f.wait(t); len(res.Failed) != 0 {
		t.Errorf("committed with failed chunks %+v, want none", res.Failed)
	}
	f.r.check("out/", f.job)
}

// deadStore fails every Get and Put once dead is set: the process
// calling it has died.
type deadStore struct {
	objstore.Bucket
	keepUploads
	dead *atomic.Bool
}

func (s *deadStore) Get(ctx context.Context, key string, opts *objstore.GetOptions) (io.ReadCloser, objstore.ObjectInfo, error) {
	if s.dead.Load() {
		return nil, objstore.ObjectInfo{}, errCrash
	}
	return s.Bucket.Get(ctx, key, opts)
}

func (s *deadStore) Put(ctx context.Context, key string, rd io.Reader, opts *objstore.PutOptions) (objstore.ObjectInfo, error) {
	if s.dead.Load() {
		return objstore.ObjectInfo{}, errCrash
	}
	return s.Bucket.Put(ctx, key, rd, opts)
}
