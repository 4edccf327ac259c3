package fanout

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
)

// Job states reported in Result.State.
const (
	StateRunning   = "running"
	StateCommitted = "committed"
	StateFailed    = "failed"
)

// Result is what a finished (or inspected) job reports.
type Result struct {
	Job        string `json:"job"`
	State      string `json:"state"`
	Chunks     int    `json:"chunks"`
	Objects    int64  `json:"objects"`
	RecordsIn  int64  `json:"records_in"`
	RecordsOut int64  `json:"records_out"`
	BytesIn    int64  `json:"bytes_in"`
	BytesOut   int64  `json:"bytes_out"`
	Output     string `json:"output"`
	Files      int    `json:"files"`
	// Partitions counts a committed job's files, bytes and rows per
	// partition (manifest.CommitRecord.Partitions); SmallFiles the files
	// under half the target file size, and ManySmallFiles says there are
	// enough of them to be worth a warning (SmallFiles). Compacted counts
	// the map stage's small files merged by the compaction stage.
	Partitions     []manifest.PartitionFiles `json:"partitions,omitempty"`
	SmallFiles     int                       `json:"small_files,omitempty"`
	ManySmallFiles bool                      `json:"many_small_files,omitempty"`
	Compacted      int                       `json:"compacted,omitempty"`
	CompactTasks   int                       `json:"compact_tasks,omitempty"`
	Failed         []manifest.FailedChunk    `json:"failed,omitempty"`
	Error          string                    `json:"error,omitempty"`
	// Replaces is the job whose committed output this job's commit
	// replaced (--overwrite); ReplacedBy the job that replaced this
	// committed job's output since (Status).
	Replaces   string `json:"replaces,omitempty"`
	ReplacedBy string `json:"replaced_by,omitempty"`
	// Existing is true when the job had been submitted before.
	Existing bool `json:"existing,omitempty"`
	// RedriveHold, when set, says that a redrive holds the job (Status):
	// under way, or killed before it let go; the job's commits publish
	// nothing until it is done.
	RedriveHold *RedriveHold `json:"redrive_hold,omitempty"`
	// Elapsed is a committed job's time from its planning to its commit
	// (Wait, Status, and Run of a job submitted before), or the time Run
	// took for the job it planned; Status gives a job that has not
	// committed its age since planning.
	Elapsed time.Duration `json:"elapsed_ns"`
	// Planned is when the job's manifest was written (Status).
	Planned time.Time  `json:"planned,omitzero"`
	Queue   QueueStats `json:"queue"`
	Markers int        `json:"markers"`
	// Rejected counts the records the function rejected (validate's
	// invalid records, in <out>/_rejected/), per rule and per column;
	// Counters are the function's named counts (validate's cleansing).
	Rejected int64 `json:"rejected,omitempty"`
	// Skipped counts the malformed records --on-error skip dropped.
	Skipped          int64            `json:"skipped,omitempty"`
	RejectedByRule   map[string]int64 `json:"rejected_by_rule,omitempty"`
	RejectedByColumn map[string]int64 `json:"rejected_by_column,omitempty"`
	RejectedFiles    int              `json:"rejected_files,omitempty"`
	Counters         map[string]int64 `json:"counters,omitempty"`
	// Drift holds, per input object whose columns differed from the job's
	// schema, the records given null per column it lacks (filled) and the
	// values left out per column the schema lacks (dropped).
	Drift map[string]manifest.ObjectDrift `json:"drift,omitempty"`
	// A committed job's figures from its commit record (see
	// manifest.CommitRecord).
	Timings         *manifest.Timings `json:"timings,omitempty"`
	Retries         int               `json:"retries,omitempty"`
	Backups         int               `json:"backups,omitempty"`
	S3Requests      int64             `json:"s3_requests_estimate,omitempty"`
	LambdaGBSeconds float64           `json:"lambda_gb_seconds,omitempty"`
	// A running job's progress (Status): throughput since it was planned,
	// the estimated time left at that pace, and the longest running tasks.
	TasksPerSecond float64       `json:"tasks_per_second,omitempty"`
	BytesPerSecond float64       `json:"bytes_per_second,omitempty"`
	ETA            time.Duration `json:"eta_ns,omitempty"`
	Slowest        []RunningTask `json:"slowest,omitempty"`
}

// finishTimeout bounds finishJob, which outlives its caller's context.
const finishTimeout = 10 * time.Second

// slowestShown bounds Result.Slowest.
const slowestShown = 5

// Progress is a snapshot of a job for progress displays, from the queue
// (every worker's tasks, not only this process's).
type Progress struct {
	Job string
	// Chunks counts the job's tasks: map chunks, reduce tasks and, once
	// the map stage has ended, the compaction stage's tasks.
	Chunks int
	// MapChunks of them are map chunks, CompactTasks compaction tasks
	// (0 until the compaction stage is planned).
	MapChunks    int
	CompactTasks int
	// CompactionAhead says that the job has a compaction stage that is
	// not planned yet (or this engine has not seen its plan): once every
	// task counted in Chunks has settled, that stage comes, not the
	// commit.
	CompactionAhead bool
	// Done tasks have settled with output; a resumed job's chunks that
	// had their markers before count as done.
	Done int
	// Pending tasks wait to be claimed, Retrying of them for their
	// backoff after a failed attempt; Running ones are leased; Dead
	// ones failed for good.
	Pending    int
	Retrying   int
	Running    int
	Dead       int
	BytesTotal int64
	// RecordsIn, RecordsOut and BytesIn are every worker's counts of
	// the published tasks (QueueStats).
	RecordsIn  int64
	RecordsOut int64
	BytesIn    int64
	Elapsed    time.Duration
}

// RunOptions are the settings of Run and Wait.
type RunOptions struct {
	// Workers is the number of chunks this process works on at once while
	// it waits (0: only wait for other workers).
	Workers int
	// Poll is the longest interval between checks of the job's state
	// (default 250ms; local workers also wake the check when they settle a
	// chunk).
	Poll time.Duration
	// Progress, when set, is called after every check.
	Progress func(Progress)
	// Stats receives the local workers' counters.
	Stats *WorkStats
	// Observe, when set, is called as each of the local workers' attempts
	// ends (see WorkOptions.Observe).
	Observe func(ChunkEvent)
	// Grace is how long the local workers' running chunks may finish
	// after ctx is cancelled before they are released (default 1s).
	Grace time.Duration
	// QueueTimeout is how long the queue may fail every request (Redis
	// down, a Cluster master lost) before Wait gives up with
	// ErrQueueUnavailable; default: two of the job's leases, at least
	// DefaultQueueTimeout. By then every worker holding one of the job's
	// chunks has lost its lease and stopped it; finished chunks keep
	// their markers, and Resume picks the job up once the queue is back.
	QueueTimeout time.Duration
}

// DefaultQueueTimeout is the least RunOptions.QueueTimeout.
const DefaultQueueTimeout = 10 * time.Second

// ErrQueueUnavailable is returned by Wait and Run when the queue failed
// every request for longer than RunOptions.QueueTimeout.
var ErrQueueUnavailable = errors.New("queue unavailable")

// Submit plans the job (or finds it planned) and enqueues every chunk
// that has no marker yet. It is idempotent.
func (e *Engine) Submit(ctx context.Context, spec manifest.JobSpec) (PlanInfo, error) {
	info, err := e.Plan(ctx, spec)
	if err != nil {
		return info, err
	}
	out, loc, layout, err := e.output(ctx, info.Manifest.Spec.Output)
	if err != nil {
		return info, err
	}
	js, err := e.cacheJob(out, loc.StoreURL(), layout, info.Manifest)
	if err != nil {
		return info, err
	}
	_, err = e.enqueueMissing(ctx, js)
	return info, err
}

// queueSpec is how a job is described to the queue.
func (js *jobState) queueSpec() JobQueueSpec {
	spec := js.m.Spec
	return JobQueueSpec{
		Job:           js.job,
		Manifest:      manifestURL(js.outURL, js.layout, js.job),
		Lease:         time.Duration(spec.Lease),
		MaxDeliveries: spec.MaxAttempts + 2,
		MaxFailures:   spec.MaxAttempts,
		BackoffBase:   500 * time.Millisecond,
		BackoffMax:    30 * time.Second,
		// Workers claim only what they can run (Runs).
		Function:        spec.Function,
		FunctionVersion: js.m.FunctionVersion,
	}
}

// enqueueMissing (re)registers the job with the queue and enqueues every
// chunk without a marker: the queue is rebuilt from the bucket's truth.
func (e *Engine) enqueueMissing(ctx context.Context, js *jobState) (int, error) {
	if _, err := e.readCommit(ctx, js); err == nil {
		return 0, nil // committed: nothing to run
	}
	if err := cancelled(ctx, js.out, js.layout, js.job); err != nil {
		js.cancelSeen.Store(true)
		return 0, err // never queued again (cancel.go)
	}
	scan, err := e.scanMarkers(ctx, js)
	if err != nil {
		return 0, err
	}
	spec := js.queueSpec()
	e.specMu.Lock()
	if e.specs == nil {
		e.specs = map[string]JobQueueSpec{}
	}
	e.specs[js.job] = spec
	e.specMu.Unlock()
	for i := 0; i < len(scan.missing) || i == 0; i += 1000 {
		batch := scan.missing[i:min(i+1000, len(scan.missing))]
		if err := e.cfg.Queue.Enqueue(ctx, spec, batch); err != nil {
			return 0, fmt.Errorf("enqueueing job %s: %w", js.job, err)
		}
	}
	return len(scan.missing), nil
}

// Resume re-registers a job whose queue state was lost (Redis restarted or
// flushed) from its manifest and markers. outURL is the job's output URL.
func (e *Engine) Resume(ctx context.Context, outURL, job string) (int, error) {
	js, err := e.openJob(ctx, outURL, job)
	if err != nil {
		return 0, err
	}
	return e.enqueueMissing(ctx, js)
}

// openJob loads a job from its output URL.
func (e *Engine) openJob(ctx context.Context, outURL, job string) (*jobState, error) {
	if !manifest.ValidJobID(job) {
		return nil, fmt.Errorf("%q is not a job ID", job)
	}
	out, loc, layout, err := e.output(ctx, outURL)
	if err != nil {
		return nil, err
	}
	m, err := e.readManifest(ctx, out, layout, job)
	if err != nil {
		if errors.Is(err, objstore.ErrNotFound) {
			return nil, fmt.Errorf("%w: no manifest of job %s under %s", ErrUnknownJob, job, outURL)
		}
		return nil, err
	}
	return e.cacheJob(out, loc.StoreURL(), layout, m)
}

// OutputOf returns the output URL the queue holds for a job: from its
// spec while it is queued, then from its finished record (JobRecorder)
// for FinishedJobTTL after it committed.
func (e *Engine) OutputOf(ctx context.Context, job string) (string, error) {
	spec, err := e.jobSpec(ctx, job)
	if errors.Is(err, ErrUnknownJob) {
		if r, ok := e.cfg.Admin.(JobRecorder); ok {
			if rec, ferr := r.Finished(ctx, job); ferr == nil && rec.Output != "" {
				return rec.Output, nil
			}
		}
	}
	if err != nil {
		return "", err
	}
	js, err := e.loadJob(ctx, job, spec.Manifest)
	if errors.Is(err, ErrNotAdmitted) {
		// A job this engine may not or cannot run (another program's
		// function) still has its output where its manifest lies.
		if out, ok := strings.CutSuffix(spec.Manifest, "_fanout/"+job+"/manifest.json"); ok {
			return out, nil
		}
	}
	if err != nil {
		return "", err
	}
	return js.m.Spec.Output, nil
}

// Run submits the job, works on it with opts.Workers local workers, waits
// until every chunk has a marker, and commits.
func (e *Engine) Run(ctx context.Context, spec manifest.JobSpec, opts RunOptions) (Result, error) {
	start := time.Now()
	info, err := e.Submit(ctx, spec)
	if err != nil {
		return Result{State: StateFailed, Error: err.Error()}, err
	}
	res, err := e.Wait(ctx, info.Manifest.Spec.Output, info.Job, opts)
	res.Existing = info.Existing
	if !info.Existing || res.State != StateCommitted {
		// A job this run planned took this run's time (its listing
		// included); one submitted before took its own (Wait).
		res.Elapsed = time.Since(start)
	}
	return res, err
}

// Wait works on (with opts.Workers) and watches a job until it can
// commit, then commits it. Lost queue state is rebuilt from the bucket
// along the way, and expired leases are reclaimed. A committed job's
// Elapsed is the job's time, from its planning to its commit (the commit
// record's wall time, whoever committed it), not the time Wait ran.
func (e *Engine) Wait(ctx context.Context, outURL, job string, opts RunOptions) (Result, error) {
	res, err := e.wait(ctx, outURL, job, opts)
	if res.State == StateCommitted && res.Timings != nil && res.Timings.Wall > 0 {
		res.Elapsed = time.Duration(res.Timings.Wall)
	}
	return res, err
}

func (e *Engine) wait(ctx context.Context, outURL, job string, opts RunOptions) (Result, error) {
	start := time.Now()
	js, err := e.openJob(ctx, outURL, job)
	if err != nil {
		return Result{Job: job, State: StateFailed, Error: err.Error()}, err
	}
	if opts.Poll <= 0 {
		opts.Poll = 250 * time.Millisecond
	}
	if opts.Grace <= 0 {
		opts.Grace = time.Second
	}
	var wg sync.WaitGroup
	stopWork := func() {}
	defer func() {
		stopWork()
		wg.Wait()
	}()
	// startWorkers starts the local workers unless they run; again after
	// a commit gave a chunk whose upload was gone back (LostUploadError),
	// or found failed markers from before a redrive and settled their
	// tasks again (errRedriven: the step is not done).
	running := false
	startWorkers := func() {
		if opts.Workers <= 0 || running {
			return
		}
		running = true
		var workCtx context.Context
		workCtx, stopWork = context.WithCancel(ctx)
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.Work(workCtx, WorkOptions{Concurrency: opts.Workers, Job: job, Stats: opts.Stats, IdlePoll: 100 * time.Millisecond, Grace: opts.Grace,
				Observe: opts.Observe})
		}()
	}
	startWorkers()
	queueTimeout := opts.QueueTimeout
	if queueTimeout <= 0 {
		queueTimeout = max(2*time.Duration(js.m.Spec.Lease), DefaultQueueTimeout)
	}
	poll := 50 * time.Millisecond
	commitFailures := 0
	lostTasks := map[string]bool{} // tasks given back for a lost upload (LostUploadError)
	var lookedForCancel time.Time
	stopWorkers := func() {
		stopWork()
		wg.Wait()
		running = false
	}
	// reported is set once the job was seen running: only then does the
	// commit end the progress with a last snapshot (a job committed before
	// has none).
	reported := false
	var progress func(Progress)
	if opts.Progress != nil {
		progress = func(p Progress) {
			reported = true
			opts.Progress(p)
		}
	}
	for {
		a, err := e.advance(ctx, js, advanceOptions{start: start, progress: progress, beforeCommit: stopWorkers})
		switch {
		case a.Busy:
			// Another committer: its commit record will show.
			poll = endPoll(time.Since(start), opts.Poll)
		case !a.Done:
			// A commit step that stopped the workers and found tasks to
			// run again (failed markers from before a redrive) is not
			// done: they run here too.
			startWorkers()
		case err == nil || !retryableCommitError(err) || commitFailures >= commitRetries || ctx.Err() != nil:
			if err == nil && a.Result.State == StateCommitted && reported {
				// The last snapshot: the commit record's figures (another
				// process may have committed before this one saw the last
				// chunks settle).
				opts.Progress(js.committedProgress(a.Result, time.Since(start)))
			}
			return a.Result, err
		default:
			progress := false
			if lost := (*LostUploadError)(nil); errors.As(err, &lost) {
				// A chunk runs again (its upload was gone): this process's
				// workers, stopped for the commit, take part again. A
				// task given back for the first time is progress, not a
				// failure of the commit: a MinIO restart breaks every
				// completion it cuts off (35 in one chaos run), and each
				// commit finds one; a task lost again counts.
				e.log.Warn("commit found an upload gone; its chunk runs again", "job", job, "chunk", lost.Task)
				startWorkers()
				if lost.Requeued && !lostTasks[lost.Task] {
					lostTasks[lost.Task] = true
					progress = true
				}
			}
			if !progress {
				// The store failed past its own retries; the job has not.
				commitFailures++
			}
			e.log.Warn("commit failed; trying again", "job", job, "attempt", commitFailures, "err", err)
			poll = time.Duration(max(commitFailures, 1)) * time.Second
		}
		if !a.Done && (js.cancelSeen.Load() || time.Since(lookedForCancel) >= cancelCheckInterval) {
			// Cancelled from elsewhere (fanout cancel): the queue may
			// have dropped the job (then advance found it unknown and
			// enqueueMissing refused it), or be this process's own.
			lookedForCancel = time.Now()
			if err := cancelled(ctx, js.out, js.layout, job); errors.As(err, new(*JobCancelledError)) {
				stopWorkers()
				e.dropCancelled(ctx, job, outURL, js.m.Created)
				return Result{Job: job, State: StateCancelled, Chunks: js.m.Chunks, Output: js.m.Spec.Output, Error: err.Error(), Elapsed: time.Since(start)}, err
			}
		}
		if since, err := js.queueDown(); err != nil && time.Since(since) > queueTimeout {
			err = fmt.Errorf("job %s: %w for %s (longer than the queue timeout, %s): %w; chunks that finished keep their markers in the bucket: once the queue is back, resume the job",
				job, ErrQueueUnavailable, time.Since(since).Round(time.Second), queueTimeout, err)
			return Result{Job: job, State: StateRunning, Error: err.Error()}, err
		}
		if !a.Done && a.QueueErr == nil && a.Queue.Pending == 0 {
			// The last wave: every task is claimed; the job's end (most
			// often a worker's commit) is near.
			poll = min(poll, endPoll(time.Since(start), opts.Poll))
		}
		select {
		case <-ctx.Done():
			return Result{Job: job, State: StateRunning, Error: ctx.Err().Error()}, ctx.Err()
		case <-e.settled:
			// A local worker finished a chunk: look again soon, but at
			// most every settledCheckInterval: each look costs a few
			// requests (the commit record, the queue's counts), and
			// thousands of tiny chunks may settle in a second.
			poll = 20 * time.Millisecond
			select {
			case <-ctx.Done():
			case <-time.After(settledCheckInterval):
			}
		case <-time.After(poll):
			poll = min(poll*2, opts.Poll)
		}
	}
}

// cancelCheckInterval is how often Wait looks at the owner record for a
// cancel (a cancel that drops the job from a shared queue is seen at once).
const cancelCheckInterval = 2 * time.Second

// settledCheckInterval is the least time between two looks at a job that
// its local workers' settled chunks trigger.
const settledCheckInterval = 25 * time.Millisecond

// endPoll is how long Wait waits between looks at a job in its last wave
// (nothing left to claim) or that another process commits, age into the
// wait: a fortieth of the age, at least settledCheckInterval, at most
// longest. With workers in other processes nothing signals the job's end,
// and at the usual 250 ms a short job was seen committed 0.1-0.25 s late
// (a third of the wall time of grepping 512 MiB on MinIO with two `fanout
// work` processes); a long job is looked at no more often than before.
func endPoll(age, longest time.Duration) time.Duration {
	return min(max(age/40, settledCheckInterval), longest)
}

// commitRetries bounds how often Wait commits again after a commit failed
// for a reason other than the job's own.
const commitRetries = 5

// retryableCommitError reports whether a failed commit may succeed when
// run again: not when the job failed or was refused, nor when an object it
// needs is missing or changed, but when the store was unreachable.
func retryableCommitError(err error) bool {
	if lost := (*LostUploadError)(nil); errors.As(err, &lost) {
		return lost.Requeued // its chunk runs again, then the commit
	}
	var jf *JobFailedError
	var tr *TooManyRejectedError
	return !errors.As(err, &jf) && !errors.As(err, &tr) && !functions.IsPermanent(err) &&
		!errors.Is(err, objstore.ErrNotFound) && !errors.Is(err, objstore.ErrPrecondition) && !errors.Is(err, objstore.ErrInvalidKey)
}

// progress makes a Progress from the queue's counts: every task the
// queue does not hold as pending, running or dead is done (it has its
// marker), except reduce tasks that have not started.
func (js *jobState) progress(stats QueueStats, elapsed time.Duration) Progress {
	compact := int(js.compactTasks.Load())
	total := js.m.Chunks + js.m.Reducers + compact
	done := total - stats.Pending - stats.Running - stats.Dead
	if !js.reduceReady.Load() {
		done -= js.m.Reducers
	}
	return Progress{Job: js.job, Chunks: total, MapChunks: js.m.Chunks, CompactTasks: compact, CompactionAhead: js.compacts() && !js.compactPlanned.Load(),
		Done:    min(max(done, stats.Done, 0), total),
		Pending: stats.Pending, Retrying: stats.Retrying, Running: stats.Running, Dead: stats.Dead,
		BytesTotal: js.m.Bytes, RecordsIn: stats.RecordsIn, RecordsOut: stats.RecordsOut, BytesIn: stats.BytesIn, Elapsed: elapsed}
}

// committedProgress is the snapshot of a committed job: every task
// settled, the commit record's counts.
func (js *jobState) committedProgress(res Result, elapsed time.Duration) Progress {
	total := js.m.Chunks + js.m.Reducers + res.CompactTasks
	return Progress{Job: js.job, Chunks: total, MapChunks: js.m.Chunks, CompactTasks: res.CompactTasks, Done: total - len(res.Failed), Dead: len(res.Failed),
		BytesTotal: js.m.Bytes, RecordsIn: res.RecordsIn, RecordsOut: res.RecordsOut, BytesIn: res.BytesIn, Elapsed: elapsed}
}

func (e *Engine) result(js *jobState, rec *manifest.CommitRecord, start time.Time) Result {
	res := Result{
		Job: js.job, State: StateCommitted, Chunks: rec.Chunks, Objects: js.m.Objects,
		RecordsIn: rec.RecordsIn, RecordsOut: rec.RecordsOut, BytesIn: rec.BytesIn, BytesOut: rec.BytesOut,
		Output: js.m.Spec.Output, Files: rec.NumFiles(), Failed: rec.Failed, Elapsed: time.Since(start),
		Markers: rec.Chunks, Retries: rec.Retries, Backups: rec.Backups, S3Requests: rec.S3Requests,
		LambdaGBSeconds: rec.LambdaGBSeconds, Replaces: rec.Replaces,
	}
	if rec.Timings != (manifest.Timings{}) {
		t := rec.Timings
		res.Timings = &t
	}
	// The queue forgets a committed job: its tasks are all done (or
	// failed within the tolerance), with the commit record's counts.
	res.Queue = QueueStats{Done: js.m.Chunks + js.m.Reducers - len(rec.Failed), Dead: len(rec.Failed),
		RecordsIn: rec.RecordsIn, RecordsOut: rec.RecordsOut, BytesIn: rec.BytesIn}
	res.setRejections(rec.Rejections, rec.NumRejectedFiles())
	res.Partitions, res.Compacted, res.CompactTasks = rec.Partitions, rec.Compacted, rec.CompactTasks
	res.SmallFiles, res.ManySmallFiles = SmallFiles(rec.Partitions)
	return res
}

// Status inspects a job without changing it.
func (e *Engine) Status(ctx context.Context, outURL, job string) (Result, error) {
	js, err := e.openJob(ctx, outURL, job)
	if err != nil {
		return Result{Job: job}, err
	}
	if rec, err := e.readCommit(ctx, js); err == nil {
		// A committed job: the queue forgot it, its tasks are all done
		// (or failed within the tolerance), and its time is the commit
		// record's.
		res := e.result(js, rec, time.Now())
		res.Elapsed = time.Duration(rec.Timings.Wall)
		res.Planned = js.m.Created
		if named, _, err := readSuccess(ctx, js.out, js.layout); err == nil && named != job && named != rec.Replaces && named != "" {
			res.ReplacedBy = named // its files are gone (replace.go)
		}
		return res, nil
	}
	res := Result{Job: job, State: StateRunning, Chunks: js.m.Chunks, Objects: js.m.Objects, Output: js.m.Spec.Output, Planned: js.m.Created}
	if err := cancelled(ctx, js.out, js.layout, job); errors.As(err, new(*JobCancelledError)) {
		res.State, res.Error = StateCancelled, err.Error()
	} else if err != nil {
		return res, err
	}
	if res.State == StateRunning {
		// A job whose commit found too many failed chunks or rejected
		// records says so in the output's owner record (until a
		// redrive sets it running again); the queue no longer runs it.
		// A redrive that holds the job (killed before it let go) says so
		// there too.
		owner, _, err := readOwner(ctx, js.out, js.layout)
		switch {
		case err == nil && owner.Job == job && owner.State == manifest.OwnerFailed:
			res.State, res.Error = StateFailed, e.Redact(owner.Reason)
		case err == nil:
			res.RedriveHold = redriveHoldOf(job, owner)
		case !errors.Is(err, objstore.ErrNotFound):
			return res, err
		}
	}
	scan, err := e.scanMarkers(ctx, js)
	if err != nil {
		return res, err
	}
	res.Markers = scan.done
	stats, err := e.cfg.Admin.Stats(ctx, job)
	if err == nil {
		res.Queue = stats
		// So far, every worker's (QueueStats): the commit record has the
		// final figures.
		res.RecordsIn, res.RecordsOut, res.BytesIn = stats.RecordsIn, stats.RecordsOut, stats.BytesIn
	}
	if a, err := e.cfg.Admin.Activity(ctx, job); err == nil {
		res.Slowest = a.Running[:min(len(a.Running), slowestShown)]
	}
	res.Elapsed = time.Since(js.m.Created)
	res.progress(js.m, scan.done, res.Elapsed)
	return res, nil
}

// progress sets the throughput of a running job from the map chunks with
// a marker over the time since planning (bytes in proportion), and the
// time the others will take at that pace.
func (r *Result) progress(m *manifest.Manifest, done int, elapsed time.Duration) {
	if done == 0 || elapsed <= 0 || m.Chunks == 0 {
		return
	}
	r.TasksPerSecond = float64(done) / elapsed.Seconds()
	r.BytesPerSecond = float64(m.Bytes) * float64(done) / float64(m.Chunks) / elapsed.Seconds()
	r.ETA = time.Duration(float64(m.Chunks-done) / r.TasksPerSecond * float64(time.Second))
}

// finishJob removes a committed job from the queue and leaves there, for
// FinishedJobTTL, a record of its output (JobRecorder), so that OutputOf
// still finds it; failing to is harmless (the commit record is the
// truth), so it only logs. It runs to
// its end when ctx is cancelled meanwhile: a worker stopped (SIGTERM) just
// after it committed or verified a job still takes the job off the queue,
// instead of leaving it there and logging a cancelled request.
func (e *Engine) finishJob(ctx context.Context, js *jobState) {
	job := js.job
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	if err := e.cfg.Admin.Finish(ctx, job); err != nil {
		e.log.Warn("removing the finished job from the queue failed", "job", job, "err", err)
	}
	if r, ok := e.cfg.Admin.(JobRecorder); ok {
		rec := FinishedJob{Job: job, Output: js.m.Spec.Output, State: StateCommitted, Planned: js.m.Created, Ended: time.Now().UTC()}
		if err := r.RecordFinished(ctx, rec, FinishedJobTTL); err != nil {
			e.log.Warn("recording the finished job in the queue failed", "job", job, "err", err)
		}
	}
	e.forgetJob(job)
}
