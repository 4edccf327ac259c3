package fanout_test

// Mixed worker fleets: engines built from different programs (one with
// only the built-in functions, one with a function of its own, two
// builds of one function) serve one Redis queue and one bucket. A worker
// never runs a chunk of a function it does not have, or of another
// version than its job was planned with; nothing fails for it.

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/builtin"
)

// eventLog records the chunks each engine's workers settled, by job.
type eventLog struct {
	mu     sync.Mutex
	events map[string][]fanout.ChunkEvent // engine name -> events
}

func (l *eventLog) observe(name string) func(fanout.ChunkEvent) {
	return func(ev fanout.ChunkEvent) {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.events == nil {
			l.events = map[string][]fanout.ChunkEvent{}
		}
		l.events[name] = append(l.events[name], ev)
	}
}

// of returns engine name's events of job.
func (l *eventLog) of(name, job string) []fanout.ChunkEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	var evs []fanout.ChunkEvent
	for _, ev := range l.events[name] {
		if ev.Job == job {
			evs = append(evs, ev)
		}
	}
	return evs
}

// serve runs e's workers on every job of the queue until the test ends.
func serve(t *testing.T, e *fanout.Engine, observe func(fanout.ChunkEvent)) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- e.Work(ctx, fanout.WorkOptions{Concurrency: 2, Grace: time.Second, IdlePoll: 50 * time.Millisecond, Observe: observe})
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Work: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// versionedCopy is copyFn at a version of its own (functions.Versioner).
type versionedCopy struct {
	copyFn
	version string
}

func (v versionedCopy) Version() string { return v.version }

// TestMixedFleetRunsEachChunkWhereItsFunctionIs runs a job of a user's
// function and a built-in job at the same time on a builtin-only worker
// and a user-binary worker: both commit exactly; every chunk of the
// user's job ran on the user's worker, and the builtin-only worker never
// even claimed one (the queue hands out only what a worker runs).
func TestMixedFleetRunsEachChunkWhereItsFunctionIs(t *testing.T) {
	r := newFaultRig(t, 6, 150)
	var log eventLog
	builtinOnly := r.engine(engineOptions{name: "builtin-only", functions: builtin.Registry()})
	user := r.engine(engineOptions{name: "user", functions: registryWith(copyFn{})})
	ctx := context.Background()
	userJob, err := user.Submit(ctx, r.spec("out-user/", time.Minute, "copy"))
	if err != nil {
		t.Fatal(err)
	}
	builtinJob, err := builtinOnly.Submit(ctx, r.spec("out-builtin/", time.Minute, "convert"))
	if err != nil {
		t.Fatal(err)
	}
	// The builtin-only worker alone first, until it finds nothing it can
	// run: it takes every chunk of the convert job and none of the copy
	// job's.
	if err := builtinOnly.Work(ctx, fanout.WorkOptions{Concurrency: 2, ExitWhenIdle: true, Observe: log.observe("builtin-only")}); err != nil {
		t.Fatal(err)
	}
	if evs := log.of("builtin-only", userJob.Job); len(evs) != 0 {
		t.Fatalf("the builtin-only worker claimed chunks of the copy job: %+v; want none", evs)
	}
	serve(t, builtinOnly, log.observe("builtin-only"))
	serve(t, user, log.observe("user"))
	for _, j := range []fanout.PlanInfo{userJob, builtinJob} {
		if _, err := user.Wait(ctx, j.Manifest.Spec.Output, j.Job, fanout.RunOptions{}); err != nil {
			t.Fatalf("job %s (%s): %v", j.Job, j.Manifest.Spec.Function, err)
		}
	}
	cu := r.check("out-user/", userJob.Job)
	r.check("out-builtin/", builtinJob.Job)
	if evs := log.of("builtin-only", userJob.Job); len(evs) != 0 {
		t.Errorf("the builtin-only worker claimed %d chunks of the copy job (%+v); want none", len(evs), evs)
	}
	done := 0
	for _, ev := range log.of("user", userJob.Job) {
		if ev.Outcome != fanout.OutcomeDone {
			t.Errorf("user worker: chunk %s of the copy job: %s, want done", ev.Chunk, ev.Outcome)
		}
		done++
	}
	if done != cu.Chunks {
		t.Errorf("the user worker ran %d chunks of the copy job, want all %d", done, cu.Chunks)
	}
	for _, name := range []string{"builtin-only", "user"} {
		for _, ev := range log.of(name, builtinJob.Job) {
			if ev.Outcome == fanout.OutcomeFailed {
				t.Errorf("%s: chunk %s of the convert job failed", name, ev.Chunk)
			}
		}
	}
}

// TestChunkOfAMissingFunctionIsReleasedNotFailed enqueues a job as a
// submitter that predates function advertising would (its queue spec
// names no function), so that a builtin-only worker does claim a chunk
// of it: the worker releases the chunk without counting a failure or a
// delivery against it, and the worker that has the function commits the
// job exactly.
func TestChunkOfAMissingFunctionIsReleasedNotFailed(t *testing.T) {
	r := newFaultRig(t, 3, 100)
	ctx := context.Background()
	user := r.engine(engineOptions{name: "user", functions: registryWith(copyFn{})})
	plan, err := user.Plan(ctx, r.spec("out/", time.Minute, "copy"))
	if err != nil {
		t.Fatal(err)
	}
	q := r.queue()
	chunks := []string{"c00000000", "c00000001", "c00000002"}
	legacy := fanout.JobQueueSpec{Job: plan.Job, Manifest: plan.Manifest.Spec.Output + "_fanout/" + plan.Job + "/manifest.json",
		Lease: time.Minute, MaxDeliveries: 3, MaxFailures: 1, BackoffBase: time.Millisecond, BackoffMax: time.Millisecond}
	if err := q.Enqueue(ctx, legacy, chunks); err != nil {
		t.Fatal(err)
	}
	var log eventLog
	builtinOnly := r.engine(engineOptions{name: "builtin-only", functions: builtin.Registry()})
	if err := builtinOnly.Work(ctx, fanout.WorkOptions{Concurrency: 1, Job: plan.Job, ExitWhenIdle: true, Observe: log.observe("builtin-only")}); err != nil {
		t.Fatal(err)
	}
	evs := log.of("builtin-only", plan.Job)
	if len(evs) != 1 || evs[0].Outcome != fanout.OutcomeRefused {
		t.Fatalf("builtin-only worker: %+v; want one chunk refused (released)", evs)
	}
	stats, err := q.Stats(ctx, plan.Job)
	if err != nil || stats.Pending != len(chunks) || stats.Dead != 0 {
		t.Fatalf("queue after the refusal: %+v, %v; want %d pending, none dead", stats, err, len(chunks))
	}
	if dead, err := q.DeadLetters(ctx, plan.Job); err != nil || len(dead) != 0 {
		t.Fatalf("dead letters: %+v, %v; want none", dead, err)
	}
	serve(t, user, log.observe("user"))
	if _, err := user.Wait(ctx, plan.Manifest.Spec.Output, plan.Job, fanout.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	r.check("out/", plan.Job)
	for _, ev := range log.of("user", plan.Job) {
		if ev.Outcome != fanout.OutcomeDone || ev.Retry {
			t.Errorf("user worker: chunk %s: %s (retry %v); want done at its first counted attempt", ev.Chunk, ev.Outcome, ev.Retry)
		}
	}
}

// TestTwoVersionsOfAFunctionNeverMix plans a job with version v1 of a
// function while a worker with v2 serves the queue: v2 never runs a chunk
// of it, and taking the job up again with v2 is refused with
// ErrFunctionVersion. A job that allows any version
// (AnyFunctionVersion) runs on v2 as well.
func TestTwoVersionsOfAFunctionNeverMix(t *testing.T) {
	r := newFaultRig(t, 4, 100)
	ctx := context.Background()
	var log eventLog
	v1 := r.engine(engineOptions{name: "v1", functions: registryWith(versionedCopy{version: "v1"})})
	v2 := r.engine(engineOptions{name: "v2", functions: registryWith(versionedCopy{version: "v2"})})
	spec := r.spec("out/", time.Minute, "copy")
	info, err := v1.Submit(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := v2.Work(ctx, fanout.WorkOptions{Concurrency: 1, Job: info.Job, ExitWhenIdle: true, Observe: log.observe("v2")}); err != nil {
		t.Fatal(err)
	}
	serve(t, v2, log.observe("v2"))
	if info.Manifest.FunctionVersion != "v1" {
		t.Errorf("manifest FunctionVersion = %q, want v1", info.Manifest.FunctionVersion)
	}
	if _, err := v2.Submit(ctx, spec); !errors.Is(err, fanout.ErrFunctionVersion) || !functions.IsPermanent(err) {
		t.Errorf("Submit of the v1 job by v2 = %v; want a permanent ErrFunctionVersion", err)
	}
	serve(t, v1, log.observe("v1"))
	if _, err := v1.Wait(ctx, info.Manifest.Spec.Output, info.Job, fanout.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	c := r.check("out/", info.Job)
	if evs := log.of("v2", info.Job); len(evs) != 0 {
		t.Errorf("v2 ran chunks of the v1 job: %+v", evs)
	}
	if evs := log.of("v1", info.Job); len(evs) != c.Chunks {
		t.Errorf("v1 ran %d chunks, want all %d", len(evs), c.Chunks)
	}
	// Once committed, the job is its result for any version: running the
	// same spec with v2 returns it and runs nothing.
	if res, err := v2.Run(ctx, spec, fanout.RunOptions{}); err != nil || res.State != fanout.StateCommitted || res.Job != info.Job {
		t.Errorf("Run of the committed v1 job by v2 = %+v, %v; want its committed result", res, err)
	}

	// Any version: planned by v1, v2 may run its chunks too (v2 alone
	// finishes it here).
	anySpec := r.spec("out-any/", time.Minute, "copy")
	anySpec.AnyFunctionVersion = true
	v1Planner := r.engine(engineOptions{name: "v1-planner", functions: registryWith(versionedCopy{version: "v1"})})
	anyInfo, err := v1Planner.Submit(ctx, anySpec)
	if err != nil {
		t.Fatal(err)
	}
	if anyInfo.Manifest.FunctionVersion != "" {
		t.Errorf("manifest FunctionVersion of an any-version job = %q, want empty", anyInfo.Manifest.FunctionVersion)
	}
	if _, err := v2.Wait(ctx, anyInfo.Manifest.Spec.Output, anyInfo.Job, fanout.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	r.check("out-any/", anyInfo.Job)
}
