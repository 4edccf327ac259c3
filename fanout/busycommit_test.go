package fanout_test

// A busy worker commits the jobs it finished: a worker serving every job
// moved jobs forward only when a claim found nothing, so on a fleet kept
// busy by one long job every short job beside it had all its chunks done
// and stayed committing until the long job ended.

import (
	"context"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/localstack"
	"github.com/fanout-dev/fanout/objstore"
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
	var events chunkEvents
	h := newHolder(t, 60*time.Second, &events)
	defer h.release()
	e := r.engine(engineOptions{name: "busy", functions: registryWith(h.fn())})
	long, err := e.Submit(ctx, r.spec("long/", time.Minute, "copy"))
	if err != nil {
		t.Fatal(err)
	}
	shortDone := make(chan fanout.ChunkEvent, 64)
	workWith(t, e, fanout.WorkOptions{Concurrency: 2, Observe: func(ev fanout.ChunkEvent) {
		events.observe(ev)
		if ev.Job != long.Job && ev.Outcome == fanout.OutcomeDone {
			shortDone <- ev
		}
	}})

	// Both slots hold a long-job chunk before the short job exists.
	h.held = append(h.held, h.next("the first long-job chunk"), h.next("the second long-job chunk"))

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
	close(h.held[1])
	h.held = h.held[:1]
	for done := 0; done < short.Manifest.Chunks; {
		select {
		case <-shortDone:
			done++
		case c := <-h.started:
			close(c)
		case <-h.timeout.C:
			t.Fatalf("timed out with %d of the short job's %d chunks done; events: %s", done, short.Manifest.Chunks, events.String())
		}
	}
	// The slot takes a long-job chunk next (the short job has none left,
	// the long job many): held, the worker has no idle slot.
	h.held = append(h.held, h.next("the free slot's next long-job chunk"))

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
	case c := <-h.started:
		h.held = append(h.held, c)
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

// lookLog records, in order, the HEADs of commit records (each a step of
// advance looking at a job) and the commit records' PUTs of one engine.
type lookLog struct {
	mu    sync.Mutex
	looks []look
}

type look struct {
	key string
	put bool
	at  time.Time
}

func (l *lookLog) add(key string, put bool) {
	if !strings.HasSuffix(key, "/_COMMITTED") {
		return
	}
	l.mu.Lock()
	l.looks = append(l.looks, look{key: key, put: put, at: time.Now()})
	l.mu.Unlock()
}

// stats returns when key was HEADed.
func (l *lookLog) stats(key string) []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	var at []time.Time
	for _, lk := range l.looks {
		if lk.key == key && !lk.put {
			at = append(at, lk.at)
		}
	}
	return at
}

// snapshot returns a copy of the log.
func (l *lookLog) snapshot() []look {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.looks)
}

// lookLogStore is a store that logs into log; it keeps the store's
// uploads (withUploads).
type lookLogStore struct {
	objstore.Bucket
	log *lookLog
}

func (s *lookLogStore) Stat(ctx context.Context, key string) (objstore.ObjectInfo, error) {
	s.log.add(key, false)
	return s.Bucket.Stat(ctx, key)
}

func (s *lookLogStore) Put(ctx context.Context, key string, rd io.Reader, opts *objstore.PutOptions) (objstore.ObjectInfo, error) {
	s.log.add(key, true)
	return s.Bucket.Put(ctx, key, rd, opts)
}

// TestBusyWorkerBacksOffLookingAtItsJobs holds both slots of a worker
// serving every job on a long job's chunks, with a short job of one
// chunk waiting beside it: nothing can finish, and the worker's
// background advance (advanceBusy) looks at the jobs for nothing. Each
// look is a HEAD of every job's commit record (and a few Redis scripts):
// the gaps between the worker's HEADs of the short job's record must
// double (1 s, 2 s, 4 s, with at most 10% jitter below) rather than
// stay at one a second. Then the test lets the short job's chunk run and
// holds the slots again: the short job must commit at the worker's next
// look (at most one HEAD of the long job's record between its chunk's
// end and its commit record), the back-off notwithstanding.
//
// The bounds are lower bounds on the gaps, which load only lengthens: a
// timer never fires early, and a slow step lengthens the gap after it.
func TestBusyWorkerBacksOffLookingAtItsJobs(t *testing.T) {
	const objects = 16
	r := newFaultRig(t, objects, 20)
	ctx := context.Background()
	var events chunkEvents
	h := newHolder(t, 90*time.Second, &events)
	defer h.release()
	looks := &lookLog{}
	e := r.engine(engineOptions{name: "busy", functions: registryWith(h.fn()), store: func(b objstore.Bucket) objstore.Bucket {
		return withUploads(b, &lookLogStore{Bucket: b, log: looks})
	}})
	long, err := e.Submit(ctx, r.spec("long/", time.Minute, "copy"))
	if err != nil {
		t.Fatal(err)
	}
	var shortDone atomic.Int64 // 1 + the log's length when the short job's chunk ended
	var short fanout.PlanInfo
	var shortSubmitted atomic.Bool
	workWith(t, e, fanout.WorkOptions{Concurrency: 2, Observe: func(ev fanout.ChunkEvent) {
		events.observe(ev)
		if shortSubmitted.Load() && ev.Job == short.Job && ev.Outcome == fanout.OutcomeDone {
			shortDone.Store(int64(len(looks.snapshot())) + 1)
		}
	}})
	h.held = append(h.held, h.next("the first long-job chunk"), h.next("the second long-job chunk"))

	spec := r.spec("short/", time.Minute, "convert")
	spec.MaxObjectsPerChunk = objects
	short, err = e.Submit(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	shortSubmitted.Store(true)
	if short.Manifest.Chunks != 1 {
		t.Fatalf("short job of %d chunks, want 1", short.Manifest.Chunks)
	}
	shortKey := "short/_fanout/" + short.Job + "/_COMMITTED"
	longKey := "long/_fanout/" + long.Job + "/_COMMITTED"

	// The first look that sees the short job finds the job list changed
	// and keeps the pace of a second; each look after it finds the same
	// jobs and nothing finished, and doubles the wait.
	localstack.Poll(t, time.Minute, "four looks at the short job by the busy worker", func() bool {
		return len(looks.stats(shortKey)) >= 4
	})
	at := looks.stats(shortKey)
	t.Logf("gaps between the looks at the short job: %v, %v, %v", at[1].Sub(at[0]).Round(time.Millisecond),
		at[2].Sub(at[1]).Round(time.Millisecond), at[3].Sub(at[2]).Round(time.Millisecond))
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		if gap := at[i+1].Sub(at[i]); gap < want*9/10 {
			t.Errorf("look %d at the waiting jobs came %v after look %d, want at least %v (the busy advance backs off, doubling up to 8 s, while it finds nothing to do)",
				i+2, gap.Round(time.Millisecond), i+1, want*9/10)
		}
	}

	// One slot goes on, its long-job chunks released until the short
	// job's chunk is done; then it holds a long-job chunk again.
	close(h.held[1])
	h.held = h.held[:1]
	for shortDone.Load() == 0 {
		select {
		case c := <-h.started:
			close(c)
		case <-h.timeout.C:
			t.Fatalf("timed out waiting for the short job's chunk; events: %s", events.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	h.held = append(h.held, h.next("the free slot's next long-job chunk"))

	localstack.Poll(t, 60*time.Second, "the short job's commit record with both slots held (a busy worker looks at least every ~8.8 s)", func() bool {
		return r.exists(shortKey)
	})
	from := int(shortDone.Load() - 1)
	log := looks.snapshot()
	between, put := 0, false
	for _, lk := range log[from:] {
		if lk.put && lk.key == shortKey {
			put = true
			break
		}
		if !lk.put && lk.key == longKey {
			between++
		}
	}
	if !put {
		t.Fatalf("the busy worker did not write the short job's commit record")
	}
	t.Logf("looks at the long job between the short job's last chunk and its commit: %d", between)
	if between > 1 {
		t.Errorf("the busy worker looked at the long job %d times between the short job's last chunk and its commit, want at most 1 (the short job commits at the next look)", between)
	}
	select {
	case c := <-h.started:
		h.held = append(h.held, c)
		t.Fatalf("a third long-job attempt ran while both slots were held")
	default:
	}
	if r.exists(longKey) {
		t.Fatalf("the long job committed with two of its chunks held")
	}
	r.check("short/", short.Job)
}

// holder is a copy function (fn) whose every attempt, once it has read
// its chunk, waits until the test releases it: started receives each
// attempt's release channel, which next takes and the test keeps in held
// until it closes it (release closes what is left).
type holder struct {
	t       *testing.T
	started chan chan struct{}
	held    []chan struct{}
	timeout *time.Timer // the test's deadline
	events  *chunkEvents
}

func newHolder(t *testing.T, timeout time.Duration, events *chunkEvents) *holder {
	return &holder{t: t, started: make(chan chan struct{}), timeout: time.NewTimer(timeout), events: events}
}

func (h *holder) fn() copyFn {
	return copyFn{hook: func(ctx context.Context, _ *functions.Record) error {
		release := make(chan struct{})
		select {
		case h.started <- release:
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
}

// next waits for the next attempt to start and returns its release
// channel; what names it in the failure.
func (h *holder) next(what string) chan struct{} {
	h.t.Helper()
	select {
	case c := <-h.started:
		return c
	case <-h.timeout.C:
		h.t.Fatalf("timed out waiting for %s; events: %s", what, h.events.String())
		return nil
	}
}

// release lets every held attempt go and stops the deadline.
func (h *holder) release() {
	h.timeout.Stop()
	for _, c := range h.held {
		close(c)
	}
	h.held = nil
}
