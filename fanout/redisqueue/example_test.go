package redisqueue_test

import (
	"context"
	"log"

	"github.com/fanout-dev/fanout/fanout/redisqueue"
)

// New connects with AUTH from the URL; rediss:// would use TLS.
func ExampleNew() {
	ctx := context.Background()
	q, err := redisqueue.New(ctx, redisqueue.Config{
		URL:    "redis://:secret@redis.internal:6379/0",
		Prefix: "fanout",
	})
	if err != nil {
		log.Print(err)
		return
	}
	defer q.Close()
	// q serves workers (fanout.Queue) and drivers (fanout.QueueAdmin).
}
