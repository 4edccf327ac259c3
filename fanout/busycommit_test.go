package fanout_test

// A busy worker commits the jobs it finished: a worker serving every job
// moved jobs forward only when a claim found nothing, so on a fleet kept
// busy by one long job every short job beside it had all its chunks done
// and stayed committing until the long job ended.

import (
	"context"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/functions"
)

// TestBusyWorkerCommitsAFinishedJob runs one worker process (two slots,
// every job) on a long job whose chunks block until the test releases
// them, and a short job submitted beside it. The test releases long-job
// chunks only until the short job's chunks are all done, then holds one
// in each slot: no claim of the worker can find nothing from then on. The
// short job must still commit (its commit record appears, its output is
// exact) while both slots stay held and the long job is not committed.
func TestBusyWorkerCommitsAFinishedJob(t *testing.T) {
	r := newFaultRig(t, 16, 20)
	ctx := context.Background()
	// started receives each long-job attempt's release channel once it
	// has read its chunk.
	started := make(chan chan struct{})
	hold := copyFn{hook: func(ctx context.Context, _ *functions.Record) error {
		release := make(chan struct{})
		select {
		case started <- release:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}}
	e := r.engine(engineOptions{name: "busy", functions: registryWith(hold)})
	long, err := e.Submit(ctx, r.spec("long/", time.Minute, "copy"))
	if err != nil {
		t.Fatal(err)
	}
	shortDone := make(chan fanout.ChunkEvent, 64)
	var events chunkEvents
	workWith(t, e, fanout.WorkOptions{Concurrency: 2, Observe: func(ev fanout.ChunkEvent) {
		events.observe(ev)
		if ev.Job != long.Job && ev.Outcome == fanout.OutcomeDone {
			shortDone <- ev
		}
	}})

	timeout := time.NewTimer(60 * time.Second)
	defer timeout.Stop()
	var held []chan struct{}
	defer func() {
		for _, c := range held {
			close(c)
		}
	}()
	next := func(what string) chan struct{} {
		t.Helper()
		select {
		case c := <-started:
			return c
		case <-timeout.C:
			t.Fatalf("timed out waiting for %s; events: %s", what, events.String())
			return nil
		}
	}
	// Both slots hold a long-job chunk before the short job exists.
	held = append(held, next("the first long-job chunk"), next("the second long-job chunk"))

	spec := r.spec("short/", time.Minute, "convert")
	spec.MaxObjectsPerChunk = 6 // 3 chunks
	short, err := e.Submit(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if short.Manifest.Chunks < 2 || long.Manifest.Chunks < 4*short.Manifest.Chunks {
		t.Fatalf("short job of %d chunks, long job of %d: the long job must outlast the short one", short.Manifest.Chunks, long.Manifest.Chunks)
	}
	// One slot goes on; every long-job chunk it takes is released until
	// the short job's chunks are all done.
	close(held[1])
	held = held[:1]
	for done := 0; done < short.Manifest.Chunks; {
		select {
		case <-shortDone:
			done++
		case c := <-started:
			close(c)
		case <-timeout.C:
			t.Fatalf("timed out with %d of the short job's %d chunks done; events: %s", done, short.Manifest.Chunks, events.String())
		}
	}
	// The slot takes a long-job chunk next (the short job has none left,
	// the long job many): held, the worker has no idle slot.
	held = append(held, next("the free slot's next long-job chunk"))

	commitKey := "short/_fanout/" + short.Job + "/_COMMITTED"
	deadline := time.Now().Add(30 * time.Second)
	for wait := 10 * time.Millisecond; !r.exists(commitKey); wait = min(2*wait, 200*time.Millisecond) {
		if time.Now().After(deadline) {
			st, _ := e.Status(ctx, short.Manifest.Spec.Output, short.Job)
			t.Fatalf("the short job's chunks are all done but it is %s after 30 s with every slot of the worker busy (want committed)", st.State)
		}
		time.Sleep(wait)
	}
	select {
	case c := <-started:
		held = append(held, c)
		t.Fatalf("a third long-job attempt ran while both slots were held")
	default:
	}
	if r.exists("long/_fanout/" + long.Job + "/_COMMITTED") {
		t.Fatalf("the long job committed with two of its chunks held")
	}
	r.check("short/", short.Job)
	st, err := e.Status(ctx, short.Manifest.Spec.Output, short.Job)
	if err != nil || st.State != fanout.StateCommitted {
		t.Fatalf("short job: %+v, %v; want committed", st, err)
	}
}
