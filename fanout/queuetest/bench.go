package queuetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout"
)

// BenchmarkClaimAck measures chunks per second through Claim and Ack with
// 1 and 16 concurrent workers; each op is one chunk. newQueue returns a
// fresh, empty queue.
func BenchmarkClaimAck(b *testing.B, newQueue func(tb testing.TB) (fanout.Queue, fanout.QueueAdmin)) {
	for _, workers := range []int{1, 16} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			q, _ := newQueue(b)
			ctx := b.Context()
			sp := spec("job-bench", time.Minute)
			if err := q.Enqueue(ctx, sp, chunkIDs(b.N)); err != nil {
				b.Fatalf("Enqueue: %v", err)
			}
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for i := range workers {
				wg.Go(func() {
					worker := fmt.Sprintf("w%d", i)
					for {
						l, err := q.Claim(ctx, sp.Job, worker, nil)
						if errors.Is(err, fanout.ErrNoWork) {
							return
						}
						if err != nil {
							b.Errorf("Claim: %v", err)
							return
						}
						if err := q.Ack(ctx, l); err != nil {
							b.Errorf("Ack: %v", err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "chunks/s")
		})
	}
}

// BenchmarkEnqueue measures enqueuing a job of 100,000 chunks; each op is
// one job.
func BenchmarkEnqueue(b *testing.B, newQueue func(tb testing.TB) (fanout.Queue, fanout.QueueAdmin)) {
	const chunks = 100_000
	q, a := newQueue(b)
	ctx := b.Context()
	ids := chunkIDs(chunks)
	for i := 0; b.Loop(); i++ {
		sp := spec(fmt.Sprintf("job-%d", i), time.Minute)
		if err := q.Enqueue(ctx, sp, ids); err != nil {
			b.Fatalf("Enqueue: %v", err)
		}
		b.StopTimer()
		if err := a.Finish(ctx, sp.Job); err != nil {
			b.Fatalf("Finish: %v", err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(chunks*b.N)/b.Elapsed().Seconds(), "chunks/s")
}
