package redisqueue_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/redis/go-redis/v9"
)

// BenchmarkChunkCycle is what Redis does for one chunk on a bound worker's
// happy path (fanout.AckClaimer): the ack that counts the task and claims
// the next chunk ("fresh": a chunk that publishes within a quarter of its
// lease, which its attempt does not confirm again), and with the
// heartbeat that confirms the lease before the marker of a chunk that
// ran longer ("confirmed"). Beside the time per chunk it reports the
// commands redis-server ran per chunk (INFO commandstats: the scripts and
// the commands inside them) and redis-server's CPU time per chunk (INFO
// cpu). Both are the whole server's: point FANOUT_REDIS_URL at a Redis of
// its own for numbers that are not partly another client's.
func BenchmarkChunkCycle(b *testing.B) {
	for _, confirm := range []bool{false, true} {
		name := "fresh"
		if confirm {
			name = "confirmed"
		}
		b.Run(name, func(b *testing.B) { benchmarkChunkCycle(b, confirm) })
	}
}

func benchmarkChunkCycle(b *testing.B, confirm bool) {
	q := newQueue(b)
	c := redisClient(b)
	ctx := b.Context()
	spec := fanout.JobQueueSpec{Job: "bench", Manifest: "s3://b/m", Lease: time.Minute, MaxDeliveries: 3, MaxFailures: 3,
		BackoffBase: time.Second, BackoffMax: time.Minute, Function: "noop", FunctionVersion: "1"}
	runs := fanout.Runs{"noop": "1"}
	chunks := make([]string, 0, 1000)
	for start := 0; start <= b.N; start += cap(chunks) {
		chunks = chunks[:0]
		for i := start; i <= b.N && i < start+cap(chunks); i++ {
			chunks = append(chunks, fmt.Sprintf("c%08d", i))
		}
		if err := q.Enqueue(ctx, spec, chunks); err != nil {
			b.Fatal(err)
		}
	}
	l, err := q.Claim(ctx, spec.Job, "w", runs)
	if err != nil {
		b.Fatal(err)
	}
	calls0, cpu0 := serverCounters(ctx, b, c)
	b.ResetTimer()
	for range b.N {
		if confirm {
			if l, err = q.Heartbeat(ctx, l); err != nil {
				b.Fatal(err)
			}
		}
		if l, err = q.AckAndClaim(ctx, l, fanout.TaskCounts{RecordsIn: 10, RecordsOut: 10, BytesIn: 1000}, runs); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	calls1, cpu1 := serverCounters(ctx, b, c)
	// Less the INFO of the first reading.
	b.ReportMetric(float64(calls1-calls0-1)/float64(b.N), "cmds/chunk")
	b.ReportMetric((cpu1-cpu0)*1e6/float64(b.N), "redis-µs/chunk")
}

// serverCounters reads the calls of every command redis-server ran so far
// and the CPU time it used.
func serverCounters(ctx context.Context, tb testing.TB, c *redis.Client) (calls int64, cpu float64) {
	tb.Helper()
	s, err := c.Info(ctx, "commandstats", "cpu").Result()
	if err != nil {
		tb.Fatal(err)
	}
	for line := range strings.Lines(s) {
		line = strings.TrimSpace(line)
		if rest, ok := strings.CutPrefix(line, "cmdstat_"); ok {
			_, fields, _ := strings.Cut(rest, ":")
			for f := range strings.SplitSeq(fields, ",") {
				if v, ok := strings.CutPrefix(f, "calls="); ok {
					n, err := strconv.ParseInt(v, 10, 64)
					if err != nil {
						tb.Fatalf("INFO commandstats: %q: %v", line, err)
					}
					calls += n
				}
			}
		}
		name, v, ok := strings.Cut(line, ":")
		if ok && (name == "used_cpu_sys" || name == "used_cpu_user") {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				tb.Fatalf("INFO cpu: %q: %v", line, err)
			}
			cpu += f
		}
	}
	return calls, cpu
}
