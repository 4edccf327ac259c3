package fanout_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout"
)

// heartbeatCounter is claimCounter (a worker's queue that acks and claims
// in one call) counting heartbeats too.
type heartbeatCounter struct {
	claimCounter
	beats atomic.Int64
}

func (c *heartbeatCounter) Heartbeat(ctx context.Context, l fanout.Lease) (fanout.Lease, error) {
	c.beats.Add(1)
	return c.claimCounter.Queue.Heartbeat(ctx, l)
}

// TestAFreshLeasePublishesWithoutAHeartbeat runs a job of quick chunks
// (MinIO, Redis) twice over: with the worker's clock, each attempt
// writes its marker within a quarter of its 60 s lease of its claim, so
// it confirms nothing (the heartbeat before the marker was a round trip
// a chunk); with a local clock that leaps 16 s at every reading, no lease
// is fresh and every attempt confirms its lease before its marker, as
// before. Both commit every record once.
func TestAFreshLeasePublishesWithoutAHeartbeat(t *testing.T) {
	const chunks = 8
	for _, tc := range []struct {
		name  string
		clock func() time.Time
		fresh bool
	}{
		{"the worker's clock", nil, true},
		{"a clock that leaps", leapingClock(16 * time.Second), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newFaultRig(t, chunks, 20)
			spec := r.spec("out/", time.Minute, "copy")
			reg := registryWith(copyFn{})
			info, err := r.engine(engineOptions{name: "planner", functions: reg}).Submit(context.Background(), spec)
			if err != nil {
				t.Fatal(err)
			}
			counter := &heartbeatCounter{}
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

// leapingClock is a local clock that runs step ahead at every reading.
func leapingClock(step time.Duration) func() time.Time {
	var n atomic.Int64
	return func() time.Time { return time.Now().Add(time.Duration(n.Add(1)) * step) }
}
