package fanout

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
)

// WorkOptions are the settings of Work.
type WorkOptions struct {
	// Concurrency is the number of chunks processed at once (default 1).
	Concurrency int
	// Job restricts the workers to one job; empty serves every active job.
	Job string
	// Grace is how long in-flight chunks may run on after ctx is cancelled
	// before they are cancelled and their leases released (default 30s).
	Grace time.Duration
	// IdlePoll is the longest wait between claims when there is no work
	// (default 100ms; waits start at 20ms and double). It is how long a
	// job submitted to idle workers may wait for its first claim: at 500ms
	// it was most of a small job's time on MinIO and Redis (a job of one
	// tiny chunk took 0.41-0.78 s with two idle `fanout work` processes,
	// 0.19-0.30 s at 100ms). An idle claim is one Lua script on Redis.
	// A worker bound to one job (Job) on a queue that wakes waiters
	// (WorkWaiter: redisqueue, memqueue) does not poll: it waits to be
	// woken, for up to 2 s (while the job is quiet, another engine
	// committing it or nothing of it pending, until its next look at the
	// job: up to 4 s, 16 s during another engine's commit), and IdlePoll
	// applies only while that wait fails. A worker serving every job polls, but waits out each pause
	// on the queue's wake-ups for any job, so that an enqueue ends it.
	IdlePoll time.Duration
	// ExitWhenIdle makes Work return once Claim finds no work (used by
	// embedded runs and Lambda invocations).
	ExitWhenIdle bool
	// Deadline, when set, stops claiming once it is near (Lambda).
	Deadline time.Time
	// Stats, when set, receives counters as chunks finish.
	Stats *WorkStats
	// Observe, when set, is called once per claimed chunk when its
	// attempt ends (for metrics). It must not block.
	Observe func(ChunkEvent)
}

// ChunkEvent describes one ended attempt.
type ChunkEvent struct {
	Job, Chunk string
	// Outcome is done, skipped (another attempt had published), failed,
	// lease_lost, released, or refused (released because Config.Admit
	// does not let this worker run the job).
	Outcome    string
	Duration   time.Duration
	RecordsIn  int64
	RecordsOut int64
	BytesIn    int64
	// Retry is true when the attempt was not the chunk's first delivery;
	// Backup when it was a backup attempt at a straggler.
	Retry  bool
	Backup bool
	// counts are a published task's counts for AckCounted (countTask).
	counts *TaskCounts
	// computed, when set, is called once the function has read the
	// whole chunk (runLease).
	computed func()
	// drained says the attempt's ack claimed (AckClaimer) and found no
	// chunk ready.
	drained bool
	// hb is the attempt's heartbeat: publish asks it whether the lease
	// is fresh enough to write the marker without confirming it again.
	hb *heartbeat
}

// Chunk outcomes reported in ChunkEvent.
const (
	OutcomeDone      = "done"
	OutcomeSkipped   = "skipped"
	OutcomeFailed    = "failed"
	OutcomeLeaseLost = "lease_lost"
	OutcomeReleased  = "released"
	OutcomeRefused   = "refused"
)

// WorkStats counts what a worker did. Fields are updated atomically.
type WorkStats struct {
	Chunks     atomic.Int64
	Skipped    atomic.Int64 // chunks that already had a marker
	Failed     atomic.Int64
	LeasesLost atomic.Int64
	RecordsIn  atomic.Int64
	RecordsOut atomic.Int64
	BytesIn    atomic.Int64
	// SortSpills counts the sorted runs published map attempts spilled to
	// local files to sort their output (JobSpec.SortBy, Config.SortMemory).
	SortSpills atomic.Int64
}

// Work claims and processes chunks until ctx is cancelled (or, with
// ExitWhenIdle, until there is no work left). On cancellation it stops
// claiming, lets in-flight chunks finish for up to Grace, then cancels
// them and releases their leases.
func (e *Engine) Work(ctx context.Context, opts WorkOptions) error {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 1
	}
	if opts.Grace <= 0 {
		opts.Grace = 30 * time.Second
	}
	if opts.IdlePoll <= 0 {
		opts.IdlePoll = 100 * time.Millisecond
	}
	if opts.Stats == nil {
		opts.Stats = &WorkStats{}
	}
	// work outlives ctx by the grace period.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	stopGrace := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(opts.Grace, cancelWork)
		context.AfterFunc(work, func() { t.Stop() })
	})
	defer stopGrace()

	var wg sync.WaitGroup
	errs := make([]error, opts.Concurrency)
	for i := range opts.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = e.workLoop(ctx, work, fmt.Sprintf("%s/%d", e.cfg.WorkerName, i), opts)
		}()
	}
	if opts.Job == "" {
		// Serving every job, the slots move jobs along only when a claim
		// finds nothing (advanceIdle): on a fleet kept busy by one long
		// job, every short job beside it had its chunks done and stayed
		// committing until the long job ended (99 jobs for minutes).
		// While the slots run chunks, this moves the jobs along in the
		// background, at the pace advanceIdle keeps for the engine (idle
		// slots and this share it): the commit lease still makes one
		// committer commit a job.
		stop, advanced := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(advanced)
			e.advanceBusy(ctx, stop)
		}()
		defer func() { close(stop); <-advanced }() // the slots have returned
	}
	wg.Wait()
	return errors.Join(errs...)
}

// advanceBusy takes the step of advanceIdle over every job until ctx
// ends or stop is closed (Work closes it once its slots have returned; a
// step under way is finished first), whether the worker's slots are busy
// or not: the step is skipped when an idle slot took it within the
// interval. It looks once per advanceInterval while that finds work to
// do and backs off, doubling up to maxBusyAdvanceInterval (with jitter),
// after a step that finished no job and saw the same jobs as the one
// before: each step is a HEAD and a few Redis scripts per job, and 20
// busy processes over 100 jobs took ~2,000 HEADs a second for nothing.
func (e *Engine) advanceBusy(ctx context.Context, stop <-chan struct{}) {
	wait := advanceInterval
	var seen []string
	for {
		// +-10% jitter, so that a fleet started at once spreads out.
		d := wait - wait/10 + rand.N(wait/5+1)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-stop:
			t.Stop()
			return
		case <-t.C:
		}
		// Slack: the timer's own wait is the pace; without it a tick just
		// short of the limiter's interval after an idle slot's step was
		// skipped, and every other tick did nothing.
		ran, committed, jobs := e.advanceStep(ctx, "", advanceInterval/4)
		if !ran {
			continue
		}
		if committed || !slices.Equal(jobs, seen) {
			wait = advanceInterval
		} else {
			wait = min(2*wait, maxBusyAdvanceInterval)
		}
		seen = jobs
	}
}

// maxBusyAdvanceInterval bounds advanceBusy's back-off: a job whose last
// chunk a busy worker finished (no idle slot looks at it) commits within
// about this long.
const maxBusyAdvanceInterval = 8 * time.Second

// idleWait is the longest a worker bound to one job waits for the queue
// to wake it (WorkWaiter) before it claims and looks at the job again.
const idleWait = 2 * time.Second

// claimErrorWait is the least wait after a claim failed (Redis down), so
// that an outage is logged a few times a second, not at the idle pace.
const claimErrorWait = 500 * time.Millisecond

func (e *Engine) workLoop(ctx, work context.Context, worker string, opts WorkOptions) error {
	idle := 20 * time.Millisecond
	loggedWait := false
	// lookFirst skips the claim once: an idle wait for a quiet job ended
	// without a wake-up when its next look was due.
	lookFirst, looked := false, false
	// drained skips the claim once: an ack that claimed (the chunk
	// publishing behind, or the last one run) found no chunk ready just
	// now. (The slot claimed again, found nothing, and again after the
	// chunk publishing behind settled: two round trips for nothing at
	// the end of each worker's share of a job.)
	drained := false
	// next is a chunk claimed with an earlier one's ack (AckClaimer).
	var next *Lease
	release := func(l *Lease) { // stopped before running it: give it back
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := e.cfg.Queue.Release(rctx, *l); err != nil && !errors.Is(err, ErrLeaseLost) {
			e.log.Warn("release failed", "chunk", l.Chunk, "err", err)
		}
	}
	defer func() {
		if next != nil {
			release(next)
		}
	}()
	// The slot's chunks run on goroutines of its own (runners), ended
	// once the chunk publishing behind has settled (the defer below).
	var runners runners
	defer runners.stop()
	// publishing is the chunk publishing behind the one running; nil
	// when none is. take closes its wanted once this loop waits for it
	// to settle: its ack then claims the job's next chunk (the loop needs
	// one at once), and take hands that chunk over. (Publishing goes on
	// in each chunk's own goroutine: a published chunk's ack waits for
	// wanted, for at most ackWait, and claims nothing when it comes too
	// late.)
	var publishing *behindChunk
	take := func() {
		close(publishing.wanted)
		<-publishing.done
		drained = publishing.drained
		if l := publishing.next; l != nil {
			if next == nil {
				next = l
			} else {
				release(l)
			}
		}
		publishing = nil
	}
	defer func() {
		if publishing != nil {
			take()
		}
	}()
	// claiming says whether the worker goes on claiming chunks.
	claiming := func() bool {
		return ctx.Err() == nil && (opts.Deadline.IsZero() || time.Until(opts.Deadline) > 0)
	}
	for {
		if !claiming() {
			return nil
		}
		var lease Lease
		var err error
		switch {
		case next != nil:
			lease, next, drained = *next, nil, false
		case lookFirst:
			// An idle wait for a quiet job ended at its next look, not
			// woken: nothing to claim, look at the job.
			lookFirst, looked, err = false, true, ErrNoWork
		case drained:
			drained, err = false, ErrNoWork
		default:
			lease, err = e.claim(ctx, opts.Job, worker)
		}
		switch {
		case publishing != nil && (errors.Is(err, ErrNoWork) || opts.Job != "" && errors.Is(err, ErrUnknownJob)):
			// The chunk publishing behind may be the job's last: once it
			// is settled, claim again and, idle, commit the job at once.
			take()
			continue
		case errors.Is(err, ErrNoWork), opts.Job != "" && errors.Is(err, ErrUnknownJob):
			// Idle workers move jobs along: reclaim expired leases, start a
			// reduce stage, commit a finished job. No driver has to run.
			e.advanceIdle(ctx, opts.Job)
			if looked {
				looked = false
				if !e.jobQuiet.Load() {
					continue // the look found the job with work: claim now
				}
			}
			if opts.ExitWhenIdle {
				return nil
			}
			if w, ok := e.cfg.Queue.(WorkWaiter); ok && opts.Job != "" {
				// Held until the job may have work rather than polling:
				// the queue wakes a waiter for each chunk it makes
				// claimable; a retry's backoff or an expired lease is found
				// when the wait ends. While the job is quiet (another
				// engine commits it, or nothing of it is pending: only
				// what a wake-up announces or a look finds can come) the
				// wait lasts until the next look at the job, which
				// follows without a claim when nothing woke the worker.
				wait, quiet := idleWait, e.jobQuiet.Load()
				if quiet {
					wait = max(e.nextLook(), 10*time.Millisecond)
					if wait >= time.Second {
						wait = wait.Truncate(time.Second) + time.Second // WaitForWork rounds to seconds
					}
				}
				if err := w.WaitForWork(ctx, opts.Job, wait); err == nil || ctx.Err() != nil {
					lookFirst = quiet && e.nextLook() == 0
					continue
				} else if !loggedWait {
					loggedWait = true
					e.log.Warn("waiting for work failed; polling instead", "job", opts.Job, "err", err)
				}
			} else if ok {
				// Serving every job: the wait is the poll's, but a new
				// job's enqueue ends it at once (with two idle `fanout
				// work` processes the first claims came 0-100 ms after
				// the enqueue; the other ways work appears do not wake
				// these waiters).
				if err := w.WaitForWork(ctx, "", idle); err == nil || ctx.Err() != nil {
					idle = min(idle*2, opts.IdlePoll)
					continue
				} else if !loggedWait {
					loggedWait = true
					e.log.Warn("waiting for work failed; polling instead", "err", err)
				}
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(idle):
			}
			idle = min(idle*2, opts.IdlePoll)
			continue
		case err != nil:
			if ctx.Err() != nil {
				return nil
			}
			e.log.Warn("claim failed", "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(max(opts.IdlePoll, claimErrorWait)):
			}
			continue
		}
		idle = 20 * time.Millisecond
		e.resetAdvance()
		// A job with work again was redriven (by another process, or
		// resumed): idle workers may commit it once more.
		e.failedJobs.Delete(lease.Job)
		// A worker bound to one job takes its next chunk with the ack
		// of this one: one round trip between chunks. A worker serving
		// every job claims anew, so that the jobs take turns. Once the
		// function has read the whole chunk (computed), what is left
		// (uploading its output, its marker, its ack) goes on behind
		// while the next chunk runs: on MinIO those writes took 10-30 ms
		// of a grep chunk's 60-90 ms with the worker's core idle. At most
		// one chunk publishes behind. Its ack claims the chunk after the
		// next, when this loop needs it: a published chunk's ack waits
		// until the loop waits for it (the next chunk is computed or
		// ended: the claim is run at once, as a claim of the loop's own
		// would be), for at most ackWait; later it goes alone and claims
		// nothing, so that no lease waits unrenewed behind a chunk that
		// runs long. (Acking at once and claiming apart cost a round
		// trip more for each chunk that published before the next
		// computed: 4 in 10 in the scale simulation.) A chunk that
		// starts while one publishes behind claims nothing with its ack
		// unless it publishes behind itself: that one's claim, if any,
		// is the loop's next.
		var (
			ev         ChunkEvent
			n          *Lease
			behind     bool
			done       = make(chan struct{})
			computedCh = make(chan struct{})
			afterOne   = publishing != nil
			p          = &behindChunk{done: make(chan struct{}), wanted: make(chan struct{})} // this chunk, once it publishes behind
			job        = lease.Job
		)
		claimNext := func() bool {
			if opts.Job == "" || !claiming() {
				return false
			}
			if !behind {
				return !afterOne
			}
			select {
			case <-p.wanted:
				return claiming()
			default:
			}
			t := time.NewTimer(e.ackWait(ctx, job))
			defer t.Stop()
			select {
			case <-p.wanted:
				return claiming()
			case <-t.C:
			case <-ctx.Done():
			}
			return false
		}
		runners.run(func() {
			defer close(done)
			ev, n = e.runLease(work, lease, opts.Stats, claimNext,
				func() { behind = true; close(computedCh) })
		})
		select {
		case <-done:
		case <-computedCh:
			if publishing != nil {
				take()
			}
			publishing = p
			go func() {
				defer close(p.done)
				<-done
				p.next, p.drained = n, ev.drained
				if opts.Observe != nil {
					opts.Observe(ev)
				}
			}()
			continue
		}
		next, drained = n, ev.drained
		if opts.Observe != nil {
			opts.Observe(ev)
		}
		if ev.Outcome == OutcomeRefused && opts.ExitWhenIdle {
			// Claiming again would hand back the chunk just released:
			// there is nothing here this worker may do.
			return nil
		}
	}
}

// runners runs a worker slot's chunk attempts on goroutines that outlive
// them: an attempt runs deep (go-redis, encoding/json, the codecs), and
// the stack of a goroutine started for it grew by copying several times
// a chunk (runtime.newstack: 5-7% of the scale simulation's CPU). A
// slot runs at most two attempts at once (one publishing behind the
// next), so it keeps two goroutines, each blocked on work while idle (a
// third when one is handed work as another returns to waiting). Their
// stacks stay grown (the collector halves an idle one's at each cycle):
// some tens of KiB a slot. The zero value is ready; stop ends them once
// every function given to run has returned.
type runners struct {
	work chan func()
	wg   sync.WaitGroup
}

// run calls f on an idle goroutine of r, or on a new one when none is.
func (r *runners) run(f func()) {
	if r.work == nil {
		r.work = make(chan func())
	}
	select {
	case r.work <- f: // an idle goroutine took it
		return
	default:
	}
	r.wg.Add(1)
	go r.serve(f)
}

// serve runs f, then each function handed to it, until r.work is closed.
// f is its own (a closure over it, which run had, was kept on the heap
// and held the last function run, and all it captured, while idle).
func (r *runners) serve(f func()) {
	defer r.wg.Done()
	for ; f != nil; f = <-r.work {
		f()
	}
}

// stop ends r's goroutines, after the functions they run have returned.
func (r *runners) stop() {
	if r.work != nil {
		close(r.work)
	}
	r.wg.Wait()
}

// claim claims a chunk of job, or of any job but those Config.Admit
// refused here when the queue can pass over them (ExceptClaimer): a
// refused job's chunk is otherwise claimed and released again, a second
// apart, for as long as the job runs.
func (e *Engine) claim(ctx context.Context, job, worker string) (Lease, error) {
	if ec, ok := e.cfg.Queue.(ExceptClaimer); ok && job == "" {
		var except []string
		e.refused.Range(func(k, _ any) bool {
			j, _, _ := strings.Cut(k.(string), " ") // job and manifest URL
			if !slices.Contains(except, j) {
				except = append(except, j)
			}
			return true
		})
		if len(except) > 0 {
			sent := e.cfg.Clock()
			l, err := ec.ClaimExcept(ctx, worker, e.runs, except)
			l.sent = sent
			return l, err
		}
	}
	sent := e.cfg.Clock()
	l, err := e.cfg.Queue.Claim(ctx, job, worker, e.runs)
	l.sent = sent
	return l, err
}

// behindChunk is a chunk publishing behind the one its worker slot runs
// (workLoop): wanted is closed once the loop waits for it (its ack may
// then claim the loop's next chunk), done once it is settled, and next is
// then the chunk its ack claimed, if any.
type behindChunk struct {
	wanted  chan struct{}
	done    chan struct{}
	next    *Lease
	drained bool // its ack claimed and found no chunk ready
}

// maxAckWait bounds how long a published chunk's ack waits for its worker
// slot to need the next chunk, so as to claim it in the same round trip
// (workLoop); a tenth of the job's lease when that is shorter. The chunk's
// lease (confirmed or renewed less than a quarter of it before its
// marker: heartbeat.fresh) is held meanwhile; its marker (the truth) is
// written.
const maxAckWait = time.Second

// ackWait is how long a published chunk of job waits to ack with the
// claim of its slot's next chunk.
func (e *Engine) ackWait(ctx context.Context, job string) time.Duration {
	spec, err := e.jobSpec(ctx, job)
	if err != nil {
		return 0
	}
	return min(maxAckWait, spec.Lease/10)
}

// runLease processes one claimed chunk and settles its lease; errors are
// recorded in the queue and the bucket, not returned. When claimNext
// (asked when the attempt settles) says so and the queue can
// (AckClaimer), the ack of a published chunk claims the job's next one,
// returned as next.
//
// computed, when not nil, is called (at most once, before claimNext is
// asked) when the function has read the whole chunk and only publishing
// is left.
func (e *Engine) runLease(ctx context.Context, lease Lease, stats *WorkStats, claimNext func() bool, computed func()) (ev ChunkEvent, next *Lease) {
	ev = ChunkEvent{Job: lease.Job, Chunk: lease.Chunk, Retry: lease.Deliveries > 1 || lease.Failures > 0, computed: computed}
	e.log.Debug("chunk claimed", "job", lease.Job, "chunk", lease.Chunk, "attempt", lease.Epoch, "worker", lease.Worker)
	start := time.Now()
	// Sets the returned event (ev is the result): set on a copy, it
	// was lost and every event said 0.
	defer func() { ev.Duration = time.Since(start) }()
	spec, err := e.jobSpec(ctx, lease.Job)
	if err != nil {
		e.log.Warn("job lookup failed", "job", lease.Job, "err", err)
		e.settle(ctx, nil, lease, err, stats, nil, nil)
		ev.Outcome = OutcomeFailed
		return ev, nil
	}
	js, err := e.loadJob(ctx, lease.Job, spec.Manifest)
	if errors.Is(err, ErrNotAdmitted) {
		e.refuse(ctx, lease, err)
		ev.Outcome = OutcomeRefused
		return ev, nil
	}
	if err != nil {
		e.settle(ctx, nil, lease, err, stats, nil, nil)
		ev.Outcome = OutcomeFailed
		return ev, nil
	}
	hb, hbCtx := e.startHeartbeat(ctx, lease, spec.Lease, lease.sent)
	ev.hb = hb
	// A backup attempt works on its chunk like the original; the queue
	// sees its own task (heartbeat, ack, fail), the bucket the chunk.
	work := lease
	if chunk, ok := BackupOf(lease.Chunk); ok {
		work.Chunk = chunk
		ev.Backup = true
	}
	err = e.processChunk(hbCtx, js, work, stats, &ev)
	lost := hb.stop()
	ev.hb = nil // the event outlives the attempt (Observe)
	if errors.Is(err, ErrLeaseLost) {
		lost = true // found at the check before publishing (attempt.go)
	}
	if lost {
		stats.LeasesLost.Add(1)
		if errors.Is(err, ErrUnknownJob) || errors.Is(context.Cause(hbCtx), ErrUnknownJob) {
			e.log.Info("the job left the queue (cancelled, or finished); the attempt's output is discarded", "job", lease.Job, "chunk", lease.Chunk, "epoch", lease.Epoch)
		} else {
			e.log.Info("lease lost; the attempt's output is discarded", "job", lease.Job, "chunk", lease.Chunk, "epoch", lease.Epoch)
		}
		ev.Outcome = OutcomeLeaseLost
		e.countLeft(ctx, lease, &ev)
		return ev, nil
	}
	if errors.Is(err, errStageNotReady) {
		select { // do not spin on a task that cannot start yet
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
	if (ctx.Err() != nil || errors.Is(err, errStageNotReady)) && err != nil {
		// Shutting down past the grace period, or a reduce task that
		// cannot start yet: give the chunk back.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if rerr := e.cfg.Queue.Release(rctx, lease); rerr != nil && !errors.Is(rerr, ErrLeaseLost) {
			e.log.Warn("release failed", "chunk", lease.Chunk, "err", rerr)
		}
		ev.Outcome = OutcomeReleased
		return ev, nil
	}
	next, ev.drained = e.settle(ctx, js, lease, err, stats, ev.counts, claimNext)
	if err != nil {
		ev.Outcome = OutcomeFailed
	} else if ev.Outcome == "" {
		ev.Outcome = OutcomeDone
	}
	return ev, next
}

// refuse gives back a chunk of a job this worker may not run (a worker
// that may will take it), says why once per job, and pauses before the
// next claim so as not to spin on the job's chunks.
func (e *Engine) refuse(ctx context.Context, lease Lease, why error) {
	if _, logged := e.refusedLogged.LoadOrStore(lease.Job, true); !logged {
		e.log.Warn("refusing a job: its chunks are released for workers that may run it", "job", lease.Job, "reason", e.Redact(why.Error()))
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := e.cfg.Queue.Release(rctx, lease); err != nil && !errors.Is(err, ErrLeaseLost) {
		e.log.Warn("release failed", "chunk", lease.Chunk, "err", err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(refusedPause):
	}
}

// refusedPause is how long a worker waits after releasing a refused chunk.
const refusedPause = time.Second

// jobSpec finds the queue's spec of a job.
func (e *Engine) jobSpec(ctx context.Context, job string) (JobQueueSpec, error) {
	e.specMu.Lock()
	s, ok := e.specs[job]
	e.specMu.Unlock()
	if ok {
		return s, nil
	}
	jobs, err := e.cfg.Admin.Jobs(ctx)
	if err != nil {
		return JobQueueSpec{}, err
	}
	e.keepJobs(jobs)
	for _, j := range jobs {
		if j.Job == job {
			return j, nil
		}
	}
	return JobQueueSpec{}, fmt.Errorf("%w: %s", ErrUnknownJob, job)
}

// keepJobs makes the queue's list of active jobs the engine's: specs are
// replaced by it, and cached job state, failed-job notes and refusals of
// jobs it no longer holds (finished by some engine) are forgotten, so
// that a long-running worker does not grow with the jobs it served.
func (e *Engine) keepJobs(specs []JobQueueSpec) {
	active := make(map[string]bool, len(specs))
	fresh := make(map[string]JobQueueSpec, len(specs))
	for _, s := range specs {
		active[s.Job] = true
		fresh[s.Job] = s
	}
	e.specMu.Lock()
	e.specs = fresh
	e.specMu.Unlock()
	e.jobs.keepOnly(active)
	e.failedJobs.Range(func(k, _ any) bool {
		if !active[k.(string)] {
			e.failedJobs.Delete(k)
		}
		return true
	})
	e.refusedLogged.Range(func(k, _ any) bool {
		if !active[k.(string)] {
			e.refusedLogged.Delete(k)
		}
		return true
	})
	e.refused.Range(func(k, _ any) bool {
		job, _, _ := strings.Cut(k.(string), " ")
		if !active[job] {
			e.refused.Delete(k)
		}
		return true
	})
}

// settle acks a finished chunk or records its failure. counts, when the
// attempt published, are the task's counts for a queue that takes them
// with the ack (AckCounter): one round trip instead of two. When
// claimNext is given and says so, a queue that can (AckClaimer) also
// claims the job's next chunk with that ack, returned as next; drained
// says that claim found no chunk ready.
func (e *Engine) settle(ctx context.Context, js *jobState, lease Lease, err error, stats *WorkStats, counts *TaskCounts, claimNext func() bool) (next *Lease, drained bool) {
	defer func() {
		select {
		case e.settled <- struct{}{}:
		default:
		}
	}()
	if err == nil {
		ack := func() error { return e.cfg.Queue.Ack(ctx, lease) }
		if ac, ok := e.cfg.Queue.(AckCounter); ok && counts != nil {
			ack = func() error { return ac.AckCounted(ctx, lease, *counts) }
		}
		if ac, ok := e.cfg.Queue.(AckClaimer); ok && counts != nil && claimNext != nil && claimNext() {
			ack = func() error {
				sent := e.cfg.Clock()
				l, err := ac.AckAndClaim(ctx, lease, *counts, e.runs)
				if err == nil {
					l.sent = sent
					next = &l
				}
				if errors.Is(err, ErrNoWork) {
					drained = true
					return nil // acked, nothing left to claim
				}
				return err
			}
		}
		if aerr := ack(); aerr != nil && !errors.Is(aerr, ErrLeaseLost) {
			e.log.Warn("ack failed; the chunk's marker is the truth, it will be skipped when claimed again", "chunk", lease.Chunk, "err", aerr)
		}
		return next, drained
	}
	stats.Failed.Add(1)
	permanent := functions.IsPermanent(err)
	reason := e.Redact(err.Error())
	e.log.Warn("chunk failed", "job", lease.Job, "chunk", lease.Chunk, "attempt", lease.Epoch, "permanent", permanent, "err", reason)
	// The job's redrive generation, read before the queue says whether
	// the task is dead: a redrive between the two makes this attempt's
	// failed marker stale, wherever it lands (generation.go).
	var gen int64
	var generr error
	if js != nil {
		gen, generr = e.redriveGeneration(ctx, js)
	}
	out, ferr := e.cfg.Queue.Fail(ctx, lease, reason, permanent)
	if ferr != nil {
		if !errors.Is(ferr, ErrLeaseLost) {
			e.log.Warn("recording the failure failed", "chunk", lease.Chunk, "err", ferr)
		}
		return nil, false
	}
	if out.Dead && js != nil {
		if generr != nil {
			e.log.Warn("reading the redrive generation failed; the job's settle writes the failed marker from the dead letter", "chunk", lease.Chunk, "err", generr)
			return nil, false
		}
		// The bucket holds the truth: a failed marker names the reason.
		if err := e.createFailedMarker(ctx, js, &manifest.ChunkMarker{
			Version: manifest.Version, Job: lease.Job, Chunk: lease.Chunk, Epoch: lease.Epoch, Worker: lease.Worker,
			State: manifest.MarkerFailed, Reason: reason, Finished: time.Now().UTC(),
			Attempts: lease.Deliveries, Generation: gen,
		}); err != nil {
			e.log.Warn("writing the failed marker failed; the job's settle writes it from the dead letter", "chunk", lease.Chunk, "err", err)
		}
	}
	return nil, false
}

// createFailedMarker creates the failed marker m create-only (replacing
// one of an older redrive generation: createMarkerTag); it leaves any
// other marker there (and writes nothing when the task's plan or index
// is gone).
func (e *Engine) createFailedMarker(ctx context.Context, js *jobState, m *manifest.ChunkMarker) error {
	key, ok, err := e.markerKey(ctx, js, m)
	if err != nil || !ok {
		return err
	}
	_, _, err = e.createMarkerTag(ctx, js, key, m)
	return err
}

// writeMarker creates a chunk or reduce task marker create-only and
// reports whether this call created it. A reduce task's marker goes
// under the job's current shuffle index (none: the redrive that removed
// it rebuilds the stage, and nothing is written).
func (e *Engine) writeMarker(ctx context.Context, js *jobState, m *manifest.ChunkMarker) (bool, error) {
	key, ok, err := e.markerKey(ctx, js, m)
	if err != nil || !ok {
		return false, err
	}
	return e.createMarker(ctx, js, key, m)
}

// markerKey returns the key of the marker m, setting its Plan or
// Shuffle for a second-stage task; ok is false when that task's plan or
// shuffle index is gone.
func (e *Engine) markerKey(ctx context.Context, js *jobState, m *manifest.ChunkMarker) (key string, ok bool, err error) {
	if manifest.IsCompactTask(m.Chunk) {
		plan, err := e.compactPlanID(ctx, js)
		if errors.Is(err, objstore.ErrNotFound) {
			return "", false, nil
		} else if err != nil {
			return "", false, err
		}
		m.Plan = plan
		return js.layout.CompactMarkerKey(js.job, plan, m.Chunk), true, nil
	}
	if !manifest.IsReduceTask(m.Chunk) {
		return js.layout.MarkerKey(js.job, m.Chunk), true, nil
	}
	shuffle, err := e.shuffleID(ctx, js)
	if errors.Is(err, objstore.ErrNotFound) {
		return "", false, nil
	} else if err != nil {
		return "", false, err
	}
	m.Shuffle = shuffle
	return js.layout.ReduceMarkerKey(js.job, shuffle, m.Chunk), true, nil
}

// createMarker creates a marker create-only at key and reports whether
// this call created it.
func (e *Engine) createMarker(ctx context.Context, js *jobState, key string, m *manifest.ChunkMarker) (bool, error) {
	_, created, err := e.createMarkerTag(ctx, js, key, m)
	return created, err
}

// processChunk runs the function over one chunk and publishes the result
// by creating the chunk's marker. A nil error means the chunk has a marker
// (this attempt's or an earlier one's).
func (e *Engine) processChunk(ctx context.Context, js *jobState, lease Lease, stats *WorkStats, ev *ChunkEvent) error {
	if manifest.IsReduceTask(lease.Chunk) {
		return e.processReduce(ctx, js, lease, stats, ev)
	}
	if manifest.IsCompactTask(lease.Chunk) {
		return e.processCompact(ctx, js, lease, stats, ev)
	}
	started := time.Now().UTC()
	markerKey := js.layout.MarkerKey(js.job, lease.Chunk)
	// A chunk delivered before may have a marker already: skip it then.
	// A first delivery almost never has one (a queue rebuilt after Redis
	// lost its data enqueues only chunks without markers), so it saves
	// the request: were a marker there after all, the create-only marker
	// write would lose and this attempt's files be removed.
	if lease.Deliveries > 1 || lease.Failures > 0 {
		// A failed marker from before a redrive does not count
		// (generation.go): the task runs.
		if has, err := e.hasMarker(ctx, js, markerKey); err != nil {
			return err
		} else if has {
			stats.Skipped.Add(1)
			ev.Outcome = OutcomeSkipped
			return nil // a duplicate delivery: an earlier attempt won
		}
	}
	chunk, err := js.chunk(ctx, lease.Chunk)
	if err != nil {
		return err
	}
	ci, err := manifest.ChunkIndex(lease.Chunk)
	if err != nil {
		return functions.Permanent(fmt.Errorf("job %s: %w", js.job, err))
	}
	spec := js.m.Spec
	task, err := js.fn.Prepare(functions.Params{Args: spec.Args, Input: js.schema, InputFormat: js.m.Format})
	if err != nil {
		return functionError(spec.Function, err)
	}
	staging := attemptPrefix(js, lease)
	out, err := e.newChunkOutput(ctx, js, task, staging, lease.Chunk)
	if err != nil {
		return err
	}
	rej := newRejectSink(ctx, js, staging, lease.Chunk) // see reject.go
	in := &chunkInput{ctx: ctx, e: e, js: js, chunk: ci, parts: chunk.Parts, rej: rej}
	if cp, ok := task.(functions.ColumnPicker); ok {
		in.columns = cp.InputColumns()
	}
	mapErr := task.Map(ctx, in, rej.wrap(out))
	closeErr := in.Close()
	if mapErr == nil && closeErr == nil && ev.computed != nil {
		ev.computed()
	}
	if mapErr != nil || closeErr != nil {
		out.Abort()
		rej.Abort()
		e.removePrefix(context.WithoutCancel(ctx), js.out, staging)
		if mapErr == nil {
			mapErr = closeErr
		}
		return fmt.Errorf("chunk %s: %w", lease.Chunk, mapErr)
	}
	files, rowsOut, err := out.Close(js.out, staging)
	if err == nil {
		err = rej.Close()
	}
	if err != nil {
		rej.Abort()
		e.discardAttempt(ctx, js, staging, files)
		return fmt.Errorf("chunk %s: %w", lease.Chunk, err)
	}
	if err := ctx.Err(); err != nil {
		// Lease lost while writing: do not publish. No marker names these
		// files and the commit that removes staging may be over: remove
		// them now.
		rej.Abort()
		e.discardAttempt(ctx, js, staging, files)
		return err
	}
	inputs := map[string]string{}
	var bytesIn int64
	for _, p := range chunk.Parts {
		inputs[p.Object.Key] = p.Object.ETag
	}
	bytesIn = chunk.Bytes
	m := &manifest.ChunkMarker{
		Version: manifest.Version, Job: js.job, Chunk: lease.Chunk, Epoch: lease.Epoch, Worker: lease.Worker,
		State: manifest.MarkerDone, Files: files, RecordsIn: in.records, RecordsOut: rowsOut,
		BytesIn: bytesIn, Inputs: inputs, Started: started, Finished: time.Now().UTC(), Attempts: lease.Deliveries,
		Backup: ev.Backup, MemoryMB: e.cfg.MemoryMB,
	}
	rej.mark(m)
	if won, err := e.publish(ctx, js, lease, markerKey, staging, m, stats, ev); !won {
		return err
	}
	ev.RecordsIn, ev.RecordsOut, ev.BytesIn = in.records, rowsOut, bytesIn
	stats.RecordsIn.Add(in.records)
	stats.RecordsOut.Add(rowsOut)
	stats.BytesIn.Add(bytesIn)
	if so, ok := out.(stagedChunkOutput); ok {
		stats.SortSpills.Add(so.spills)
	}
	return nil
}

// removePrefix deletes every object under prefix in batched requests
// (objstore.DeletePrefix), best effort: leftovers are garbage the commit
// removes with the staging root, or fanout gc.
func (e *Engine) removePrefix(ctx context.Context, b objstore.Bucket, prefix string) {
	if _, err := objstore.DeletePrefix(ctx, b, prefix); err != nil {
		e.log.Debug("cleanup failed", "prefix", prefix, "err", err)
	}
}

// attemptPrefix is where one attempt writes: its epoch's staging prefix
// and a random part, since an epoch is unique only while the queue
// remembers the chunk (a Redis that lost its data hands out epoch 1
// again), and two attempts sharing a prefix would overwrite, and the
// loser cleaning up delete, each other's files.
func attemptPrefix(js *jobState, lease Lease) string {
	return js.layout.StagingPrefix(js.job, lease.Chunk, lease.Epoch) + randomHex(4) + "/"
}

var _ io.Closer = (*chunkInput)(nil)

// chunkOutput is where a map attempt writes: the final format for map-only
// jobs, the combiner for aggregating ones.
type chunkOutput interface {
	functions.Output
	Close(b objstore.Bucket, prefix string) ([]manifest.OutputFile, int64, error)
	Abort()
}

func (e *Engine) newChunkOutput(ctx context.Context, js *jobState, task functions.Task, staging, chunk string) (chunkOutput, error) {
	if red, ok := reducerOf(task); ok && js.m.Reducers > 0 {
		return combinerOutput{newCombiner(ctx, red, task.Output(), js.m.Reducers, e.cfg.CombineBudget)}, nil
	}
	out, err := newStagedOutput(ctx, js, e.outputTask(staging, chunk, task.Output()))
	if err != nil {
		return nil, err
	}
	out.compactBelow = js.compactBelow()
	return stagedChunkOutput{out}, nil
}

// outputTask describes one attempt's output for newStagedOutput.
func (e *Engine) outputTask(staging, task string, schema *functions.Schema) outputTask {
	return outputTask{prefix: staging, task: task, schema: schema, sortMemory: e.cfg.SortMemory, tempDir: e.cfg.TempDir}
}

type combinerOutput struct{ *combiner }

func (c combinerOutput) Close(b objstore.Bucket, prefix string) ([]manifest.OutputFile, int64, error) {
	f, err := c.combiner.Close(b, prefix)
	if err != nil {
		c.combiner.Abort()
		return nil, 0, err
	}
	return []manifest.OutputFile{f}, f.Rows, nil
}

type stagedChunkOutput struct{ *stagedOutput }

func (s stagedChunkOutput) Close(objstore.Bucket, string) ([]manifest.OutputFile, int64, error) {
	files, err := s.stagedOutput.Close()
	return files, s.rows, err
}
