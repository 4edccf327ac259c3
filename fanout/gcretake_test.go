package fanout_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
)

// opHook runs before each Stat, Put and Delete through it (Deletes one
// key at a time: the wrapper hides batched deletes), keeping the store's
// uploads.
type opHook struct {
	objstore.Bucket
	keepUploads
	before func(op, key string)
}

func (s *opHook) Stat(ctx context.Context, key string) (objstore.ObjectInfo, error) {
	s.before("stat", key)
	return s.Bucket.Stat(ctx, key)
}

func (s *opHook) Put(ctx context.Context, key string, r io.Reader, opts *objstore.PutOptions) (objstore.ObjectInfo, error) {
	s.before("put", key)
	return s.Bucket.Put(ctx, key, r, opts)
}

func (s *opHook) Delete(ctx context.Context, key string) error {
	s.before("delete", key)
	return s.Bucket.Delete(ctx, key)
}

func hooked(before func(op, key string)) func(objstore.Bucket) objstore.Bucket {
	return func(b objstore.Bucket) objstore.Bucket {
		return &opHook{Bucket: b, keepUploads: uploadsOf(b), before: before}
	}
}

// lostThenCancelled leaves out/ as gc meets it in the race: job b ran every
// chunk to its marker (not committed), then a --rerun c took the output
// over and was cancelled, so the output is free again and b "lost it to
// c". It returns b's spec and job.
func lostThenCancelled(t *testing.T, r *faultRig) (manifest.JobSpec, string) {
	t.Helper()
	info := finishedUploadJob(t, r, "out/")
	rerun := info.Manifest.Spec
	rerun.Nonce = "rerun"
	e := r.engine(engineOptions{name: "c"})
	c, err := e.Plan(context.Background(), rerun)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Cancel(context.Background(), rerun.Output, c.Job, fanout.CancelOptions{}); err != nil {
		t.Fatal(err)
	}
	return info.Manifest.Spec, info.Job
}

// TestGCRacingAJobThatRetakesACancelledOutput: gc removes job b, which
// the owner record says lost the output to c (cancelled), while b's
// command runs again and takes the cancelled output back (any job may,
// without --rerun), resuming from its markers. Before, gc looked at the
// record once more and then removed b's manifest, markers and open
// uploads: a takeover right after that look left the output's owner
// unable to commit (the first case failed so). Now gc fences its removal
// (a tombstone under b's prefix, which a takeover checks, then a write of
// the owner record conditional on a read naming another job): in every
// order, either b took the output first and gc keeps all of it, and b
// commits; or b is refused, gc removes it, and a --rerun commits. Each
// case ends in the oracle.
func TestGCRacingAJobThatRetakesACancelledOutput(t *testing.T) {
	for _, c := range []struct {
		name string
		// gcHook and claimHook say, from one op of gc's engine or of
		// the retaking one, whether b's command runs again there
		// (inGC) or gc runs there (inClaim).
		inGC    func(op, key, b string) bool
		inClaim func(op, key, b string) bool
		retakes bool
	}{
		{name: "takeover just before gc removes b's first key",
			inGC: func(op, key, b string) bool { return op == "delete" && strings.Contains(key, "/_fanout/"+b+"/") }},
		{name: "takeover before gc's tombstone", retakes: true,
			inGC: func(op, key, b string) bool { return op == "put" && strings.HasSuffix(key, "/_fanout/"+b+"/_REMOVED") }},
		{name: "gc between the takeover's check and its write",
			inClaim: func(op, key, b string) bool { return op == "stat" && strings.HasSuffix(key, "/_fanout/"+b+"/_REMOVED") }},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newFaultRig(t, 3, 50)
			spec, b := lostThenCancelled(t, r)
			var (
				once     sync.Once
				claimErr = errors.New("b's command did not run again")
				gcInfo   fanout.GCInfo
				gcErr    = errors.New("gc did not run")
				retake   *fanout.Engine
				gc       *fanout.Engine
			)
			runGC := func() { gcInfo, gcErr = gc.GC(context.Background(), spec.Output, fanout.GCOptions{}) }
			runClaim := func() { _, claimErr = retake.Submit(context.Background(), spec) }
			retake = r.engine(engineOptions{name: "b-again", store: hooked(func(op, key string) {
				if c.inClaim != nil && c.inClaim(op, key, b) {
					once.Do(runGC)
				}
			})})
			gc = r.engine(engineOptions{name: "gc", store: hooked(func(op, key string) {
				if c.inGC != nil && c.inGC(op, key, b) {
					once.Do(runClaim)
				}
			})})
			if c.inGC != nil {
				runGC()
			} else {
				runClaim()
			}
			if gcErr != nil {
				t.Fatalf("gc: %v", gcErr)
			}
			action := map[string]string{}
			for _, j := range gcInfo.Jobs {
				action[j.Job] = j.Action
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if c.retakes {
				if claimErr != nil || action[b] != fanout.GCKept {
					t.Fatalf("b's command run again: %v; gc %s b; want b to own the output again and gc to keep it", claimErr, action[b])
				}
				res, err := retake.Wait(ctx, spec.Output, b, fanout.RunOptions{Workers: 2})
				if err != nil || res.State != fanout.StateCommitted {
					t.Fatalf("b after gc: %v, %+v; want it committed", err, res)
				}
				r.check("out/", b)
				return
			}
			var owned *fanout.OutputOwnedError
			if !errors.As(claimErr, &owned) || action[b] != fanout.GCRemoved {
				t.Fatalf("b's command run again: %v; gc %s b; want b refused (*OutputOwnedError) and removed by gc", claimErr, action[b])
			}
			if r.exists("out/_fanout/" + b + "/manifest.json") {
				t.Errorf("b's manifest is left")
			}
			rerun := spec
			rerun.Nonce = "again"
			res, err := r.engine(engineOptions{name: "d"}).Run(ctx, rerun, fanout.RunOptions{Workers: 2})
			if err != nil || res.State != fanout.StateCommitted {
				t.Fatalf("a --rerun after gc: %v, %+v", err, res)
			}
			r.check("out/", res.Job)
		})
	}
}

// TestCancelledJobNeverTakesAnOutputOver: a cancelled --rerun job's
// command run again (its spec, nonce included: the same job) is refused
// an output another job holds, instead of taking it over from it (which
// made that job's commit fail its fence, for a job that never runs).
func TestCancelledJobNeverTakesAnOutputOver(t *testing.T) {
	r := newFaultRig(t, 2, 20)
	e := r.engine(engineOptions{name: "a"})
	spec := r.spec("out/", 10*time.Second, "convert")
	spec.Nonce = "first"
	c, err := e.Plan(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Cancel(context.Background(), spec.Output, c.Job, fanout.CancelOptions{}); err != nil {
		t.Fatal(err)
	}
	other := spec
	other.Nonce = "second"
	d, err := e.Plan(context.Background(), other)
	if err != nil {
		t.Fatalf("a new job on the cancelled output: %v", err)
	}
	if _, err := e.Plan(context.Background(), spec); !errors.As(err, new(*fanout.JobCancelledError)) {
		t.Fatalf("the cancelled job's spec again: %v; want it refused (*JobCancelledError)", err)
	}
	res, err := e.Wait(context.Background(), other.Output, d.Job, fanout.RunOptions{Workers: 2})
	if err != nil || res.State != fanout.StateCommitted {
		t.Fatalf("the new owner: %v, %+v; want it committed", err, res)
	}
	r.check("out/", d.Job)
}
