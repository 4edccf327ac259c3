// Package queuetest is the conformance suite of fanout.Queue and
// fanout.QueueAdmin, shared by every implementation (memqueue,
// redisqueue), with benchmarks. It is imported by tests only.
//
// The suite pins the contract of fanout/queue.go and these choices that
// both implementations share:
//   - ready chunks are claimed by ready time, then by chunk ID; a chunk
//     enqueued is ready at fanout.FreshReady (a spread order: ID order
//     within the same millisecond only), one made pending again at the
//     time it becomes claimable;
//   - Claim of a named job the queue does not know returns ErrUnknownJob,
//     and so do Stats, Reclaim, Redrive, DeadLetters and PeekDeadLetters
//     (fanout.DeadLetterPeeker, which both implement); Finish of an
//     unknown job succeeds;
//   - a lease past its deadline stays held until a claim or Reclaim takes
//     it back;
//   - Deliveries counts claims, a Release giving its delivery back;
//     MaxDeliveries bounds Deliveries minus Failures, the claims whose
//     lease was lost;
//   - the commit lease (fanout.CommitLeaser, which both implement) needs
//     no enqueued job, and Finish ends it;
//   - a finished job's record (fanout.JobRecorder, which both implement)
//     lasts its TTL on the queue's clock, a new record replaces it, and
//     Finish deletes it;
//   - a job's shared commit progress (fanout.CommitProgressSharer, which
//     both implement) needs no enqueued job, a new one replaces it, and
//     it lasts its TTL on the queue's clock;
//   - Enqueue's spec replaces the stored one; specs are validated (Job
//     set, Lease at least 1ms, limits positive, 0 <= BackoffBase <=
//     BackoffMax).
package queuetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout"
)

// Clock tells the suite how time passes for the queue under test.
type Clock struct {
	// Now reads the queue's clock (Redis TIME for redisqueue).
	Now func() time.Time
	// Advance moves a fake clock forward. It is nil for a real clock: the
	// suite then lets real time pass, polling with a deadline.
	Advance func(d time.Duration)
	// Lease is the lease of the jobs whose leases the suite lets expire:
	// short for a real clock (a few hundred milliseconds), since the suite
	// waits for it several times. Tests where expiry is not the point use
	// a lease of a minute.
	Lease time.Duration
}

// RealClock is the Clock of a queue on real time, read by now (which
// should read the queue's own clock, such as Redis TIME).
func RealClock(now func() time.Time, lease time.Duration) Clock {
	return Clock{Now: now, Lease: lease}
}

// FakeClock is a settable clock for queues with an injectable clock, safe
// for concurrent use.
type FakeClock struct {
	mu sync.Mutex
	t  time.Time
}

// NewFakeClock returns a clock standing at start.
func NewFakeClock(start time.Time) *FakeClock { return &FakeClock{t: start} }

// Now returns the clock's time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// SuiteClock is the Clock for RunConformance.
func (c *FakeClock) SuiteClock() Clock {
	return Clock{Now: c.Now, Advance: c.Advance, Lease: time.Minute}
}

// pollTimeout bounds every wait of the suite beyond the time it waits
// for (a lease deadline, a retry time).
const pollTimeout = 15 * time.Second

// pollInterval is the pause between polls on a real clock.
const pollInterval = 5 * time.Millisecond

// longLease is the lease of jobs whose leases must not expire.
const longLease = time.Minute

// RunConformance runs the shared suite. newQueue returns a fresh, empty
// queue for each subtest (its two interfaces may be one value), cleaned
// up by the test.
func RunConformance(t *testing.T, newQueue func(t *testing.T) (fanout.Queue, fanout.QueueAdmin), clock Clock) {
	tests := []struct {
		name string
		run  func(s *suite)
	}{
		{"EnqueueIsIdempotent", testEnqueueIsIdempotent},
		{"EnqueueRejectsBadSpec", testEnqueueRejectsBadSpec},
		{"ClaimOrderAndNoWork", testClaimOrderAndNoWork},
		{"ClaimOrderIsSpread", testClaimOrderIsSpread},
		{"FreshChunksGoBeforeRetries", testFreshChunksGoBeforeRetries},
		{"UnknownJob", testUnknownJob},
		{"EpochGrowsPerClaim", testEpochGrowsPerClaim},
		{"HeartbeatExtends", testHeartbeatExtends},
		{"StaleLeaseIsFenced", testStaleLeaseIsFenced},
		{"ExpiredLeaseIsReclaimed", testExpiredLeaseIsReclaimed},
		{"ClaimTakesBackExpiredLeases", testClaimTakesBackExpiredLeases},
		{"AckIsIdempotent", testAckIsIdempotent},
		{"RacingReclaimers", testRacingReclaimers},
		{"ConcurrentWorkers", testConcurrentWorkers},
		{"FailRetriesWithBackoff", testFailRetriesWithBackoff},
		{"PermanentFailureDeadLetters", testPermanentFailureDeadLetters},
		{"MaxFailuresDeadLetters", testMaxFailuresDeadLetters},
		{"MaxDeliveriesDeadLetters", testMaxDeliveriesDeadLetters},
		{"PeekDeadLettersListsAFew", testPeekDeadLetters},
		{"DeliveriesAndFailuresCountedApart", testDeliveriesAndFailuresCountedApart},
		{"ReleaseDoesNotCount", testReleaseDoesNotCount},
		{"Redrive", testRedrive},
		{"Finish", testFinish},
		{"ClaimAnyJobIsFair", testClaimAnyJobIsFair},
		{"JobsListsSpecs", testJobsListsSpecs},
		{"BackupWins", testBackupWins},
		{"BackupLoses", testBackupLoses},
		{"BackupIsForgottenOnFailure", testBackupIsForgottenOnFailure},
		{"BackupAckKeepsADeadChunkDead", testBackupAckKeepsADeadChunkDead},
		{"ActivityReportsRunningAndRecent", testActivity},
		{"CommitLeaseHasOneHolder", testCommitLease},
		{"CommitLeaseRacers", testCommitLeaseRacers},
		{"FinishedJobIsRemembered", testFinishedJob},
		{"CommitProgressIsShared", testCommitProgress},
		{"TasksCountOnce", testCountTask},
		{"AckCountedAcksAndCountsOnce", testAckCounted},
		{"AckAndClaimHandsTheNextChunk", testAckAndClaim},
		{"AckAndClaimSettlesBackups", testAckAndClaimSettlesBackups},
		{"RecentDurationsAreBounded", testRecentDurationsAreBounded},
		{"ClaimOnlyWhatTheWorkerRuns", testClaimOnlyWhatTheWorkerRuns},
		{"WaitForWorkWakesOnNewWork", testWaitForWork},
		{"WaitForAnyWorkWakesOnEnqueue", testWaitForAnyWork},
		{"ClaimExceptPassesOverJobs", testClaimExcept},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, a := newQueue(t)
			tt.run(&suite{t: t, ctx: t.Context(), q: q, a: a, clock: clock})
		})
	}
}

type suite struct {
	t     *testing.T
	ctx   context.Context
	q     fanout.Queue
	a     fanout.QueueAdmin
	clock Clock
}

// spec is a job's spec with limits loose enough to stay out of the way.
func spec(job string, lease time.Duration) fanout.JobQueueSpec {
	return fanout.JobQueueSpec{
		Job:           job,
		Manifest:      "s3://bucket/jobs/" + job + "/manifest.json",
		Lease:         lease,
		MaxDeliveries: 5,
		MaxFailures:   5,
		BackoffBase:   time.Millisecond,
		BackoffMax:    time.Millisecond,
	}
}

func chunkIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("c%08d", i)
	}
	return ids
}

func (s *suite) enqueue(sp fanout.JobQueueSpec, chunks ...string) {
	s.t.Helper()
	if err := s.q.Enqueue(s.ctx, sp, chunks); err != nil {
		s.t.Fatalf("Enqueue(%s, %d chunks): %v", sp.Job, len(chunks), err)
	}
}

func (s *suite) claim(job, worker string) fanout.Lease {
	s.t.Helper()
	l, err := s.q.Claim(s.ctx, job, worker, nil)
	if err != nil {
		s.t.Fatalf("Claim(%q, %q): %v", job, worker, err)
	}
	if l.Worker != worker || (job != "" && l.Job != job) {
		s.t.Fatalf("Claim(%q, %q) = %+v: wrong job or worker", job, worker, l)
	}
	return l
}

func (s *suite) claimChunk(job, worker, chunk string) fanout.Lease {
	s.t.Helper()
	l := s.claim(job, worker)
	if l.Chunk != chunk {
		s.t.Fatalf("Claim(%q, %q) got chunk %s, want %s", job, worker, l.Chunk, chunk)
	}
	return l
}

func (s *suite) noWork(job string) {
	s.t.Helper()
	l, err := s.q.Claim(s.ctx, job, "w-idle", nil)
	if !errors.Is(err, fanout.ErrNoWork) {
		s.t.Fatalf("Claim(%q) = %+v, %v; want ErrNoWork", job, l, err)
	}
}

// claimEventually polls Claim until a chunk of job is ready, letting
// time pass between polls (a fake clock moves by pollInterval).
func (s *suite) claimEventually(job, worker string) fanout.Lease {
	s.t.Helper()
	deadline := s.clock.Now().Add(pollTimeout)
	for {
		l, err := s.q.Claim(s.ctx, job, worker, nil)
		switch {
		case err == nil:
			return l
		case !errors.Is(err, fanout.ErrNoWork):
			s.t.Fatalf("Claim(%q, %q): %v", job, worker, err)
		case s.clock.Now().After(deadline):
			s.t.Fatalf("Claim(%q, %q): still ErrNoWork after %v", job, worker, pollTimeout)
		}
		if s.clock.Advance != nil {
			s.clock.Advance(pollInterval)
		} else {
			time.Sleep(pollInterval)
		}
	}
}

func (s *suite) ack(l fanout.Lease) {
	s.t.Helper()
	if err := s.q.Ack(s.ctx, l); err != nil {
		s.t.Fatalf("Ack(%s/%s epoch %d): %v", l.Job, l.Chunk, l.Epoch, err)
	}
}

func (s *suite) fail(l fanout.Lease, reason string, permanent bool) fanout.FailOutcome {
	s.t.Helper()
	out, err := s.q.Fail(s.ctx, l, reason, permanent)
	if err != nil {
		s.t.Fatalf("Fail(%s/%s epoch %d): %v", l.Job, l.Chunk, l.Epoch, err)
	}
	return out
}

func (s *suite) release(l fanout.Lease) {
	s.t.Helper()
	if err := s.q.Release(s.ctx, l); err != nil {
		s.t.Fatalf("Release(%s/%s epoch %d): %v", l.Job, l.Chunk, l.Epoch, err)
	}
}

func (s *suite) stats(job string, want fanout.QueueStats) {
	s.t.Helper()
	got, err := s.a.Stats(s.ctx, job)
	if err != nil {
		s.t.Fatalf("Stats(%s): %v", job, err)
	}
	if got != want {
		s.t.Fatalf("Stats(%s) = %+v, want %+v", job, got, want)
	}
}

// rawStats returns the job's Stats.
func (s *suite) rawStats(job string) fanout.QueueStats {
	s.t.Helper()
	got, err := s.a.Stats(s.ctx, job)
	if err != nil {
		s.t.Fatalf("Stats(%s): %v", job, err)
	}
	return got
}

func (s *suite) deadLetters(job string) []fanout.DeadLetter {
	s.t.Helper()
	d, err := s.a.DeadLetters(s.ctx, job)
	if err != nil {
		s.t.Fatalf("DeadLetters(%s): %v", job, err)
	}
	return d
}

// waitUntil lets the queue's clock reach when: a fake clock is moved, a
// real one is polled.
func (s *suite) waitUntil(when time.Time) {
	s.t.Helper()
	if s.clock.Advance != nil {
		if d := when.Sub(s.clock.Now()); d > 0 {
			s.clock.Advance(d)
		}
		return
	}
	deadline := time.Now().Add(when.Sub(s.clock.Now()) + pollTimeout)
	for s.clock.Now().Before(when) {
		if time.Now().After(deadline) {
			s.t.Fatalf("the queue's clock did not reach %v", when)
		}
		time.Sleep(pollInterval)
	}
}

// reclaimExpired waits for l to expire and for Reclaim to take it back:
// a fake clock is moved past the deadline, a real one is waited for by
// polling Reclaim. It returns what Reclaim reported.
func (s *suite) reclaimExpired(l fanout.Lease) int {
	s.t.Helper()
	if s.clock.Advance != nil {
		s.waitUntil(l.Expires.Add(time.Millisecond))
	}
	deadline := time.Now().Add(l.Expires.Sub(s.clock.Now()) + pollTimeout)
	for {
		n, err := s.a.Reclaim(s.ctx, l.Job)
		if err != nil {
			s.t.Fatalf("Reclaim(%s): %v", l.Job, err)
		}
		if n > 0 {
			return n
		}
		if s.clock.Advance != nil || time.Now().After(deadline) {
			s.t.Fatalf("Reclaim(%s) took back nothing after the lease of %s expired at %v", l.Job, l.Chunk, l.Expires)
		}
		time.Sleep(pollInterval)
	}
}

func wantLeaseLost(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, fanout.ErrLeaseLost) {
		t.Fatalf("%s: got %v, want ErrLeaseLost", what, err)
	}
}

// wantFenced checks that every fenced call with l fails with ErrLeaseLost
// (Ack too unless the chunk is done).
func (s *suite) wantFenced(what string, l fanout.Lease, ackToo bool) {
	s.t.Helper()
	_, err := s.q.Heartbeat(s.ctx, l)
	wantLeaseLost(s.t, what+": Heartbeat", err)
	_, err = s.q.Fail(s.ctx, l, "stale", false)
	wantLeaseLost(s.t, what+": Fail", err)
	_, err = s.q.Fail(s.ctx, l, "stale", true)
	wantLeaseLost(s.t, what+": Fail permanent", err)
	wantLeaseLost(s.t, what+": Release", s.q.Release(s.ctx, l))
	if ackToo {
		wantLeaseLost(s.t, what+": Ack", s.q.Ack(s.ctx, l))
	}
}

func testEnqueueIsIdempotent(s *suite) {
	sp := spec("job-a", longLease)
	s.enqueue(sp, "c1", "c2", "c3")
	s.enqueue(sp, "c2", "c3", "c4", "c4")
	s.stats("job-a", fanout.QueueStats{Pending: 4})

	// Claimed by the spread order: the first three go done, running and
	// dead, the fourth stays pending.
	o := spreadOrder("c1", "c2", "c3", "c4")
	s.ack(s.claimChunk("job-a", "w1", o[0]))
	s.claimChunk("job-a", "w1", o[1])
	if out := s.fail(s.claimChunk("job-a", "w1", o[2]), "bad", true); !out.Dead {
		s.t.Fatalf("Fail permanent = %+v, want Dead", out)
	}
	// One done, one running, one dead, one pending: only c5 is new.
	s.enqueue(sp, "c1", "c2", "c3", "c4", "c5")
	s.stats("job-a", fanout.QueueStats{Pending: 2, Running: 1, Done: 1, Dead: 1})
	for _, want := range spreadOrder(o[3], "c5") {
		s.claimChunk("job-a", "w1", want)
	}
	s.noWork("job-a")
}

func testEnqueueRejectsBadSpec(s *suite) {
	tests := []struct {
		name   string
		edit   func(*fanout.JobQueueSpec)
		chunks []string
	}{
		{"empty job", func(sp *fanout.JobQueueSpec) { sp.Job = "" }, nil},
		{"zero lease", func(sp *fanout.JobQueueSpec) { sp.Lease = 0 }, nil},
		{"sub-millisecond lease", func(sp *fanout.JobQueueSpec) { sp.Lease = time.Microsecond }, nil},
		{"zero max deliveries", func(sp *fanout.JobQueueSpec) { sp.MaxDeliveries = 0 }, nil},
		{"zero max failures", func(sp *fanout.JobQueueSpec) { sp.MaxFailures = 0 }, nil},
		{"negative backoff", func(sp *fanout.JobQueueSpec) { sp.BackoffBase = -time.Second }, nil},
		{"backoff max below base", func(sp *fanout.JobQueueSpec) { sp.BackoffBase, sp.BackoffMax = time.Second, time.Millisecond }, nil},
		{"empty chunk ID", func(*fanout.JobQueueSpec) {}, []string{"c1", ""}},
	}
	for _, tt := range tests {
		s.t.Run(tt.name, func(t *testing.T) {
			sp := spec("job-bad", longLease)
			tt.edit(&sp)
			if err := s.q.Enqueue(s.ctx, sp, tt.chunks); err == nil {
				t.Fatalf("Enqueue(%+v, %q) = nil, want an error", sp, tt.chunks)
			}
		})
	}
	jobs, err := s.a.Jobs(s.ctx)
	if err != nil || len(jobs) != 0 {
		s.t.Fatalf("Jobs() = %+v, %v; want none after rejected enqueues", jobs, err)
	}
}

func testClaimOrderAndNoWork(s *suite) {
	sp := spec("job-a", longLease)
	s.noWork("")
	s.enqueue(sp)
	s.noWork("job-a")
	s.noWork("")
	s.enqueue(sp, "c3", "c1", "c2")
	for _, want := range spreadOrder("c1", "c2", "c3") {
		before := s.clock.Now()
		l := s.claimChunk("job-a", "w1", want)
		after := s.clock.Now()
		if l.Epoch != 1 || l.Deliveries != 1 || l.Failures != 0 {
			s.t.Fatalf("first claim of %s = %+v, want epoch 1, 1 delivery, 0 failures", want, l)
		}
		// Redis keeps milliseconds: allow 1ms of truncation.
		lo, hi := before.Add(sp.Lease-time.Millisecond), after.Add(sp.Lease+time.Millisecond)
		if l.Expires.Before(lo) || l.Expires.After(hi) {
			s.t.Fatalf("claim of %s expires at %v, want within [%v, %v]", want, l.Expires, lo, hi)
		}
	}
	s.noWork("job-a")
	s.noWork("")
	s.stats("job-a", fanout.QueueStats{Running: 3})
}

// spreadOrder sorts the chunks of one enqueue as they are claimed: by
// their offset in the spread window, then by ID.
func spreadOrder(chunks ...string) []string {
	out := slices.Clone(chunks)
	slices.SortFunc(out, func(a, b string) int {
		if c := fanout.SpreadOffset(a) - fanout.SpreadOffset(b); c != 0 {
			return int(c / time.Millisecond)
		}
		return strings.Compare(a, b)
	})
	return out
}

// The chunks of one enqueue come out in the spread order, not by ID, and
// those of two enqueues a second apart interleave: a fleet's claims do
// not walk the job's chunks (and its output's key range) in ID order.
func testClaimOrderIsSpread(s *suite) {
	sp := spec("job-a", longLease)
	var first, second []string
	for i := range 100 {
		first = append(first, fmt.Sprintf("c%08d", i))
		second = append(second, fmt.Sprintf("c%08d", 100+i))
	}
	s.enqueue(sp, first...)
	s.pass(time.Second)
	s.enqueue(sp, second...)
	var got []string
	for range 200 {
		got = append(got, s.claim("job-a", "w1").Chunk)
	}
	s.noWork("job-a")
	inFirst := func(c string) bool { return slices.Contains(first, c) }
	var gotFirst, gotSecond []string
	for _, c := range got {
		if inFirst(c) {
			gotFirst = append(gotFirst, c)
		} else {
			gotSecond = append(gotSecond, c)
		}
	}
	if want := spreadOrder(first...); !slices.Equal(gotFirst, want) {
		s.t.Fatalf("the first enqueue's chunks were claimed in the order %v, want %v", gotFirst, want)
	}
	if want := spreadOrder(second...); !slices.Equal(gotSecond, want) {
		s.t.Fatalf("the second enqueue's chunks were claimed in the order %v, want %v", gotSecond, want)
	}
	if slices.IsSorted(gotFirst) {
		s.t.Fatalf("the chunks of one enqueue were claimed in ID order: %v", gotFirst)
	}
	// The second enqueue's chunks are spread over the same window, a
	// second later: about half of them come out before the first's half-way
	// point.
	early := slices.Index(got, gotFirst[49])
	n := 0
	for _, c := range got[:early] {
		if !inFirst(c) {
			n++
		}
	}
	if n < 20 {
		s.t.Fatalf("%d of the second enqueue's chunks were claimed before half of the first's, want about 50 (the enqueues interleave): %v", n, got)
	}
}

// A chunk made pending again (a failure's retry) is ready from then: behind
// the chunks already enqueued, whatever their IDs.
func testFreshChunksGoBeforeRetries(s *suite) {
	sp := spec("job-a", longLease)
	sp.BackoffBase, sp.BackoffMax = time.Millisecond, time.Millisecond
	s.enqueue(sp, "c0")
	l := s.claimChunk("job-a", "w1", "c0")
	s.enqueue(sp, "c1", "c2", "c3")
	s.fail(l, "boom", false)
	s.pass(5 * time.Millisecond)
	for _, want := range spreadOrder("c1", "c2", "c3") {
		s.claimChunk("job-a", "w1", want)
	}
	if l := s.claimEventually("job-a", "w1"); l.Chunk != "c0" {
		s.t.Fatalf("claimed %s after the fresh chunks, want the retry of c0", l.Chunk)
	}
}

func testUnknownJob(s *suite) {
	s.enqueue(spec("job-a", longLease), "c1")
	if _, err := s.q.Claim(s.ctx, "job-nope", "w1", nil); !errors.Is(err, fanout.ErrUnknownJob) {
		s.t.Fatalf("Claim(unknown job): got %v, want ErrUnknownJob", err)
	}
	if _, err := s.a.Stats(s.ctx, "job-nope"); !errors.Is(err, fanout.ErrUnknownJob) {
		s.t.Fatalf("Stats(unknown job): got %v, want ErrUnknownJob", err)
	}
	if _, err := s.a.Reclaim(s.ctx, "job-nope"); !errors.Is(err, fanout.ErrUnknownJob) {
		s.t.Fatalf("Reclaim(unknown job): got %v, want ErrUnknownJob", err)
	}
	if _, err := s.a.Redrive(s.ctx, "job-nope"); !errors.Is(err, fanout.ErrUnknownJob) {
		s.t.Fatalf("Redrive(unknown job): got %v, want ErrUnknownJob", err)
	}
	if _, err := s.a.DeadLetters(s.ctx, "job-nope"); !errors.Is(err, fanout.ErrUnknownJob) {
		s.t.Fatalf("DeadLetters(unknown job): got %v, want ErrUnknownJob", err)
	}
	if err := s.a.Finish(s.ctx, "job-nope"); err != nil {
		s.t.Fatalf("Finish(unknown job): got %v, want nil", err)
	}
	stray := fanout.Lease{Job: "job-nope", Chunk: "c1", Epoch: 1, Worker: "w1"}
	s.wantFenced("lease of an unknown job", stray, true)
	s.stats("job-a", fanout.QueueStats{Pending: 1})
}

func testEpochGrowsPerClaim(s *suite) {
	s.enqueue(spec("job-a", longLease), "c1")
	for want := int64(1); want <= 4; want++ {
		l := s.claimChunk("job-a", "w1", "c1")
		if l.Epoch != want {
			s.t.Fatalf("claim %d: epoch %d, want %d", want, l.Epoch, want)
		}
		s.release(l)
	}
}

func testHeartbeatExtends(s *suite) {
	// Long enough that a real clock has room between the two deadlines.
	lease := 4 * s.clock.Lease
	s.enqueue(spec("job-a", lease), "c1")
	l0 := s.claimChunk("job-a", "w1", "c1")
	s.waitUntil(l0.Expires.Add(-lease / 2))
	l1, err := s.q.Heartbeat(s.ctx, l0)
	if err != nil {
		s.t.Fatalf("Heartbeat: %v", err)
	}
	if !l1.Expires.After(l0.Expires) {
		s.t.Fatalf("Heartbeat moved the deadline from %v to %v, want later", l0.Expires, l1.Expires)
	}
	if l1.Job != l0.Job || l1.Chunk != l0.Chunk || l1.Epoch != l0.Epoch || l1.Worker != l0.Worker {
		s.t.Fatalf("Heartbeat returned %+v for %+v: only Expires may change", l1, l0)
	}
	// Past the first deadline, the extended lease still holds.
	s.waitUntil(l0.Expires.Add(lease / 8))
	if n, err := s.a.Reclaim(s.ctx, "job-a"); err != nil || n != 0 {
		s.t.Fatalf("Reclaim after the old deadline = %d, %v; want 0, nil", n, err)
	}
	s.stats("job-a", fanout.QueueStats{Running: 1})
	s.ack(l1)
	s.stats("job-a", fanout.QueueStats{Done: 1})
}

func testStaleLeaseIsFenced(s *suite) {
	s.enqueue(spec("job-a", longLease), "c1")
	l1 := s.claimChunk("job-a", "w1", "c1")
	s.release(l1)
	l2 := s.claimChunk("job-a", "w1", "c1")

	other := l2
	other.Worker = "w-intruder"
	future := l2
	future.Epoch++
	for _, tt := range []struct {
		name string
		l    fanout.Lease
	}{
		{"stale epoch", l1},
		{"other worker", other},
		{"future epoch", future},
		{"other chunk", fanout.Lease{Job: "job-a", Chunk: "c-none", Epoch: 1, Worker: "w1"}},
	} {
		s.wantFenced(tt.name, tt.l, true)
	}
	// None of it counted: the holder keeps the chunk, untouched.
	if _, err := s.q.Heartbeat(s.ctx, l2); err != nil {
		s.t.Fatalf("Heartbeat by the holder: %v", err)
	}
	s.stats("job-a", fanout.QueueStats{Running: 1})
	s.release(l2)
	l3 := s.claimChunk("job-a", "w1", "c1")
	if l3.Epoch != 3 || l3.Deliveries != 1 || l3.Failures != 0 {
		s.t.Fatalf("claim after fenced calls = %+v, want epoch 3, 1 delivery, 0 failures", l3)
	}
	s.ack(l3)
	// After the ack the chunk is done: stale acks succeed, the rest fail.
	s.wantFenced("stale lease of a done chunk", l1, false)
	if err := s.q.Ack(s.ctx, l1); err != nil {
		s.t.Fatalf("Ack of a done chunk with a stale lease: %v, want nil", err)
	}
	s.stats("job-a", fanout.QueueStats{Done: 1})
}

func testExpiredLeaseIsReclaimed(s *suite) {
	s.enqueue(spec("job-a", s.clock.Lease), "c1")
	l1 := s.claimChunk("job-a", "w1", "c1")
	if n := s.reclaimExpired(l1); n != 1 {
		s.t.Fatalf("Reclaim = %d, want 1", n)
	}
	s.stats("job-a", fanout.QueueStats{Pending: 1})
	s.wantFenced("reclaimed lease", l1, true)
	l2 := s.claimChunk("job-a", "w2", "c1")
	if l2.Epoch != 2 || l2.Deliveries != 2 || l2.Failures != 0 {
		s.t.Fatalf("claim after reclaim = %+v, want epoch 2, 2 deliveries, 0 failures", l2)
	}
	wantLeaseLost(s.t, "Ack by the old holder", s.q.Ack(s.ctx, l1))
	s.ack(l2)
	s.stats("job-a", fanout.QueueStats{Done: 1})
}

func testClaimTakesBackExpiredLeases(s *suite) {
	s.enqueue(spec("job-a", s.clock.Lease), "c1")
	l1 := s.claimChunk("job-a", "w1", "c1")
	s.waitUntil(l1.Expires.Add(time.Millisecond))
	// No Reclaim: the claim itself takes the expired lease back.
	l2 := s.claimChunk("job-a", "w2", "c1")
	if l2.Epoch != 2 {
		s.t.Fatalf("claim of an expired chunk = %+v, want epoch 2", l2)
	}
	wantLeaseLost(s.t, "Ack by the old holder", s.q.Ack(s.ctx, l1))
	s.ack(l2)
}

func testAckIsIdempotent(s *suite) {
	s.enqueue(spec("job-a", longLease), "c1")
	l := s.claimChunk("job-a", "w1", "c1")
	s.ack(l)
	s.ack(l)
	other := l
	other.Worker, other.Epoch = "w-other", 7
	s.ack(other)
	s.wantFenced("lease of a done chunk", l, false)
	s.stats("job-a", fanout.QueueStats{Done: 1})
	s.noWork("job-a")
}

func testRacingReclaimers(s *suite) {
	s.enqueue(spec("job-a", s.clock.Lease), "c1")
	l1 := s.claimChunk("job-a", "w1", "c1")
	s.waitUntil(l1.Expires.Add(time.Millisecond))

	const racers = 16
	var (
		start    = make(chan struct{})
		wg       sync.WaitGroup
		claimed  atomic.Bool
		mu       sync.Mutex
		leases   []fanout.Lease
		reclaims atomic.Int64
	)
	deadline := time.Now().Add(pollTimeout)
	for i := range racers {
		wg.Go(func() {
			<-start
			for !claimed.Load() && time.Now().Before(deadline) {
				n, err := s.a.Reclaim(s.ctx, "job-a")
				if err != nil {
					s.t.Errorf("Reclaim: %v", err)
					return
				}
				reclaims.Add(int64(n))
				l, err := s.q.Claim(s.ctx, "job-a", fmt.Sprintf("racer-%d", i), nil)
				if errors.Is(err, fanout.ErrNoWork) {
					continue
				}
				if err != nil {
					s.t.Errorf("Claim: %v", err)
					return
				}
				mu.Lock()
				leases = append(leases, l)
				mu.Unlock()
				claimed.Store(true)
			}
		})
	}
	close(start)
	wg.Wait()
	if s.t.Failed() {
		return
	}
	if len(leases) != 1 {
		s.t.Fatalf("racers claimed %d times (%+v), want once", len(leases), leases)
	}
	if l := leases[0]; l.Chunk != "c1" || l.Epoch != 2 || l.Deliveries != 2 {
		s.t.Fatalf("racer's lease = %+v, want c1 with epoch 2 and 2 deliveries", l)
	}
	if n := reclaims.Load(); n > 1 {
		s.t.Fatalf("Reclaim calls reported %d leases taken back, want at most 1", n)
	}
	s.stats("job-a", fanout.QueueStats{Running: 1})
	wantLeaseLost(s.t, "Ack by the expired holder", s.q.Ack(s.ctx, l1))
	s.ack(leases[0])
}

func testConcurrentWorkers(s *suite) {
	const workers, chunks = 16, 1000
	s.enqueue(spec("job-a", longLease), chunkIDs(chunks)...)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		count = make(map[string]int)
	)
	for i := range workers {
		wg.Go(func() {
			worker := fmt.Sprintf("w%d", i)
			for {
				l, err := s.q.Claim(s.ctx, "job-a", worker, nil)
				if errors.Is(err, fanout.ErrNoWork) {
					return
				}
				if err != nil {
					s.t.Errorf("Claim: %v", err)
					return
				}
				mu.Lock()
				count[l.Chunk]++
				mu.Unlock()
				if err := s.q.Ack(s.ctx, l); err != nil {
					s.t.Errorf("Ack(%s): %v", l.Chunk, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if s.t.Failed() {
		return
	}
	if len(count) != chunks {
		s.t.Fatalf("workers claimed %d distinct chunks, want %d", len(count), chunks)
	}
	for c, n := range count {
		if n != 1 {
			s.t.Fatalf("chunk %s claimed %d times, want once", c, n)
		}
	}
	s.stats("job-a", fanout.QueueStats{Done: chunks})
}

func testFailRetriesWithBackoff(s *suite) {
	sp := spec("job-a", longLease)
	// Long enough for a real clock to check that the chunk waits.
	sp.BackoffBase, sp.BackoffMax = 800*time.Millisecond, 1200*time.Millisecond
	s.enqueue(sp, "c1")
	l := s.claimChunk("job-a", "w1", "c1")
	for failures := 1; failures <= 2; failures++ {
		// The delays are 800ms then 1.2s (capped), times [0.5, 1).
		delay := min(sp.BackoffMax, sp.BackoffBase<<(failures-1))
		before := s.clock.Now()
		out := s.fail(l, fmt.Sprintf("boom %d", failures), false)
		after := s.clock.Now()
		lo, hi := before.Add(delay/2-time.Millisecond), after.Add(delay+time.Millisecond)
		if out.Dead || out.RetryAt.Before(lo) || out.RetryAt.After(hi) {
			s.t.Fatalf("failure %d: Fail = %+v, want a retry within [%v, %v]", failures, out, lo, hi)
		}
		s.noWork("job-a")
		s.stats("job-a", fanout.QueueStats{Pending: 1, Retrying: 1})
		if s.clock.Advance != nil {
			s.waitUntil(out.RetryAt.Add(-time.Millisecond))
			s.noWork("job-a")
			s.waitUntil(out.RetryAt)
		}
		l = s.claimEventually("job-a", "w1")
		if now := s.clock.Now(); now.Before(out.RetryAt) {
			s.t.Fatalf("failure %d: claimed at %v, before the retry time %v", failures, now, out.RetryAt)
		}
		if l.Chunk != "c1" || l.Failures != failures || l.Deliveries != failures+1 || l.Epoch != int64(failures+1) {
			s.t.Fatalf("claim after failure %d = %+v, want c1, %d failures, %d deliveries, epoch %d",
				failures, l, failures, failures+1, failures+1)
		}
	}
	s.ack(l)
	s.stats("job-a", fanout.QueueStats{Done: 1})
}

func testPermanentFailureDeadLetters(s *suite) {
	s.enqueue(spec("job-a", longLease), "c1", "c2")
	l := s.claimChunk("job-a", "w1", "c1")
	out := s.fail(l, "bad input: line 3", true)
	if !out.Dead || !out.RetryAt.IsZero() {
		s.t.Fatalf("Fail permanent = %+v, want Dead with no retry time", out)
	}
	wantLeaseLost(s.t, "Ack of a dead chunk", s.q.Ack(s.ctx, l))
	s.stats("job-a", fanout.QueueStats{Pending: 1, Dead: 1})
	d := s.deadLetters("job-a")
	if len(d) != 1 || d[0].Chunk != "c1" || d[0].Deliveries != 1 || d[0].Failures != 1 ||
		!strings.Contains(d[0].Reason, "bad input: line 3") {
		s.t.Fatalf("DeadLetters = %+v, want c1 with 1 delivery, 1 failure and the reason", d)
	}
	s.claimChunk("job-a", "w1", "c2")
	s.noWork("job-a")
	if n, err := s.a.Redrive(s.ctx, "job-a"); err != nil || n != 1 {
		s.t.Fatalf("Redrive = %d, %v; want 1", n, err)
	}
	if d := s.deadLetters("job-a"); len(d) != 0 {
		s.t.Fatalf("DeadLetters after Redrive = %+v, want none", d)
	}
}

// testPeekDeadLetters pins fanout.DeadLetterPeeker, when the queue has
// it: over 300 dead letters (past the size at which Redis keeps a hash
// as a hash table), a peek at 50 returns 50 distinct ones sorted by
// chunk, each as DeadLetters lists it; a peek past the count returns
// them all; n below 1 is refused and an unknown job is ErrUnknownJob.
func testPeekDeadLetters(s *suite) {
	p, ok := s.a.(fanout.DeadLetterPeeker)
	if !ok {
		return
	}
	const dead = 300
	s.enqueue(spec("job-a", longLease), chunkIDs(dead+1)...)
	if got, err := p.PeekDeadLetters(s.ctx, "job-a", 10); err != nil || len(got) != 0 {
		s.t.Fatalf("PeekDeadLetters before any failure = %+v, %v; want none", got, err)
	}
	for range dead {
		l := s.claim("job-a", "w1")
		s.fail(l, "bad input in "+l.Chunk, true)
	}
	all := s.deadLetters("job-a")
	if len(all) != dead {
		s.t.Fatalf("DeadLetters: %d, want %d", len(all), dead)
	}
	byChunk := map[string]fanout.DeadLetter{}
	for _, d := range all {
		byChunk[d.Chunk] = d
	}
	few, err := p.PeekDeadLetters(s.ctx, "job-a", 50)
	if err != nil || len(few) != 50 {
		s.t.Fatalf("PeekDeadLetters(50) = %d dead letters, %v; want 50", len(few), err)
	}
	for i, d := range few {
		if byChunk[d.Chunk] != d || (i > 0 && few[i-1].Chunk >= d.Chunk) {
			s.t.Fatalf("PeekDeadLetters(50)[%d] = %+v; want a dead letter as DeadLetters lists it (%+v), sorted and once", i, d, byChunk[d.Chunk])
		}
	}
	if every, err := p.PeekDeadLetters(s.ctx, "job-a", dead+10); err != nil || !slices.Equal(every, all) {
		s.t.Fatalf("PeekDeadLetters(%d) = %d dead letters, %v; want all %d as DeadLetters lists them", dead+10, len(every), err, dead)
	}
	if _, err := p.PeekDeadLetters(s.ctx, "job-a", 0); err == nil {
		s.t.Fatalf("PeekDeadLetters(0): no error")
	}
	if _, err := p.PeekDeadLetters(s.ctx, "job-nope", 5); !errors.Is(err, fanout.ErrUnknownJob) {
		s.t.Fatalf("PeekDeadLetters(unknown job): got %v, want ErrUnknownJob", err)
	}
}

func testMaxFailuresDeadLetters(s *suite) {
	sp := spec("job-a", longLease)
	sp.MaxFailures = 2
	s.enqueue(sp, "c1")
	if out := s.fail(s.claimChunk("job-a", "w1", "c1"), "boom 1", false); out.Dead {
		s.t.Fatalf("first failure dead-lettered the chunk (limit 2)")
	}
	l := s.claimEventually("job-a", "w1")
	if out := s.fail(l, "boom 2", false); !out.Dead {
		s.t.Fatalf("second failure = %+v, want Dead (limit 2)", out)
	}
	s.noWork("job-a")
	s.stats("job-a", fanout.QueueStats{Dead: 1})
	d := s.deadLetters("job-a")
	if len(d) != 1 || d[0].Chunk != "c1" || d[0].Failures != 2 || d[0].Deliveries != 2 ||
		!strings.Contains(d[0].Reason, "boom 2") {
		s.t.Fatalf("DeadLetters = %+v, want c1 with 2 failures, 2 deliveries and the last error", d)
	}
}

func testMaxDeliveriesDeadLetters(s *suite) {
	sp := spec("job-a", s.clock.Lease)
	sp.MaxDeliveries = 2
	s.enqueue(sp, "c1")
	l1 := s.claimChunk("job-a", "w1", "c1")
	s.reclaimExpired(l1)
	s.stats("job-a", fanout.QueueStats{Pending: 1})
	l2 := s.claimChunk("job-a", "w2", "c1")
	if l2.Deliveries != 2 {
		s.t.Fatalf("second claim = %+v, want 2 deliveries", l2)
	}
	s.reclaimExpired(l2)
	s.stats("job-a", fanout.QueueStats{Dead: 1})
	s.noWork("job-a")
	d := s.deadLetters("job-a")
	if len(d) != 1 || d[0].Chunk != "c1" || d[0].Deliveries != 2 || d[0].Failures != 0 ||
		!strings.Contains(d[0].Reason, "2 deliveries") || !strings.Contains(d[0].Reason, "w2") {
		s.t.Fatalf("DeadLetters = %+v, want c1 with 2 deliveries, 0 failures and a reason naming the deliveries and worker w2", d)
	}
	wantLeaseLost(s.t, "Ack of a dead chunk", s.q.Ack(s.ctx, l2))
}

func testDeliveriesAndFailuresCountedApart(s *suite) {
	sp := spec("job-a", s.clock.Lease)
	sp.MaxDeliveries, sp.MaxFailures = 2, 3
	s.enqueue(sp, "c1")
	l := s.claimChunk("job-a", "w1", "c1")
	for failures := 1; failures <= 2; failures++ {
		if out := s.fail(l, fmt.Sprintf("boom %d", failures), false); out.Dead {
			s.t.Fatalf("failure %d dead-lettered the chunk (limit 3)", failures)
		}
		l = s.claimEventually("job-a", "w1")
		if l.Deliveries != failures+1 || l.Failures != failures {
			s.t.Fatalf("claim after failure %d = %+v, want %d deliveries and %d failures", failures, l, failures+1, failures)
		}
	}
	// Three deliveries exceed MaxDeliveries 2, but two ended in a
	// failure: one lost lease is still allowed.
	s.reclaimExpired(l)
	s.stats("job-a", fanout.QueueStats{Pending: 1})
	l = s.claimChunk("job-a", "w1", "c1")
	if l.Deliveries != 4 || l.Failures != 2 {
		s.t.Fatalf("claim after a lost lease = %+v, want 4 deliveries and 2 failures", l)
	}
	if out := s.fail(l, "boom 3", false); !out.Dead {
		s.t.Fatalf("third failure = %+v, want Dead (limit 3)", out)
	}
	d := s.deadLetters("job-a")
	if len(d) != 1 || d[0].Deliveries != 4 || d[0].Failures != 3 || !strings.Contains(d[0].Reason, "boom 3") {
		s.t.Fatalf("DeadLetters = %+v, want c1 with 4 deliveries, 3 failures and the last error", d)
	}
}

func testReleaseDoesNotCount(s *suite) {
	sp := spec("job-a", longLease)
	sp.MaxDeliveries, sp.MaxFailures = 1, 1
	s.enqueue(sp, "c1")
	for i := 1; i <= 4; i++ {
		l := s.claimChunk("job-a", "w1", "c1")
		if l.Epoch != int64(i) || l.Deliveries != 1 || l.Failures != 0 {
			s.t.Fatalf("claim %d = %+v, want epoch %d, 1 delivery, 0 failures", i, l, i)
		}
		s.release(l)
		s.stats("job-a", fanout.QueueStats{Pending: 1})
		wantLeaseLost(s.t, "Release twice", s.q.Release(s.ctx, l))
	}
	s.ack(s.claimChunk("job-a", "w1", "c1"))
	s.stats("job-a", fanout.QueueStats{Done: 1})
}

func testRedrive(s *suite) {
	s.enqueue(spec("job-a", longLease), "c1", "c2", "c3")
	old1 := s.claimChunk("job-a", "w1", "c1")
	s.fail(old1, "bad 1", true)
	s.fail(s.claimChunk("job-a", "w1", "c2"), "bad 2", true)
	s.stats("job-a", fanout.QueueStats{Pending: 1, Dead: 2})
	if n, err := s.a.Redrive(s.ctx, "job-a"); err != nil || n != 2 {
		s.t.Fatalf("Redrive = %d, %v; want 2, nil", n, err)
	}
	s.stats("job-a", fanout.QueueStats{Pending: 3})
	if d := s.deadLetters("job-a"); len(d) != 0 {
		s.t.Fatalf("DeadLetters after Redrive = %+v, want none", d)
	}
	// c3 may come first or not: it was ready earlier, or at the same
	// millisecond and then first by ID.
	var l fanout.Lease
	for range 3 {
		if got := s.claim("job-a", "w1"); got.Chunk == "c1" {
			l = got
		}
	}
	if l.Epoch != 2 || l.Deliveries != 1 || l.Failures != 0 {
		s.t.Fatalf("claim of c1 after Redrive = %+v, want epoch 2 (kept), 1 delivery, 0 failures (reset)", l)
	}
	wantLeaseLost(s.t, "Ack with the lease from before Redrive", s.q.Ack(s.ctx, old1))
	s.ack(l)
	if n, err := s.a.Redrive(s.ctx, "job-a"); err != nil || n != 0 {
		s.t.Fatalf("second Redrive = %d, %v; want 0, nil", n, err)
	}
}

func testFinish(s *suite) {
	s.enqueue(spec("job-a", longLease), "c1", "c2")
	s.enqueue(spec("job-b", longLease), "c1")
	l := s.claimChunk("job-a", "w1", "c1")
	s.fail(s.claimChunk("job-a", "w1", "c2"), "bad", true)
	if err := s.a.Finish(s.ctx, "job-a"); err != nil {
		s.t.Fatalf("Finish: %v", err)
	}
	jobs, err := s.a.Jobs(s.ctx)
	if err != nil || len(jobs) != 1 || jobs[0].Job != "job-b" {
		s.t.Fatalf("Jobs() after Finish = %+v, %v; want job-b only", jobs, err)
	}
	if _, err := s.a.Stats(s.ctx, "job-a"); !errors.Is(err, fanout.ErrUnknownJob) {
		s.t.Fatalf("Stats(finished job): got %v, want ErrUnknownJob", err)
	}
	if _, err := s.q.Claim(s.ctx, "job-a", "w1", nil); !errors.Is(err, fanout.ErrUnknownJob) {
		s.t.Fatalf("Claim(finished job): got %v, want ErrUnknownJob", err)
	}
	s.wantFenced("lease of a finished job", l, true)
	if l := s.claim("", "w1"); l.Job != "job-b" {
		s.t.Fatalf("Claim(any job) after Finish = %+v, want job-b", l)
	}
	s.noWork("")
	if err := s.a.Finish(s.ctx, "job-a"); err != nil {
		s.t.Fatalf("second Finish: %v", err)
	}
	// A finished job can be enqueued again, from scratch.
	s.enqueue(spec("job-a", longLease), "c1", "c2")
	s.stats("job-a", fanout.QueueStats{Pending: 2})
}

func testClaimAnyJobIsFair(s *suite) {
	const perJob = 10
	s.enqueue(spec("job-a", longLease), chunkIDs(perJob)...)
	s.enqueue(spec("job-b", longLease), chunkIDs(perJob)...)
	s.enqueue(spec("job-c", longLease)) // never has work
	got := map[string]int{}
	for range perJob {
		l := s.claim("", "w1")
		got[l.Job]++
		s.ack(l)
	}
	if got["job-a"] < perJob/4 || got["job-b"] < perJob/4 {
		s.t.Fatalf("%d claims of any job served %v, want both jobs served", perJob, got)
	}
	// Once a job runs dry, the other gets every claim.
	for range perJob {
		l := s.claim("", "w1")
		got[l.Job]++
		s.ack(l)
	}
	s.noWork("")
	if got["job-a"] != perJob || got["job-b"] != perJob {
		s.t.Fatalf("claims of any job served %v, want %d of each", got, perJob)
	}
}

func testJobsListsSpecs(s *suite) {
	if jobs, err := s.a.Jobs(s.ctx); err != nil || len(jobs) != 0 {
		s.t.Fatalf("Jobs() of an empty queue = %+v, %v; want none", jobs, err)
	}
	a := fanout.JobQueueSpec{
		Job:           "job-a",
		Manifest:      "s3://bucket/jobs/job-a/manifest.json",
		Lease:         90 * time.Second,
		MaxDeliveries: 3,
		MaxFailures:   4,
		BackoffBase:   1500 * time.Millisecond,
		BackoffMax:    time.Minute,
		// The function and its version are advertised (Runs).
		Function:        "upper",
		FunctionVersion: "example.com/m@v1.2.3",
	}
	b := spec("job-b", longLease)
	s.enqueue(b, "c1")
	s.enqueue(a, "c1", "c2")
	want := []fanout.JobQueueSpec{a, b}
	got, err := s.a.Jobs(s.ctx)
	if err != nil || !slices.Equal(got, want) {
		s.t.Fatalf("Jobs() = %+v, %v; want %+v", got, err, want)
	}
	// The last enqueue's spec is the job's spec.
	a.Manifest, a.MaxFailures = "s3://bucket/jobs/job-a/manifest-2.json", 9
	s.enqueue(a)
	want[0] = a
	if got, err := s.a.Jobs(s.ctx); err != nil || !slices.Equal(got, want) {
		s.t.Fatalf("Jobs() after a second enqueue = %+v, %v; want %+v", got, err, want)
	}
	s.stats("job-a", fanout.QueueStats{Pending: 2})
}

func (s *suite) backup(job, chunk string, want bool) {
	s.t.Helper()
	got, err := s.a.Backup(s.ctx, job, chunk)
	if err != nil || got != want {
		s.t.Fatalf("Backup(%s, %s) = %v, %v; want %v", job, chunk, got, err, want)
	}
}

func (s *suite) activity(job string) fanout.Activity {
	s.t.Helper()
	a, err := s.a.Activity(s.ctx, job)
	if err != nil {
		s.t.Fatalf("Activity(%s): %v", job, err)
	}
	return a
}

// pass lets d of the queue's time go by.
func (s *suite) pass(d time.Duration) {
	if s.clock.Advance != nil {
		s.clock.Advance(d)
	} else {
		time.Sleep(d)
	}
}

// A backup is added only for a running chunk, once; the twins run side by
// side; the backup's ack completes the chunk and fences the original off.
func testBackupWins(s *suite) {
	s.enqueue(spec("job-a", longLease), "c1", "c2")
	orig := s.claimChunk("job-a", "w1", "c1")
	s.backup("job-a", "c2", false) // pending, not running
	s.backup("job-a", "c1", true)
	s.backup("job-a", "c1", false) // one backup per chunk
	if _, err := s.a.Backup(s.ctx, "job-a", fanout.BackupTask("c1")); err == nil {
		s.t.Fatal("Backup of a backup task succeeded")
	}
	s.stats("job-a", fanout.QueueStats{Pending: 2, Running: 1})
	// c2 and the backup are both ready; which comes first depends on
	// the millisecond each became ready in.
	b, other := s.claim("job-a", "w3"), s.claim("job-a", "w3")
	if b.Chunk == "c2" {
		b, other = other, b
	}
	if b.Chunk != fanout.BackupTask("c1") || other.Chunk != "c2" {
		s.t.Fatalf("claimed %s and %s, want c2 and c1's backup", b.Chunk, other.Chunk)
	}
	if b.Epoch <= orig.Epoch || b.Deliveries != 1 {
		s.t.Fatalf("backup lease %+v, want an epoch past the original's %d, 1 delivery", b, orig.Epoch)
	}
	s.stats("job-a", fanout.QueueStats{Running: 3})
	if _, err := s.q.Heartbeat(s.ctx, orig); err != nil {
		s.t.Fatalf("the original's heartbeat while its backup runs: %v", err)
	}
	s.ack(b)
	s.stats("job-a", fanout.QueueStats{Running: 1, Done: 1})
	_, err := s.q.Heartbeat(s.ctx, orig)
	wantLeaseLost(s.t, "the original's heartbeat after its backup's ack", err)
	s.ack(orig) // the chunk is done: acking it again succeeds
	s.backup("job-a", "c1", false)
	s.stats("job-a", fanout.QueueStats{Running: 1, Done: 1})
	s.noWork("job-a")
}

// The original's ack forgets a backup, pending or running.
func testBackupLoses(s *suite) {
	s.enqueue(spec("job-a", longLease), "c1", "c2")
	o1 := s.claimChunk("job-a", "w1", "c1")
	o2 := s.claimChunk("job-a", "w1", "c2")
	s.backup("job-a", "c1", true)
	s.backup("job-a", "c2", true)
	b1 := s.claimChunk("job-a", "w2", fanout.BackupTask("c1"))
	s.ack(o1)
	_, err := s.q.Heartbeat(s.ctx, b1)
	wantLeaseLost(s.t, "a backup's heartbeat after the original's ack", err)
	s.ack(b1) // the chunk is done
	s.ack(o2) // the pending backup of c2 goes with it
	s.stats("job-a", fanout.QueueStats{Done: 2})
	s.noWork("job-a")
}

// A backup that fails, is released or loses its lease is forgotten: never
// retried, never dead-lettered; the original goes on, and gets no second
// backup in the same delivery.
func testBackupIsForgottenOnFailure(s *suite) {
	sp := spec("job-a", s.clock.Lease)
	sp.MaxDeliveries, sp.MaxFailures = 1, 1
	s.enqueue(sp, "c1", "c2", "c3")
	o1 := s.claimChunk("job-a", "w1", "c1")
	o2 := s.claimChunk("job-a", "w1", "c2")
	o3 := s.claimChunk("job-a", "w1", "c3")
	keep := func() {
		for _, o := range []*fanout.Lease{&o1, &o2, &o3} {
			l, err := s.q.Heartbeat(s.ctx, *o)
			if err != nil {
				s.t.Fatalf("the original %s's heartbeat: %v", o.Chunk, err)
			}
			*o = l
		}
	}
	s.backup("job-a", "c1", true)
	if out := s.fail(s.claimChunk("job-a", "w2", fanout.BackupTask("c1")), "boom", true); out.Dead {
		s.t.Fatal("a failed backup was dead-lettered")
	}
	s.stats("job-a", fanout.QueueStats{Running: 3})
	if d := s.deadLetters("job-a"); len(d) != 0 {
		s.t.Fatalf("dead letters %+v after a backup failed", d)
	}
	s.backup("job-a", "c1", false) // one backup per delivery
	s.backup("job-a", "c2", true)
	s.release(s.claimChunk("job-a", "w2", fanout.BackupTask("c2")))
	s.stats("job-a", fanout.QueueStats{Running: 3})
	s.backup("job-a", "c2", false)
	keep()
	s.backup("job-a", "c3", true)
	b := s.claimChunk("job-a", "w2", fanout.BackupTask("c3"))
	s.pass(s.clock.Lease / 2)
	keep() // the originals' leases now end half a lease after the backup's
	if n := s.reclaimExpired(b); n != 1 {
		s.t.Fatalf("Reclaim took back %d leases, want the backup's", n)
	}
	s.stats("job-a", fanout.QueueStats{Running: 3})
	s.noWork("job-a")
	s.ack(o1)
	s.ack(o2)
	s.ack(o3)
	s.stats("job-a", fanout.QueueStats{Done: 3})
}

// A backup acked after its chunk was dead-lettered (its original failed
// for good; the bucket then holds a failed marker, or the backup's if it
// came first) leaves the chunk dead, so that redrive can run it again.
func testBackupAckKeepsADeadChunkDead(s *suite) {
	s.enqueue(spec("job-a", longLease), "c1")
	orig := s.claimChunk("job-a", "w1", "c1")
	s.backup("job-a", "c1", true)
	b := s.claimChunk("job-a", "w2", fanout.BackupTask("c1"))
	if out := s.fail(orig, "bad input", true); !out.Dead {
		s.t.Fatal("a permanent failure was not dead-lettered")
	}
	s.ack(b)
	s.stats("job-a", fanout.QueueStats{Dead: 1})
	if n, err := s.a.Redrive(s.ctx, "job-a"); err != nil || n != 1 {
		s.t.Fatalf("Redrive = %d, %v; want the dead chunk back", n, err)
	}
	s.ack(s.claimChunk("job-a", "w1", "c1"))
	s.stats("job-a", fanout.QueueStats{Done: 1})
}

// Activity lists running tasks longest first with their holders, and
// how long acked tasks ran, newest first.
func testActivity(s *suite) {
	s.enqueue(spec("job-a", longLease), "c1", "c2", "c3")
	l1 := s.claimChunk("job-a", "w1", "c1")
	s.pass(120 * time.Millisecond)
	s.claimChunk("job-a", "w2", "c2")
	s.pass(120 * time.Millisecond)
	a := s.activity("job-a")
	if len(a.Running) != 2 || a.Running[0].Chunk != "c1" || a.Running[0].Worker != "w1" || a.Running[0].Epoch != 1 ||
		a.Running[1].Chunk != "c2" || a.Running[0].Running < 200*time.Millisecond || a.Running[1].Running > a.Running[0].Running {
		s.t.Fatalf("Activity().Running = %+v, want c1 (w1, epoch 1, >= 200ms) then c2", a.Running)
	}
	if len(a.Recent) != 0 {
		s.t.Fatalf("Activity().Recent = %v before any ack", a.Recent)
	}
	s.ack(l1)
	l3 := s.claimChunk("job-a", "w1", "c3")
	s.ack(l3)
	a = s.activity("job-a")
	if len(a.Running) != 1 || len(a.Recent) != 2 || a.Recent[1] < 200*time.Millisecond || a.Recent[0] > a.Recent[1] {
		s.t.Fatalf("Activity() = %+v, want c2 running and 2 recent durations, c1's (>= 200ms) last", a)
	}
	if _, err := s.a.Activity(s.ctx, "job-unknown"); !errors.Is(err, fanout.ErrUnknownJob) {
		s.t.Fatalf("Activity of an unknown job: %v, want ErrUnknownJob", err)
	}
}

// leaser is the queue's fanout.CommitLeaser; the test is skipped for a
// queue without one.
func (s *suite) leaser() fanout.CommitLeaser {
	s.t.Helper()
	l, ok := s.a.(fanout.CommitLeaser)
	if !ok {
		s.t.Skipf("%T has no commit lease", s.a)
	}
	return l
}

func (s *suite) leaseCommit(l fanout.CommitLeaser, job, holder string, ttl time.Duration, want bool) {
	s.t.Helper()
	got, err := l.LeaseCommit(s.ctx, job, holder, ttl)
	if err != nil || got != want {
		s.t.Fatalf("LeaseCommit(%s, %s) = %v, %v; want %v", job, holder, got, err, want)
	}
}

func (s *suite) releaseCommit(l fanout.CommitLeaser, job, holder string) {
	s.t.Helper()
	if err := l.ReleaseCommit(s.ctx, job, holder); err != nil {
		s.t.Fatalf("ReleaseCommit(%s, %s): %v", job, holder, err)
	}
}

// One holder at a time: a holder extends its own lease, another gets it
// once it is released, expires, or the job is finished. The job need not
// be enqueued.
func testCommitLease(s *suite) {
	l := s.leaser()
	s.leaseCommit(l, "job-a", "h1", longLease, true)
	s.leaseCommit(l, "job-a", "h2", longLease, false)
	s.leaseCommit(l, "job-a", "h1", longLease, true) // extended
	s.leaseCommit(l, "job-b", "h2", longLease, true) // per job
	s.releaseCommit(l, "job-a", "h2")                // not h2's: stays h1's
	s.leaseCommit(l, "job-a", "h2", longLease, false)
	s.releaseCommit(l, "job-a", "h1")
	s.leaseCommit(l, "job-a", "h2", s.clock.Lease, true)
	s.leaseCommit(l, "job-a", "h1", longLease, false)

	// h2's short lease expires on the queue's clock.
	s.waitUntil(s.clock.Now().Add(s.clock.Lease))
	deadline := time.Now().Add(pollTimeout)
	for {
		ok, err := l.LeaseCommit(s.ctx, "job-a", "h1", longLease)
		if err != nil {
			s.t.Fatalf("LeaseCommit after expiry: %v", err)
		}
		if ok {
			break
		}
		if s.clock.Advance != nil || time.Now().After(deadline) {
			s.t.Fatal("an expired commit lease was not given to another holder")
		}
		time.Sleep(pollInterval)
	}
	s.releaseCommit(l, "job-a", "h2") // h2's expired lease is no longer h2's to end
	s.leaseCommit(l, "job-a", "h2", longLease, false)

	// Finish ends it, an enqueued job's or not.
	s.enqueue(spec("job-b", longLease), "c1")
	if err := s.a.Finish(s.ctx, "job-b"); err != nil {
		s.t.Fatalf("Finish: %v", err)
	}
	s.leaseCommit(l, "job-b", "h1", longLease, true)
}

// Racing holders: exactly one gets a free lease.
func testCommitLeaseRacers(s *suite) {
	l := s.leaser()
	var won atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ok, err := l.LeaseCommit(s.ctx, "job-a", fmt.Sprint("h", i), longLease)
			if err != nil {
				s.t.Errorf("LeaseCommit(h%d): %v", i, err)
			}
			if ok {
				won.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	if n := won.Load(); n != 1 {
		s.t.Fatalf("%d of 8 racing holders got the commit lease, want 1", n)
	}
}

// A finished job's record is kept for its TTL on the queue's clock; a new
// one replaces it and Finish deletes it. Without a record Finished says
// ErrUnknownJob.
func testFinishedJob(s *suite) {
	r, ok := s.a.(fanout.JobRecorder)
	if !ok {
		s.t.Skipf("%T keeps no finished jobs", s.a)
	}
	finished := func(job string, want fanout.FinishedJob, known bool) {
		s.t.Helper()
		got, err := r.Finished(s.ctx, job)
		if !known {
			if !errors.Is(err, fanout.ErrUnknownJob) {
				s.t.Fatalf("Finished(%s) = %+v, %v; want ErrUnknownJob", job, got, err)
			}
			return
		}
		if err != nil || got != want {
			s.t.Fatalf("Finished(%s) = %+v, %v; want %+v", job, got, err, want)
		}
	}
	record := func(rec fanout.FinishedJob, ttl time.Duration) {
		s.t.Helper()
		if err := r.RecordFinished(s.ctx, rec, ttl); err != nil {
			s.t.Fatalf("RecordFinished(%+v): %v", rec, err)
		}
	}
	finished("job-a", fanout.FinishedJob{}, false)
	a := fanout.FinishedJob{Job: "job-a", Output: "s3://bucket/out-a/", State: fanout.StateCommitted}
	s.enqueue(spec("job-a", longLease), "c1")
	if err := s.a.Finish(s.ctx, "job-a"); err != nil {
		s.t.Fatalf("Finish: %v", err)
	}
	record(a, longLease)
	finished("job-a", a, true)
	listed := func(want ...fanout.FinishedJob) {
		s.t.Helper()
		l, ok := r.(fanout.FinishedLister)
		if !ok {
			return
		}
		got, err := l.RecentFinished(s.ctx)
		if err != nil || !slices.Equal(got, want) {
			s.t.Fatalf("RecentFinished() = %+v, %v; want %+v", got, err, want)
		}
	}
	listed(a)
	finished("job-b", fanout.FinishedJob{}, false)
	a2 := fanout.FinishedJob{Job: "job-a", Output: "s3://bucket/out-a2/", State: fanout.StateFailed}
	record(a2, longLease)
	finished("job-a", a2, true)
	if err := s.a.Finish(s.ctx, "job-a"); err != nil {
		s.t.Fatalf("Finish: %v", err)
	}
	finished("job-a", fanout.FinishedJob{}, false)
	listed()

	// A short TTL runs out on the queue's clock.
	b := fanout.FinishedJob{Job: "job-b", Output: "file:///tmp/out-b/", State: fanout.StateCommitted}
	record(b, s.clock.Lease)
	finished("job-b", b, true)
	c := fanout.FinishedJob{Job: "job-c", Output: "file:///tmp/out-c/", State: fanout.StateCancelled,
		Planned: time.Date(2026, 12, 7, 9, 0, 0, 123456789, time.UTC), Ended: time.Date(2026, 12, 7, 10, 30, 0, 5, time.UTC)}
	record(c, 24*time.Hour) // outlives the clock jumps below
	listed(c, b)
	s.waitUntil(s.clock.Now().Add(s.clock.Lease))
	deadline := time.Now().Add(pollTimeout)
	for {
		_, err := r.Finished(s.ctx, "job-b")
		if errors.Is(err, fanout.ErrUnknownJob) {
			break
		}
		if err != nil {
			s.t.Fatalf("Finished(job-b) after its TTL: %v", err)
		}
		if s.clock.Advance != nil || time.Now().After(deadline) {
			s.t.Fatal("a finished job's record outlived its TTL")
		}
		time.Sleep(pollInterval)
	}
	listed(c)
}

// testCountTask pins TaskCounter: counts add up across tasks, a task
// counted again adds nothing, Stats reports the sums, an unknown job is
// ErrUnknownJob, and Finish forgets them.
func testCountTask(s *suite) {
	c, ok := s.q.(fanout.TaskCounter)
	if !ok {
		s.t.Skipf("%T counts no records", s.q)
	}
	if err := c.CountTask(s.ctx, "job-a", "c1", fanout.TaskCounts{RecordsIn: 1}); !errors.Is(err, fanout.ErrUnknownJob) {
		s.t.Fatalf("CountTask on an unknown job: %v, want ErrUnknownJob", err)
	}
	s.enqueue(spec("job-a", longLease), "c1", "c2", "c3")
	s.enqueue(spec("job-b", longLease), "c1")
	count := func(job, task string, in, out, bytes int64) {
		s.t.Helper()
		if err := c.CountTask(s.ctx, job, task, fanout.TaskCounts{RecordsIn: in, RecordsOut: out, BytesIn: bytes}); err != nil {
			s.t.Fatalf("CountTask(%s, %s): %v", job, task, err)
		}
	}
	count("job-a", "c1", 10, 7, 1000)
	count("job-a", "c2", 5, 0, 300)
	count("job-a", "c1", 10, 7, 1000) // again: a retried request
	count("job-a", "c1", 99, 99, 99)  // again, other figures: still once
	count("job-b", "c1", 1, 1, 1)
	got := s.rawStats("job-a")
	if got.RecordsIn != 15 || got.RecordsOut != 7 || got.BytesIn != 1300 {
		s.t.Fatalf("Stats(job-a) counts = %d in, %d out, %d bytes; want 15, 7, 1300", got.RecordsIn, got.RecordsOut, got.BytesIn)
	}
	if err := s.a.Finish(s.ctx, "job-a"); err != nil {
		s.t.Fatal(err)
	}
	s.enqueue(spec("job-a", longLease), "c1")
	if got := s.rawStats("job-a"); got.RecordsIn != 0 || got.RecordsOut != 0 || got.BytesIn != 0 {
		s.t.Fatalf("Stats after Finish and Enqueue again: %+v; want no counts", got)
	}
	count("job-a", "c1", 3, 3, 3) // counted anew
	if got := s.rawStats("job-a"); got.RecordsIn != 3 {
		s.t.Fatalf("Stats(job-a) = %+v; want 3 records in", got)
	}
}

// testAckCounted pins AckCounter: the ack is Ack's (done, idempotent,
// fenced) and the counts are CountTask's (once per task), added even by
// an ack whose lease was lost, since the task's marker is written.
func testAckCounted(s *suite) {
	ac, ok := s.q.(fanout.AckCounter)
	if !ok {
		s.t.Skipf("%T does not ack and count in one call", s.q)
	}
	s.enqueue(spec("job-a", longLease), "c1", "c2")
	l1 := s.claimChunk("job-a", "w1", "c1")
	l2 := s.claimChunk("job-a", "w2", "c2")
	counts := fanout.TaskCounts{RecordsIn: 10, RecordsOut: 7, BytesIn: 1000}
	for range 2 { // again: a retried request
		if err := ac.AckCounted(s.ctx, l1, counts); err != nil {
			s.t.Fatalf("AckCounted(c1): %v", err)
		}
	}
	stale := l2
	stale.Epoch++
	if err := ac.AckCounted(s.ctx, stale, fanout.TaskCounts{RecordsIn: 5, BytesIn: 300}); !errors.Is(err, fanout.ErrLeaseLost) {
		s.t.Fatalf("AckCounted with a stale epoch: %v, want ErrLeaseLost", err)
	}
	got := s.rawStats("job-a")
	if got.Done != 1 || got.Running != 1 || got.RecordsIn != 15 || got.RecordsOut != 7 || got.BytesIn != 1300 {
		s.t.Fatalf("Stats = %+v; want 1 done, 1 running, 15 records in, 7 out, 1300 bytes", got)
	}
	if err := ac.AckCounted(s.ctx, l2, fanout.TaskCounts{RecordsIn: 99}); err != nil {
		s.t.Fatalf("AckCounted(c2): %v", err)
	}
	if got := s.rawStats("job-a"); got.Done != 2 || got.RecordsIn != 15 {
		s.t.Fatalf("Stats = %+v; want 2 done and c2 counted once (15 records in)", got)
	}
}

// testAckAndClaim pins AckClaimer: an ack that succeeds hands the same
// worker the job's next ready chunk (a new delivery, epoch 1), or
// ErrNoWork when none is left; the counts are added once; a stale ack
// is refused with ErrLeaseLost and claims nothing; a worker that does not
// run the job's function is acked and handed nothing.
func testAckAndClaim(s *suite) {
	ac, ok := s.q.(fanout.AckClaimer)
	if !ok {
		s.t.Skipf("%T does not ack and claim in one call", s.q)
	}
	s.enqueue(spec("job-a", longLease), "c1", "c2")
	l1 := s.claimChunk("job-a", "w1", "c1")
	next, err := ac.AckAndClaim(s.ctx, l1, fanout.TaskCounts{RecordsIn: 3, RecordsOut: 2, BytesIn: 30}, nil)
	if err != nil || next.Chunk != "c2" || next.Job != "job-a" || next.Worker != "w1" || next.Epoch != 1 || next.Deliveries != 1 {
		s.t.Fatalf("AckAndClaim(c1) = %+v, %v; want c2 of job-a for w1, epoch 1, first delivery", next, err)
	}
	if got := s.rawStats("job-a"); got.Done != 1 || got.Running != 1 || got.Pending != 0 || got.RecordsIn != 3 || got.BytesIn != 30 {
		s.t.Fatalf("Stats = %+v; want 1 done, 1 running, 3 records in, 30 bytes", got)
	}
	s.enqueue(spec("job-a", longLease), "c3")
	stale := next
	stale.Epoch++
	if _, err := ac.AckAndClaim(s.ctx, stale, fanout.TaskCounts{RecordsIn: 1}, nil); !errors.Is(err, fanout.ErrLeaseLost) {
		s.t.Fatalf("AckAndClaim with a stale epoch: %v, want ErrLeaseLost", err)
	}
	if got := s.rawStats("job-a"); got.Running != 1 || got.Pending != 1 {
		s.t.Fatalf("Stats after a refused ack = %+v; want c2 running and c3 still pending", got)
	}
	next, err = ac.AckAndClaim(s.ctx, next, fanout.TaskCounts{RecordsIn: 1}, nil)
	if err != nil || next.Chunk != "c3" {
		s.t.Fatalf("AckAndClaim(c2) = %+v, %v; want c3", next, err)
	}
	if _, err := ac.AckAndClaim(s.ctx, next, fanout.TaskCounts{RecordsIn: 1}, nil); !errors.Is(err, fanout.ErrNoWork) {
		s.t.Fatalf("AckAndClaim of the last chunk: %v, want ErrNoWork", err)
	}
	if got := s.rawStats("job-a"); got.Done != 3 || got.Running != 0 || got.RecordsIn != 5 {
		s.t.Fatalf("Stats = %+v; want 3 done, 5 records in", got)
	}
	// A worker handed a chunk of a job whose function it lacks is never
	// handed another by its ack.
	sp := spec("job-fn", longLease)
	sp.Function = "upper"
	s.enqueue(sp, "c1", "c2")
	l, err := s.q.Claim(s.ctx, "job-fn", "w1", nil)
	if err != nil {
		s.t.Fatal(err)
	}
	if _, err := ac.AckAndClaim(s.ctx, l, fanout.TaskCounts{}, fanout.Runs{"lower": "v1"}); !errors.Is(err, fanout.ErrNoWork) {
		s.t.Fatalf("AckAndClaim for a worker without the job's function: %v, want ErrNoWork", err)
	}
	if got := s.rawStats("job-fn"); got.Done != 1 || got.Pending != 1 {
		s.t.Fatalf("Stats = %+v; want 1 done, 1 pending", got)
	}
}

// testAckAndClaimSettlesBackups pins AckAndClaim on chunks with backups
// as Ack does: the original's ack forgets its backup (running or pending),
// a backup's ack completes its chunk and fences the original off, and a
// backup acked after its chunk was dead-lettered leaves the chunk dead.
func testAckAndClaimSettlesBackups(s *suite) {
	ac, ok := s.q.(fanout.AckClaimer)
	if !ok {
		s.t.Skipf("%T does not ack and claim in one call", s.q)
	}
	sp := spec("job-a", longLease)
	sp.MaxFailures = 1
	s.enqueue(sp, "c1", "c2")
	o1 := s.claimChunk("job-a", "w1", "c1")
	o2 := s.claimChunk("job-a", "w2", "c2")
	s.backup("job-a", "c1", true)
	s.backup("job-a", "c2", true)
	b1 := s.claimChunk("job-a", "w3", fanout.BackupTask("c1"))
	// The original acks: its running backup is forgotten, and the next
	// ready task (c2's backup) is handed out.
	next, err := ac.AckAndClaim(s.ctx, o1, fanout.TaskCounts{RecordsIn: 1}, nil)
	if err != nil || next.Chunk != fanout.BackupTask("c2") {
		s.t.Fatalf("AckAndClaim(c1) = %+v, %v; want c2's backup", next, err)
	}
	_, err = s.q.Heartbeat(s.ctx, b1)
	wantLeaseLost(s.t, "a backup's heartbeat after the original's ack and claim", err)
	// c2's backup acks: c2 is done, its original fenced off.
	s.enqueue(sp, "c3", "c4")
	order := spreadOrder("c3", "c4")
	next, err = ac.AckAndClaim(s.ctx, next, fanout.TaskCounts{RecordsIn: 1}, nil)
	if err != nil || next.Chunk != order[0] {
		s.t.Fatalf("AckAndClaim(c2's backup) = %+v, %v; want %s", next, err, order[0])
	}
	_, err = s.q.Heartbeat(s.ctx, o2)
	wantLeaseLost(s.t, "the original's heartbeat after its backup's ack and claim", err)
	// Acking either again finds its chunk done, and claims.
	if next2, err := ac.AckAndClaim(s.ctx, b1, fanout.TaskCounts{RecordsIn: 1}, nil); err != nil || next2.Chunk != order[1] {
		s.t.Fatalf("AckAndClaim of c1's forgotten backup = %+v, %v; want %s", next2, err, order[1])
	}
	s.stats("job-a", fanout.QueueStats{Running: 2, Done: 2, RecordsIn: 2})
	// next gets a backup, then fails permanently: its backup's ack leaves
	// it dead and redrivable.
	s.backup("job-a", next.Chunk, true)
	b3 := s.claimChunk("job-a", "w3", fanout.BackupTask(next.Chunk))
	if out := s.fail(next, "bad input", true); !out.Dead {
		s.t.Fatalf("Fail(%s, permanent) = %+v, want dead", next.Chunk, out)
	}
	if _, err := ac.AckAndClaim(s.ctx, b3, fanout.TaskCounts{RecordsIn: 1}, nil); !errors.Is(err, fanout.ErrNoWork) {
		s.t.Fatalf("AckAndClaim(%s's backup after it died) = %v, want ErrNoWork", next.Chunk, err)
	}
	s.stats("job-a", fanout.QueueStats{Running: 1, Done: 2, Dead: 1, RecordsIn: 3})
}

// testRecentDurationsAreBounded acks more than twice RecentTasks tasks:
// Activity reports the RecentTasks most recent durations, however the
// queue trims the ones before.
func testRecentDurationsAreBounded(s *suite) {
	n := 2*fanout.RecentTasks + 3
	s.enqueue(spec("job-a", longLease), chunkIDs(n)...)
	ac, _ := s.q.(fanout.AckClaimer)
	l := s.claim("job-a", "w1")
	for i := range n {
		if ac == nil || i == n-1 {
			s.ack(l)
			if i < n-1 {
				l = s.claim("job-a", "w1")
			}
			continue
		}
		var err error
		if l, err = ac.AckAndClaim(s.ctx, l, fanout.TaskCounts{}, nil); err != nil {
			s.t.Fatalf("AckAndClaim after %d acks: %v", i, err)
		}
	}
	a := s.activity("job-a")
	if len(a.Recent) != fanout.RecentTasks || len(a.Running) != 0 {
		s.t.Fatalf("Activity() after %d acks: %d recent durations, %d running; want %d, 0", n, len(a.Recent), len(a.Running), fanout.RecentTasks)
	}
	s.stats("job-a", fanout.QueueStats{Done: n})
}

// testClaimOnlyWhatTheWorkerRuns pins Runs: a worker is handed only the
// chunks of jobs whose function it has, at the job's version unless the
// job takes any; the others stay pending, untouched (no delivery counted),
// for a worker that can run them. A job that names no function goes to
// any worker, and a nil Runs claims everything.
func testClaimOnlyWhatTheWorkerRuns(s *suite) {
	upper1 := spec("job-upper-v1", longLease)
	upper1.Function, upper1.FunctionVersion = "upper", "v1"
	upperAny := spec("job-upper-any", longLease)
	upperAny.Function = "upper"
	grep := spec("job-grep", longLease)
	grep.Function, grep.FunctionVersion = "grep", "fanout@v0.9.0"
	legacy := spec("job-legacy", longLease)
	s.enqueue(upper1, "c1")
	s.enqueue(upperAny, "c1")
	s.enqueue(grep, "c1")
	s.enqueue(legacy, "c1")

	claimAll := func(worker string, runs fanout.Runs) []string {
		var jobs []string
		for {
			l, err := s.q.Claim(s.ctx, "", worker, runs)
			if errors.Is(err, fanout.ErrNoWork) {
				slices.Sort(jobs)
				return jobs
			}
			if err != nil {
				s.t.Fatalf("Claim(%q, %v): %v", worker, runs, err)
			}
			jobs = append(jobs, l.Job)
		}
	}
	// A builtin-only worker: grep at its version, and the legacy job.
	if got, want := claimAll("w-builtin", fanout.Runs{"grep": "fanout@v0.9.0", "count": "fanout@v0.9.0"}), []string{"job-grep", "job-legacy"}; !slices.Equal(got, want) {
		s.t.Fatalf("builtin-only worker claimed %v, want %v", got, want)
	}
	// Another build of upper: only the job that takes any version.
	if got, want := claimAll("w-upper-v2", fanout.Runs{"upper": "v2"}), []string{"job-upper-any"}; !slices.Equal(got, want) {
		s.t.Fatalf("upper v2 worker claimed %v, want %v", got, want)
	}
	// A named job the worker cannot run gives no work.
	if l, err := s.q.Claim(s.ctx, "job-upper-v1", "w-upper-v2", fanout.Runs{"upper": "v2"}); !errors.Is(err, fanout.ErrNoWork) {
		s.t.Fatalf("Claim(job-upper-v1) by upper v2 = %+v, %v; want ErrNoWork", l, err)
	}
	s.stats("job-upper-v1", fanout.QueueStats{Pending: 1})
	// The worker that has upper v1 gets it, first delivery.
	l, err := s.q.Claim(s.ctx, "job-upper-v1", "w-upper-v1", fanout.Runs{"upper": "v1"})
	if err != nil || l.Chunk != "c1" || l.Deliveries != 1 {
		s.t.Fatalf("Claim(job-upper-v1) by upper v1 = %+v, %v; want c1 at its first delivery", l, err)
	}
	// A nil Runs claims anything left.
	s.enqueue(upper1, "c2")
	s.claimChunk("job-upper-v1", "w-any", "c2")
}

// testWaitForWork pins fanout.WorkWaiter: a waiter is woken by each way a
// chunk becomes claimable (an enqueue after it began waiting, or before,
// a release, a reclaim, a redrive), one with nothing to wake it returns
// when its timeout passes, and a claim that finds nothing ready drops the
// job's wake-ups. Each wait that must be woken has a
// timeout far past the test's deadline: returning nil before that
// deadline is being woken.
func testWaitForWork(s *suite) {
	w, ok := s.q.(fanout.WorkWaiter)
	if !ok {
		s.t.Skip("the queue is not a fanout.WorkWaiter")
	}
	const never = time.Hour
	woken := func(what, job string) {
		s.t.Helper()
		ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
		defer cancel()
		if err := w.WaitForWork(ctx, job, never); err != nil {
			s.t.Fatalf("%s: WaitForWork: %v; want woken", what, err)
		}
	}
	// Nothing to wake it: it returns once its timeout passed.
	if err := w.WaitForWork(s.ctx, "quiet", time.Second); err != nil {
		s.t.Fatalf("WaitForWork of a quiet job: %v; want nil after its timeout", err)
	}

	// A waiter that began before the enqueue.
	got := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
		defer cancel()
		got <- w.WaitForWork(ctx, "wake-enqueue", never)
	}()
	s.enqueue(spec("wake-enqueue", time.Minute), "c00000000", "c00000001")
	if err := <-got; err != nil {
		s.t.Fatalf("a waiter before the enqueue: WaitForWork: %v; want woken", err)
	}
	// An enqueue of two chunks woke for two: the second wake-up waits.
	woken("the second chunk's wake-up, kept", "wake-enqueue")

	s.enqueue(spec("wake-release", time.Minute), "c00000000")
	woken("an enqueue before the wait", "wake-release")
	s.release(s.claim("wake-release", "w0"))
	woken("a release", "wake-release")

	s.enqueue(spec("wake-reclaim", s.clock.Lease), "c00000000")
	woken("an enqueue", "wake-reclaim")
	s.reclaimExpired(s.claim("wake-reclaim", "w0"))
	woken("a reclaim", "wake-reclaim")

	s.enqueue(spec("wake-redrive", time.Minute), "c00000000")
	woken("an enqueue", "wake-redrive")
	s.fail(s.claim("wake-redrive", "w0"), "bad input", true)
	if n, err := s.a.Redrive(s.ctx, "wake-redrive"); err != nil || n != 1 {
		s.t.Fatalf("Redrive: %d, %v; want 1, nil", n, err)
	}
	woken("a redrive", "wake-redrive")

	// A claim that finds no chunk ready drops the job's wake-ups, which
	// were given for chunks claimed since: three enqueued and claimed, a
	// fourth claim finds none, and a waiter is not woken: its context
	// ends first. (Its timeout, which starts later, is short: a blocking
	// read that outlives its caller ends within it, and Close waits.)
	s.enqueue(spec("wake-drained", time.Minute), "c00000000", "c00000001", "c00000002")
	for range 3 {
		s.claim("wake-drained", "w0")
	}
	if _, err := s.q.Claim(s.ctx, "wake-drained", "w0", nil); !errors.Is(err, fanout.ErrNoWork) {
		s.t.Fatalf("a claim of a job with every chunk claimed: %v; want ErrNoWork", err)
	}
	ctx, cancel := context.WithTimeout(s.ctx, time.Second)
	err := w.WaitForWork(ctx, "wake-drained", 2*time.Second)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		s.t.Fatalf("WaitForWork after a claim found nothing ready: %v; want its context's deadline (not woken by the wake-ups of chunks claimed since)", err)
	}

	// A canceled wait returns the context's error.
	ctx, cancel = context.WithCancel(s.ctx)
	cancel()
	if err := w.WaitForWork(ctx, "wake", never); !errors.Is(err, context.Canceled) {
		s.t.Fatalf("WaitForWork with its context canceled: %v; want context.Canceled", err)
	}
}

// testWaitForAnyWork pins fanout.WorkWaiter's waits for any job (job
// empty, what workers serving every job wait on between polls): an
// enqueue of any job wakes a waiter that began before it, a wake-up per
// chunk, and a quiet wait shorter than a second returns once its timeout
// passed. Waits that must be woken have a timeout far past the test's
// deadline, as in testWaitForWork.
func testWaitForAnyWork(s *suite) {
	w, ok := s.q.(fanout.WorkWaiter)
	if !ok {
		s.t.Skip("the queue is not a fanout.WorkWaiter")
	}
	const never = time.Hour
	if err := w.WaitForWork(s.ctx, "", 50*time.Millisecond); err != nil {
		s.t.Fatalf("WaitForWork of any job with nothing enqueued: %v; want nil after its timeout", err)
	}
	got := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
		defer cancel()
		got <- w.WaitForWork(ctx, "", never)
	}()
	s.enqueue(spec("wake-any", time.Minute), "c00000000", "c00000001")
	if err := <-got; err != nil {
		s.t.Fatalf("a waiter for any job before the enqueue: WaitForWork: %v; want woken", err)
	}
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	defer cancel()
	if err := w.WaitForWork(ctx, "", never); err != nil {
		s.t.Fatalf("the second chunk's wake-up for any job, kept: WaitForWork: %v; want woken", err)
	}
	// The waits took the job's wake-ups for any job, not its own.
	ctx, cancel = context.WithTimeout(s.ctx, 30*time.Second)
	defer cancel()
	if err := w.WaitForWork(ctx, "wake-any", never); err != nil {
		s.t.Fatalf("the job's own wake-up after the waits for any job: WaitForWork: %v; want woken", err)
	}
}

// A job's shared commit progress needs no enqueued job; the last shared
// replaces what was, and it lasts its TTL on the queue's clock, or until
// an empty step is shared (the commit is over).
func testCommitProgress(s *suite) {
	c, ok := s.a.(fanout.CommitProgressSharer)
	if !ok {
		s.t.Skipf("%T shares no commit progress", s.a)
	}
	shared := func(job string, want fanout.CommitProgress, known bool) {
		s.t.Helper()
		got, ok, err := c.SharedCommitProgress(s.ctx, job)
		if err != nil || ok != known || got != want {
			s.t.Fatalf("SharedCommitProgress(%s) = %+v, %v, %v; want %+v, %v", job, got, ok, err, want, known)
		}
	}
	share := func(job string, p fanout.CommitProgress, ttl time.Duration) {
		s.t.Helper()
		if err := c.ShareCommitProgress(s.ctx, job, p, ttl); err != nil {
			s.t.Fatalf("ShareCommitProgress(%s, %+v): %v", job, p, err)
		}
	}
	shared("job-a", fanout.CommitProgress{}, false)
	a := fanout.CommitProgress{Step: "reading chunk markers", Done: 3, Total: 304}
	share("job-a", a, longLease)
	shared("job-a", a, true)
	a2 := fanout.CommitProgress{Step: "publishing files", Done: 936, Total: 1824}
	share("job-a", a2, longLease)
	shared("job-a", a2, true)
	shared("job-b", fanout.CommitProgress{}, false)
	// The committer's end: gone at once, not shown as an empty step
	// until a TTL ends.
	share("job-a", fanout.CommitProgress{}, longLease)
	shared("job-a", fanout.CommitProgress{}, false)

	b := fanout.CommitProgress{Step: "writing _SUCCESS"}
	share("job-b", b, s.clock.Lease)
	shared("job-b", b, true)
	s.waitUntil(s.clock.Now().Add(s.clock.Lease))
	deadline := time.Now().Add(pollTimeout)
	for {
		_, ok, err := c.SharedCommitProgress(s.ctx, "job-b")
		if err != nil {
			s.t.Fatalf("SharedCommitProgress(job-b) after its TTL: %v", err)
		}
		if !ok {
			break
		}
		if s.clock.Advance != nil || time.Now().After(deadline) {
			s.t.Fatal("job-b's commit progress outlived its TTL")
		}
		time.Sleep(pollInterval)
	}
}

// testClaimExcept pins fanout.ExceptClaimer: a claim of any job passes
// over the jobs it is told to (a worker's refused jobs), finds nothing
// when only they have work, and leaves their chunks to other claims.
func testClaimExcept(s *suite) {
	ec, ok := s.q.(fanout.ExceptClaimer)
	if !ok {
		s.t.Skip("the queue is not a fanout.ExceptClaimer")
	}
	s.enqueue(spec("except-a", time.Minute), "c00000000", "c00000001")
	s.enqueue(spec("except-b", time.Minute), "c00000000")
	l, err := ec.ClaimExcept(s.ctx, "w0", nil, []string{"except-a"})
	if err != nil || l.Job != "except-b" || l.Chunk != "c00000000" || l.Worker != "w0" {
		s.t.Fatalf("ClaimExcept(except-a) = %+v, %v; want except-b's c00000000", l, err)
	}
	for range 3 { // whichever job the rotating turn starts at
		if l, err := ec.ClaimExcept(s.ctx, "w0", nil, []string{"except-a"}); !errors.Is(err, fanout.ErrNoWork) {
			s.t.Fatalf("ClaimExcept(except-a) with only except-a's chunks pending = %+v, %v; want ErrNoWork", l, err)
		}
	}
	if l, err := ec.ClaimExcept(s.ctx, "w0", nil, []string{"except-b", "except-a"}); !errors.Is(err, fanout.ErrNoWork) {
		s.t.Fatalf("ClaimExcept(every job) = %+v, %v; want ErrNoWork", l, err)
	}
	got := map[string]bool{}
	for range 2 {
		l, err := ec.ClaimExcept(s.ctx, "w1", nil, []string{"except-b"})
		if err != nil || l.Job != "except-a" {
			s.t.Fatalf("ClaimExcept(except-b) = %+v, %v; want a chunk of except-a", l, err)
		}
		got[l.Chunk] = true
	}
	if !got["c00000000"] || !got["c00000001"] {
		s.t.Fatalf("claims of except-a got %v; want both its chunks", got)
	}
}
