package localstack

import (
	"context"
	"errors"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestRedisClusterKillAndRestart checks the private cluster: keys spread
// over its masters, a killed master's keys are unreachable, and the
// restarted master serves its slots again, empty.
func TestRedisClusterKillAndRestart(t *testing.T) {
	c := StartRedisCluster(t, 3)
	cc := c.Client()
	ctx := context.Background()
	if err := cc.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	owner := c.MasterOf("k")
	c.Nodes[owner].Kill()
	if err := cc.Get(ctx, "k").Err(); err == nil {
		t.Fatalf("GET k with its master killed succeeded; want an error")
	}
	c.Nodes[owner].Start()
	c.WaitOK()
	if got, err := cc.Get(ctx, "k").Result(); !errors.Is(err, redis.Nil) {
		t.Fatalf("GET k after the restart = %q, %v; want redis.Nil (the master restarts empty)", got, err)
	}
}
