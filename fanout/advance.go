package fanout

// Moving a job forward: one step, used by every caller that does it.
//
// A job moves forward when someone looks at it: Wait (the driver of fanout
// run and fanout wait) in a loop, TryCommit once (a Lambda commit
// invocation, a cron), Advance (the Lambda driver's sweep) and idle
// workers (advanceIdle) once per advanceInterval, and workers serving
// every job at that pace while busy too (advanceBusy). Each calls advance, which
// does, in this order and only as far as the job allows:
//
//  1. a committed job (its commit record exists) is verified, or, for
//     idle workers, finished in the queue when _SUCCESS names it;
//  2. expired leases are reclaimed;
//  3. a queue that forgot the job is rebuilt from the bucket (every task
//     without a marker enqueued again);
//  4. once nothing waits to be claimed, stragglers get backup attempts;
//  5. once nothing is pending or running, dead-lettered tasks get failed
//     markers, tasks the queue lost are enqueued again, and when every map
//     chunk has a marker the reduce stage, or the compaction stage
//     (compactor.go), is prepared and enqueued;
//  6. when every task has a marker, the job is committed under its commit
//     lease (another committer holding it makes the step report Busy).
//
// Every step is idempotent and fenced (markers and the commit record are
// create-only, the output's owner record fences the commit), so any number
// of processes may take it at once.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
)

// Advanced is what one step of a job (Advance) found and did.
type Advanced struct {
	// Done reports that the job is over: committed (Result.State is
	// StateCommitted), or failed or cancelled for good (the error says
	// why). Result is then the job's result.
	Done   bool
	Result Result
	// Queue are the queue's counts as the step read them, when QueueErr is
	// nil. QueueErr is ErrUnknownJob when the queue had forgotten the job
	// (the step enqueued its tasks again), or why the queue did not answer.
	Queue    QueueStats
	QueueErr error
	// Busy reports that the queue has nothing of the job left to run and
	// another engine holds the job's commit lease: it settles the job's
	// dead tasks or commits it; the job will show committed soon.
	Busy bool
}

// Advance moves a job forward by one step (see advance.go): reclaim,
// rebuild a forgotten queue, backups, settle dead tasks, start the reduce
// stage, commit when every task has a marker.
func (e *Engine) Advance(ctx context.Context, outURL, job string) (Advanced, error) {
	js, err := e.openJob(ctx, outURL, job)
	if err != nil {
		return Advanced{Done: true, Result: Result{Job: job, State: StateFailed, Error: err.Error()}}, err
	}
	return e.advance(ctx, js, advanceOptions{start: time.Now()})
}

// TryCommit looks at a job once (one Advance step) and commits it when
// every chunk has a marker (for a Lambda reduce/commit invocation or a
// cron). A job that is still running, or that another committer is
// committing (it holds the commit lease), is reported as Status reports
// it, with State StateRunning and a nil error.
func (e *Engine) TryCommit(ctx context.Context, outURL, job string) (Result, error) {
	a, err := e.Advance(ctx, outURL, job)
	if !a.Done {
		return e.Status(ctx, outURL, job)
	}
	return a.Result, err
}

// advanceOptions are what the callers of advance differ in.
type advanceOptions struct {
	// start is when the caller began (a result's Elapsed).
	start time.Time
	// progress, when set, receives the job's progress.
	progress func(Progress)
	// beforeCommit, when set, runs before the step commits or verifies
	// the job, under the job's commit lease (Wait stops its local
	// workers: one of them may hold the lease and be committing).
	beforeCommit func()
	// trustSuccess makes a committed job whose _SUCCESS names it finished
	// in the queue without verifying its files (idle workers: verifying
	// every file in every idle worker would cost a request per file each).
	trustSuccess bool
	// leased says the step holds the job's commit lease already (or went
	// on without one): the commit does not take it again.
	leased bool
}

// advance takes one step of js (see the top of advance.go).
func (e *Engine) advance(ctx context.Context, js *jobState, opts advanceOptions) (Advanced, error) {
	job := js.job
	committed := true
	if opts.trustSuccess {
		// A HEAD of the commit record, not a read: an idle worker looks
		// at its jobs every second, and a record lists every file (each
		// of the scale simulation's 100 idle workers read and decoded
		// the record of 10,000 files, a third of the run's CPU; at a
		// million chunks a record is hundreds of MB).
		_, err := js.out.Stat(ctx, js.layout.CommitKey(job))
		committed = err == nil
		// Its committer verified it and finished it in the queue,
		// unless it stopped before _SUCCESS: then finish the commit.
		if committed {
			if done, err := successJob(ctx, js.out, js.layout); err == nil && done == job {
				e.finishJob(ctx, js)
				return Advanced{Done: true, Result: Result{Job: job, State: StateCommitted, Chunks: js.m.Chunks,
					Objects: js.m.Objects, Output: js.m.Spec.Output, Elapsed: time.Since(opts.start)}}, nil
			}
		}
	}
	if committed {
		if opts.trustSuccess {
			// The record is there and _SUCCESS does not name the job: its
			// committer is between the two (verifying the files). Only the
			// holder of the commit lease reads the record: each of the
			// scale simulation's 1,000 idle workers read and decoded the
			// record of 100,000 files every few seconds until _SUCCESS
			// (16% of the run's CPU, 2 GB of heap).
			release, ok, err := e.leaseCommit(ctx, job)
			if err != nil {
				e.log.Warn("the commit lease is unavailable; going on without it", "job", job, "err", err)
			} else if !ok {
				return Advanced{Busy: true, Result: Result{Job: job, State: StateRunning, Chunks: js.m.Chunks, Output: js.m.Spec.Output}}, nil
			}
			defer release()
			opts.leased = true
		}
		if rec, err := e.readCommit(ctx, js); err == nil {
			return e.commitStep(ctx, js, rec, opts)
		}
	}
	// Expired leases are taken back, unless the last step found none of
	// the job's tasks running, less than half a lease ago: a lease
	// granted since has not expired. (Idle workers of a fleet look at a
	// job that another engine commits: one round trip in three of each
	// look, for nothing.)
	if at := js.noneRunningAt.Load(); at == 0 || time.Since(time.Unix(0, at)) >= time.Duration(js.m.Spec.Lease)/2 {
		if _, err := e.cfg.Admin.Reclaim(ctx, job); err != nil && !errors.Is(err, ErrUnknownJob) {
			if ctx.Err() == nil {
				if since, _ := js.queueDown(); since.IsZero() {
					e.log.Warn("reclaim failed", "job", job, "err", err)
				}
			}
		}
	}
	read := time.Now()
	stats, err := e.cfg.Admin.Stats(ctx, job)
	if err == nil && stats.Running == 0 {
		js.noneRunningAt.Store(read.UnixNano())
	} else {
		js.noneRunningAt.Store(0)
	}
	began, ended := js.queueAnswered(err)
	if !ended.IsZero() {
		e.log.Warn("the queue answers again", "job", job, "after", time.Since(ended).Round(time.Millisecond))
	}
	if errors.Is(err, ErrUnknownJob) {
		// The queue forgot the job (Redis flushed): rebuild it.
		if _, err := e.enqueueMissing(ctx, js); err != nil && !js.cancelSeen.Load() {
			e.log.Warn("re-enqueue failed", "job", job, "err", err)
		}
		return Advanced{QueueErr: err}, nil
	} else if err != nil {
		if ctx.Err() == nil && !began.IsZero() {
			e.log.Warn("queue stats failed; trying again until the queue timeout", "job", job, "err", err)
		}
		return Advanced{QueueErr: err}, nil
	}
	if opts.progress != nil {
		opts.progress(e.progressOf(ctx, js, stats, time.Since(opts.start)))
	}
	if stats.Pending == 0 && stats.Running > 0 && js.m.Spec.BackupAfter > 0 {
		e.startBackups(ctx, js)
	}
	if stats.Pending > 0 || stats.Running > 0 {
		return Advanced{Queue: stats}, nil
	}
	// The queue has nothing of the job left to run: settling its dead
	// tasks lists every marker, and the commit follows. One engine at a
	// time does that, under the commit lease; the others skip the step
	// (without it every idle worker of a fleet listed all of a job's
	// markers each second while one of them committed: the scale
	// simulation's 10,000 chunks took 13 minutes to commit).
	if !opts.leased {
		release, ok, err := e.leaseCommit(ctx, job)
		if err != nil {
			// The lease saves requests; settling and committing are safe
			// without it.
			e.log.Warn("the commit lease is unavailable; going on without it", "job", job, "err", err)
		} else if !ok {
			return Advanced{Queue: stats, Busy: true}, nil
		}
		defer release()
		opts.leased = true
	}
	finished, err := e.settleDead(ctx, js)
	if err != nil {
		if !errors.Is(err, errRedriven) { // tasks settled again: they run
			e.log.Warn("checking markers failed", "job", job, "err", err)
		}
		return Advanced{Queue: stats}, nil
	}
	if !finished {
		return Advanced{Queue: stats}, nil
	}
	a, err := e.commitStep(ctx, js, nil, opts)
	a.Queue = stats
	return a, err
}

// progressOf is the progress of js from the queue's counts and, for a
// job that compacts, the compaction stage's plan and markers: the queue's
// counts cannot tell a compaction task from a map chunk, and the plan is
// written, by whichever engine settles the map stage, before its tasks
// are enqueued. The plan is looked for at each step once the map stage
// looks done and every planLookInterval before; once it is there, the
// stage's markers are listed at each step until every task has one.
func (e *Engine) progressOf(ctx context.Context, js *jobState, stats QueueStats, elapsed time.Duration) Progress {
	p := js.progress(stats, elapsed)
	if !js.compacts() || js.compactDone.Load() {
		return p
	}
	now := time.Now().UnixNano()
	if p.CompactionAhead && p.Done+p.Dead < p.Chunks && now-js.lookedForPlan.Load() < int64(planLookInterval) {
		return p
	}
	js.lookedForPlan.Store(now)
	missing, err := e.missingCompactMarkers(ctx, js) // reads the plan (sawCompactPlan)
	if err != nil {
		return p
	}
	p = js.progress(stats, elapsed)
	p.Done = min(p.Done, p.Chunks-len(missing))
	js.compactDone.Store(len(missing) == 0)
	return p
}

// planLookInterval is how often a step that reports progress looks for
// the compaction plan of a job that compacts, until it is there.
const planLookInterval = 2 * time.Second

// commitStep commits (rec nil) or verifies js, the last part of a step.
func (e *Engine) commitStep(ctx context.Context, js *jobState, rec *manifest.CommitRecord, opts advanceOptions) (Advanced, error) {
	res, err := e.commitOrVerify(ctx, js, rec, opts)
	if errors.Is(err, errCommitBusy) {
		return Advanced{Busy: true, Result: res}, nil
	}
	if errors.Is(err, errRedriven) {
		return Advanced{Result: res}, nil // tasks settled again: they run
	}
	return Advanced{Done: true, Result: res}, err
}

// advanceInterval bounds how often an idle engine looks at its jobs.
const advanceInterval = time.Second

// maxAdvanceInterval bounds how far an idle worker bound to one job backs
// off looking at it while its chunks run on other workers or another
// engine commits it: every idle worker of a fleet took the step each
// second (three Redis round trips and a HEAD), for nothing but the one
// that commits. A worker that claims a chunk looks again at the pace of
// advanceInterval (resetAdvance), so the worker that finishes a job's
// last chunk commits it at once.
const maxAdvanceInterval = 4 * time.Second

// maxCommitWaitInterval is how long an idle worker bound to one job
// waits between looks at it while another engine commits it (holds its
// commit lease): a look then only finds that the commit goes on, and a
// thousand idle workers took 0.5 Redis round trips a chunk looking at the
// 12 s commit of the scale simulation's 20,000 chunks. A committer that
// dies leaves its lease for up to commitLeaseTTL anyway; the job's driver
// (Wait) looks each second, and a wake-up (work given back by the
// commit) ends the wait.
const maxCommitWaitInterval = 16 * time.Second

// resetAdvance makes advanceIdle look at the pace of advanceInterval
// again: the engine's worker has claimed work.
func (e *Engine) resetAdvance() {
	e.advanceEvery.Store(0)
	e.jobQuiet.Store(false)
}

// nextLook is how long until advanceIdle takes its next step (0: due).
func (e *Engine) nextLook() time.Duration {
	every := max(e.advanceEvery.Load(), int64(advanceInterval))
	return max(0, time.Duration(e.lastAdvance.Load()+every-time.Now().UnixNano()))
}

// advanceIdle takes one step (advance) of each active job (or only job)
// once per advanceInterval for this engine: it reclaims expired leases,
// enqueues a reduce stage whose map chunks are all done, and commits jobs
// whose every task has a marker. Commits are idempotent and fenced, so any number of
// workers and drivers may do this at once; the commit lease makes one of
// them commit while the others skip the job.
func (e *Engine) advanceIdle(ctx context.Context, job string) {
	e.advanceStep(ctx, job, 0)
}

// advanceStep is advanceIdle taking the step when it was last taken at
// least the interval less slack ago. ran says it took it; committed that
// some job's step finished it (committed, failed or found finished);
// jobs names the jobs it looked at, in the queue's order.
func (e *Engine) advanceStep(ctx context.Context, job string, slack time.Duration) (ran, committed bool, jobs []string) {
	now := time.Now().UnixNano()
	last := e.lastAdvance.Load()
	every := max(e.advanceEvery.Load(), int64(advanceInterval))
	if now-last < every-int64(slack) || !e.lastAdvance.CompareAndSwap(last, now) {
		return false, false, nil
	}
	ran = true
	var specs []JobQueueSpec
	if job != "" {
		s, err := e.jobSpec(ctx, job)
		if err != nil {
			return ran, committed, jobs
		}
		specs = []JobQueueSpec{s}
	} else {
		var err error
		if specs, err = e.cfg.Admin.Jobs(ctx); err != nil {
			return ran, committed, jobs
		}
		e.keepJobs(specs)
	}
	for _, s := range specs {
		jobs = append(jobs, s.Job)
	}
	for _, s := range specs {
		if ctx.Err() != nil {
			return ran, committed, jobs
		}
		if _, failed := e.failedJobs.Load(s.Job); failed {
			continue // failed for good here; `fanout redrive` starts it over
		}
		js, err := e.loadJob(ctx, s.Job, s.Manifest)
		if err != nil {
			continue
		}
		a, err := e.advance(ctx, js, advanceOptions{start: time.Now(), trustSuccess: true})
		if job != "" {
			switch {
			case a.Busy:
				e.advanceEvery.Store(int64(maxCommitWaitInterval))
			case !a.Done && a.QueueErr == nil && a.Queue.Running > 0:
				e.advanceEvery.Store(min(2*every, int64(maxAdvanceInterval)))
			default:
				e.resetAdvance()
			}
			// Nothing of the job will be claimable but what a wake-up
			// announces or a look finds: another engine commits it, it
			// is over, or nothing of it is pending (what runs elsewhere
			// comes back by a reclaim or a backup, which wake waiters;
			// a failed task's retry, pending until its backoff ends, is
			// seen by the next look, which then ends the quiet).
			e.jobQuiet.Store(a.Busy || a.Done || a.QueueErr == nil && a.Queue.Pending == 0)
		}
		committed = committed || a.Done
		if a.Done && err != nil {
			var jf *JobFailedError
			if errors.As(err, &jf) || errors.As(err, new(*JobCancelledError)) {
				e.failedJobs.Store(s.Job, true)
			} else if ctx.Err() == nil {
				e.log.Warn("commit by an idle worker failed", "job", s.Job, "err", err)
			}
		}
	}
	return ran, committed, jobs
}

// minBackupSamples is how many finished tasks make a median worth
// comparing a running task with.
const minBackupSamples = 3

// startBackups starts a backup attempt of every map chunk that has run
// longer than BackupAfter times the median of the job's recent tasks, and
// at least manifest.BackupMinAge, once no task waits to be claimed (so
// that backups only take workers that would idle), at most one per
// delivery of the chunk. The twins race to create
// the chunk's marker; the queue forgets the loser (see BackupSuffix).
func (e *Engine) startBackups(ctx context.Context, js *jobState) {
	a, err := e.cfg.Admin.Activity(ctx, js.job)
	if err != nil || len(a.Recent) < minBackupSamples {
		return
	}
	sorted := slices.Sorted(slices.Values(a.Recent))
	median := sorted[len(sorted)/2]
	limit := max(time.Duration(float64(median)*js.m.Spec.BackupAfter), manifest.BackupMinAge)
	for _, t := range a.Running { // longest running first
		if t.Running < limit {
			break
		}
		if _, backup := BackupOf(t.Chunk); backup || manifest.IsReduceTask(t.Chunk) || manifest.IsCompactTask(t.Chunk) {
			// Reduce tasks get none: they start together when the map
			// stage ends, so a median of map chunks says nothing of
			// them, and a backup reads every shuffle file again.
			continue
		}
		if ok, err := e.cfg.Admin.Backup(ctx, js.job, t.Chunk); err == nil && ok {
			e.log.Info("straggler: started a backup attempt", "job", js.job, "chunk", t.Chunk,
				"running", t.Running.Round(time.Millisecond), "median", median.Round(time.Millisecond))
		}
	}
}

// errCommitBusy reports that another committer holds the job's commit
// lease: the caller looks again later (it will find the job committed).
var errCommitBusy = errors.New("fanout: another committer is committing the job")

// commitOrVerify commits a finished job, or verifies a committed one, and
// removes it from the queue. It commits or verifies only while it holds
// the job's commit lease (commitlease.go), and returns errCommitBusy,
// doing nothing, when another committer holds it. opts.beforeCommit runs
// only once the lease is held, never before: the holder may be one of the
// caller's own workers (Wait's), committing the job or writing its
// _SUCCESS, and stopping them then cut that commit short (a _SUCCESS PUT
// cancelled after MinIO had written it, then verified by Wait: seen
// under load in TestRequestsPerMapChunkAndCommit).
func (e *Engine) commitOrVerify(ctx context.Context, js *jobState, rec *manifest.CommitRecord, opts advanceOptions) (Result, error) {
	job, start := js.job, opts.start
	if !opts.leased {
		// A committed job is verified under the lease too: its committer
		// holds it from the commit record to _SUCCESS, and a verifier
		// finding the record without _SUCCESS in between would finish
		// the commit beside it (a second create-only _SUCCESS PUT,
		// seen in TestRequestsPerMapChunkAndCommit).
		release, ok, err := e.leaseCommit(ctx, job)
		if err != nil {
			// The lease saves requests; the commit is safe without it.
			e.log.Warn("the commit lease is unavailable; going on without it", "job", job, "err", err)
		} else if !ok {
			return Result{Job: job, State: StateRunning, Chunks: js.m.Chunks, Output: js.m.Spec.Output}, errCommitBusy
		}
		defer release()
	}
	if opts.beforeCommit != nil {
		opts.beforeCommit()
	}
	if rec != nil {
		if err := e.verifyCommitted(ctx, js, rec); err != nil {
			return Result{Job: job, State: StateFailed, Error: err.Error()}, err
		}
	} else {
		wall := time.Since(start)
		if !js.m.Created.IsZero() && js.m.Created.Before(start) {
			wall = time.Since(js.m.Created) // the job's, whoever commits it
		}
		var err error
		rec, err = e.Commit(ctx, js, wall)
		if errors.Is(err, errRedriven) {
			return Result{Job: job, State: StateRunning, Chunks: js.m.Chunks, Output: js.m.Spec.Output}, err
		}
		var jc *JobCancelledError
		if errors.As(err, &jc) {
			e.dropCancelled(ctx, job, js.m.Spec.Output, js.m.Created)
			return Result{Job: job, State: StateCancelled, Chunks: js.m.Chunks, Output: js.m.Spec.Output, Error: err.Error(), Elapsed: time.Since(start)}, err
		}
		if err != nil {
			res := Result{Job: job, State: StateFailed, Chunks: js.m.Chunks, Output: js.m.Spec.Output, Error: err.Error(), Elapsed: time.Since(start)}
			var jf *JobFailedError
			if errors.As(err, &jf) {
				res.Failed = jf.Failed
			}
			var tr *TooManyRejectedError
			if errors.As(err, &tr) {
				res.RecordsIn = tr.RecordsIn
				res.setRejections(tr.Rejections, tr.Files)
			}
			return res, err
		}
	}
	e.finishJob(ctx, js)
	return e.result(js, rec, start), nil
}

// settleDead makes sure every map chunk, and then every reduce task, has
// a marker once the queue has nothing left: dead-lettered tasks get a
// failed marker with their reason, tasks the queue does not know (it
// forgot them, or the reduce stage is just starting) are enqueued. It
// reports whether every task now has a marker.
func (e *Engine) settleDead(ctx context.Context, js *jobState) (bool, error) {
	scan, err := e.scanMarkers(ctx, js)
	if err != nil {
		return false, err
	}
	if ok, err := e.settleMissing(ctx, js, scan.missing); !ok || err != nil {
		return false, err
	}
	if js.compacts() {
		return e.settleCompaction(ctx, js)
	}
	if js.m.Reducers == 0 {
		return true, nil
	}
	missing, err := e.missingReduceMarkers(ctx, js)
	if err != nil || len(missing) == 0 {
		return err == nil, err
	}
	// Every map chunk has its marker: fix the reduce stage's input. Asked
	// each time (a HEAD when the index exists), not remembered: a redrive
	// in another process may have removed it.
	tooMany, err := e.prepareReduce(ctx, js)
	if err != nil {
		return false, err
	}
	if tooMany {
		return true, nil // Commit reports the failed map chunks
	}
	js.reduceReady.Store(true)
	return e.settleMissing(ctx, js, missing)
}

// settleMissing gives dead-lettered tasks among missing a failed marker
// and enqueues the others; it reports whether none is left to run.
func (e *Engine) settleMissing(ctx context.Context, js *jobState, missing []string) (bool, error) {
	if len(missing) == 0 {
		return true, nil
	}
	// Read before the dead letters: a redrive between the two makes the
	// failed markers written below stale (generation.go).
	gen, err := e.redriveGeneration(ctx, js)
	if err != nil {
		return false, err
	}
	dead, err := e.cfg.Admin.DeadLetters(ctx, js.job)
	if err != nil {
		return false, err
	}
	reasons := map[string]DeadLetter{}
	for _, d := range dead {
		reasons[d.Chunk] = d
	}
	var lost []string
	for _, c := range missing {
		d, ok := reasons[c]
		if !ok {
			lost = append(lost, c)
			continue
		}
		reason := d.Reason
		if reason == "" {
			reason = "dead-lettered by the queue"
		}
		if err := e.createFailedMarker(ctx, js, &manifest.ChunkMarker{Version: manifest.Version, Job: js.job, Chunk: c,
			State: manifest.MarkerFailed, Reason: reason, Finished: time.Now().UTC(), Attempts: d.Deliveries,
			Generation: gen}); err != nil {
			return false, err
		}
	}
	if len(lost) > 0 {
		spec := js.queueSpec()
		for i := 0; i < len(lost); i += 1000 {
			if err := e.cfg.Queue.Enqueue(ctx, spec, lost[i:min(i+1000, len(lost))]); err != nil {
				return false, err
			}
		}
		return false, nil
	}
	return true, nil
}

// missingReduceMarkers lists the reduce tasks without a marker.
func (e *Engine) missingReduceMarkers(ctx context.Context, js *jobState) ([]string, error) {
	have := map[string]bool{}
	shuffle, err := e.shuffleID(ctx, js)
	if errors.Is(err, objstore.ErrNotFound) {
		return js.reduceIDs(), nil // not prepared: none has a marker
	} else if err != nil {
		return nil, err
	}
	prefix := js.layout.ReduceIndexPrefix(js.job, shuffle)
	for info, err := range js.out.List(ctx, prefix, nil) {
		if err != nil {
			return nil, fmt.Errorf("listing reduce markers: %w", err)
		}
		have[strings.TrimSuffix(strings.TrimPrefix(info.Key, prefix), ".json")] = true
	}
	var missing []string
	for _, id := range js.reduceIDs() {
		if !have[id] {
			missing = append(missing, id)
		}
	}
	return missing, nil
}
