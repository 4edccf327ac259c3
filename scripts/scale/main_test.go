package main

import (
	"math"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/localstack"
	"github.com/fanout-dev/fanout/objstore/simstore"
)

// TestScaleSimulation runs the simulation small enough for every test run
// (the numbers of docs/scale.md come from scripts/scale.sh by hand): the
// real planner, Redis queue, workers and committer against the simulated
// S3, once at S3's rates and once with partition limits low enough that
// requests are throttled. Either way the oracle (markers and committed
// files listed from the bucket) finds every chunk committed exactly once,
// and no request failed with SlowDown after its retries.
func TestScaleSimulation(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 1,000 chunks on 50 simulated workers; skipped in -short mode; scripts/test.sh runs it")
	}
	for _, tc := range []struct {
		name                string
		writeRate, readRate float64
		wantSlowDown        bool
	}{
		{"S3 rates", simstore.S3WriteRate, simstore.S3ReadRate, false},
		{"throttled", 150, 300, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, prefix := localstack.RedisNamespace(t)
			rep, err := run(options{chunks: 1000, workers: 50, redisURL: url, prefix: prefix,
				firstByte: 5 * time.Millisecond, bandwidth: 90 << 20, task: 5 * time.Millisecond, stragglerEvery: 100,
				splitAfter: time.Second, writeRate: tc.writeRate, readRate: tc.readRate, timeout: 10 * time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%+v", *rep)
			if rep.Failed != 0 || rep.S3Failed != 0 {
				t.Fatalf("%d chunks failed, %d S3 requests failed after retries; want none", rep.Failed, rep.S3Failed)
			}
			if tc.wantSlowDown && rep.S3SlowDowns == 0 {
				t.Fatalf("no SlowDown at %v writes and %v reads a second per partition", tc.writeRate, tc.readRate)
			}
			if rep.Oracle == "" {
				t.Fatal("the oracle did not run")
			}
			// The breakdown of the round trips by stage, client and
			// request counts each of them once.
			var sum float64
			for _, r := range rep.RedisRoundTrips {
				sum += r.PerChunk
			}
			if math.Abs(sum-rep.RedisRoundTripsPerChunk) > 1e-6 || sum == 0 {
				t.Errorf("the round trips by stage, client and request sum to %.4f a chunk, the total is %.4f", sum, rep.RedisRoundTripsPerChunk)
			}
		})
	}
}
