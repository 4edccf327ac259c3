package fanout_test

// One owner per output prefix (owner.go): two jobs racing for one output,
// and a --rerun taking an output over from a job whose committer is
// paused on either side of its fence. Real MinIO and Redis; every test
// ends with the oracle.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
)

// ownerKey is the owner record of the rig's output out.
func ownerKey(out string) string { return out + "_fanout/OWNER" }

// TestTwoJobsRaceForOneOutput submits two different jobs on one output at
// the same moment, each engine's store holding its owner write until both
// planners have looked and found the output free (the window in which the
// old check-then-act let both through). Exactly one is planned; the other
// is refused before any work, naming the winner; the winner commits and
// the oracle finds its records exactly once, and nothing of the loser.
func TestTwoJobsRaceForOneOutput(t *testing.T) {
	r := newFaultRig(t, 4, 150)
	var arrived sync.WaitGroup
	arrived.Add(2)
	slow := func(b objstore.Bucket) objstore.Bucket {
		var once sync.Once
		return &faultStore{Bucket: b, put: func(key string, opts *objstore.PutOptions) error {
			if key == ownerKey("out/") && opts != nil && opts.IfNoneMatch {
				once.Do(func() {
					arrived.Done()
					arrived.Wait() // both found no owner: now race
				})
			}
			return nil
		}}
	}
	a := r.spec("out/", 10*time.Second, "convert")
	b := a
	b.MaxObjectsPerChunk = 2 // another job, the same records
	specs := []manifest.JobSpec{a, b}
	var infos [2]fanout.PlanInfo
	var errs [2]error
	var wg sync.WaitGroup
	for i := range 2 {
		e := r.engine(engineOptions{name: fmt.Sprint("planner", i), store: slow})
		wg.Add(1)
		go func() {
			defer wg.Done()
			infos[i], errs[i] = e.Submit(context.Background(), specs[i])
		}()
	}
	wg.Wait()
	won := 0
	if errs[0] != nil {
		won = 1
	}
	lost := 1 - won
	if errs[won] != nil {
		t.Fatalf("both jobs were refused: %v; %v", errs[0], errs[1])
	}
	loser := manifest.JobID(specs[lost].WithDefaults(), "")
	var owned *fanout.OutputOwnedError
	if !errors.As(errs[lost], &owned) || owned.Owner != infos[won].Job || owned.Job != loser || !functions.IsPermanent(errs[lost]) {
		t.Fatalf("the second job: got %v, want a permanent *OutputOwnedError naming the owner %s", errs[lost], infos[won].Job)
	}
	if owned.State != "planning" && owned.State != fanout.StateRunning {
		t.Errorf("owner state %q, want planning or running", owned.State)
	}
	if !strings.Contains(errs[lost].Error(), infos[won].Job) {
		t.Errorf("the refusal %q does not name the owner", errs[lost])
	}
	if n := len(snapshotStore(t, r.store, "out/_fanout/"+loser+"/")); n != 0 {
		t.Errorf("the refused job wrote %d objects", n)
	}
	res, err := r.engine(engineOptions{name: "driver"}).Wait(context.Background(), infos[won].Manifest.Spec.Output, infos[won].Job, fanout.RunOptions{Workers: 2})
	if err != nil || res.State != fanout.StateCommitted {
		t.Fatalf("the winner: %v, %+v", err, res)
	}
	c := r.check("out/", infos[won].Job)
	t.Logf("job %d won the output; the other was refused (%v); %d records committed once", won, errs[lost], c.Records)
}

// pausedFence is a committer's store that holds the commit at its fence
// (before: the owner record's If-Match write; after: the first copy,
// once the fence is written) until release is closed.
func pausedFence(after bool, paused chan<- struct{}, release <-chan struct{}) func(objstore.Bucket) objstore.Bucket {
	var once sync.Once
	hold := func() {
		once.Do(func() { close(paused) })
		<-release
	}
	return func(b objstore.Bucket) objstore.Bucket {
		return &faultStore{Bucket: b,
			put: func(key string, opts *objstore.PutOptions) error {
				if !after && strings.HasSuffix(key, "_fanout/OWNER") && opts != nil && opts.IfMatch != "" {
					hold()
				}
				return nil
			},
			copy: func(string, string) error {
				if after {
					hold()
				}
				return nil
			}}
	}
}

// TestRerunTakeoverFencesTheLateCommitter takes an output over with a
// --rerun (a spec with a nonce) while the old job's committer is paused
// just before its fence, and just after it: before, the takeover wins and
// the old committer, resumed, publishes nothing; after, the takeover is
// refused and the old job commits. Either way one job's records are in the
// output exactly once and nothing of the other.
func TestRerunTakeoverFencesTheLateCommitter(t *testing.T) {
	r := newFaultRig(t, 4, 150)
	for _, after := range []bool{false, true} {
		name := map[bool]string{false: "paused before its fence", true: "paused after its fence"}[after]
		t.Run(name, func(t *testing.T) {
			out := map[bool]string{false: "before/", true: "after/"}[after]
			old := finishedJob(t, r, out)
			paused, release := make(chan struct{}), make(chan struct{})
			committer := r.engine(engineOptions{name: "old-committer", store: pausedFence(after, paused, release)})
			done := make(chan error, 1)
			go func() {
				_, err := committer.TryCommit(context.Background(), old.Manifest.Spec.Output, old.Job)
				done <- err
			}()
			select {
			case <-paused:
			case <-time.After(30 * time.Second):
				t.Fatal("the old committer never reached its fence")
			}
			rerun := old.Manifest.Spec
			rerun.Nonce = "rerun"
			e := r.engine(engineOptions{name: "rerun"})
			info, err := e.Submit(context.Background(), rerun)
			close(release)
			oldErr := <-done
			var owned *fanout.OutputOwnedError
			if after {
				if !errors.As(err, &owned) || owned.Owner != old.Job || owned.State != manifest.OwnerCommitting {
					t.Fatalf("rerun after the fence: got %v, want a refusal naming the committing job %s", err, old.Job)
				}
				if oldErr != nil {
					t.Fatalf("the old committer: %v", oldErr)
				}
				c := r.check(out, old.Job)
				t.Logf("the fence came first: the rerun was refused (%v); the old job committed %d records once", err, c.Records)
				return
			}
			if err != nil {
				t.Fatalf("rerun before the fence: %v", err)
			}
			if !errors.As(oldErr, &owned) || !owned.AtCommit || owned.Owner != info.Job || owned.Job != old.Job {
				t.Fatalf("the old committer: got %v, want *OutputOwnedError naming the new owner %s", oldErr, info.Job)
			}
			for key := range snapshotStore(t, r.store, out) {
				if strings.Contains(key, old.Job) && !strings.HasPrefix(key, out+"_fanout/"+old.Job+"/") {
					t.Errorf("the fenced-out job published %s", key)
				}
			}
			res, err := e.Wait(context.Background(), info.Manifest.Spec.Output, info.Job, fanout.RunOptions{Workers: 2})
			if err != nil || res.State != fanout.StateCommitted {
				t.Fatalf("the rerun: %v, %+v", err, res)
			}
			c := r.check(out, info.Job)
			t.Logf("the takeover came first: the old committer was refused (%v); the rerun committed %d records once", oldErr, c.Records)
		})
	}
}

// TestRerunTakesOverAFailedJob fails a job (a poison chunk), then reruns
// it fixed with --rerun on the same output: the rerun takes the output
// over, commits exactly, and the old job can no longer be redriven.
func TestRerunTakesOverAFailedJob(t *testing.T) {
	r := newFaultRig(t, 3, 100)
	poison := registryWith(copyFn{hook: func(_ context.Context, first *functions.Record) error {
		if first.Object == "in/part-01.jsonl" {
			return functions.Permanent(errors.New("poison"))
		}
		return nil
	}})
	a := r.engine(engineOptions{name: "a", functions: poison})
	spec := r.spec("out/", 10*time.Second, "copy")
	res, err := a.Run(context.Background(), spec, fanout.RunOptions{Workers: 2})
	var jf *fanout.JobFailedError
	if !errors.As(err, &jf) {
		t.Fatalf("the poisoned job: got %v, %+v; want *JobFailedError", err, res)
	}
	oldJob := res.Job
	_, err = r.engine(engineOptions{name: "other"}).Submit(context.Background(), r.spec("out/", 10*time.Second, "convert"))
	var owned *fanout.OutputOwnedError
	if !errors.As(err, &owned) || owned.Owner != oldJob || owned.State != manifest.OwnerFailed {
		t.Fatalf("another job without --rerun: got %v, want refused naming the failed job %s", err, oldJob)
	}
	spec.Nonce = "rerun"
	b := r.engine(engineOptions{name: "b", functions: registryWith(copyFn{})})
	res, err = b.Run(context.Background(), spec, fanout.RunOptions{Workers: 2})
	if err != nil || res.State != fanout.StateCommitted {
		t.Fatalf("the rerun: %v, %+v", err, res)
	}
	r.check("out/", res.Job)
	_, err = a.Redrive(context.Background(), spec.Output, oldJob)
	if !errors.As(err, &owned) || owned.Owner != res.Job {
		t.Fatalf("redrive of the replaced job: got %v, want refused naming %s", err, res.Job)
	}
}

// TestAFailedPlanGivesTheOutputBack: a job whose plan fails after it
// claimed the output (here a misspelt partition column, found only once
// the input's schema is known) sets its owner record to failed, so that
// the corrected command, a different job, runs without --rerun and
// commits; the failed command, run again, fails the same way instead of
// being refused.
func TestAFailedPlanGivesTheOutputBack(t *testing.T) {
	r := newFaultRig(t, 3, 100)
	eng := r.engine(engineOptions{name: "a"})
	bad := r.spec("out/", 10*time.Second, "convert")
	bad.PartitionBy = []string{"no_such_column"}
	for range 2 {
		_, err := eng.Run(context.Background(), bad, fanout.RunOptions{Workers: 2})
		var owned *fanout.OutputOwnedError
		if err == nil || errors.As(err, &owned) || !strings.Contains(err.Error(), "no_such_column") {
			t.Fatalf("the misspelt job: got %v, want its own error naming the column", err)
		}
	}
	good := r.spec("out/", 10*time.Second, "convert")
	res, err := eng.Run(context.Background(), good, fanout.RunOptions{Workers: 2})
	if err != nil || res.State != fanout.StateCommitted {
		t.Fatalf("the corrected job: got %v, %+v; want committed", err, res)
	}
	r.check("out/", res.Job)
}
