package fanout

import (
	"context"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
)

var (
	// ErrLeaseLost reports that a heartbeat, ack, fail or release came from
	// an attempt that no longer holds the chunk: its lease expired and was
	// reclaimed, or another attempt with a newer epoch owns it.
	ErrLeaseLost = errors.New("fanout: lease lost")
	// ErrNoWork reports that Claim found no chunk ready to run.
	ErrNoWork = errors.New("fanout: no work")
	// ErrUnknownJob reports that the queue has no record of the job.
	ErrUnknownJob = errors.New("fanout: unknown job")
)

// Lease is one attempt's hold on one chunk.
type Lease struct {
	Job   string
	Chunk string
	// Epoch increases by one with every claim of the chunk; heartbeat, ack
	// and fail are fenced on it.
	Epoch int64
	// Worker names the claimer (host/pid/goroutine), for status output.
	Worker string
	// Expires is the lease deadline on the queue's clock (Redis TIME).
	Expires time.Time
	// Deliveries counts how many times the chunk has been handed out,
	// this claim included. Failures counts the errors the function reported.
	Deliveries int
	Failures   int
	// sent is when the claim that gave the lease was sent, on the
	// worker's local clock (Config.Clock): set by the engine, zero from a
	// queue. A lease whose claim's time is not known is confirmed again
	// before its marker is written (heartbeat.fresh).
	sent time.Time
}

// JobQueueSpec is what the queue stores about a job when it is enqueued.
type JobQueueSpec struct {
	// Job is the job ID.
	Job string
	// Manifest is the URL of the job's manifest object, so that any worker
	// can find the chunk definitions.
	Manifest string
	// Lease is the lease duration given by Claim and extended by Heartbeat.
	Lease time.Duration
	// MaxDeliveries bounds claims that ended without an ack or fail
	// (crashes, lost leases); MaxFailures bounds failures reported by the
	// function. Past either the chunk is dead-lettered.
	MaxDeliveries int
	MaxFailures   int
	// BackoffBase and BackoffMax shape the jittered exponential delay
	// before a failed chunk becomes claimable again.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// Function is the name of the function the job's chunks run, and
	// FunctionVersion the version of it the job was planned with (empty:
	// any version may run them, as the user asked with
	// manifest.JobSpec.AnyFunctionVersion). Claim hands a job's chunks
	// only to workers that have that function at that version (Runs), so
	// that a fleet of workers built from different programs serves one
	// queue safely. An empty Function (a job enqueued before jobs named
	// their function) is claimed by any worker.
	Function        string
	FunctionVersion string
}

// Runs is what a worker can run: the name of each function it has, to
// the version it has of it (functions.VersionOf). Claim takes it to hand
// out only chunks the worker can run; a nil Runs claims every job (tools
// and tests that work the queue themselves).
type Runs map[string]string

// CanRun reports whether a worker with r may run a job queued with spec:
// r is nil, the job names no function, or r has the job's function at
// the job's version (at any version when the job has none).
func (r Runs) CanRun(spec JobQueueSpec) bool {
	if r == nil || spec.Function == "" {
		return true
	}
	v, ok := r[spec.Function]
	return ok && (spec.FunctionVersion == "" || v == spec.FunctionVersion)
}

// Validate checks a spec before a queue stores it; each error names the
// field. Every Queue implementation calls it in Enqueue, so that the rules
// are one (the conformance suite in fanout/queuetest pins them).
func (s JobQueueSpec) Validate() error {
	var errs []error
	if s.Job == "" {
		errs = append(errs, errors.New("JobQueueSpec.Job is empty"))
	}
	if s.Lease < time.Millisecond {
		errs = append(errs, fmt.Errorf("JobQueueSpec.Lease %v is under 1ms", s.Lease))
	}
	if s.MaxDeliveries < 1 {
		errs = append(errs, fmt.Errorf("JobQueueSpec.MaxDeliveries %d is not positive", s.MaxDeliveries))
	}
	if s.MaxFailures < 1 {
		errs = append(errs, fmt.Errorf("JobQueueSpec.MaxFailures %d is not positive", s.MaxFailures))
	}
	if s.BackoffBase < 0 {
		errs = append(errs, fmt.Errorf("JobQueueSpec.BackoffBase %v is negative", s.BackoffBase))
	}
	if s.BackoffMax < s.BackoffBase {
		errs = append(errs, fmt.Errorf("JobQueueSpec.BackoffMax %v is below BackoffBase %v", s.BackoffMax, s.BackoffBase))
	}
	return errors.Join(errs...)
}

// FailOutcome says what Fail did with the chunk.
type FailOutcome struct {
	// Dead is true when the chunk went to the dead-letter list.
	Dead bool
	// RetryAt is when the chunk becomes claimable again (zero when Dead).
	RetryAt time.Time
}

// DeadLetter is one dead-lettered chunk with the reason.
type DeadLetter struct {
	Chunk      string
	Reason     string
	Deliveries int
	Failures   int
}

// QueueStats counts the chunks of one job by state.
type QueueStats struct {
	Pending  int `json:"pending"`  // ready or waiting for a retry
	Running  int `json:"running"`  // leased
	Done     int `json:"done"`     // acked
	Dead     int `json:"dead"`     // dead-lettered
	Retrying int `json:"retrying"` // of Pending, those waiting for their backoff
	// RecordsIn, RecordsOut and BytesIn sum what the tasks that published
	// reported (TaskCounter), every worker's: the map chunks' input
	// records and bytes, and the job's output records (the map chunks'
	// of a map-only job, the reduce tasks' of an aggregating one). They
	// are hints like the rest of the queue: a queue that lost its data
	// counts again from zero (the commit record holds the truth), and a
	// worker that stopped between its marker and its count leaves its
	// chunk out.
	RecordsIn  int64 `json:"records_in"`
	RecordsOut int64 `json:"records_out"`
	BytesIn    int64 `json:"bytes_in"`
}

// TaskCounts is what one published task adds to its job's counts.
type TaskCounts struct {
	RecordsIn, RecordsOut, BytesIn int64
}

// TaskCounter is the optional part of a Queue that sums the records and
// bytes of a job's published tasks across every worker, for live
// progress (found by type assertion; redisqueue and memqueue have it, and
// queuetest pins it). QueueStats reports the sums.
type TaskCounter interface {
	// CountTask adds c to the job's counts once per task: counting a
	// task again (a retried request, a second publish after a redrive)
	// changes nothing. A job the queue does not know is ErrUnknownJob.
	CountTask(ctx context.Context, job, task string, c TaskCounts) error
}

// AckCounter is the optional part of a Queue that acks a published task
// and counts its records and bytes (TaskCounter) in one round trip, what
// a worker does after every task it published (found by type assertion;
// redisqueue and memqueue have it, and queuetest pins it). The count is
// added as CountTask adds it, under the task's chunk (a backup task's
// chunk), whatever the ack finds: the marker that earned it is written.
// The ack is Ack's, with Ack's errors.
type AckCounter interface {
	AckCounted(ctx context.Context, l Lease, c TaskCounts) error
}

// ExceptClaimer is the optional part of a Queue whose claim of any job
// (Claim with job empty) can pass over some jobs: a worker serving every
// job leaves out the jobs its Config.Admit refused, instead of claiming
// and releasing their chunks, one a second, for as long as they run.
// ClaimExcept is Claim(ctx, "", worker, runs) that never leases a chunk of
// a job in except. redisqueue and memqueue have it, and queuetest pins it.
type ExceptClaimer interface {
	ClaimExcept(ctx context.Context, worker string, runs Runs, except []string) (Lease, error)
}

// AckClaimer is the optional part of a Queue that does AckCounted and,
// when the ack succeeded, claims the next ready chunk of the same job
// (Claim's rules, Runs included) in one round trip: a worker bound to a
// job goes from one chunk to the next with one request (found by type
// assertion; redisqueue and memqueue have it, and queuetest pins it).
// An ack that fails returns AckCounted's error and claims nothing; an
// ack that succeeded with no chunk to claim returns ErrNoWork.
type AckClaimer interface {
	AckAndClaim(ctx context.Context, l Lease, c TaskCounts, runs Runs) (Lease, error)
}

// WorkWaiter is a Queue that can hold a worker bound to one job until the
// job may have a chunk to claim, instead of the worker polling an empty
// queue: idle workers polling every 200 ms made most of the scale
// simulation's Redis round trips. Enqueue, Release, Reclaim, Redrive and
// Backup wake as many waiters as they made chunks claimable (a wake-up
// not waited for is kept, a few at most, for the next waiter, until a
// claim of the job finds no chunk ready: that claim drops the job's
// wake-ups, each of whose chunks has been claimed since); a retry whose
// backoff ends, or a lease a claim takes back, is found when the wait
// times out. A waiter for any job (job empty, a worker serving every
// job) is woken by Enqueue at least, a wake-up per chunk added: it waits
// only as long as it would poll. Optional (found by type assertion);
// redisqueue and memqueue have it, and queuetest pins it.
type WorkWaiter interface {
	// WaitForWork returns nil when woken or after timeout, whichever
	// comes first, and ctx's error when ctx ends first. A nil return
	// says nothing of the queue: the caller claims to find out.
	WaitForWork(ctx context.Context, job string, timeout time.Duration) error
}

// MaxWakeups is how many wake-ups a WorkWaiter keeps for a job that no
// one waits for (a fleet's worth).
const MaxWakeups = 1000

// BackupSuffix marks a backup task: a second attempt at a straggling
// chunk, which runs beside the original while it still holds its lease.
// The chunk marker's create-only write lets only one of the twins
// publish. The queue treats the twins as one chunk: acking either
// completes the chunk and forgets the other (whose heartbeat then reports
// its lease lost, so that it stops), and a backup that fails, expires or
// is released is forgotten, never retried or dead-lettered: the original
// still runs. Chunk and reduce task IDs never hold a '+'.
const BackupSuffix = "+b"

// BackupTask is the ID of chunk's backup task.
func BackupTask(chunk string) string { return chunk + BackupSuffix }

// BackupOf returns the chunk a backup task stands in for; ok is false for
// an ordinary task.
func BackupOf(task string) (chunk string, ok bool) { return strings.CutSuffix(task, BackupSuffix) }

// RunningTask is one leased task of a job.
type RunningTask struct {
	Chunk  string `json:"chunk"` // a chunk or reduce task ID, or a backup task (BackupOf)
	Worker string `json:"worker"`
	Epoch  int64  `json:"epoch"`
	// Running is how long the lease has been held, on the queue's clock.
	Running time.Duration `json:"running_ns"`
}

// Activity is what a job's tasks are doing now and did lately, for status
// output and for spotting stragglers.
type Activity struct {
	// Running lists the leased tasks, the longest running first.
	Running []RunningTask
	// Recent holds how long the most recently acked tasks ran, claim to
	// ack on the queue's clock, newest first (at most RecentTasks).
	Recent []time.Duration
}

// RecentTasks bounds Activity.Recent.
const RecentTasks = 256

// SpreadWindow is how far back a chunk's ready time goes when it is
// enqueued: FreshReady puts it SpreadWindow before the enqueue, plus an
// offset drawn from a hash of its ID (SpreadOffset), so that ready chunks
// (claimed by ready time, then ID) come out in an order spread over the
// job, not in ID order, and the chunks of enqueues up to about this long
// apart interleave. Why: a chunk's outputs are named by its ID
// (part-<job>-<chunk>-<n>), and S3 partitions a bucket by key range,
// splitting a hot range at a key it saw: a fleet claiming chunks in ID
// order writes at the moving end of the output's key range, which every
// split leaves in one partition (3,500 writes a second: about 1,750
// chunks a second of a job whose chunks open an upload and write a part;
// scripts/scale.sh measured 1,880 chunks a second in ID order and 2,994
// spread, docs/scale.md). Chunks made pending again later (a retry after
// its backoff, an expired lease, a release, a redrive, a backup) are
// ready from then: behind the fresh chunks enqueued before, and behind
// most of those enqueued within SpreadWindow after (whose ready times
// reach back that far), a wait bounded by the window.
//
// It is 2^16 ms so that the offset is a whole number of milliseconds, as
// Redis keeps scores.
const SpreadWindow = 65536 * time.Millisecond

// SpreadOffset is chunk's offset in SpreadWindow: the first 16 bits of
// the SHA-1 of its ID, in milliseconds (redisqueue's enqueue.lua computes
// the same with redis.sha1hex).
func SpreadOffset(chunk string) time.Duration {
	h := sha1.Sum([]byte(chunk))
	return time.Duration(binary.BigEndian.Uint16(h[:2])) * time.Millisecond
}

// FreshReady is the ready time of a chunk enqueued at now: within the
// SpreadWindow before now, so claimable at once.
func FreshReady(now time.Time, chunk string) time.Time {
	return now.Add(SpreadOffset(chunk) - SpreadWindow)
}

// Queue hands chunks to workers with leases fenced by epochs. It holds
// hints only: the bucket's chunk markers are the truth, so a queue that
// forgot everything is rebuilt from the manifest minus the markers.
//
// Implementations: redisqueue (one Lua script per state change, time from
// Redis) and memqueue (the embedded default). Both run queuetest.
type Queue interface {
	// Enqueue registers the job (idempotently) and adds the chunks as
	// pending unless they are already known to the job in any state,
	// claimable at once and in a spread order: a chunk's ready time is
	// FreshReady's (see SpreadWindow).
	Enqueue(ctx context.Context, spec JobQueueSpec, chunks []string) error
	// Claim leases one ready chunk of the given job (any active job when
	// job is empty, serving jobs fairly) that runs can run (Runs.CanRun:
	// the chunks of other jobs stay pending for other workers). ErrNoWork
	// when none is ready.
	Claim(ctx context.Context, job, worker string, runs Runs) (Lease, error)
	// Heartbeat extends the lease when worker and epoch still hold it;
	// ErrLeaseLost otherwise. The returned lease has the new deadline.
	Heartbeat(ctx context.Context, l Lease) (Lease, error)
	// Ack marks the chunk done (fenced: ErrLeaseLost for a stale epoch,
	// except that acking a chunk already done is a no-op success).
	Ack(ctx context.Context, l Lease) error
	// Fail records a function error. A permanent error, or one past the
	// failure limit, dead-letters the chunk with reason; otherwise the chunk
	// is retried after a jittered backoff. Fenced like Ack.
	Fail(ctx context.Context, l Lease, reason string, permanent bool) (FailOutcome, error)
	// Release gives the chunk back without counting a failure (for a
	// worker shutting down or a Lambda near its deadline). Fenced.
	Release(ctx context.Context, l Lease) error
}

// QueueAdmin is the part of the queue used by drivers and tools rather
// than by workers.
type QueueAdmin interface {
	// Reclaim returns every expired lease of the job to pending in one
	// atomic step per chunk (dead-lettering those past MaxDeliveries) and
	// reports how many it moved.
	Reclaim(ctx context.Context, job string) (int, error)
	// Stats counts the job's chunks by state.
	Stats(ctx context.Context, job string) (QueueStats, error)
	// DeadLetters lists the job's dead-lettered chunks with their reasons.
	DeadLetters(ctx context.Context, job string) ([]DeadLetter, error)
	// Jobs lists the active jobs with their specs.
	Jobs(ctx context.Context) ([]JobQueueSpec, error)
	// Finish removes the job from the active set and deletes its keys.
	Finish(ctx context.Context, job string) error
	// Redrive moves the job's dead-lettered chunks back to pending with
	// their counters reset.
	Redrive(ctx context.Context, job string) (int, error)
	// Activity reports the job's running tasks and recent task durations.
	Activity(ctx context.Context, job string) (Activity, error)
	// Backup adds chunk's backup task (see BackupSuffix), claimable now,
	// when chunk is running and has no backup yet; it reports whether it
	// did.
	Backup(ctx context.Context, job, chunk string) (bool, error)
}

// DeadLetterPeeker is the optional part of a QueueAdmin that lists a few
// of a job's dead letters without reading them all (found by type
// assertion; redisqueue and memqueue have it, and queuetest pins it): a
// dashboard looks at every job once a second and shows a page of them,
// and a job of 100,000 chunks can have as many.
type DeadLetterPeeker interface {
	// PeekDeadLetters returns at most n (at least 1) of the job's dead
	// letters, as DeadLetters lists them and sorted by chunk ID; which
	// ones, when the job has more, is the queue's choice. ErrUnknownJob
	// when the queue does not know the job.
	PeekDeadLetters(ctx context.Context, job string, n int) ([]DeadLetter, error)
}

// CommitLeaser is the optional part of a QueueAdmin that keeps a job's
// committers apart (found by type assertion; redisqueue and memqueue have
// it, and queuetest pins it): one holder at a time holds a job's commit
// lease, until it releases it or the lease expires on the queue's clock.
//
// The lease saves requests, it does not make committing safe: the commit
// record's create-only write and the output's owner fence do that, and
// committing is idempotent. So a holder that loses its lease in the middle
// of a commit (paused past its expiry, the queue lost its data) is
// harmless: a second committer may then run beside it, as any number did
// before there was a lease, and one commit record wins.
type CommitLeaser interface {
	// LeaseCommit gives holder the job's commit lease for ttl, or extends
	// it when holder holds it already; it reports false, changing
	// nothing, while another holder's lease runs. The job need not be
	// known to the queue (one that forgot the job can still be asked).
	LeaseCommit(ctx context.Context, job, holder string, ttl time.Duration) (bool, error)
	// ReleaseCommit ends holder's lease; it does nothing when holder does
	// not hold it. Finish ends any holder's.
	ReleaseCommit(ctx context.Context, job, holder string) error
}

// FinishedJob is what a queue keeps of a job once it has finished, so
// that tools can find the job's output (and from it the commit record,
// the truth) without being told where it is.
type FinishedJob struct {
	Job string `json:"job"`
	// Output is the URL of the job's output prefix.
	Output string `json:"output"`
	// State is the job's final state (StateCommitted or StateCancelled).
	State string `json:"state"`
	// Planned is when the job's manifest was written, when known; Ended
	// when the job left the queue.
	Planned time.Time `json:"planned,omitzero"`
	Ended   time.Time `json:"ended,omitzero"`
}

// FinishedJobTTL is how long the queue remembers a finished job.
const FinishedJobTTL = 7 * 24 * time.Hour

// JobRecorder is the optional part of a QueueAdmin that remembers
// finished jobs for a while (found by type assertion; redisqueue and
// memqueue have it, and queuetest pins it). The record is a hint like
// the rest of the queue: it only says where to look.
type JobRecorder interface {
	// RecordFinished keeps rec for ttl (on the queue's clock), replacing
	// any record of rec.Job. Finish deletes it, so record after Finish.
	RecordFinished(ctx context.Context, rec FinishedJob, ttl time.Duration) error
	// Finished returns the record of job; ErrUnknownJob when there is
	// none or it expired.
	Finished(ctx context.Context, job string) (FinishedJob, error)
}

// FinishedLister is the optional part of a JobRecorder that lists the
// finished jobs it still remembers (for `fanout jobs` and dashboards;
// redisqueue and memqueue have it, and queuetest pins it).
type FinishedLister interface {
	// RecentFinished lists the records that have not expired, newest
	// first.
	RecentFinished(ctx context.Context) ([]FinishedJob, error)
}

// CommitProgressSharer is the optional part of a QueueAdmin that keeps how
// far a job's commit has got, so that processes that do not commit it
// (fanout wait while a fanout work commits) show the step and its count
// too (found by type assertion; redisqueue and memqueue have it, and
// queuetest pins it). The committer shares its progress about once a
// second; like the rest of the queue it is a hint, the bucket the truth.
type CommitProgressSharer interface {
	// ShareCommitProgress keeps p as job's commit progress for ttl (on
	// the queue's clock), replacing what was kept. A p whose Step is
	// empty drops what was kept at once: the commit is over.
	ShareCommitProgress(ctx context.Context, job string, p CommitProgress, ttl time.Duration) error
	// SharedCommitProgress returns what was kept for job; ok is false
	// when nothing was or it expired.
	SharedCommitProgress(ctx context.Context, job string) (p CommitProgress, ok bool, err error)
}
