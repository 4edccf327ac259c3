package fanout_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout"
)

// TestRefusedJobIsNotClaimedAgain runs two jobs (MinIO, Redis) beside a
// worker serving every job whose Config.Admit admits only the first's
// output. The worker refuses the second job's chunk once (it is released
// for a worker that may run it) and then passes over that job when it
// claims (fanout.ExceptClaimer): in the 3 s after the first job commits no
// chunk of the refused job is claimed again (before, one was claimed and
// released each second for as long as the job ran), and the refused
// job's chunks all still wait for another worker. The first job commits
// exactly.
func TestRefusedJobIsNotClaimedAgain(t *testing.T) {
	r := newFaultRig(t, 3, 20)
	planner := r.engine(engineOptions{name: "planner"})
	specA, specB := r.spec("outa/", 30*time.Second, "convert"), r.spec("outb/", 30*time.Second, "convert")
	infoA, err := planner.Submit(context.Background(), specA)
	if err != nil {
		t.Fatal(err)
	}
	infoB, err := planner.Submit(context.Background(), specB)
	if err != nil {
		t.Fatal(err)
	}
	worker := r.engine(engineOptions{name: "worker", admit: &fanout.Admission{Outputs: []string{specA.Output}}})
	var refused, refusedA atomic.Int64
	stop := workWith(t, worker, fanout.WorkOptions{Concurrency: 1, Observe: func(ev fanout.ChunkEvent) {
		if ev.Outcome == fanout.OutcomeRefused {
			refused.Add(1)
			if ev.Job == infoA.Job {
				refusedA.Add(1)
			}
		}
	}})
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := planner.Wait(ctx, specA.Output, infoA.Job, fanout.RunOptions{})
	if err != nil || res.State != fanout.StateCommitted {
		t.Fatalf("wait for the admitted job: %v, %+v", err, res)
	}
	r.check("outa/", infoA.Job)
	// The worker has claimed every chunk of the first job (in turn with
	// the second's): it refused the second job by now.
	deadline := time.Now().Add(30 * time.Second)
	for refused.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	before := refused.Load()
	time.Sleep(3 * time.Second) // what the worker claims meanwhile is the point
	if n := refused.Load(); n != 1 || before != 1 || refusedA.Load() != 0 {
		t.Errorf("the worker refused a chunk %d times (%d of the admitted job), %d of them in the 3 s after the admitted job committed; want once, the refused job's first chunk", n, refusedA.Load(), n-before)
	}
	st, err := r.queue().Stats(context.Background(), infoB.Job)
	if err != nil {
		t.Fatal(err)
	}
	if st.Pending != 3 || st.Done != 0 {
		t.Errorf("the refused job's queue: %+v; want its 3 chunks pending, none done", st)
	}
}
