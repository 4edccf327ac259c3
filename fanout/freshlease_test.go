package fanout_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/functions"
)

// heartbeatCounter is claimCounter (a worker's queue that acks and claims
// in one call) counting heartbeats too.
type heartbeatCounter struct {
	claimCounter
	beats atomic.Int64
	// expires, when set, moves the deadline of every lease claimed to
	// this long from now, as a queue whose job's lease was shortened
	// would.
	expires time.Duration
}

func (c *heartbeatCounter) Claim(ctx context.Context, job, worker string, runs fanout.Runs) (fanout.Lease, error) {
	l, err := c.claimCounter.Claim(ctx, job, worker, runs)
	return c.shorten(l), err
}

func (c *heartbeatCounter) AckAndClaim(ctx context.Context, l fanout.Lease, n fanout.TaskCounts, runs fanout.Runs) (fanout.Lease, error) {
	next, err := c.claimCounter.AckAndClaim(ctx, l, n, runs)
	return c.shorten(next), err
}

func (c *heartbeatCounter) shorten(l fanout.Lease) fanout.Lease {
	if c.expires > 0 && !l.Expires.IsZero() {
		l.Expires = time.Now().Add(c.expires)
	}
	return l
}

func (c *heartbeatCounter) Heartbeat(ctx context.Context, l fanout.Lease) (fanout.Lease, error) {
	c.beats.Add(1)
	return c.claimCounter.Queue.Heartbeat(ctx, l)
}

// TestAFreshLeasePublishesWithoutAHeartbeat runs a job of quick chunks
// (MinIO, Redis) under several local clocks and leases: with the
// worker's clock, each attempt writes its marker within a quarter of its
// 60 s lease of its claim, so it confirms nothing (the heartbeat before
// the marker was a round trip a chunk), and so with a clock 5 s behind
// the queue's; with a local clock that leaps 16 s at every reading, no
// lease is fresh and every attempt confirms its lease before its marker,
// as before; and when the queue's leases end 1 s after their claim (a
// job whose lease was shortened since the worker read its 60 s spec), an
// attempt publishing 400 ms after its claim confirms it, with the
// worker's clock 10 s behind the queue's too. All commit every record
// once.
func TestAFreshLeasePublishesWithoutAHeartbeat(t *testing.T) {
	const chunks = 8
	for _, tc := range []struct {
		name    string
		clock   func() time.Time
		expires time.Duration // the queue's leases, when shorter than the job's
		fresh   bool
	}{
		{"the worker's clock", nil, 0, true},
		{"a clock that leaps", leapingClock(16 * time.Second), 0, false},
		{"leases shorter than the job's", nil, time.Second, false},
		// The queue's deadline minus the claim's sending time mixes two
		// clocks: 10 s behind, a 1 s lease looked like 11 s (trusted
		// 2.75 s) until freshFor asked the two to agree with the job's.
		{"leases shorter than the job's, a clock behind", skewedClock(-10 * time.Second), time.Second, false},
		{"a clock 5 s behind the queue's", skewedClock(-5 * time.Second), 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newFaultRig(t, chunks, 20)
			spec := r.spec("out/", time.Minute, "copy")
			reg := registryWith(copyFn{hook: func(ctx context.Context, _ *functions.Record) error {
				if tc.expires > 0 {
					time.Sleep(400 * time.Millisecond) // past a quarter of the queue's lease
				}
				return nil
			}})
			info, err := r.engine(engineOptions{name: "planner", functions: reg}).Submit(context.Background(), spec)
			if err != nil {
				t.Fatal(err)
			}
			counter := &heartbeatCounter{expires: tc.expires}
			e := r.engine(engineOptions{name: "worker", functions: reg, clock: tc.clock,
				queue: func(q fanout.Queue) fanout.Queue { counter.Queue = q; return counter }})
			stop := work(t, e, info.Job, 2, nil)
			res, err := e.Wait(context.Background(), spec.Output, info.Job, fanout.RunOptions{})
			stop()
			if err != nil || res.State != fanout.StateCommitted {
				t.Fatalf("run: %v, %+v", err, res)
			}
			r.check("out/", info.Job)
			beats := counter.beats.Load()
			switch {
			case tc.fresh && beats != 0:
				t.Errorf("%d heartbeats for %d chunks published within a quarter of their lease, want none", beats, chunks)
			case !tc.fresh && beats < chunks:
				t.Errorf("%d heartbeats for %d chunks whose leases were not fresh, want one before each marker", beats, chunks)
			}
			t.Logf("%d heartbeats for %d chunks", beats, chunks)
		})
	}
}

// skewedClock is a local clock d from the queue's.
func skewedClock(d time.Duration) func() time.Time {
	return func() time.Time { return time.Now().Add(d) }
}

// leapingClock is a local clock that runs step ahead at every reading.
func leapingClock(step time.Duration) func() time.Time {
	var n atomic.Int64
	return func() time.Time { return time.Now().Add(time.Duration(n.Add(1)) * step) }
}
