package fanout_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout"
)

// lookCounter counts what an idle worker asks the queue: every claim,
// and each look at its job (the queue's counts, a reclaim, an attempt at
// the commit lease).
type lookCounter struct {
	fanout.Queue
	claims atomic.Int64
}

func (c *lookCounter) Claim(ctx context.Context, job, worker string, runs fanout.Runs) (fanout.Lease, error) {
	c.claims.Add(1)
	return c.Queue.Claim(ctx, job, worker, runs)
}

func (c *lookCounter) AckCounted(ctx context.Context, l fanout.Lease, n fanout.TaskCounts) error {
	return c.Queue.(fanout.AckCounter).AckCounted(ctx, l, n)
}

func (c *lookCounter) AckAndClaim(ctx context.Context, l fanout.Lease, n fanout.TaskCounts, runs fanout.Runs) (fanout.Lease, error) {
	return c.Queue.(fanout.AckClaimer).AckAndClaim(ctx, l, n, runs)
}

func (c *lookCounter) WaitForWork(ctx context.Context, job string, timeout time.Duration) error {
	return c.Queue.(fanout.WorkWaiter).WaitForWork(ctx, job, timeout)
}

type adminCounter struct {
	fanout.QueueAdmin
	stats, reclaims, leases atomic.Int64
}

func (a *adminCounter) Stats(ctx context.Context, job string) (fanout.QueueStats, error) {
	a.stats.Add(1)
	return a.QueueAdmin.Stats(ctx, job)
}

func (a *adminCounter) Reclaim(ctx context.Context, job string) (int, error) {
	a.reclaims.Add(1)
	return a.QueueAdmin.Reclaim(ctx, job)
}

func (a *adminCounter) LeaseCommit(ctx context.Context, job, holder string, ttl time.Duration) (bool, error) {
	a.leases.Add(1)
	return a.QueueAdmin.(fanout.CommitLeaser).LeaseCommit(ctx, job, holder, ttl)
}

func (a *adminCounter) ReleaseCommit(ctx context.Context, job, holder string) error {
	return a.QueueAdmin.(fanout.CommitLeaser).ReleaseCommit(ctx, job, holder)
}

// TestIdleWorkerWaitsOutAnotherCommit runs a job's chunks on one worker
// bound to it (MinIO, Redis) while another holder has the job's commit
// lease, as when another engine of a fleet commits it. Once its chunks
// are done the worker looks at the job once, finds the commit busy, and
// then neither claims nor looks again for the next seconds: nothing of
// the job can be claimed but what a wake-up announces, and a look only
// finds the commit going on (before, each idle worker claimed after
// every 2 s wait and looked each 1, 2, 4 s, and reclaimed at each look:
// most of the Redis round trips of the scale simulation's 20,000 x 1,000
// commit). A driver's looks skip the reclaim after the first, since none
// of the job's tasks ran at the look before. Released, the lease is
// taken and the job commits exactly.
func TestIdleWorkerWaitsOutAnotherCommit(t *testing.T) {
	const chunks = 3
	r := newFaultRig(t, chunks, 20)
	spec := r.spec("out/", 30*time.Second, "convert")
	info, err := r.engine(engineOptions{name: "planner"}).Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	q := r.queue()
	if ok, err := q.LeaseCommit(context.Background(), info.Job, "other", time.Minute); err != nil || !ok {
		t.Fatalf("LeaseCommit: %v, %v; want true", ok, err)
	}
	counter, admin := &lookCounter{}, &adminCounter{}
	e := r.engine(engineOptions{name: "worker",
		queue: func(q fanout.Queue) fanout.Queue { counter.Queue = q; return counter },
		admin: func(a fanout.QueueAdmin) fanout.QueueAdmin { admin.QueueAdmin = a; return admin }})
	var done atomic.Int64
	stop := workWith(t, e, fanout.WorkOptions{Concurrency: 1, Job: info.Job, Observe: func(ev fanout.ChunkEvent) {
		if ev.Outcome == fanout.OutcomeDone {
			done.Add(1)
		}
	}})
	defer stop()
	// The chunks done, the worker's look finds the lease held.
	deadline := time.Now().Add(time.Minute)
	for (done.Load() < chunks || admin.leases.Load() == 0) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if done.Load() < chunks || admin.leases.Load() == 0 {
		t.Fatalf("%d chunks done, %d commit lease attempts after a minute; want %d and a look at the job", done.Load(), admin.leases.Load(), chunks)
	}
	claims, stats, reclaims, leases := counter.claims.Load(), admin.stats.Load(), admin.reclaims.Load(), admin.leases.Load()
	time.Sleep(3 * time.Second) // what the idle worker does meanwhile is the point
	if n := counter.claims.Load() - claims; n > 0 {
		t.Errorf("%d claims in the 3 s after the look found another engine committing; want none", n)
	}
	if n, m := admin.stats.Load()-stats, admin.leases.Load()-leases; n > 0 || m > 0 {
		t.Errorf("%d more looks at the job (%d commit lease attempts) in those 3 s; want none", n, m)
	}
	if reclaims > 1 {
		t.Errorf("%d reclaims in %d looks at the job; want only the first (none of the job's tasks running since)", reclaims, stats)
	}

	// A driver (fanout wait) looks several times a second: it takes
	// expired leases back at its first look only, none of the job's
	// tasks running since.
	driverAdmin := &adminCounter{}
	driver := r.engine(engineOptions{name: "driver",
		admin: func(a fanout.QueueAdmin) fanout.QueueAdmin { driverAdmin.QueueAdmin = a; return driverAdmin }})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_, err = driver.Wait(ctx, spec.Output, info.Job, fanout.RunOptions{Poll: 100 * time.Millisecond})
	cancel()
	if err == nil {
		t.Fatal("wait returned while another holder had the commit lease")
	}
	if n, m := driverAdmin.reclaims.Load(), driverAdmin.stats.Load(); m < 3 || n != 1 {
		t.Errorf("the driver reclaimed %d times in %d looks; want once, in 3 looks or more", n, m)
	}

	// The other holder gone, the job commits.
	if err := q.ReleaseCommit(context.Background(), info.Job, "other"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := driver.Wait(ctx, spec.Output, info.Job, fanout.RunOptions{})
	if err != nil || res.State != fanout.StateCommitted {
		t.Fatalf("wait: %v, %+v", err, res)
	}
	r.check("out/", info.Job)
}
