package redisqueue_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/fanout/queuetest"
	"github.com/fanout-dev/fanout/fanout/redisqueue"
	"github.com/fanout-dev/fanout/localstack"
)

// TestConformanceCluster runs the queue suite on a real 3-master Redis
// Cluster: every script must keep to its job's slot (a cross-slot script
// fails with CROSSSLOT), and claims of any job, Jobs and Finish must reach
// the keys on every master.
func TestConformanceCluster(t *testing.T) {
	cluster := localstack.StartRedisCluster(t, 3)
	cc := cluster.Client()
	now := func() time.Time {
		tm, err := cc.Time(context.Background()).Result()
		if err != nil {
			t.Fatalf("Redis TIME: %v", err)
		}
		return tm
	}
	queuetest.RunConformance(t, func(t *testing.T) (fanout.Queue, fanout.QueueAdmin) {
		q, err := redisqueue.New(t.Context(), redisqueue.Config{URL: cluster.URL(), Prefix: "fanout-" + localstack.UniqueName(t)})
		if err != nil {
			t.Fatalf("redisqueue.New: %v", err)
		}
		t.Cleanup(func() { q.Close() })
		return q, q
	}, queuetest.RealClock(now, 300*time.Millisecond))
}

// TestClusterJobsSpreadOverMasters checks that the jobs of a cluster queue
// land on different masters (so the conformance suite above exercised
// more than one node) and that each job's keys share one slot.
func TestClusterJobsSpreadOverMasters(t *testing.T) {
	cluster := localstack.StartRedisCluster(t, 3)
	ctx := t.Context()
	q, err := redisqueue.New(ctx, redisqueue.Config{URL: cluster.URL(), Prefix: "p"})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	spec := fanout.JobQueueSpec{Job: "x", Lease: time.Minute, MaxDeliveries: 3, MaxFailures: 1,
		BackoffBase: time.Second, BackoffMax: time.Second}
	masters := map[int]bool{}
	for _, job := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		spec.Job = job
		if err := q.Enqueue(ctx, spec, []string{"c1", "c2"}); err != nil {
			t.Fatal(err)
		}
		l, err := q.Claim(ctx, "", "w", nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Ack(ctx, l); err != nil {
			t.Fatal(err)
		}
		m := cluster.MasterOf("p:{" + job + "}:spec")
		for _, k := range []string{"pending", "leases", "done", "chunk:c1"} {
			if got := cluster.MasterOf("p:{" + job + "}:" + k); got != m {
				t.Errorf("job %s: key %s on master %d, spec on %d", job, k, got, m)
			}
		}
		masters[m] = true
	}
	if len(masters) < 2 {
		t.Fatalf("8 jobs landed on masters %v; want at least 2 of 3", masters)
	}
	specs, err := q.Jobs(ctx)
	if err != nil || len(specs) != 8 {
		t.Fatalf("Jobs = %d specs, %v; want 8", len(specs), err)
	}
}

func TestClusterURLs(t *testing.T) {
	cluster := localstack.StartRedisCluster(t, 3)
	n := cluster.Nodes
	host := func(i int) string { return "127.0.0.1:" + strconv.Itoa(n[i].Port) }
	good := map[string]string{
		"redis+cluster":          cluster.URL(),
		"redis+cluster one seed": "redis+cluster://" + host(1) + "/0",
		"go-redis addr form":     "redis://" + host(0) + "?addr=" + host(2),
	}
	for name, u := range good {
		t.Run(name, func(t *testing.T) {
			q, err := redisqueue.New(t.Context(), redisqueue.Config{URL: u, Prefix: "u"})
			if err != nil {
				t.Fatalf("New(%s): %v", u, err)
			}
			defer q.Close()
			// A job of each slot owner proves the client found every master.
			for _, job := range []string{"a", "b", "c", "d", "e", "f"} {
				spec := fanout.JobQueueSpec{Job: job, Lease: time.Minute, MaxDeliveries: 3, MaxFailures: 1,
					BackoffBase: time.Second, BackoffMax: time.Second}
				if err := q.Enqueue(t.Context(), spec, []string{"c"}); err != nil {
					t.Fatalf("Enqueue %s: %v", job, err)
				}
				if err := q.Finish(t.Context(), job); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
	bad := map[string]string{
		"cluster database":  "redis+cluster://" + host(0) + "/3",
		"no node":           "redis+cluster://:secretpw@/",
		"unknown scheme":    "valkey://" + host(0),
		"password redacted": "redis+cluster://:secretpw@127.0.0.1:1/2",
		// A single-server URL of a cluster node would fail later with
		// MOVED on most keys.
		"a node as a single server": "redis://" + host(0) + "/0",
	}
	for name, u := range bad {
		t.Run(name, func(t *testing.T) {
			q, err := redisqueue.New(t.Context(), redisqueue.Config{URL: u})
			if err == nil {
				q.Close()
				t.Fatalf("New(%s) = nil error, want one", u)
			}
			if strings.Contains(err.Error(), "secretpw") {
				t.Fatalf("New: error %q shows the password", err)
			}
			if !strings.Contains(err.Error(), "Config.URL") {
				t.Fatalf("New: got %q, want it to name Config.URL", err)
			}
			if strings.HasPrefix(u, "redis://") && !strings.Contains(err.Error(), "redis+cluster://") {
				t.Fatalf("New: got %q, want it to say redis+cluster://", err)
			}
		})
	}
}
