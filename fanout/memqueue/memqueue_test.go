package memqueue_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/fanout/memqueue"
	"github.com/fanout-dev/fanout/fanout/queuetest"
)

func TestConformance(t *testing.T) {
	clock := queuetest.NewFakeClock(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))
	queuetest.RunConformance(t, func(t *testing.T) (fanout.Queue, fanout.QueueAdmin) {
		q := memqueue.New(memqueue.Config{Now: clock.Now})
		return q, q
	}, clock.SuiteClock())
}

func newQueue(testing.TB) (fanout.Queue, fanout.QueueAdmin) {
	q := memqueue.New(memqueue.Config{})
	return q, q
}

func BenchmarkClaimAck(b *testing.B) { queuetest.BenchmarkClaimAck(b, newQueue) }

func BenchmarkEnqueue(b *testing.B) { queuetest.BenchmarkEnqueue(b, newQueue) }

// TestStatsCountsRetryingAsTimePasses checks the retrying counter that
// replaced Stats' walk over every pending chunk: a failed chunk counts as
// retrying until its backoff is over, then as pending only.
func TestStatsCountsRetryingAsTimePasses(t *testing.T) {
	clock := queuetest.NewFakeClock(time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC))
	q := memqueue.New(memqueue.Config{Now: clock.Now, Jitter: func() float64 { return 0.99 }})
	ctx := t.Context()
	spec := fanout.JobQueueSpec{Job: "j", Lease: time.Minute, MaxDeliveries: 5, MaxFailures: 5,
		BackoffBase: 10 * time.Second, BackoffMax: 10 * time.Second}
	chunks := make([]string, 1000)
	for i := range chunks {
		chunks[i] = fmt.Sprintf("c%04d", i)
	}
	if err := q.Enqueue(ctx, spec, chunks); err != nil {
		t.Fatal(err)
	}
	var retry []time.Time
	for range 3 {
		l, err := q.Claim(ctx, "j", "w", nil)
		if err != nil {
			t.Fatal(err)
		}
		out, err := q.Fail(ctx, l, "boom", false)
		if err != nil || out.Dead {
			t.Fatalf("Fail = %+v, %v", out, err)
		}
		retry = append(retry, out.RetryAt)
		clock.Advance(time.Second)
	}
	stats := func(want fanout.QueueStats) {
		t.Helper()
		got, err := q.Stats(ctx, "j")
		if err != nil || got != want {
			t.Fatalf("Stats = %+v, %v; want %+v", got, err, want)
		}
	}
	stats(fanout.QueueStats{Pending: 1000, Retrying: 3})
	clock.Advance(retry[0].Sub(clock.Now()) + time.Millisecond)
	stats(fanout.QueueStats{Pending: 1000, Retrying: 2})
	clock.Advance(retry[2].Sub(clock.Now()) + time.Millisecond)
	stats(fanout.QueueStats{Pending: 1000, Retrying: 0})
}
