package memqueue_test

import (
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
