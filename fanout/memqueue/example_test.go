package memqueue_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/fanout/memqueue"
)

// A worker's loop: claim, run, ack; a failure is retried after a backoff.
// Chunks come out in a spread order (fanout.FreshReady), not by ID.
func Example() {
	ctx := context.Background()
	q := memqueue.New(memqueue.Config{})
	spec := fanout.JobQueueSpec{
		Job:           "j1",
		Lease:         time.Minute,
		MaxDeliveries: 3,
		MaxFailures:   3,
		BackoffBase:   0, // retry at once, for the example
		BackoffMax:    0,
	}
	if err := q.Enqueue(ctx, spec, []string{"c00000000", "c00000001"}); err != nil {
		fmt.Println(err)
		return
	}
	failed := false
	for {
		l, err := q.Claim(ctx, "", "worker-1", nil)
		if errors.Is(err, fanout.ErrNoWork) {
			break
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s epoch %d (deliveries %d, failures %d)\n", l.Chunk, l.Epoch, l.Deliveries, l.Failures)
		if l.Chunk == "c00000001" && !failed {
			failed = true
			if _, err := q.Fail(ctx, l, "transient", false); err != nil {
				fmt.Println(err)
			}
			continue
		}
		if err := q.Ack(ctx, l); err != nil {
			fmt.Println(err)
		}
	}
	st, _ := q.Stats(ctx, "j1")
	fmt.Printf("%+v\n", st)
	// Output:
	// c00000001 epoch 1 (deliveries 1, failures 0)
	// c00000000 epoch 1 (deliveries 1, failures 0)
	// c00000001 epoch 2 (deliveries 2, failures 1)
	// {Pending:0 Running:0 Done:2 Dead:0 Retrying:0 RecordsIn:0 RecordsOut:0 BytesIn:0}
}
