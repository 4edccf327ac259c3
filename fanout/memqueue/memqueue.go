// Package memqueue implements fanout.Queue and fanout.QueueAdmin in
// memory, for the embedded mode where the driver and its workers share
// one process. It has the semantics of redisqueue (both pass
// queuetest.RunConformance) with time from an injectable clock, and
// forgets everything when the process ends: the bucket's chunk markers
// are the truth, the queue only a hint.
package memqueue

import (
	"cmp"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/objstore"
)

// Config holds the queue's clock.
type Config struct {
	// Now is the queue's clock; time.Now when nil.
	Now func() time.Time
	// Jitter draws the random factor of retry delays, in [0, 1);
	// math/rand/v2's Float64 when nil.
	Jitter func() float64
}

// Queue is a fanout.Queue and fanout.QueueAdmin in memory. It is safe for
// concurrent use; every method holds one mutex for its whole run, so each
// state change is atomic like a redisqueue script.
type Queue struct {
	now    func() time.Time
	jitter func() float64

	mu   sync.Mutex
	jobs map[string]*job
	turn uint64 // rotates the job Claim with an empty job tries first
	// commits holds the jobs' commit leases (fanout.CommitLeaser),
	// apart from jobs: a job the queue forgot can still be leased.
	commits map[string]commitLease
	// progress holds the jobs' shared commit progress
	// (fanout.CommitProgressSharer), expiring like the leases.
	progress map[string]sharedProgress
	// finished holds the records of finished jobs (fanout.JobRecorder).
	finished map[string]finishedJob
	recorded uint64 // records made, numbering them
	// wakes holds each job's wake-ups (fanout.WorkWaiter), apart from
	// jobs: a worker may wait on a job not enqueued yet.
	wakes map[string]*wakeups
}

// wakeups are a job's wake-ups not waited for yet, and the channel its
// waiters wait on (closed, and replaced, by the next wake).
type wakeups struct {
	n  int
	ch chan struct{}
}

// finishedJob is one finished job's record and when it expires.
type finishedJob struct {
	rec     fanout.FinishedJob
	expires time.Time
	seq     uint64 // order of recording, for RecentFinished
}

// commitLease is one job's commit lease.
type commitLease struct {
	holder  string
	expires time.Time
}

var (
	_ fanout.Queue            = (*Queue)(nil)
	_ fanout.QueueAdmin       = (*Queue)(nil)
	_ fanout.CommitLeaser     = (*Queue)(nil)
	_ fanout.JobRecorder      = (*Queue)(nil)
	_ fanout.FinishedLister   = (*Queue)(nil)
	_ fanout.TaskCounter      = (*Queue)(nil)
	_ fanout.AckCounter       = (*Queue)(nil)
	_ fanout.AckClaimer       = (*Queue)(nil)
	_ fanout.ExceptClaimer    = (*Queue)(nil)
	_ fanout.WorkWaiter       = (*Queue)(nil)
	_ fanout.DeadLetterPeeker = (*Queue)(nil)
)

// New returns an empty queue.
func New(cfg Config) *Queue {
	q := &Queue{now: cfg.Now, jitter: cfg.Jitter, jobs: make(map[string]*job), commits: make(map[string]commitLease), progress: make(map[string]sharedProgress), finished: make(map[string]finishedJob), wakes: make(map[string]*wakeups)}
	if q.now == nil {
		q.now = time.Now
	}
	if q.jitter == nil {
		q.jitter = rand.Float64
	}
	return q
}

type state int

const (
	statePending state = iota
	stateRunning
	stateDead
	stateDone
)

// chunk is what the queue knows of one chunk. Deliveries counts claims
// (a release gives its delivery back) and failures the errors reported by
// Fail; the delivery limit bounds deliveries minus failures, the claims
// whose lease was lost.
type chunk struct {
	id         string
	state      state
	epoch      int64
	worker     string // current or last holder
	deliveries int
	failures   int
	reason     string    // why dead
	deadline   time.Time // lease deadline while running
	claimed    time.Time // when the current lease was granted
	backedUp   int64     // the epoch of the delivery that got a backup (0: none)
	ready      time.Time // when claimable while pending
	inPending  int       // position+1 in the pending heap, 0 when not in it
	inRetrying int       // position+1 in the retrying heap, 0 when not in it
}

func (c *chunk) lost() int { return c.deliveries - c.failures }

type job struct {
	spec    fanout.JobQueueSpec
	chunks  map[string]*chunk // every known chunk, done ones included
	pending chunkHeap         // pending chunks, claimable ones first
	// retrying holds the pending chunks whose ready time was in the future
	// when they became pending (a failure's backoff), so that Stats
	// counts them without walking every pending chunk; those whose time
	// has come leave it when Stats looks.
	retrying chunkHeap
	running  map[string]*chunk
	dead     map[string]*chunk
	done     int
	recent   []time.Duration // newest last, at most fanout.RecentTasks
	// counted holds the tasks whose counts were added (fanout.TaskCounter);
	// counts are their sums.
	counted map[string]bool
	counts  fanout.TaskCounts
}

// forget drops a task from every state, as if it was never enqueued.
func (j *job) forget(c *chunk) {
	j.leavePending(c)
	delete(j.running, c.id)
	delete(j.dead, c.id)
	delete(j.chunks, c.id)
}

// twin returns the other task of a chunk and its backup, and the chunk's
// own ID.
func twin(id string) (other, base string) {
	if b, ok := fanout.BackupOf(id); ok {
		return b, b
	}
	return fanout.BackupTask(id), id
}

// chunkHeap orders chunks by ready time, then chunk ID, like
// redisqueue's sorted set; pos gives the field that holds a chunk's
// position+1 in this heap (0: not in it).
type chunkHeap struct {
	items []*chunk
	pos   func(*chunk) *int
}

func (h *chunkHeap) Len() int { return len(h.items) }
func (h *chunkHeap) Less(i, j int) bool {
	if c := h.items[i].ready.Compare(h.items[j].ready); c != 0 {
		return c < 0
	}
	return h.items[i].id < h.items[j].id
}
func (h *chunkHeap) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	*h.pos(h.items[i]), *h.pos(h.items[j]) = i+1, j+1
}
func (h *chunkHeap) Push(x any) {
	c := x.(*chunk)
	h.items = append(h.items, c)
	*h.pos(c) = len(h.items)
}
func (h *chunkHeap) Pop() any {
	c := h.items[len(h.items)-1]
	h.items[len(h.items)-1] = nil
	h.items = h.items[:len(h.items)-1]
	*h.pos(c) = 0
	return c
}

// peek is the first chunk of the heap, nil when it is empty.
func (h *chunkHeap) peek() *chunk {
	if len(h.items) == 0 {
		return nil
	}
	return h.items[0]
}

// remove takes c out of the heap when it is in it.
func (h *chunkHeap) remove(c *chunk) {
	if i := *h.pos(c); i > 0 {
		heap.Remove(h, i-1)
	}
}

func newJob() *job {
	return &job{
		chunks:   map[string]*chunk{},
		pending:  chunkHeap{pos: func(c *chunk) *int { return &c.inPending }},
		retrying: chunkHeap{pos: func(c *chunk) *int { return &c.inRetrying }},
		running:  map[string]*chunk{},
		dead:     map[string]*chunk{},
	}
}

// toPending makes c claimable at ready; a ready time after now counts c
// as retrying until then.
func (j *job) toPending(c *chunk, ready, now time.Time) {
	delete(j.running, c.id)
	c.state, c.ready, c.deadline = statePending, ready, time.Time{}
	heap.Push(&j.pending, c)
	if ready.After(now) {
		heap.Push(&j.retrying, c)
	}
}

// leavePending takes c out of the pending and retrying heaps.
func (j *job) leavePending(c *chunk) {
	j.pending.remove(c)
	j.retrying.remove(c)
}

// retryingAt counts the pending chunks not claimable before now, first
// dropping those whose time has come: amortised O(log n) per failure,
// however many chunks are pending.
func (j *job) retryingAt(now time.Time) int {
	for c := j.retrying.peek(); c != nil && !c.ready.After(now); c = j.retrying.peek() {
		heap.Pop(&j.retrying)
	}
	return j.retrying.Len()
}

func (j *job) deadLetter(c *chunk, reason string) {
	delete(j.running, c.id)
	c.state, c.reason, c.deadline = stateDead, reason, time.Time{}
	j.dead[c.id] = c
}

func deliveriesReason(max int, worker string) string {
	return fmt.Sprintf("exceeded %d deliveries (last worker %s lost its lease)", max, worker)
}

// expire takes back one expired lease: the chunk returns to pending now,
// or is dead-lettered when its lost deliveries reached the limit.
func (j *job) expire(c *chunk, now time.Time) {
	if _, backup := fanout.BackupOf(c.id); backup {
		j.forget(c)
		return
	}
	if c.lost() >= j.spec.MaxDeliveries {
		j.deadLetter(c, deliveriesReason(j.spec.MaxDeliveries, c.worker))
		return
	}
	j.toPending(c, now, now)
}

// reclaim takes back every expired lease (deadline before now).
func (j *job) reclaim(now time.Time) int {
	var expired []*chunk
	for _, c := range j.running {
		if c.deadline.Before(now) {
			expired = append(expired, c)
		}
	}
	// Map order is random; take them back in a stable order.
	slices.SortFunc(expired, func(a, b *chunk) int { return strings.Compare(a.id, b.id) })
	for _, c := range expired {
		j.expire(c, now)
	}
	return len(expired)
}

// Enqueue registers the job (the last enqueue's spec wins) and adds the
// chunks it does not know yet as pending, claimable now at
// fanout.FreshReady.
func (q *Queue) Enqueue(ctx context.Context, spec fanout.JobQueueSpec, chunks []string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := spec.Validate(); err != nil {
		return fmt.Errorf("memqueue: %w", err)
	}
	for _, c := range chunks {
		if c == "" {
			return fmt.Errorf("memqueue: enqueue job %s: empty chunk ID", spec.Job)
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	j := q.jobs[spec.Job]
	if j == nil {
		j = newJob()
		q.jobs[spec.Job] = j
	}
	j.spec = spec
	now := q.now()
	for _, id := range chunks {
		if _, ok := j.chunks[id]; ok {
			continue
		}
		c := &chunk{id: id}
		j.chunks[id] = c
		j.toPending(c, fanout.FreshReady(now, id), now)
		q.wake(spec.Job, 1)
	}
	return nil
}

// Claim leases a ready chunk of job, or of any job when job is empty:
// then jobs are tried in turn from a starting job that rotates with every
// call. Expired leases of a job are taken back before it is tried; a job
// whose function runs cannot run gives no chunk (fanout.Runs.CanRun).
func (q *Queue) Claim(ctx context.Context, job, worker string, runs fanout.Runs) (fanout.Lease, error) {
	return q.claim(ctx, job, worker, runs, nil)
}

// ClaimExcept implements fanout.ExceptClaimer: Claim of any job but those
// in except, which are not tried.
func (q *Queue) ClaimExcept(ctx context.Context, worker string, runs fanout.Runs, except []string) (fanout.Lease, error) {
	return q.claim(ctx, "", worker, runs, except)
}

// claim is Claim, of any job but those in except when job is empty.
func (q *Queue) claim(ctx context.Context, job, worker string, runs fanout.Runs, except []string) (fanout.Lease, error) {
	if err := ctx.Err(); err != nil {
		return fanout.Lease{}, err
	}
	if worker == "" {
		return fanout.Lease{}, errors.New("memqueue: claim: empty worker name")
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.now()
	if job != "" {
		j := q.jobs[job]
		if j == nil {
			return fanout.Lease{}, fmt.Errorf("memqueue: claim job %s: %w", job, fanout.ErrUnknownJob)
		}
		return q.claimJob(j, worker, now, runs)
	}
	return q.claimAny(worker, now, runs, except)
}

// claimAny claims a chunk of any job but those in except, trying them in
// turn. The caller holds q.mu.
func (q *Queue) claimAny(worker string, now time.Time, runs fanout.Runs, except []string) (fanout.Lease, error) {
	ids := make([]string, 0, len(q.jobs))
	for id := range q.jobs {
		if !slices.Contains(except, id) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return fanout.Lease{}, fanout.ErrNoWork
	}
	slices.Sort(ids)
	q.turn++
	first := int(q.turn % uint64(len(ids)))
	for i := range ids {
		l, err := q.claimJob(q.jobs[ids[(first+i)%len(ids)]], worker, now, runs)
		if errors.Is(err, fanout.ErrNoWork) {
			continue
		}
		return l, err
	}
	return fanout.Lease{}, fanout.ErrNoWork
}

// claimJob claims a chunk of j. A claim that finds no chunk ready drops
// the job's wake-ups, as redisqueue's does: every chunk they were given
// for has been claimed since, and they would wake idle workers to claim
// nothing. The caller holds q.mu.
func (q *Queue) claimJob(j *job, worker string, now time.Time, runs fanout.Runs) (fanout.Lease, error) {
	l, err := j.claim(worker, now, runs)
	if errors.Is(err, fanout.ErrNoWork) && runs.CanRun(j.spec) {
		if w := q.wakes[j.spec.Job]; w != nil {
			w.n = 0
		}
	}
	return l, err
}

func (j *job) claim(worker string, now time.Time, runs fanout.Runs) (fanout.Lease, error) {
	j.reclaim(now)
	if !runs.CanRun(j.spec) {
		return fanout.Lease{}, fanout.ErrNoWork
	}
	for c := j.pending.peek(); c != nil && !c.ready.After(now); c = j.pending.peek() {
		j.leavePending(c)
		if c.lost() >= j.spec.MaxDeliveries {
			j.deadLetter(c, deliveriesReason(j.spec.MaxDeliveries, c.worker))
			continue
		}
		c.epoch++
		c.deliveries++
		c.worker = worker
		c.state = stateRunning
		c.deadline = now.Add(j.spec.Lease)
		c.claimed = now
		j.running[c.id] = c
		return fanout.Lease{
			Job:        j.spec.Job,
			Chunk:      c.id,
			Epoch:      c.epoch,
			Worker:     worker,
			Expires:    c.deadline,
			Deliveries: c.deliveries,
			Failures:   c.failures,
		}, nil
	}
	return fanout.Lease{}, fanout.ErrNoWork
}

// held returns the chunk when l's worker and epoch hold its lease. A lease
// past its deadline that nothing took back yet is still held.
func (q *Queue) held(op string, l fanout.Lease) (*job, *chunk, error) {
	j := q.jobs[l.Job]
	if j == nil {
		return nil, nil, fmt.Errorf("%s: %w: %w", leaseContext(op, l), fanout.ErrLeaseLost, fanout.ErrUnknownJob)
	}
	c := j.chunks[l.Chunk]
	if c == nil || c.state != stateRunning || c.worker != l.Worker || c.epoch != l.Epoch {
		return j, c, fmt.Errorf("%s: %w", leaseContext(op, l), fanout.ErrLeaseLost)
	}
	return j, c, nil
}

func leaseContext(op string, l fanout.Lease) string {
	return fmt.Sprintf("memqueue: %s job %s chunk %s epoch %d", op, l.Job, l.Chunk, l.Epoch)
}

// Heartbeat extends the lease by the job's lease duration from now.
func (q *Queue) Heartbeat(ctx context.Context, l fanout.Lease) (fanout.Lease, error) {
	if err := ctx.Err(); err != nil {
		return fanout.Lease{}, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	j, c, err := q.held("heartbeat", l)
	if err != nil {
		return fanout.Lease{}, err
	}
	c.deadline = q.now().Add(j.spec.Lease)
	l.Expires = c.deadline
	return l, nil
}

// Ack marks the chunk done; acking a chunk already done succeeds. Acking
// a backup task completes its chunk; either twin's ack forgets the other.
func (q *Queue) Ack(ctx context.Context, l fanout.Lease) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	other, base := twin(l.Chunk)
	j, c, err := q.held("ack", l)
	if j != nil {
		if b := j.chunks[base]; b != nil && b.state == stateDone {
			return nil
		}
	}
	if err != nil {
		return err
	}
	if b := j.chunks[base]; c.id != base && b != nil && b.state == stateDead {
		// Dead-lettered meanwhile: its marker is the truth, and it must
		// stay redrivable (see redisqueue's ack.lua).
		j.forget(c)
		return nil
	}
	now := q.now()
	j.recent = append(j.recent, now.Sub(c.claimed))
	if len(j.recent) > fanout.RecentTasks {
		j.recent = slices.Delete(j.recent, 0, len(j.recent)-fanout.RecentTasks)
	}
	if o := j.chunks[other]; o != nil {
		j.forget(o)
	}
	if c.id != base {
		j.forget(c)
		b := j.chunks[base]
		if b == nil {
			b = &chunk{id: base}
			j.chunks[base] = b
		}
		c = b
	}
	delete(j.running, c.id)
	delete(j.dead, c.id)
	j.leavePending(c)
	c.state, c.deadline, c.worker = stateDone, time.Time{}, ""
	j.done++
	return nil
}

// Fail records a function error: the chunk is dead-lettered when the
// error is permanent or the failure limit is reached, and is otherwise
// claimable again after min(BackoffMax, BackoffBase*2^(failures-1))
// scaled by a random factor in [0.5, 1).
func (q *Queue) Fail(ctx context.Context, l fanout.Lease, reason string, permanent bool) (fanout.FailOutcome, error) {
	if err := ctx.Err(); err != nil {
		return fanout.FailOutcome{}, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	j, c, err := q.held("fail", l)
	if err != nil {
		return fanout.FailOutcome{}, err
	}
	if _, backup := fanout.BackupOf(c.id); backup {
		j.forget(c) // the original still runs
		return fanout.FailOutcome{}, nil
	}
	c.failures++
	switch {
	case permanent:
		j.deadLetter(c, "permanent error: "+reason)
		return fanout.FailOutcome{Dead: true}, nil
	case c.failures >= j.spec.MaxFailures:
		j.deadLetter(c, fmt.Sprintf("failed %d times (limit %d), last error: %s", c.failures, j.spec.MaxFailures, reason))
		return fanout.FailOutcome{Dead: true}, nil
	}
	now := q.now()
	ready := now.Add(objstore.BackoffStep(j.spec.BackoffBase, j.spec.BackoffMax, c.failures, q.jitter()))
	j.toPending(c, ready, now)
	return fanout.FailOutcome{RetryAt: ready}, nil
}

// Release gives the chunk back, claimable now, and refunds the delivery.
func (q *Queue) Release(ctx context.Context, l fanout.Lease) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	j, c, err := q.held("release", l)
	if err != nil {
		return err
	}
	if _, backup := fanout.BackupOf(c.id); backup {
		j.forget(c)
		return nil
	}
	c.deliveries--
	now := q.now()
	j.toPending(c, now, now)
	q.wake(l.Job, 1)
	return nil
}

// Reclaim takes back every expired lease of the job.
func (q *Queue) Reclaim(ctx context.Context, job string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	j := q.jobs[job]
	if j == nil {
		return 0, fmt.Errorf("memqueue: reclaim job %s: %w", job, fanout.ErrUnknownJob)
	}
	n := j.reclaim(q.now())
	q.wake(job, n)
	return n, nil
}

// Stats counts the job's chunks by state. Leases past their deadline
// count as running until taken back.
func (q *Queue) Stats(ctx context.Context, job string) (fanout.QueueStats, error) {
	if err := ctx.Err(); err != nil {
		return fanout.QueueStats{}, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	j := q.jobs[job]
	if j == nil {
		return fanout.QueueStats{}, fmt.Errorf("memqueue: stats job %s: %w", job, fanout.ErrUnknownJob)
	}
	return fanout.QueueStats{
		Pending:    j.pending.Len(),
		Running:    len(j.running),
		Done:       j.done,
		Dead:       len(j.dead),
		Retrying:   j.retryingAt(q.now()),
		RecordsIn:  j.counts.RecordsIn,
		RecordsOut: j.counts.RecordsOut,
		BytesIn:    j.counts.BytesIn,
	}, nil
}

// CountTask implements fanout.TaskCounter.
func (q *Queue) CountTask(ctx context.Context, job, task string, c fanout.TaskCounts) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	j := q.jobs[job]
	if j == nil {
		return fmt.Errorf("memqueue: count task %s of job %s: %w", task, job, fanout.ErrUnknownJob)
	}
	if j.counted[task] {
		return nil
	}
	if j.counted == nil {
		j.counted = map[string]bool{}
	}
	j.counted[task] = true
	j.counts.RecordsIn += c.RecordsIn
	j.counts.RecordsOut += c.RecordsOut
	j.counts.BytesIn += c.BytesIn
	return nil
}

// AckCounted implements fanout.AckCounter: CountTask under the task's
// chunk, then Ack.
func (q *Queue) AckCounted(ctx context.Context, l fanout.Lease, c fanout.TaskCounts) error {
	_, base := twin(l.Chunk)
	if err := q.CountTask(ctx, l.Job, base, c); err != nil && !errors.Is(err, fanout.ErrUnknownJob) {
		return err
	}
	return q.Ack(ctx, l)
}

// AckAndClaim implements fanout.AckClaimer: AckCounted, then Claim of
// the same job.
func (q *Queue) AckAndClaim(ctx context.Context, l fanout.Lease, c fanout.TaskCounts, runs fanout.Runs) (fanout.Lease, error) {
	if err := q.AckCounted(ctx, l, c); err != nil {
		return fanout.Lease{}, err
	}
	return q.Claim(ctx, l.Job, l.Worker, runs)
}

// DeadLetters lists the job's dead-lettered chunks, sorted by chunk ID.
func (q *Queue) DeadLetters(ctx context.Context, job string) ([]fanout.DeadLetter, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	j := q.jobs[job]
	if j == nil {
		return nil, fmt.Errorf("memqueue: dead letters of job %s: %w", job, fanout.ErrUnknownJob)
	}
	out := make([]fanout.DeadLetter, 0, len(j.dead))
	for _, c := range j.dead {
		out = append(out, fanout.DeadLetter{Chunk: c.id, Reason: c.reason, Deliveries: c.deliveries, Failures: c.failures})
	}
	slices.SortFunc(out, func(a, b fanout.DeadLetter) int { return strings.Compare(a.Chunk, b.Chunk) })
	return out, nil
}

// PeekDeadLetters implements fanout.DeadLetterPeeker: the first n of
// the job's dead letters by chunk ID.
func (q *Queue) PeekDeadLetters(ctx context.Context, job string, n int) ([]fanout.DeadLetter, error) {
	if n <= 0 {
		return nil, fmt.Errorf("memqueue: dead letters of job %s: n is %d, want at least 1", job, n)
	}
	dead, err := q.DeadLetters(ctx, job)
	if err != nil {
		return nil, err
	}
	return dead[:min(len(dead), n)], nil
}

// Jobs lists the jobs' specs, sorted by job ID.
func (q *Queue) Jobs(ctx context.Context) ([]fanout.JobQueueSpec, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]fanout.JobQueueSpec, 0, len(q.jobs))
	for _, j := range q.jobs {
		out = append(out, j.spec)
	}
	slices.SortFunc(out, func(a, b fanout.JobQueueSpec) int { return cmp.Compare(a.Job, b.Job) })
	return out, nil
}

// Finish forgets the job; finishing an unknown job does nothing.
func (q *Queue) Finish(ctx context.Context, job string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.jobs, job)
	delete(q.commits, job)
	delete(q.finished, job)
	if w := q.wakes[job]; w != nil && w.ch != nil {
		close(w.ch) // its waiters claim, and find the job gone
	}
	delete(q.wakes, job)
	return nil
}

// RecordFinished implements fanout.JobRecorder on the queue's clock.
func (q *Queue) RecordFinished(ctx context.Context, rec fanout.FinishedJob, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if rec.Job == "" || ttl < time.Millisecond {
		return fmt.Errorf("memqueue: record finished job %q: want a job and a ttl of at least 1ms", rec.Job)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.now()
	for id, f := range q.finished { // expired records go, so the map stays small
		if !now.Before(f.expires) {
			delete(q.finished, id)
		}
	}
	q.recorded++
	q.finished[rec.Job] = finishedJob{rec: rec, expires: now.Add(ttl), seq: q.recorded}
	return nil
}

// RecentFinished implements fanout.FinishedLister.
func (q *Queue) RecentFinished(ctx context.Context) ([]fanout.FinishedJob, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.now()
	var live []finishedJob
	for _, f := range q.finished {
		if now.Before(f.expires) {
			live = append(live, f)
		}
	}
	slices.SortFunc(live, func(a, b finishedJob) int { return cmp.Compare(b.seq, a.seq) })
	out := make([]fanout.FinishedJob, len(live))
	for i, f := range live {
		out[i] = f.rec
	}
	return out, nil
}

// Finished implements fanout.JobRecorder.
func (q *Queue) Finished(ctx context.Context, job string) (fanout.FinishedJob, error) {
	if err := ctx.Err(); err != nil {
		return fanout.FinishedJob{}, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	f, ok := q.finished[job]
	if !ok || !q.now().Before(f.expires) {
		return fanout.FinishedJob{}, fmt.Errorf("memqueue: finished job %s: %w", job, fanout.ErrUnknownJob)
	}
	return f.rec, nil
}

// LeaseCommit implements fanout.CommitLeaser on the queue's clock.
func (q *Queue) LeaseCommit(ctx context.Context, job, holder string, ttl time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if job == "" || holder == "" || ttl < time.Millisecond {
		return false, fmt.Errorf("memqueue: lease commit of job %q: want a job, a holder and a ttl of at least 1ms", job)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.now()
	if cur, ok := q.commits[job]; ok && cur.holder != holder && now.Before(cur.expires) {
		return false, nil
	}
	q.commits[job] = commitLease{holder: holder, expires: now.Add(ttl)}
	return true, nil
}

// ReleaseCommit implements fanout.CommitLeaser.
func (q *Queue) ReleaseCommit(ctx context.Context, job, holder string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.commits[job].holder == holder {
		delete(q.commits, job)
	}
	return nil
}

// Redrive moves the job's dead-lettered chunks back to pending, claimable
// now, with deliveries and failures reset; epochs are kept, so that older
// leases stay fenced off.
func (q *Queue) Redrive(ctx context.Context, job string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	j := q.jobs[job]
	if j == nil {
		return 0, fmt.Errorf("memqueue: redrive job %s: %w", job, fanout.ErrUnknownJob)
	}
	now := q.now()
	n := len(j.dead)
	for id, c := range j.dead {
		delete(j.dead, id)
		c.deliveries, c.failures, c.reason = 0, 0, ""
		j.toPending(c, now, now)
	}
	q.wake(job, n)
	return n, nil
}

// Activity lists the job's running tasks, longest running first, and the
// durations of the last acked ones, newest first.
func (q *Queue) Activity(ctx context.Context, job string) (fanout.Activity, error) {
	if err := ctx.Err(); err != nil {
		return fanout.Activity{}, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	j := q.jobs[job]
	if j == nil {
		return fanout.Activity{}, fmt.Errorf("memqueue: activity of job %s: %w", job, fanout.ErrUnknownJob)
	}
	now := q.now()
	var a fanout.Activity
	for _, c := range j.running {
		a.Running = append(a.Running, fanout.RunningTask{Chunk: c.id, Worker: c.worker, Epoch: c.epoch, Running: now.Sub(c.claimed)})
	}
	slices.SortFunc(a.Running, func(x, y fanout.RunningTask) int {
		if c := cmp.Compare(y.Running, x.Running); c != 0 {
			return c
		}
		return strings.Compare(x.Chunk, y.Chunk)
	})
	a.Recent = slices.Clone(j.recent)
	slices.Reverse(a.Recent)
	return a, nil
}

// Backup adds base's backup task when base is running without one and
// had none in its current delivery; the backup's epochs continue from
// base's.
func (q *Queue) Backup(ctx context.Context, job, base string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if _, backup := fanout.BackupOf(base); backup || base == "" {
		return false, fmt.Errorf("memqueue: backup of job %s: %q is not a chunk ID", job, base)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	j := q.jobs[job]
	if j == nil {
		return false, fmt.Errorf("memqueue: backup of job %s: %w", job, fanout.ErrUnknownJob)
	}
	orig := j.chunks[base]
	if orig == nil || orig.state != stateRunning || orig.backedUp == orig.epoch {
		return false, nil // not running, or backed up once in this delivery
	}
	id := fanout.BackupTask(base)
	if _, ok := j.chunks[id]; ok {
		return false, nil
	}
	orig.backedUp = orig.epoch
	c := &chunk{id: id, epoch: orig.epoch}
	j.chunks[id] = c
	now := q.now()
	j.toPending(c, now, now)
	q.wake(job, 1)
	return true, nil
}

// wake adds n wake-ups of job (at most fanout.MaxWakeups kept) and lets
// its waiters go, and as many of the waiters for any job (job ""). The
// caller holds q.mu.
func (q *Queue) wake(job string, n int) {
	if n <= 0 {
		return
	}
	if job != "" {
		q.wake("", n)
	}
	w := q.wakes[job]
	if w == nil {
		w = &wakeups{}
		q.wakes[job] = w
	}
	w.n = min(w.n+n, fanout.MaxWakeups)
	if w.ch != nil {
		close(w.ch)
		w.ch = nil
	}
}

// WaitForWork implements fanout.WorkWaiter: it takes a wake-up of the
// job (of any job when job is empty), waiting for one for up to timeout.
func (q *Queue) WaitForWork(ctx context.Context, job string, timeout time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		q.mu.Lock()
		w := q.wakes[job]
		if w == nil {
			w = &wakeups{}
			q.wakes[job] = w
		}
		if w.n > 0 {
			w.n--
			q.mu.Unlock()
			return nil
		}
		if w.ch == nil {
			w.ch = make(chan struct{})
		}
		ch := w.ch
		q.mu.Unlock()
		select {
		case <-ch: // woken: take a wake-up, if another waiter did not
		case <-t.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// sharedProgress is a job's shared commit progress and when it expires.
type sharedProgress struct {
	p       fanout.CommitProgress
	expires time.Time
}

// ShareCommitProgress implements fanout.CommitProgressSharer.
func (q *Queue) ShareCommitProgress(ctx context.Context, job string, p fanout.CommitProgress, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if job == "" || ttl < time.Millisecond {
		return fmt.Errorf("memqueue: share commit progress of job %q: want a job and a ttl of at least 1ms", job)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.now()
	for id, s := range q.progress { // expired ones go, so the map stays small
		if !now.Before(s.expires) {
			delete(q.progress, id)
		}
	}
	if p.Step == "" {
		delete(q.progress, job) // the commit is over
		return nil
	}
	q.progress[job] = sharedProgress{p: p, expires: now.Add(ttl)}
	return nil
}

// SharedCommitProgress implements fanout.CommitProgressSharer.
func (q *Queue) SharedCommitProgress(ctx context.Context, job string) (fanout.CommitProgress, bool, error) {
	if err := ctx.Err(); err != nil {
		return fanout.CommitProgress{}, false, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	s, ok := q.progress[job]
	if !ok || !q.now().Before(s.expires) {
		return fanout.CommitProgress{}, false, nil
	}
	return s.p, true, nil
}
